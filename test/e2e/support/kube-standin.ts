// A stand-in for kube-apiserver's resource API, for the AccouchClient operator: HTTPS with its own CA, bearer
// tokens, and the documented semantics of the resources used (AccouchClients validated against the chart's CRD
// schema, Secrets, Events, Leases, Ingresses, Traefik Middlewares): list with a resourceVersion, watch from a resourceVersion (history replayed,
// synthetic ADDED when none is given, BOOKMARKs when asked, 410 Gone "Expired" once compacted), create (name
// or generateName), replace with optimistic concurrency (409 on a stale resourceVersion), the status
// subresource (spec and status written apart; generation moves with the spec only), delete, and the garbage
// collector's deletion of dependents through ownerReferences. Tests also drive outages: watches dropped or
// refused, history compacted, the whole server stopped and started again on its port.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { makeCertificates, type Certificates } from './tls.js';
import { root } from './server.js';

export type KubeObject = {
  apiVersion: string;
  kind: string;
  metadata: {
    name: string; namespace: string; uid: string; resourceVersion: string; generation?: number; creationTimestamp: string;
    annotations?: Record<string, string>; labels?: Record<string, string>; generateName?: string;
    ownerReferences?: { apiVersion: string; kind: string; name: string; uid: string; controller?: boolean }[];
  };
  spec?: unknown;
  status?: unknown;
  [key: string]: unknown;
};

interface ResourceType { plural: string; apiVersion: string; kind: string; statusSubresource: boolean; validate?: (obj: unknown) => string | undefined }

const crd = parseYaml(readFileSync(join(root, 'chart', 'crds', 'accouchclients.yaml'), 'utf8')) as {
  spec: { versions: { name: string; schema: { openAPIV3Schema: object } }[] };
};

/** The CRD's structural schema, as the API server checks every AccouchClient written. */
function crdValidator(): (obj: unknown) => string | undefined {
  const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
  for (const keyword of ['x-kubernetes-list-type', 'x-kubernetes-list-map-keys']) ajv.addKeyword(keyword);
  const validate = ajv.compile(crd.spec.versions[0]!.schema.openAPIV3Schema);
  return (obj) => (validate(obj) ? undefined : validate.errors!.map((e) => `${e.instancePath.slice(1).replaceAll('/', '.')}: ${e.message}`).join(', '));
}

const types: ResourceType[] = [
  { plural: 'accouchclients', apiVersion: 'accouch.dev/v1alpha1', kind: 'AccouchClient', statusSubresource: true, validate: crdValidator() },
  { plural: 'secrets', apiVersion: 'v1', kind: 'Secret', statusSubresource: false },
  { plural: 'events', apiVersion: 'v1', kind: 'Event', statusSubresource: false },
  { plural: 'leases', apiVersion: 'coordination.k8s.io/v1', kind: 'Lease', statusSubresource: false },
  { plural: 'ingresses', apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', statusSubresource: true },
  // Traefik's CRD, as k3s installs it.
  { plural: 'middlewares', apiVersion: 'traefik.io/v1alpha1', kind: 'Middleware', statusSubresource: false },
];

interface Change { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; plural: string; object: KubeObject }
interface Watcher { plural: string; namespace?: string; res: ServerResponse; bookmarks?: NodeJS.Timeout }

export interface MutatingRequest { method: string; path: string; user: string }

export interface KubeStandin {
  url: string;
  caFile: string;
  /** Every create, replace and delete, with the user (token name) who made it. */
  writes: MutatingRequest[];
  /** The query of every watch request, and how many were answered 410 Gone. */
  watches: URLSearchParams[];
  expired: number;
  /** Writes a kubeconfig for one user (as a service account's token would be mounted) and returns its path. */
  kubeconfig(user: string): string;
  get(plural: string, namespace: string, name: string): KubeObject | undefined;
  list(plural: string, namespace?: string): KubeObject[];
  /** As `kubectl apply` would: create, or replace the spec and metadata of what is there. Throws the API's refusal. */
  apply(plural: string, obj: { metadata: { name: string; namespace: string; annotations?: Record<string, string> }; [key: string]: unknown }): KubeObject;
  delete(plural: string, namespace: string, name: string): void;
  /** Resolves once `check` returns something truthy, re-checking after every write; fails after `ms` with `what`. */
  waitFor<T>(what: string, check: () => T | undefined | false, ms?: number): Promise<T>;
  /** Ends every open watch, as a restarted API server or a broken connection would. */
  dropWatches(): void;
  /** While true, new watch requests are refused (503), lists and writes still work. */
  refuseWatches: boolean;
  /** Forgets the change history: a watch from any older resourceVersion gets 410 Gone. */
  compact(): void;
  stop(): Promise<void>;
  start(): Promise<void>;
}

const statusBody = (code: number, reason: string, message: string) => ({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, reason, code });

export async function startKubeStandin({ users, bookmarkMs = 1000, certificates = makeCertificates() }: {
  /** token name → token */
  users: Record<string, string>;
  bookmarkMs?: number;
  certificates?: Certificates;
}): Promise<KubeStandin> {
  const store = new Map<string, Map<string, KubeObject>>(types.map((t) => [t.plural, new Map()]));
  let rv = 100;
  let history: Change[] = [];
  const watchers = new Set<Watcher>();
  const changed = new EventEmitter();
  changed.setMaxListeners(100);
  const writes: MutatingRequest[] = [];
  const byToken = new Map(Object.entries(users).map(([user, token]) => [token, user]));

  const typeOf = (plural: string) => {
    const type = types.find((t) => t.plural === plural);
    if (!type) throw Object.assign(new Error(`the server could not find the requested resource (${plural})`), { code: 404, reason: 'NotFound' });
    return type;
  };
  const key = (namespace: string, name: string) => `${namespace}/${name}`;
  const fail = (code: number, reason: string, message: string) => Object.assign(new Error(message), { code, reason });

  const emit = (plural: string, type: Change['type'], object: KubeObject) => {
    const change: Change = { rv: Number(object.metadata.resourceVersion), type, plural, object: structuredClone(object) };
    history.push(change);
    for (const w of watchers) {
      if (w.plural === plural && (!w.namespace || w.namespace === object.metadata.namespace)) w.res.write(`${JSON.stringify({ type, object: change.object })}\n`);
    }
    changed.emit('change');
  };

  function create(plural: string, namespace: string, body: KubeObject): KubeObject {
    const type = typeOf(plural);
    const metadata = body.metadata ?? {} as KubeObject['metadata'];
    const name = metadata.name || (metadata.generateName ? `${metadata.generateName}${randomUUID().slice(0, 5)}` : '');
    if (!name) throw fail(422, 'Invalid', `${type.kind} is invalid: metadata.name: Required value`);
    if (metadata.namespace && metadata.namespace !== namespace) throw fail(400, 'BadRequest', 'the namespace of the provided object does not match the namespace sent on the request');
    const objects = store.get(plural)!;
    if (objects.has(key(namespace, name))) throw fail(409, 'AlreadyExists', `${plural} "${name}" already exists`);
    const object: KubeObject = {
      ...body,
      apiVersion: type.apiVersion,
      kind: type.kind,
      metadata: {
        ...metadata, name, namespace, uid: randomUUID(), resourceVersion: String(++rv), creationTimestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
        ...(type.statusSubresource ? { generation: 1 } : {}),
      },
    };
    if (type.statusSubresource) delete object.status; // status is written through its subresource only
    const invalid = type.validate?.(object);
    if (invalid) { rv -= 1; throw fail(422, 'Invalid', `${type.kind}.${type.apiVersion.split('/')[0]} "${name}" is invalid: ${invalid}`); }
    objects.set(key(namespace, name), object);
    emit(plural, 'ADDED', object);
    return object;
  }

  function replace(plural: string, namespace: string, name: string, body: KubeObject, subresource?: string): KubeObject {
    const type = typeOf(plural);
    const objects = store.get(plural)!;
    const current = objects.get(key(namespace, name));
    if (!current) throw fail(404, 'NotFound', `${plural} "${name}" not found`);
    if (subresource && !(subresource === 'status' && type.statusSubresource)) throw fail(404, 'NotFound', 'the server could not find the requested resource');
    if (body.metadata?.resourceVersion && body.metadata.resourceVersion !== current.metadata.resourceVersion) {
      throw fail(409, 'Conflict', `Operation cannot be fulfilled on ${plural} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
    }
    let next: KubeObject;
    if (subresource === 'status') {
      next = { ...current, status: body.status };
    } else {
      const keep = { uid: current.metadata.uid, creationTimestamp: current.metadata.creationTimestamp, name, namespace };
      next = { ...body, apiVersion: type.apiVersion, kind: type.kind, metadata: { ...body.metadata, ...keep, resourceVersion: current.metadata.resourceVersion } };
      if (type.statusSubresource) {
        next.status = current.status; // the main resource ignores status
        const specChanged = JSON.stringify(body.spec) !== JSON.stringify(current.spec);
        next.metadata.generation = (current.metadata.generation ?? 1) + (specChanged ? 1 : 0);
      }
    }
    const invalid = type.validate?.(next);
    if (invalid) throw fail(422, 'Invalid', `${type.kind}.${type.apiVersion.split('/')[0]} "${name}" is invalid: ${invalid}`);
    if (JSON.stringify(next) === JSON.stringify(current)) return current; // a no-op write keeps its resourceVersion
    next.metadata.resourceVersion = String(++rv);
    objects.set(key(namespace, name), next);
    emit(plural, 'MODIFIED', next);
    return next;
  }

  function remove(plural: string, namespace: string, name: string): KubeObject {
    const objects = store.get(typeOf(plural).plural)!;
    const current = objects.get(key(namespace, name));
    if (!current) throw fail(404, 'NotFound', `${plural} "${name}" not found`);
    objects.delete(key(namespace, name));
    const gone = { ...current, metadata: { ...current.metadata, resourceVersion: String(++rv) } };
    emit(plural, 'DELETED', gone);
    // The garbage collector: dependents in the same namespace whose owner this was go too (background deletion).
    for (const [dependentPlural, dependents] of store) {
      for (const dependent of [...dependents.values()]) {
        if (dependent.metadata.namespace === namespace && dependent.metadata.ownerReferences?.some((o) => o.uid === current.metadata.uid)) {
          remove(dependentPlural, namespace, dependent.metadata.name);
        }
      }
    }
    return gone;
  }

  const list = (plural: string, namespace?: string) => [...store.get(typeOf(plural).plural)!.values()]
    .filter((o) => !namespace || o.metadata.namespace === namespace)
    .sort((a, b) => key(a.metadata.namespace, a.metadata.name).localeCompare(key(b.metadata.namespace, b.metadata.name)));

  let refuseWatches = false;
  const watches: URLSearchParams[] = [];
  let expired = 0;
  function watch(req: IncomingMessage, res: ServerResponse, plural: string, namespace: string | undefined, query: URLSearchParams) {
    const type = typeOf(plural);
    watches.push(query);
    if (refuseWatches) return json(res, 503, statusBody(503, 'ServiceUnavailable', 'watches are refused for now'));
    res.writeHead(200, { 'content-type': 'application/json', 'transfer-encoding': 'chunked' });
    const from = query.get('resourceVersion');
    const send = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
    const matches = (c: Change) => c.plural === plural && (!namespace || c.object.metadata.namespace === namespace);
    if (!from || from === '0') {
      // "Get State and Start at Most Recent": synthetic ADDED events for what exists, then changes.
      for (const object of list(plural, namespace)) send('ADDED', object);
    } else {
      const since = Number(from);
      const oldest = history[0]?.rv ?? rv + 1;
      if (!Number.isInteger(since) || (since < oldest - 1 && since < rv)) {
        expired += 1;
        send('ERROR', statusBody(410, 'Expired', `too old resource version: ${from} (${oldest - 1})`));
        return res.end();
      }
      for (const change of history.filter((c) => c.rv > since && matches(c))) send(change.type, change.object);
    }
    const watcher: Watcher = { plural, namespace, res };
    if (query.get('allowWatchBookmarks') === 'true') {
      watcher.bookmarks = setInterval(() => send('BOOKMARK', { kind: type.kind, apiVersion: type.apiVersion, metadata: { resourceVersion: String(rv) } }), bookmarkMs);
    }
    watchers.add(watcher);
    const timeout = Number(query.get('timeoutSeconds'));
    const timer = timeout > 0 ? setTimeout(() => res.end(), timeout * 1000) : undefined;
    const close = () => { clearInterval(watcher.bookmarks); clearTimeout(timer); watchers.delete(watcher); };
    res.once('close', close);
    req.once('close', close);
  }

  const json = (res: ServerResponse, status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const url = new URL(req.url ?? '/', 'https://127.0.0.1');
    const user = byToken.get(/^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (!user) return json(res, 401, statusBody(401, 'Unauthorized', 'Unauthorized'));
    // /api/v1/namespaces/{ns}/{plural}[/{name}[/{sub}]], /apis/{group}/{version}/namespaces/..., /apis/{group}/{version}/{plural}
    const m = /^\/(?:api\/v1|apis\/[^/]+\/[^/]+)(?:\/namespaces\/([^/]+))?\/([^/]+)(?:\/([^/]+))?(?:\/([^/]+))?$/.exec(url.pathname);
    if (!m) return json(res, 404, statusBody(404, 'NotFound', 'the server could not find the requested resource'));
    const [, namespace, plural, name, sub] = m as unknown as [string, string | undefined, string, string | undefined, string | undefined];
    let body: KubeObject | undefined;
    if (['POST', 'PUT'].includes(req.method!)) {
      const chunks: Buffer[] = [];
      for await (const chunk of req) chunks.push(chunk as Buffer);
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        return json(res, 400, statusBody(400, 'BadRequest', 'the body is not JSON'));
      }
    }
    try {
      if (req.method === 'GET' && !name) {
        if (url.searchParams.get('watch') === 'true') return watch(req, res, plural, namespace, url.searchParams);
        const type = typeOf(plural);
        return json(res, 200, { kind: `${type.kind}List`, apiVersion: type.apiVersion, metadata: { resourceVersion: String(rv) }, items: list(plural, namespace) });
      }
      if (!namespace) throw fail(404, 'NotFound', 'the server could not find the requested resource');
      writes.push(...(req.method === 'GET' ? [] : [{ method: req.method!, path: url.pathname, user }]));
      if (req.method === 'GET') {
        const found = store.get(typeOf(plural).plural)!.get(key(namespace, name!));
        if (!found) throw fail(404, 'NotFound', `${plural} "${name}" not found`);
        return json(res, 200, found);
      }
      if (req.method === 'POST' && !name) return json(res, 201, create(plural, namespace, body!));
      if (req.method === 'PUT' && name) {
        if (body?.metadata?.name && body.metadata.name !== name) throw fail(400, 'BadRequest', 'the name of the object does not match the name on the URL');
        return json(res, 200, replace(plural, namespace, name, body!, sub));
      }
      if (req.method === 'DELETE' && name && !sub) {
        remove(plural, namespace, name);
        return json(res, 200, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 200 });
      }
      throw fail(405, 'MethodNotAllowed', `${req.method} is not supported here`);
    } catch (error) {
      const e = error as Error & { code?: number; reason?: string };
      return json(res, e.code ?? 500, statusBody(e.code ?? 500, e.reason ?? 'InternalError', e.message));
    }
  }

  const tls = { cert: readFileSync(certificates.certFile), key: readFileSync(certificates.keyFile) };
  let server: Server | undefined;
  let port = 0;
  const start = async () => {
    server = createServer(tls, (req, res) => { void handle(req, res); });
    await new Promise<void>((resolve, reject) => server!.listen(port, '127.0.0.1', resolve).once('error', reject));
    port = (server.address() as { port: number }).port;
  };
  const dropWatches = () => {
    for (const w of watchers) {
      clearInterval(w.bookmarks);
      w.res.destroy();
    }
    watchers.clear();
  };
  await start();

  const standin: KubeStandin = {
    url: `https://127.0.0.1:${port}`,
    caFile: certificates.caFile,
    writes,
    watches,
    get expired() { return expired; },
    kubeconfig(user) {
      const file = join(certificates.dir, `kubeconfig-${user}.yaml`);
      writeFileSync(file, [
        'apiVersion: v1', 'kind: Config', 'current-context: standin',
        'clusters:', `- name: standin`, '  cluster:', `    server: https://127.0.0.1:${port}`, `    certificate-authority: ${certificates.caFile}`,
        'users:', `- name: ${user}`, '  user:', `    token: ${users[user]}`,
        'contexts:', '- name: standin', '  context:', '    cluster: standin', `    user: ${user}`, '',
      ].join('\n'));
      return file;
    },
    get: (plural, namespace, name) => store.get(plural)!.get(key(namespace, name)),
    list,
    apply(plural, obj) {
      const existing = store.get(plural)!.get(key(obj.metadata.namespace, obj.metadata.name));
      if (!existing) return create(plural, obj.metadata.namespace, obj as KubeObject);
      return replace(plural, obj.metadata.namespace, obj.metadata.name, {
        ...existing, ...obj, metadata: { ...existing.metadata, ...obj.metadata, resourceVersion: existing.metadata.resourceVersion },
      } as KubeObject);
    },
    delete: (plural, namespace, name) => { remove(plural, namespace, name); },
    waitFor(what, check, ms = 30_000) {
      return new Promise((resolve, reject) => {
        const attempt = () => {
          const result = check();
          if (!result) return false;
          changed.off('change', attempt);
          clearTimeout(timer);
          resolve(result);
          return true;
        };
        const timer = setTimeout(() => {
          changed.off('change', attempt);
          reject(new Error(`timed out waiting for ${what}`));
        }, ms);
        changed.on('change', attempt);
        attempt();
      });
    },
    dropWatches,
    get refuseWatches() { return refuseWatches; },
    set refuseWatches(value: boolean) { refuseWatches = value; },
    compact() { history = []; },
    async stop() {
      dropWatches();
      const s = server!;
      s.closeAllConnections();
      await new Promise<void>((resolve) => s.close(() => resolve()));
    },
    start,
  };
  return standin;
}
