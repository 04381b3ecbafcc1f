// The server bundle makes oidc-provider's hot-path errors only when they are thrown (scripts/lazy-engine-errors.mjs):
// the running server must answer a bad bearer token at userinfo and an unknown or structured token at introspection
// exactly as the published oidc-provider does. The published one runs here, unbundled from node_modules, with the
// same routes and a client_credentials client, and both are asked the same questions.
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Provider from 'oidc-provider';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addClient } from './support/rp.js';
import { startServer, stopCleanly, type RunningServer } from './support/server.js';

interface Peer { issuer: string; auth: string; token: string }

const form = { 'content-type': 'application/x-www-form-urlencoded' };

async function clientCredentialsToken(issuer: string, auth: string): Promise<string> {
  const res = await fetch(`${issuer}/token`, { method: 'POST', headers: { ...form, authorization: auth }, body: 'grant_type=client_credentials' });
  expect(res.status).toBe(200);
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Status, body and the challenge of an answer, the issuer (the challenge's realm) written as ISSUER. */
async function answer(peer: Peer, res: Response) {
  return {
    status: res.status,
    body: await res.json() as unknown,
    challenge: res.headers.get('www-authenticate')?.replaceAll(peer.issuer, 'ISSUER') ?? null,
  };
}

const questions: Array<[string, number, (peer: Peer) => Promise<Response>]> = [
  ['userinfo, a token nobody issued', 401, (p) => fetch(`${p.issuer}/me`, { headers: { authorization: 'Bearer not-a-token-anybody-issued-0123456789' } })],
  // A client_credentials token is no access token for userinfo: "access token not found".
  ['userinfo, a client_credentials token', 401, (p) => fetch(`${p.issuer}/me`, { headers: { authorization: `Bearer ${p.token}` } })],
  ['introspection, a token nobody issued', 200, (p) => fetch(`${p.issuer}/token/introspection`, {
    method: 'POST', headers: { ...form, authorization: p.auth }, body: 'token=not-a-token-anybody-issued-0123456789',
  })],
  ['introspection, a structured (JWT) token', 400, (p) => fetch(`${p.issuer}/token/introspection`, {
    method: 'POST', headers: { ...form, authorization: p.auth }, body: 'token=eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.',
  })],
];

describe('the engine bundled with lazy errors', () => {
  let server: RunningServer;
  let published: Server;
  const peers: Record<'accouch' | 'published', Peer> = {} as never;

  beforeAll(async () => {
    server = await startServer();
    const secret = addClient(server, 'svc', ['--client-credentials'])!;
    const accouchAuth = `Basic ${Buffer.from(`svc:${secret}`).toString('base64')}`;
    peers.accouch = { issuer: server.issuer, auth: accouchAuth, token: await clientCredentialsToken(server.issuer, accouchAuth) };

    published = createServer();
    await new Promise<void>((resolve) => published.listen(0, '127.0.0.1', resolve));
    const issuer = `http://127.0.0.1:${(published.address() as AddressInfo).port}`;
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const provider = new Provider(issuer, {
      clients: [{ client_id: 'svc', client_secret: 'published-secret', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] }],
      features: { clientCredentials: { enabled: true }, introspection: { enabled: true }, devInteractions: { enabled: false } },
      jwks: { keys: [{ ...privateKey.export({ format: 'jwk' }), alg: 'RS256', use: 'sig', kid: 'k1' }] },
      routes: { userinfo: '/me', introspection: '/token/introspection' },
      ttl: { ClientCredentials: 600 },
    });
    published.on('request', provider.callback());
    const publishedAuth = `Basic ${Buffer.from('svc:published-secret').toString('base64')}`;
    peers.published = { issuer, auth: publishedAuth, token: await clientCredentialsToken(issuer, publishedAuth) };
  });

  afterAll(async () => {
    published?.close();
    if (server) await stopCleanly(server);
  });

  it.each(questions)('%s: %i, as the published oidc-provider answers', async (_name, status, ask) => {
    const ours = await answer(peers.accouch, await ask(peers.accouch));
    const theirs = await answer(peers.published, await ask(peers.published));
    expect(ours).toEqual(theirs);
    expect(ours.status).toBe(status);
  });

  it('introspects a token it issued as active', async () => {
    const res = await fetch(`${server.issuer}/token/introspection`, {
      method: 'POST', headers: { ...form, authorization: peers.accouch.auth }, body: `token=${peers.accouch.token}`,
    });
    expect(await res.json()).toMatchObject({ active: true, client_id: 'svc' });
  });
});
