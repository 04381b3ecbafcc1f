// `kubernetes.enabled`: the replica holding the Lease watches AccouchClients, and with kubernetes.watchIngresses
// Ingresses (informers: list, then watch from its resourceVersion; 410 Gone → relist), and reconciles each one
// through a queue; every other replica only serves sign-ins. An API server that is down is retried with backoff and never blocks the server.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { KubernetesObject, ListWatch, V1Ingress } from '@kubernetes/client-node';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { listClusterClientIds } from '../store/clients.js';
import type { Db } from '../store/db.js';
import { createKubeApi, loadKubeConfig, statusOf, type KubeApi } from './kube-api.js';
import { isAnnotated, listIngressAppIds, reconcileIngress, removeIngressApp, type IngressDeps } from './ingress.js';
import { startLeaderElection } from './leader.js';
import { reconcileResource, removeVanished, type ReconcileDeps } from './reconcile.js';
import { clientIdOf, resourceOfClientId, type AccouchClientResource } from './resource.js';

export interface Operator { stop(): Promise<void> }

const maxBackoffMs = 30_000;

/** Reconciles keys (`<namespace>/<name>`) one at a time, each at most once in the queue, failures retried with backoff. */
function createQueue(work: (key: string) => Promise<void>, log: Logger) {
  const pending = new Set<string>();
  const failures = new Map<string, number>();
  const timers = new Set<NodeJS.Timeout>();
  let running = false;
  let stopped = false;
  const drain = async () => {
    if (running) return;
    running = true;
    while (!stopped && pending.size) {
      const key = pending.values().next().value!;
      pending.delete(key);
      try {
        await work(key);
        failures.delete(key);
      } catch (error) {
        const attempt = (failures.get(key) ?? 0) + 1;
        failures.set(key, attempt);
        const delay = statusOf(error) === 409 ? 200 : Math.min(maxBackoffMs, 500 * 2 ** (attempt - 1));
        if (statusOf(error) !== 409) log.warn({ event: 'kubernetes.retry', resource: key, attempt, err: error }, 'reconcile failed: retrying');
        const timer = setTimeout(() => { timers.delete(timer); add(key); }, delay);
        timers.add(timer);
      }
    }
    running = false;
  };
  const add = (key: string) => {
    if (stopped) return;
    pending.add(key);
    void drain();
  };
  return {
    add,
    stop() {
      stopped = true;
      pending.clear();
      for (const timer of timers) clearTimeout(timer);
    },
  };
}

type Kind = 'client' | 'ingress';
interface Watched { kind: Kind; namespace: string; informer: ListWatch<KubernetesObject & { metadata?: { name?: string; namespace?: string } }> }

/** Starts watching (and, when leading, reconciling); never throws for an unreachable API server. */
export function startOperator({ config, db, log: root }: { config: Config; db: Db; log: Logger }): Operator {
  const log = root.child({ mod: 'kubernetes' });
  const settings = config.kubernetes;
  const api: KubeApi = createKubeApi(loadKubeConfig(settings.kubeconfig));
  const identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
  const deps: ReconcileDeps = { db, api, issuer: config.issuer, log, identity };
  const ingressDeps: IngressDeps = { ...deps, patchIngresses: settings.patchIngresses, forwardAuthAddress: settings.forwardAuthAddress, warned: new Map() };
  const namespaces = settings.namespaces.length ? [...settings.namespaces] : [''];
  const kinds: Kind[] = settings.watchIngresses ? ['client', 'ingress'] : ['client'];
  let watched: Watched[] = [];
  let queue: ReturnType<typeof createQueue> | undefined;

  const find = (kind: Kind, namespace: string, name: string) => {
    for (const w of watched) {
      const found = w.kind === kind ? w.informer.get(name, namespace) : undefined;
      if (found) return found;
    }
    return undefined;
  };

  /** What no watch event will bring: clients and apps whose resource went while no replica watched (or is out of scope). */
  const sweep = async () => {
    if (!watched.every((w) => w.informer.latestResourceVersion())) return; // not every list has come in yet
    for (const id of await listClusterClientIds(db)) {
      const { namespace, name } = resourceOfClientId(id);
      if (!find('client', namespace, name)) queue?.add(`client:${namespace}/${name}`);
    }
    if (!kinds.includes('ingress')) return;
    for (const id of await listIngressAppIds(db)) {
      const { namespace, name } = resourceOfClientId(id);
      const ingress = find('ingress', namespace, name) as V1Ingress | undefined;
      if (!ingress || !isAnnotated(ingress)) queue?.add(`ingress:${namespace}/${name}`);
    }
  };

  const work = async (key: string) => {
    const [kind, ref] = key.split(':') as [Kind, string];
    const [namespace, name] = ref.split('/') as [string, string];
    const found = find(kind, namespace, name);
    if (kind === 'client') {
      if (found) await reconcileResource(deps, found as unknown as AccouchClientResource);
      else await removeVanished(deps, clientIdOf(namespace, name));
    } else if (found) {
      await reconcileIngress(ingressDeps, found as V1Ingress);
    } else {
      await removeIngressApp(ingressDeps, namespace, name);
    }
  };

  const startLeading = () => {
    const q = createQueue(work, log);
    queue = q;
    watched = kinds.flatMap((kind) => namespaces.map((namespace) => {
      const informer = (kind === 'client' ? api.clientInformer(namespace) : api.ingressInformer(namespace)) as Watched['informer'];
      // Every Ingress event is looked at: one whose annotation just went must lose its app (a store lookup for the rest).
      const enqueue = (obj: KubernetesObject) => q.add(`${kind}:${obj.metadata?.namespace}/${obj.metadata?.name}`);
      informer.on('add', enqueue);
      informer.on('update', enqueue);
      informer.on('delete', enqueue);
      let failures = 0;
      let retry: NodeJS.Timeout | undefined;
      const begin = async () => {
        await informer.start();
        if (informer.latestResourceVersion()) {
          if (failures) log.info({ event: 'kubernetes.reconnected', kind, namespace: namespace || '*' }, 'watching again');
          failures = 0;
          await sweep().catch((error: unknown) => log.warn({ err: error }, 'could not compare the store with the cluster'));
        }
      };
      // An error ends the informer (other than 410, which it relists on its own): start it again, from its last
      // resourceVersion, after a growing pause.
      informer.on('error', (error: unknown) => {
        if (queue !== q) return;
        failures += 1;
        const delay = Math.min(maxBackoffMs, 500 * 2 ** Math.min(failures - 1, 6));
        log.warn({ event: 'kubernetes.unreachable', kind, namespace: namespace || '*', err: error, retryInMs: delay }, 'cannot watch the cluster: retrying');
        clearTimeout(retry);
        retry = setTimeout(() => { if (queue === q) void begin(); }, delay);
      });
      void begin();
      const stop = informer.stop.bind(informer);
      informer.stop = async () => { clearTimeout(retry); await stop(); };
      return { kind, namespace, informer };
    }));
  };

  const stopLeading = () => {
    queue?.stop();
    queue = undefined;
    for (const w of watched) void w.informer.stop();
    watched = [];
  };

  const election = startLeaderElection({
    api, namespace: settings.leaseNamespace, name: settings.leaseName, identity, duration: settings.leaseDuration, log,
    onStartedLeading: startLeading, onStoppedLeading: stopLeading,
  });
  log.info({ identity, namespaces: settings.namespaces.length ? settings.namespaces : 'all', ingresses: settings.watchIngresses }, 'kubernetes integration on: waiting for the Lease');
  return { stop: () => election.stop() };
}
