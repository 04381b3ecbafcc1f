// Discovery and JWKS answered from memory in the running server (http/engine.ts, wired in http/app.ts): an app
// sees the same answer as from the provider itself (a query string sends the request there), with our security
// headers, its request id and its access line, under an issuer path, and the new keys right after a rotation.
import { connect } from 'node:net';
import { describe, expect, it } from 'vitest';
import { freePort, logLines, startServer, stopCleanly, until } from './support/server.js';

/** The answer's bytes, Date line aside (the clock may tick between two requests). */
function rawGet(port: number, method: string, path: string, headers: Record<string, string>): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      const lines = Object.entries({ host: `localhost:${port}`, ...headers, connection: 'close' }).map(([name, value]) => `${name}: ${value}\r\n`);
      socket.end(`${method} ${path} HTTP/1.1\r\n${lines.join('')}\r\n`);
    });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.on('error', reject);
    socket.on('end', () => resolve(Buffer.concat(chunks).toString('latin1').replace(/\r\nDate: [^\r]+/, '')));
  });
}

const kids = (answer: string) => (JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);

describe('discovery and JWKS from memory', () => {
  it('answer as the provider does, with our headers, request ids and access lines, and follow a key rotation', async () => {
    const port = await freePort();
    const server = await startServer({ port, issuer: `http://localhost:${port}/id` });
    const paths = ['/id/.well-known/openid-configuration', '/id/.well-known/oauth-authorization-server', '/id/jwks'];
    let n = 0;
    const check = async (round: string) => {
      for (const path of paths) {
        for (const method of ['GET', 'HEAD']) {
          for (const origin of [{}, { origin: 'https://app.example' }]) {
            // The first request after a (re)start or rotation is the provider's and stores its answer; the rest come
            // from memory. A query string always goes to the provider, which ignores it on these endpoints.
            const ids = [`${round}-${++n}`, `${round}-${++n}`, `${round}-${++n}`];
            const [first, fast, provider] = [
              await rawGet(port, method, path, { ...origin, 'x-request-id': ids[0]! }),
              await rawGet(port, method, path, { ...origin, 'x-request-id': ids[1]! }),
              await rawGet(port, method, `${path}?via=provider`, { ...origin, 'x-request-id': ids[2]! }),
            ];
            expect(fast.replace(ids[1]!, ids[2]!), `${round}: ${method} ${path} ${JSON.stringify(origin)}`).toBe(provider);
            expect(first.replace(ids[0]!, ids[2]!)).toBe(provider);
            expect(fast).toMatch(new RegExp(`^HTTP/1\\.1 200 OK\\r\\nx-request-id: ${ids[1]}\\r\\ncontent-security-policy: default-src 'none'; [^\\r]+\\r\\n`
              + `x-content-type-options: nosniff\\r\\nreferrer-policy: no-referrer\\r\\nx-frame-options: DENY\\r\\nVary: Origin\\r\\n`
              + `Access-Control-Allow-Origin: ${'origin' in origin ? 'https://app.example' : '\\*'}\\r\\n`));
            // One access line each, with the path as it came (the issuer's path included, no query string).
            await until(() => ids.every((id) => logLines(server).some((l) => l.reqId === id)), `the access lines of ${ids.join(', ')}`);
            for (const id of ids) {
              expect(logLines(server).filter((l) => l.reqId === id)).toEqual([expect.objectContaining({ msg: 'request', method, path, status: 200 })]);
            }
          }
        }
      }
      return rawGet(port, 'GET', '/id/jwks', {});
    };

    const before = kids(await check('before'));
    // An id a caller sends that is not sane (too long, odd characters) is replaced by one of ours, there as here.
    const odd = 'not a sane id!';
    const [fastOdd, providerOdd] = [await rawGet(port, 'GET', '/id/jwks', { 'x-request-id': odd }), await rawGet(port, 'GET', '/id/jwks?via=provider', { 'x-request-id': odd })];
    for (const answer of [fastOdd, providerOdd]) expect(answer).toMatch(/\r\nx-request-id: [\w-]+-[0-9a-z]+\r\n/);
    expect(fastOdd.match(/x-request-id: (\S+)/)![1]).not.toBe(providerOdd.match(/x-request-id: (\S+)/)![1]);
    // A discovery document that names the issuer's path (the provider is mounted under it).
    const discovery = await rawGet(port, 'GET', '/id/.well-known/openid-configuration', {});
    expect(discovery).toContain(`"jwks_uri":"http://localhost:${port}/id/jwks"`);

    expect(server.cli(['keys', 'rotate']).status).toBe(0);
    await until(() => logLines(server).some((l) => l.event === 'keys.reloaded'), 'the server to load the new keys');
    const after = kids(await check('after'));
    expect(after).toEqual(expect.arrayContaining(before));
    expect(after.length).toBeGreaterThan(before.length);
    await stopCleanly(server);
  });
});
