// `kubernetes.enabled`: the replica holding the Lease watches AccouchClients (informers: list, then watch from its
// resourceVersion; 410 Gone → relist) and reconciles each one through a queue; every other replica only serves
// sign-ins. An API server that is down is retried with backoff and never blocks the server.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { ListWatch } from '@kubernetes/client-node';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { listClusterClientIds } from '../store/clients.js';
import type { Db } from '../store/db.js';
import { createKubeApi, loadKubeConfig, statusOf, type KubeApi } from './kube-api.js';
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

type Informer = ListWatch<AccouchClientResource & { metadata: { name: string } }>;

/** Starts watching (and, when leading, reconciling); never throws for an unreachable API server. */
export function startOperator({ config, db, log: root }: { config: Config; db: Db; log: Logger }): Operator {
  const log = root.child({ mod: 'kubernetes' });
  const settings = config.kubernetes;
  const api: KubeApi = createKubeApi(loadKubeConfig(settings.kubeconfig));
  const identity = `${hostname()}_${randomBytes(4).toString('hex')}`;
  const deps: ReconcileDeps = { db, api, issuer: config.issuer, log, identity };
  const namespaces = settings.namespaces.length ? [...settings.namespaces] : [''];
  let informers: Informer[] = [];
  let queue: ReturnType<typeof createQueue> | undefined;

  const find = (namespace: string, name: string) => {
    for (const informer of informers) {
      const found = informer.get(name, namespace);
      if (found) return found;
    }
    return undefined;
  };

  /** Clients whose resource is no longer there (deleted while no replica watched, or in a namespace left out). */
  const sweep = async () => {
    if (!informers.every((i) => i.latestResourceVersion())) return; // not every list has come in yet
    for (const id of await listClusterClientIds(db)) {
      const { namespace, name } = resourceOfClientId(id);
      if (!find(namespace, name)) queue?.add(`${namespace}/${name}`);
    }
  };

  const startLeading = () => {
    const q = createQueue(async (key) => {
      const [namespace, name] = key.split('/') as [string, string];
      const resource = find(namespace, name);
      if (resource) await reconcileResource(deps, resource);
      else await removeVanished(deps, clientIdOf(namespace, name));
    }, log);
    queue = q;
    informers = namespaces.map((namespace) => {
      const informer: Informer = api.clientInformer(namespace);
      const enqueue = (obj: AccouchClientResource) => q.add(`${obj.metadata.namespace}/${obj.metadata.name}`);
      informer.on('add', enqueue);
      informer.on('update', enqueue);
      informer.on('delete', enqueue);
      let failures = 0;
      let retry: NodeJS.Timeout | undefined;
      const begin = async () => {
        await informer.start();
        if (informer.latestResourceVersion()) {
          if (failures) log.info({ event: 'kubernetes.reconnected', namespace: namespace || '*' }, 'watching AccouchClients again');
          failures = 0;
          await sweep().catch((error: unknown) => log.warn({ err: error }, 'could not compare clients with the cluster'));
        }
      };
      // An error ends the informer (other than 410, which it relists on its own): start it again, from its last
      // resourceVersion, after a growing pause.
      informer.on('error', (error: unknown) => {
        if (queue !== q) return;
        failures += 1;
        const delay = Math.min(maxBackoffMs, 500 * 2 ** Math.min(failures - 1, 6));
        log.warn({ event: 'kubernetes.unreachable', namespace: namespace || '*', err: error, retryInMs: delay }, 'cannot watch AccouchClients: retrying');
        clearTimeout(retry);
        retry = setTimeout(() => { if (queue === q) void begin(); }, delay);
      });
      void begin();
      const stop = informer.stop.bind(informer);
      informer.stop = async () => { clearTimeout(retry); await stop(); };
      return informer;
    });
  };

  const stopLeading = () => {
    queue?.stop();
    queue = undefined;
    for (const informer of informers) void informer.stop();
    informers = [];
  };

  const election = startLeaderElection({
    api, namespace: settings.leaseNamespace, name: settings.leaseName, identity, duration: settings.leaseDuration, log,
    onStartedLeading: startLeading, onStoppedLeading: stopLeading,
  });
  log.info({ identity, namespaces: settings.namespaces.length ? settings.namespaces : 'all' }, 'kubernetes integration on: waiting for the Lease');
  return { stop: () => election.stop() };
}
