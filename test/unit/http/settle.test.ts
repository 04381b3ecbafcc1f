// The 503 of an answer whose writes the disk refused, for answers written straight to the response (the engine's,
// the proxies' forward-auth check): on a real HTTP server on an ephemeral port, with a settle that fails as a full
// disk makes it fail. The answer keeps what every answer carries and drops what the handler had set.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, expect, test } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { endOnceSettled } from '../../../src/http/settle.js';
import type { RequestWrites } from '../../../src/store/sqlite-writer.js';

const refused = new AppError('unavailable', 'The server cannot save anything right now: its disk is full.', { expose: true });
const failingWrites: RequestWrites = {
  run: (work) => work(),
  settle: () => Promise.reject(refused),
  failure: () => undefined,
  writable: () => Promise.resolve(),
};

let server: Server;
let origin: string;
const logged: Array<{ event?: string; msg: string }> = [];
const log = pino({}, new Writable({ write(line, _, done) { logged.push(JSON.parse(String(line))); done(); } }));

beforeAll(async () => {
  server = createServer((req, res) => {
    // What every answer carries, set before the handler (http/app.ts outsideKoa).
    res.setHeader('x-request-id', 'req-7');
    res.setHeader('x-frame-options', 'DENY');
    endOnceSettled(res, failingWrites, (accepts, message) => ({ type: 'application/json', body: JSON.stringify({ error: 'unavailable', accepts, message }) }),
      () => 'json', () => log);
    // The handler: a session cookie next to the browser's id, a redirect, framing of its own, CORS.
    res.setHeader('set-cookie', ['accouch.browser=AAAAAAAAAAAAAAAAAAAAAA; path=/; httponly', '_session=not-saved; path=/; httponly']);
    res.setHeader('location', '/next');
    res.setHeader('x-frame-options', 'SAMEORIGIN');
    res.setHeader('access-control-allow-origin', 'https://app.example');
    res.statusCode = 303;
    res.end();
  });
  server.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

test('an answer whose write failed is a 503 without the handler\'s cookie, redirect or framing', async () => {
  const res = await fetch(`${origin}/token`, { redirect: 'manual' });
  expect(res.status).toBe(503);
  expect(await res.json()).toEqual({ error: 'unavailable', accepts: 'json', message: refused.message });
  expect(res.headers.get('cache-control')).toBe('no-store');
  expect(res.headers.get('location')).toBeNull();
  expect(res.headers.get('x-request-id')).toBe('req-7');
  expect(res.headers.get('x-frame-options')).toBe('DENY');
  expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
  expect(res.headers.getSetCookie()).toEqual(['accouch.browser=AAAAAAAAAAAAAAAAAAAAAA; path=/; httponly']);
  expect(logged).toMatchObject([{ event: 'storage.unavailable', msg: 'a write failed: the answer is a 503' }]);
});
