// Discovery and JWKS from memory (http/engine.ts): the bytes on the wire are the provider's own, for GET and HEAD,
// with and without Origin, under an issuer path, behind a trusted proxy, and again after a key rotation swaps the
// provider; everything the stored answers do not cover still reaches the provider.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import type Provider from 'oidc-provider';
import { describe, expect, onTestFinished, test } from 'vitest';
import { issuerPath, loadConfig } from '../../../src/config.js';
import { createNetworkClassifier } from '../../../src/auth/network.js';
import { createEngine, sendStoredAnswer } from '../../../src/http/engine.js';
import { createLogger } from '../../../src/log.js';
import { ensureSigningKeys, keyRetention, loadCookieKeys, loadJwks, rotateSigningKeys } from '../../../src/oidc/keys.js';
import { createProvider } from '../../../src/oidc/provider.js';
import type { Db } from '../../../src/store/db.js';
import { openTestDb } from '../helpers.js';

async function providerFor(db: Db, issuer: string, trustProxy: boolean): Promise<Provider> {
  const config = loadConfig({ env: { ACCOUCH_ISSUER: issuer, ACCOUCH_TRUST_PROXY: String(trustProxy) } });
  return createProvider({
    config, db, log: createLogger('silent'), jwks: await loadJwks(db, keyRetention(config.ttl)), cookieKeys: await loadCookieKeys(db),
    render: () => '', classifier: createNetworkClassifier(config.network),
  });
}

async function listen(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<number> {
  const server: Server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  onTestFinished(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

/** The whole answer as bytes on the wire, its Date line aside (the clock may tick between two requests). */
function rawRequest(port: number, method: string, path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const lines = Object.entries({ host: 'whatever.example', ...headers, connection: 'close' }).map(([name, value]) => `${name}: ${value}\r\n`);
      socket.end(`${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1').replace(/\r\nDate: [^\r]+/, '')));
  });
}

/**
 * Two servers over one provider slot: `engine` answers from memory where it can and counts it, `plain` hands
 * every request to the current provider's own callback, as oidc-provider's mounting under a path expects.
 */
async function servers(issuer: string, trustProxy: boolean, first: Provider) {
  const base = issuerPath(issuer);
  const host = new URL(issuer).host;
  const slot = { current: first, fromMemory: 0 };
  const engine = createEngine({ provider: () => slot.current, base, trustProxy, host, log: createLogger('silent') });
  const enginePort = await listen((req, res) => {
    req.headers.host = host; // as http/app.ts pins it
    const answer = engine.stored(req);
    if (!answer) return void engine.handle(req, res);
    slot.fromMemory += 1;
    sendStoredAnswer(req, res, answer);
  });
  const plainPort = await listen((req, res) => {
    req.headers.host = host;
    if (base) {
      (req as { originalUrl?: string }).originalUrl = req.url;
      req.url = req.url!.slice(base.length) || '/';
    }
    void slot.current.callback()(req, res);
  });
  /** Asks both; the engine's answer must come from memory (the first request after a swap stores it). */
  const compare = async (method: string, path: string, headers: Record<string, string>) => {
    const plain = await rawRequest(plainPort, method, path, headers);
    for (let attempt = 0; attempt < 20; attempt += 1) {
      const before = slot.fromMemory;
      const fast = await rawRequest(enginePort, method, path, headers);
      if (slot.fromMemory > before) return { fast, plain };
    }
    throw new Error(`${method} ${path} was never answered from memory`);
  };
  const viaProvider = async (method: string, path: string, headers: Record<string, string>) => {
    const before = slot.fromMemory;
    const answers = { fast: await rawRequest(enginePort, method, path, headers), plain: await rawRequest(plainPort, method, path, headers) };
    expect(slot.fromMemory, `${method} ${path}`).toBe(before);
    return answers;
  };
  return { slot, base, compare, viaProvider };
}

const origins: Array<Record<string, string>> = [{}, { origin: 'https://app.example' }];

describe.each([
  { issuer: 'http://localhost:3000', trustProxy: false },
  { issuer: 'https://id.home.example/id', trustProxy: true },
])('stored discovery and JWKS of $issuer (trustProxy $trustProxy)', ({ issuer, trustProxy }) => {
  test('are byte for byte what the provider answers, before and after a key rotation', async () => {
    const db = await openTestDb();
    await ensureSigningKeys(db);
    const { slot, base, compare } = await servers(issuer, trustProxy, await providerFor(db, issuer, trustProxy));
    const paths = ['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server', '/jwks'].map((p) => `${base}${p}`);
    const protocols: Array<Record<string, string>> = [{}, { 'x-forwarded-proto': 'https' }, { 'x-forwarded-proto': 'HTTP, https' }];

    const jwksSeen: string[] = [];
    for (const round of ['before', 'after'] as const) {
      if (round === 'after') {
        await rotateSigningKeys(db);
        slot.current = await providerFor(db, issuer, trustProxy); // what main does when the key version changes
      }
      for (const path of paths) {
        for (const method of ['GET', 'HEAD']) {
          for (const headers of origins.flatMap((origin) => protocols.map((proto) => ({ ...origin, ...proto })))) {
            const { fast, plain } = await compare(method, path, headers);
            expect(fast, `${round}: ${method} ${path} ${JSON.stringify(headers)}`).toBe(plain);
            expect(fast).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
            expect(fast).toContain(`\r\nAccess-Control-Allow-Origin: ${headers.origin ?? '*'}\r\n`);
          }
        }
      }
      const { fast } = await compare('GET', `${base}/jwks`, {});
      jwksSeen.push(fast.slice(fast.indexOf('\r\n\r\n') + 4));
      // Discovery's URLs take the scheme the provider sees: the forwarded one only from a trusted proxy.
      const discovery = (await compare('GET', paths[0]!, { 'x-forwarded-proto': 'https' })).fast;
      expect(discovery).toContain(`"jwks_uri":"${trustProxy ? 'https' : 'http'}://${new URL(issuer).host}${base}/jwks"`);
    }
    // The rotation published a new key set, and the stored answer followed the new provider.
    const [before, after] = jwksSeen.map((body) => (JSON.parse(body!) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid));
    expect(after).toEqual(expect.arrayContaining(before!));
    expect(after!.length).toBeGreaterThan(before!.length);
  });

  test('leaves preflights, other methods, query strings and other schemes to the provider', async () => {
    const db = await openTestDb();
    await ensureSigningKeys(db);
    const { base, compare, viaProvider } = await servers(issuer, trustProxy, await providerFor(db, issuer, trustProxy));
    const jwks = `${base}/jwks`;
    await compare('GET', jwks, {}); // stored from here on
    const preflight = await viaProvider('OPTIONS', jwks, { origin: 'https://app.example', 'access-control-request-method': 'GET' });
    expect(preflight.fast).toMatch(/^HTTP\/1\.1 204 /);
    expect(preflight.fast).toBe(preflight.plain);
    const others: Array<[string, string, Record<string, string>]> = [['POST', jwks, { 'content-length': '0' }], ['GET', `${jwks}?x=1`, {}], ['GET', `${jwks}/`, {}]];
    // A scheme the provider would spell out as it came (only believed from a trusted proxy).
    if (trustProxy) others.push(['GET', `${base}/.well-known/openid-configuration`, { 'x-forwarded-proto': 'ftp' }]);
    for (const [method, path, headers] of others) {
      const { fast, plain } = await viaProvider(method, path, headers);
      expect(fast).toBe(plain);
    }
  });
});
