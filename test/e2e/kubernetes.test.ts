// Apps in the cluster enrol themselves: Accouch with kubernetes.enabled against a stand-in API server (HTTPS, a
// kubeconfig with a service-account-style token, the documented list/watch semantics). A resource becomes a
// client an app signs in with using only its Secret's values; updates, rotation and deletion follow; bad
// resources get a condition; dropped watches, 410 Gone and an API server that is down lose no change and do not
// stop sign-ins; annotated Ingresses become forward-auth apps behind a Traefik Middleware; of two replicas, one
// reconciles.
import { get as httpGet } from 'node:http';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from './support/agent.js';
import { startKubeStandin, type KubeObject, type KubeStandin } from './support/kube-standin.js';
import { addClient, addUser, callback, signIn, startAuth } from './support/rp.js';
import { startServer, stopCleanly, type RunningServer } from './support/server.js';

let kube: KubeStandin;
let server: RunningServer;
const ns = 'apps';

const kubeEnv = (user: string, patchIngresses = false) => ({
  ACCOUCH_KUBERNETES_ENABLED: 'true',
  ACCOUCH_KUBERNETES_KUBECONFIG: kube.kubeconfig(user),
  ACCOUCH_KUBERNETES_LEASE_NAMESPACE: 'accouch',
  ACCOUCH_KUBERNETES_LEASE_DURATION: '3',
  ACCOUCH_KUBERNETES_WATCH_INGRESSES: 'true',
  ACCOUCH_KUBERNETES_PATCH_INGRESSES: String(patchIngresses),
  // The test plays Traefik asking /forward-auth/traefik from this machine.
  ACCOUCH_NETWORK_TRUSTED_PROXIES: '127.0.0.1/32,::1/128',
});

const ingress = (name: string, host: string, annotations: Record<string, string> = {}) => ({
  apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { name, namespace: ns, annotations },
  spec: { ingressClassName: 'traefik', rules: [{ host, http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name, port: { number: 80 } } } }] } }] },
});

/**
 * Traefik's forwardAuth question for a page of `host`, as it asks it for a browser's navigation (node:http: fetch
 * would add a `sec-fetch-mode: cors` of its own). 403: not declared; 302 to Accouch's sign-in: declared.
 */
const askForwardAuth = (host: string) => new Promise<{ status: number; location?: string }>((resolve, reject) => {
  httpGet(`${server.issuer}/forward-auth/traefik`, {
    headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': host, 'x-forwarded-uri': '/', 'x-forwarded-method': 'GET', accept: 'text/html', 'sec-fetch-mode': 'navigate' },
  }, (res) => {
    res.resume();
    res.once('end', () => resolve({ status: res.statusCode!, location: res.headers.location }));
  }).once('error', reject);
});

const resource = (name: string, spec: Record<string, unknown>, annotations?: Record<string, string>) =>
  ({ apiVersion: 'accouch.dev/v1alpha1', kind: 'AccouchClient', metadata: { name, namespace: ns, ...(annotations ? { annotations } : {}) }, spec });

type Condition = { type: string; status: string; reason: string; message: string };
const ready = (obj: KubeObject | undefined) => (obj?.status as { conditions?: Condition[] } | undefined)?.conditions?.find((c) => c.type === 'Ready');

/** The Ready condition once it is there for the resource's current generation. */
const readyFor = (name: string, status: 'True' | 'False') => kube.waitFor(`AccouchClient ${name} Ready=${status}`, () => {
  const obj = kube.get('accouchclients', ns, name);
  const condition = ready(obj);
  const observed = (obj?.status as { observedGeneration?: number } | undefined)?.observedGeneration;
  return condition?.status === status && observed === obj!.metadata.generation && condition;
});

const secretOf = (name: string) => {
  const secret = kube.get('secrets', ns, name);
  return secret && Object.fromEntries(Object.entries(secret.data as Record<string, string>).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]));
};

/** The app's side: everything from the Secret, nothing else (issuer and discovery included). */
async function appConfig(secretName: string): Promise<oidc.Configuration> {
  const values = secretOf(secretName)!;
  expect(values.OIDC_DISCOVERY_URL).toBe(`${values.OIDC_ISSUER_URL}/.well-known/openid-configuration`);
  return oidc.discovery(new URL(values.OIDC_ISSUER_URL!), values.OIDC_CLIENT_ID!, { client_secret: values.OIDC_CLIENT_SECRET }, undefined, {
    execute: [oidc.allowInsecureRequests],
  });
}

async function signInWith(config: oidc.Configuration, username = 'olga', password = 'olga password') {
  const start = await startAuth(config, { scope: 'openid profile offline_access', prompt: 'consent' });
  const returned = await signIn(new Agent(), server, start.url, username, password);
  return { returned, start };
}

async function tokensFor(config: oidc.Configuration) {
  const { returned, start } = await signInWith(config);
  return oidc.authorizationCodeGrant(config, returned, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
}

/** For what only shows in the server's log: checks every 50 ms until it holds, for at most 30 s. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  for (const deadline = Date.now() + 30_000; !(await check());) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Events about one resource, oldest first. */
const eventsOf = (name: string) => kube.list('events', ns)
  .filter((e) => (e.involvedObject as { name: string }).name === name)
  .sort((a, b) => Number(a.metadata.resourceVersion) - Number(b.metadata.resourceVersion));

const clientIds = () => server.cli(['client', 'list']).stdout;

beforeAll(async () => {
  kube = await startKubeStandin({ users: { 'accouch-a': 'token-of-replica-a', 'accouch-b': 'token-of-replica-b' }, bookmarkMs: 500 });
  server = await startServer({ env: kubeEnv('accouch-a') });
  addUser(server, 'olga', 'olga password', ['--groups', 'family']);
});

afterAll(async () => {
  await stopCleanly(server);
  await kube?.stop();
});

describe('an AccouchClient resource', () => {
  it('becomes a client an app signs in with, using only the values of the Secret Accouch writes beside it', async () => {
    kube.apply('accouchclients', resource('wiki', { redirectUris: [callback], name: 'Wiki', refresh: 'always' }));
    const condition = await readyFor('wiki', 'True');
    expect(condition).toMatchObject({ reason: 'Registered', message: expect.stringContaining('"apps.wiki"') });
    const obj = kube.get('accouchclients', ns, 'wiki')!;
    expect(obj.status).toMatchObject({ clientId: 'apps.wiki', secretName: 'wiki-oidc', observedGeneration: 1 });

    const secret = kube.get('secrets', ns, 'wiki-oidc')!;
    expect(secret.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'AccouchClient', name: 'wiki', uid: obj.metadata.uid, controller: true })]);
    expect(secretOf('wiki-oidc')).toMatchObject({ OIDC_CLIENT_ID: 'apps.wiki', OIDC_ISSUER_URL: server.issuer });
    expect(secretOf('wiki-oidc')!.OIDC_CLIENT_SECRET!.length).toBeGreaterThanOrEqual(43);

    const tokens = await tokensFor(await appConfig('wiki-oidc'));
    expect(tokens.claims()).toMatchObject({ aud: 'apps.wiki', iss: server.issuer });
    expect(tokens.refresh_token).toBeTruthy();

    const events = await kube.waitFor('the Registered event', () => eventsOf('wiki').length > 0 && eventsOf('wiki'));
    expect(events.map((e) => [e.type, e.reason])).toEqual([['Normal', 'Registered']]);
    expect(events[0]!.reportingComponent).toBe('accouch');
  });

  it('is read-only outside the cluster: listed with source cluster, refused by client remove', () => {
    expect(clientIds()).toMatch(/apps\.wiki\s+Wiki\s+confidential\s+cluster/);
    const removal = server.cli(['client', 'remove', 'apps.wiki']);
    expect(removal.status).toBe(1);
    expect(removal.stderr).toContain('AccouchClient');
  });

  it('writes the preset\'s own keys into the Secret, under the name the resource asks for', async () => {
    kube.apply('accouchclients', resource('git', { preset: 'gitea', url: 'https://git.home.example', secretName: 'gitea-oauth' }));
    await readyFor('git', 'True');
    const values = secretOf('gitea-oauth')!;
    expect(values).toMatchObject({ key: 'apps.git', secret: values.OIDC_CLIENT_SECRET, OIDC_CLIENT_ID: 'apps.git' });
    expect(clientIds()).toMatch(/apps\.git\s+Gitea/);
  });

  it('follows updates of the spec: here, only the family may sign in, then only admins', async () => {
    const config = await appConfig('wiki-oidc');
    kube.apply('accouchclients', resource('wiki', { redirectUris: [callback], name: 'Wiki', refresh: 'always', allowedGroups: ['admins'] }));
    await readyFor('wiki', 'True');
    expect(kube.get('accouchclients', ns, 'wiki')!.metadata.generation).toBe(2);
    const { returned } = await signInWith(config);
    expect(returned.searchParams.get('error')).toBe('access_denied');

    kube.apply('accouchclients', resource('wiki', { redirectUris: [callback], name: 'Wiki', refresh: 'always', allowedGroups: ['family'] }));
    await readyFor('wiki', 'True');
    expect((await tokensFor(config)).access_token).toBeTruthy();
    await kube.waitFor('two Updated events', () => eventsOf('wiki').length >= 3);
    expect(eventsOf('wiki').map((e) => e.reason)).toEqual(['Registered', 'Updated', 'Updated']);
  });

  it('gets a new secret when the rotate annotation changes; the old one stops working', async () => {
    const before = await appConfig('wiki-oidc');
    const tokens = await tokensFor(before);
    const oldSecret = secretOf('wiki-oidc')!.OIDC_CLIENT_SECRET;
    kube.apply('accouchclients', resource('wiki', { redirectUris: [callback], name: 'Wiki', refresh: 'always', allowedGroups: ['family'] }, { 'accouch.dev/rotate-secret': 'r1' }));
    await kube.waitFor('the rotated secret', () => secretOf('wiki-oidc')!.OIDC_CLIENT_SECRET !== oldSecret
      && (kube.get('accouchclients', ns, 'wiki')!.status as { secretRotation?: string }).secretRotation === 'r1');
    await expect(oidc.refreshTokenGrant(before, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_client' });
    const after = await appConfig('wiki-oidc');
    expect((await oidc.refreshTokenGrant(after, tokens.refresh_token!)).access_token).toBeTruthy();
    await kube.waitFor('the SecretRotated event', () => eventsOf('wiki').some((e) => e.reason === 'SecretRotated'));
  });

  it('deleted: the client, its tokens and its Secret are gone', async () => {
    const config = await appConfig('wiki-oidc');
    const tokens = await tokensFor(config);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
    kube.delete('accouchclients', ns, 'wiki');
    expect(kube.get('secrets', ns, 'wiki-oidc')).toBeUndefined(); // the garbage collector, through the owner reference
    await until('the client to go', () => !clientIds().includes('apps.wiki'));
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toBeTruthy();
    await expect(oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).rejects.toBeTruthy();
    expect(server.cli(['audit']).stdout).toMatch(/client\.removed.*kubernetes|kubernetes.*client\.removed/);
  });
});

describe('bad resources', () => {
  it('a resource the CRD schema refuses never reaches Accouch', () => {
    expect(() => kube.apply('accouchclients', resource('ci', { preset: 'jenkins', url: 'https://ci.home.example' }))).toThrow(/spec\.preset: must be equal to one of the allowed values/);
  });

  it('an invalid spec gets Ready=False with the field and the reason, and a Warning event; fixing it makes it Ready', async () => {
    kube.apply('accouchclients', resource('grafana', { preset: 'grafana' }));
    const refused = await readyFor('grafana', 'False');
    expect(refused).toMatchObject({ reason: 'InvalidSpec', message: expect.stringMatching(/^spec\.url: the grafana preset needs the address/) });
    kube.apply('accouchclients', resource('grafana', { preset: 'grafana', url: 'https://grafana.home.example', redirectUris: ['https://x.example/cb'] }));
    expect(await readyFor('grafana', 'False')).toMatchObject({ message: expect.stringMatching(/^spec\.redirectUris: /) });
    kube.apply('accouchclients', resource('grafana', { redirectUris: ['not a uri'] }));
    expect(await readyFor('grafana', 'False')).toMatchObject({ message: expect.stringMatching(/^spec\.redirectUris\[0\]: must be an absolute URI/) });
    expect(kube.get('secrets', ns, 'grafana-oidc')).toBeUndefined();
    await kube.waitFor('a Warning event', () => eventsOf('grafana').some((e) => e.type === 'Warning' && e.reason === 'InvalidSpec'));

    kube.apply('accouchclients', resource('grafana', { preset: 'grafana', url: 'https://grafana.home.example' }));
    await readyFor('grafana', 'True');
    expect(secretOf('grafana-oidc')).toMatchObject({ GF_AUTH_GENERIC_OAUTH_CLIENT_ID: 'apps.grafana', GF_AUTH_GENERIC_OAUTH_TOKEN_URL: `${server.issuer}/token` });
    expect((await fetch(`${server.issuer}/healthz`)).ok).toBe(true);
  });

  it('an id another app already has, or a Secret that is not its own, is refused', async () => {
    addClient(server, 'apps.taken', ['--redirect-uri', callback]);
    kube.apply('accouchclients', resource('taken', { redirectUris: [callback] }));
    expect(await readyFor('taken', 'False')).toMatchObject({ reason: 'IdConflict', message: expect.stringContaining('"apps.taken"') });

    kube.apply('secrets', { metadata: { name: 'db-credentials', namespace: ns }, data: { password: Buffer.from('hunter2').toString('base64') } });
    kube.apply('accouchclients', resource('thief', { redirectUris: [callback], secretName: 'db-credentials' }));
    expect(await readyFor('thief', 'False')).toMatchObject({ reason: 'SecretConflict' });
    expect(kube.get('secrets', ns, 'db-credentials')!.data).toEqual({ password: Buffer.from('hunter2').toString('base64') });
    expect(clientIds()).not.toContain('apps.thief');
  });
});

describe('an unreliable API server', () => {
  it('a dropped watch, then 410 Gone after compaction: every change made meanwhile arrives', async () => {
    kube.apply('accouchclients', resource('one', { redirectUris: [callback] }));
    await readyFor('one', 'True');

    // Watches break and cannot come back while two changes happen.
    kube.refuseWatches = true;
    kube.dropWatches();
    kube.apply('accouchclients', resource('two', { redirectUris: [callback] }));
    kube.delete('accouchclients', ns, 'one');
    kube.refuseWatches = false;
    await readyFor('two', 'True');
    await until('client apps.one to go', () => !clientIds().includes('apps.one'));

    // Again, and this time the history is compacted: the watch from the old resourceVersion gets 410, Accouch relists.
    kube.refuseWatches = true;
    kube.dropWatches();
    kube.apply('accouchclients', resource('three', { redirectUris: [callback] }));
    kube.delete('accouchclients', ns, 'two');
    kube.compact();
    kube.refuseWatches = false;
    await readyFor('three', 'True');
    await until('client apps.two to go', () => !clientIds().includes('apps.two'));
    expect(kube.expired).toBeGreaterThan(0);
    // Watches ask for bookmarks and resume from a resourceVersion rather than starting over.
    expect(kube.watches.every((q) => q.get('allowWatchBookmarks') === 'true')).toBe(true);
    expect(kube.watches.filter((q) => Number(q.get('resourceVersion')) > 0).length).toBeGreaterThan(2);
    expect(server.output()).toContain('"event":"kubernetes.unreachable"');
  });

  it('while the API server is down, sign-ins keep working; once it is back, new resources are served', async () => {
    const config = await appConfig('grafana-oidc');
    const complaints = () => server.output().split('"event":"kubernetes.unreachable"').length;
    const before = complaints();
    await kube.stop();
    try {
      await until('Accouch to notice the API server is gone', () => complaints() > before);
      const tokens = await (async () => {
        const start = await startAuth(config, { redirect_uri: 'https://grafana.home.example/login/generic_oauth' });
        const returned = await signIn(new Agent(), server, start.url, 'olga', 'olga password');
        return oidc.authorizationCodeGrant(config, returned, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
      })();
      expect(tokens.claims()!.aud).toBe('apps.grafana');
    } finally {
      await kube.start();
    }
    kube.apply('accouchclients', resource('four', { redirectUris: [callback] }));
    await readyFor('four', 'True');
  });
});

describe('an Ingress with the forward-auth annotation', () => {
  it('declares a forward-auth app for its hosts, with a Traefik Middleware beside it and an Event naming the router annotation', async () => {
    expect((await askForwardAuth('media.home.example')).status).toBe(403); // not declared (yet)
    kube.apply('ingresses', ingress('media', 'media.home.example', { 'accouch.dev/forward-auth': 'true', 'accouch.dev/forward-auth-groups': 'family' }));
    const middleware = await kube.waitFor('the Middleware', () => kube.get('middlewares', ns, 'media-accouch'));
    expect(middleware.spec).toMatchObject({ forwardAuth: { address: `${server.issuer}/forward-auth/traefik`, authResponseHeaders: expect.arrayContaining(['Remote-User']) } });
    expect(middleware.metadata.ownerReferences).toEqual([expect.objectContaining({ kind: 'Ingress', name: 'media', uid: kube.get('ingresses', ns, 'media')!.metadata.uid })]);
    const [event] = await kube.waitFor('the ForwardAuth event', () => eventsOf('media').length > 0 && eventsOf('media'));
    expect(event!.message).toContain('add the annotation traefik.ingress.kubernetes.io/router.middlewares: apps-media-accouch@kubernetescrd');
    await until('forward-auth to know media.home.example', async () => (await askForwardAuth('media.home.example')).status === 302);
    expect((await askForwardAuth('media.home.example')).location).toMatch(new RegExp(`^${server.issuer}/forward-auth/start\\?rd=`));
  });

  it('an Ingress without the annotation is left alone; taking the annotation or the Ingress away removes the app', async () => {
    kube.apply('ingresses', ingress('blog', 'blog.home.example'));
    kube.apply('ingresses', ingress('media', 'media.home.example'));
    await kube.waitFor('the Middleware to go', () => !kube.get('middlewares', ns, 'media-accouch'));
    await until('forward-auth to forget media.home.example', async () => (await askForwardAuth('media.home.example')).status === 403);
    expect(kube.get('middlewares', ns, 'blog-accouch')).toBeUndefined();
    expect(eventsOf('blog')).toEqual([]);

    kube.apply('ingresses', ingress('media', 'media.home.example', { 'accouch.dev/forward-auth': 'true' }));
    await until('media.home.example to be declared again', async () => (await askForwardAuth('media.home.example')).status === 302);
    kube.delete('ingresses', ns, 'media');
    expect(kube.get('middlewares', ns, 'media-accouch')).toBeUndefined(); // the garbage collector
    await until('forward-auth to forget media.home.example again', async () => (await askForwardAuth('media.home.example')).status === 403);
  });

  it('a host another forward-auth app has is refused with a Warning event', async () => {
    kube.apply('ingresses', ingress('one-fa', 'shared.home.example', { 'accouch.dev/forward-auth': 'true' }));
    await kube.waitFor('the Middleware of one-fa', () => kube.get('middlewares', ns, 'one-fa-accouch'));
    kube.apply('ingresses', ingress('two-fa', 'shared.home.example', { 'accouch.dev/forward-auth': 'true' }));
    const [warning] = await kube.waitFor('a Warning on two-fa', () => eventsOf('two-fa').some((e) => e.type === 'Warning') && eventsOf('two-fa'));
    expect(warning).toMatchObject({ reason: 'ForwardAuthConflict', message: expect.stringContaining('already belongs to another forward-auth app') });
  });
});

describe('two replicas', () => {
  let second: RunningServer;
  afterAll(async () => { if (second) await stopCleanly(second); });

  it('one holds the Lease and reconciles; when it stops, the other takes over', async () => {
    second = await startServer({ dataDir: server.dataDir, env: kubeEnv('accouch-b', true) });
    const holder = () => (kube.get('leases', 'accouch', 'accouch-reconciler')?.spec as { holderIdentity?: string } | undefined)?.holderIdentity;
    expect(holder()).toBeTruthy();
    const firstHolder = holder();
    const writesBefore = kube.writes.length;
    kube.apply('accouchclients', resource('five', { redirectUris: [callback] }));
    kube.apply('accouchclients', resource('six', { redirectUris: [callback] }));
    await readyFor('five', 'True');
    await readyFor('six', 'True');
    // Every write but the Lease's own renewals came from replica a, which holds the Lease.
    const writers = new Set(kube.writes.slice(writesBefore).filter((w) => !w.path.includes('/leases/')).map((w) => w.user));
    expect([...writers]).toEqual(['accouch-a']);
    expect(second.output()).not.toContain('"event":"kubernetes.leading"');

    await stopCleanly(server); // gives the Lease up on the way out
    await until('replica b to take the Lease', () => Boolean(holder()) && holder() !== firstHolder);
    kube.apply('accouchclients', resource('seven', { redirectUris: [callback] }));
    await readyFor('seven', 'True');
    expect(kube.writes.filter((w) => w.path.endsWith('/accouchclients/seven/status')).map((w) => w.user)).toEqual(['accouch-b']);
    // Replica b may patch Ingresses (kubernetes.patchIngresses): it adds the router annotation itself.
    kube.apply('ingresses', ingress('photos', 'photos.home.example', { 'accouch.dev/forward-auth': 'true', 'traefik.ingress.kubernetes.io/router.middlewares': 'kube-system-compress@kubernetescrd' }));
    await kube.waitFor('the router annotation', () => kube.get('ingresses', ns, 'photos')!.metadata.annotations!['traefik.ingress.kubernetes.io/router.middlewares']
      === 'kube-system-compress@kubernetescrd,apps-photos-accouch@kubernetescrd');
    server = second;
    second = undefined as unknown as RunningServer;
  });
});
