// Every method on every route, with malformed, hostile and oversized input, signed out and signed in as the
// owner: the answer is always a 4xx (or a success), never a 5xx. The routes come from the source itself, so a
// new route is fuzzed the day it is added.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, formAction } from './support/agent.js';
import { addClient, addUser, callback } from './support/rp.js';
import { root, startServer, type RunningServer, stopCleanly } from './support/server.js';

let server: RunningServer;
let owner: Agent;

/** Our routes (from the router calls in src/http) and oidc-provider's endpoints. */
function routes(): string[] {
  const dir = join(root, 'src', 'http');
  const found = new Set<string>();
  for (const file of readdirSync(dir, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.ts'))) {
    for (const m of readFileSync(join(dir, file), 'utf8').matchAll(/\.(?:get|post|put|delete|patch|all)\(\s*'(\/[^']*)'/g)) found.add(m[1]!);
  }
  for (const path of ['/auth', '/token', '/me', '/device/auth', '/device', '/device/x', '/session/end', '/session/end/confirm',
    '/token/introspection', '/token/revocation', '/jwks', '/.well-known/openid-configuration', '/interaction/x/login']) found.add(path);
  expect(found.size).toBeGreaterThan(60);
  return [...found].sort();
}

const fill = (route: string, value: string) => route.replace(/:[a-z]+/gi, value);

interface Probe { method: string; path: string; headers?: Record<string, string>; body?: string | undefined }

const bodies: Array<{ type: string; body: string }> = [
  { type: 'application/x-www-form-urlencoded', body: 'a=%zz&username=&password' },
  { type: 'application/x-www-form-urlencoded', body: `x=${'y'.repeat(300_000)}` },
  { type: 'application/json', body: '{not json' },
  { type: 'application/json', body: '{"__proto__":{"admin":true},"constructor":{"prototype":{"x":1}}}' },
  { type: 'application/json', body: '[null, 1, "x"]' },
  { type: 'application/json', body: `${'['.repeat(5000)}${']'.repeat(5000)}` },
  { type: 'multipart/form-data', body: '--no-boundary' },
  { type: 'text/plain', body: '\u0000\uffff' },
];

function probes(): Probe[] {
  const out: Probe[] = [];
  for (const route of routes()) {
    for (const value of ['nope', '%00', '..%2F..%2Fetc', "'%22<x>", 'a'.repeat(2000)]) {
      const path = fill(route, value);
      out.push({ method: 'GET', path: `${path}?%zz=1&a[b]=c&${'p'.repeat(50)}=${'q'.repeat(3000)}` });
      if (value !== 'nope' && route === fill(route, value)) break; // no parameter: one spelling is enough
    }
    const path = fill(route, 'nope');
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'PATCH', 'OPTIONS']) out.push({ method, path });
    for (const { type, body } of bodies) out.push({ method: 'POST', path, headers: { 'content-type': type }, body });
    out.push({ method: 'POST', path, headers: { 'content-type': 'application/json', accept: 'application/json' }, body: '{"__proto__":{}}' });
  }
  return out;
}

async function run(agent: Agent, list: Probe[]): Promise<string[]> {
  const failures: string[] = [];
  let next = 0;
  await Promise.all(Array.from({ length: 6 }, async () => {
    while (next < list.length) {
      const probe = list[next++]!;
      const res = await agent.request(`${server.issuer}${probe.path}`, { method: probe.method, headers: probe.headers, body: probe.body });
      const text = await res.text();
      if (res.status >= 500) failures.push(`${probe.method} ${probe.path.slice(0, 80)} ${probe.headers?.['content-type'] ?? ''} → ${res.status} ${text.slice(0, 120)}`);
    }
  }));
  return failures;
}

beforeAll(async () => {
  server = await startServer();
  addUser(server, 'olive', 'olive owns the house', ['--groups', 'admins']);
  addClient(server, 'app', ['--redirect-uri', callback]);
  owner = new Agent();
  const origin = new URL(server.issuer).origin;
  let { res, url } = await owner.follow(`${server.issuer}/admin`, origin);
  for (let step = 0; step < 5 && url.pathname !== '/admin'; step += 1) {
    const html = await res.text();
    const post = await owner.post(new URL(formAction(html, '/password'), origin), { username: 'olive', password: 'olive owns the house' });
    ({ res, url } = await owner.follow(url, origin, post));
  }
  expect(url.pathname).toBe('/admin');
});

afterAll(async () => {
  await stopCleanly(server);
});

describe('fuzzing every route', () => {
  it('never answers 5xx to a signed-out client', async () => {
    const list = probes();
    expect(await run(new Agent(), list)).toEqual([]);
  });

  it('never answers 5xx to the signed-in owner', async () => {
    expect(await run(owner, probes())).toEqual([]);
    // The owner is still signed in: the fuzz was refused, not a crash that lost the session.
    expect((await owner.get(`${server.issuer}/admin`)).status).toBe(200);
  });
});
