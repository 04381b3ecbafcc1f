// The http kit on a real koa app (with the real error middleware and templates) on an ephemeral port: bodies
// parsed and checked at the edge, refusals a person can read, prototype keys kept out, the one orShow rule,
// and the 303 after a change.
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import Router from '@koa/router';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { z } from 'zod';
import { AppError, badRequest, conflict, internal, notFound } from '../../../src/errors.js';
import { browserContext } from '../../../src/http/browser-id.js';
import { handleErrors } from '../../../src/http/errors.js';
import { field, form, html, json, orShow, parseBody, passthroughObject, postedValues, seeOther, trimmed } from '../../../src/http/kit.js';
import { createRenderer } from '../../../src/http/views.js';

const profileForm = z.object({ name: trimmed, note: field, count: z.string().max(3).optional() });
const assertionBody = z.object({ mode: z.enum(['passkey', 'second']).optional(), response: passthroughObject });

/** What each /change/:what throws. */
const failures: Record<string, () => Error> = {
  conflict: () => conflict('That name is taken. Choose another.'),
  missing: () => notFound('That app is not here (any more).'),
  upstream: () => new AppError('upstream', 'GitHub could not be reached. Nothing was changed.'),
  internal: () => internal('the disk is on fire'),
  crash: () => new TypeError('cannot read properties of undefined'),
  parse: () => badRequest('unused'), // replaced by a zod refusal below
};

let server: Server;
let origin: string;

beforeAll(async () => {
  const app = new Koa();
  const router = new Router();
  router.post('/form', form, (ctx) => {
    ctx.body = { parsed: parseBody(ctx, profileForm), polluted: ({} as Record<string, unknown>).admin ?? null };
  });
  router.post('/json', json, (ctx) => {
    ctx.body = { parsed: parseBody(ctx, assertionBody) };
  });
  // The page a refusal is shown on: the form again, with the posted name, the message and the refusal's status.
  const page = (ctx: Koa.Context, error: AppError) => html(ctx, `<p class="error">${error.message}</p><input value="${postedValues(ctx, profileForm).name ?? ''}">`, error.status);
  router.post('/change/:what', form, orShow((ctx) => {
    if (ctx.params.what === 'ok') return seeOther(ctx, '/done?x=1');
    if (ctx.params.what === 'parse') parseBody(ctx, profileForm);
    throw failures[ctx.params.what!]!();
  }, page, { rethrow: ['not_found'] }));
  router.get('/page', (ctx) => html(ctx, '<h1>Hello</h1>'));
  // A change that had set its cookie, redirect, caching and CORS headers when it failed (a write the disk refused).
  router.post('/half-done', browserContext(), (ctx) => {
    ctx.cookies.set('accouch.session', 'not-saved', { httpOnly: true, signed: false });
    ctx.set('access-control-allow-origin', 'https://app.example');
    ctx.set('location', '/next');
    ctx.set('cache-control', 'private, max-age=60');
    ctx.set('x-frame-options', 'SAMEORIGIN');
    throw new AppError('unavailable', 'The server cannot save anything right now.', { expose: true });
  });
  // What every answer carries, set before the error middleware as the app does (http/app.ts).
  app.use((ctx, next) => {
    ctx.set('x-request-id', 'req-1');
    ctx.set('x-frame-options', 'DENY');
    return next();
  });
  app.use(handleErrors(createRenderer('')));
  app.use(router.routes());
  server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
});

const postForm = (path: string, body: string, headers: Record<string, string> = {}) => fetch(`${origin}${path}`, {
  method: 'POST', redirect: 'manual', headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers }, body,
});
const postJson = (path: string, body: string) => fetch(`${origin}${path}`, {
  method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body,
});

describe('parseBody: zod at the edge', () => {
  test('a form parses into the typed value, trimmed where the schema trims; an empty field is absent', async () => {
    const res = await postForm('/form', 'name=%20%20Ann%20Example%20&note=%20kept%20&count=12&ignored=1');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ parsed: { name: 'Ann Example', note: ' kept ', count: '12' }, polluted: null });
    expect(await (await postForm('/form', 'name=%20%20')).json()).toEqual({ parsed: {}, polluted: null });
  });

  test('no body (or another content type) reads as an empty form, not a crash', async () => {
    const res = await fetch(`${origin}/form`, { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'name=x' });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ parsed: {}, polluted: null });
  });

  test('a WebAuthn response passes through as an object for @simplewebauthn to check further', async () => {
    const response = { id: 'abc', rawId: 'abc', type: 'public-key', response: { clientDataJSON: 'x', authenticatorData: 'y', signature: 'z' } };
    const res = await postJson('/json', JSON.stringify({ mode: 'second', response }));
    expect(await res.json()).toEqual({ parsed: { mode: 'second', response } });
  });

  test.each([
    ['a field sent twice (an array)', '/form', 'name=a&name=b', '"name" must be text.'],
    ['a field too long', '/form', 'count=12345', '"count" is too long (at most 3 characters).'],
    ['a nested field where text belongs', '/form', 'note[a]=b', '"note" must be text.'],
  ])('%s is a 400 that names the field, in words (HTML)', async (_label, path, body, message) => {
    const res = await postForm(path, body);
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    const page = await res.text();
    expect(page).toContain('That did not work');
    expect(page).toContain(message.replaceAll('"', '&quot;'));
  });

  test.each([
    ['a missing response', '{"mode":"second"}', '"response" is missing.'],
    ['a response that is not an object', '{"response":"x"}', '"response" must be an object.'],
    ['a mode that is not one of the two', '{"mode":"admin","response":{}}', '"mode" must be one of: passkey, second.'],
    ['an array instead of an object', '[null, 1, "x"]', 'The request body must be a form or a JSON object.'],
  ])('%s is a 400 with a readable message (JSON)', async (_label, body, message) => {
    const res = await postJson('/json', body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'bad_request', message });
  });
});

describe('prototype keys', () => {
  test('in a form they never reach the value nor Object.prototype', async () => {
    const res = await postForm('/form', '__proto__[admin]=1&constructor[prototype][admin]=1&name=Ann&prototype=x');
    expect(res.status).toBe(200);
    const { parsed, polluted } = await res.json() as { parsed: Record<string, unknown>; polluted: unknown };
    expect(parsed).toEqual({ name: 'Ann' });
    expect(Object.getPrototypeOf(parsed)).toBe(Object.prototype);
    expect(polluted).toBeNull();
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });

  test('in JSON, __proto__ is a 400 that says so', async () => {
    const res = await postJson('/json', '{"__proto__":{"admin":true},"response":{}}');
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: 'bad_request', message: expect.stringContaining('forbidden key') });
  });

  test('in JSON, constructor.prototype outside the schema is dropped (only the schema\'s keys come out)', async () => {
    const res = await postJson('/json', '{"constructor":{"prototype":{"admin":true}},"response":{}}');
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ parsed: { response: {} } });
    expect(({} as Record<string, unknown>).admin).toBeUndefined();
  });
});

describe('orShow: a readable refusal on the page, anything else rethrown', () => {
  test('a 4xx AppError shows the page with its message and status, and the posted values', async () => {
    const res = await postForm('/change/conflict', 'name=Ann');
    expect(res.status).toBe(409);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const page = await res.text();
    expect(page).toContain('<p class="error">That name is taken. Choose another.</p>');
    expect(page).toContain('<input value="Ann">');
  });

  test('a zod refusal inside the change is shown on the page too', async () => {
    const res = await postForm('/change/parse', 'name=a&name=b');
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('<p class="error">"name" must be text.</p>');
  });

  test("an upstream's failure is shown: its message names the service", async () => {
    const res = await postForm('/change/upstream', 'name=Ann');
    expect(res.status).toBe(502);
    expect(await res.text()).toContain('<p class="error">GitHub could not be reached. Nothing was changed.</p>');
  });

  test('a 5xx AppError and a crash go to the error middleware: a generic 500, no detail', async () => {
    for (const what of ['internal', 'crash']) {
      const res = await postForm(`/change/${what}`, 'name=Ann');
      expect(res.status).toBe(500);
      const page = await res.text();
      expect(page).toContain('Something went wrong');
      expect(page).not.toContain('class="error"');
      expect(page).not.toMatch(/disk is on fire|cannot read properties/);
    }
  });

  test('a code the page rethrows (not_found) is the error page, with its message', async () => {
    const res = await postForm('/change/missing', 'name=Ann');
    expect(res.status).toBe(404);
    const page = await res.text();
    expect(page).not.toContain('class="error"');
    expect(page).toContain('That app is not here (any more).');
  });

  test('a client that asked for JSON gets the refusal as JSON, not the page', async () => {
    const res = await postForm('/change/conflict', 'name=Ann', { accept: 'application/json' });
    expect(res.status).toBe(409);
    expect(await res.json()).toEqual({ error: 'conflict', message: 'That name is taken. Choose another.' });
  });
});

describe('the error middleware', () => {
  test('takes back what the handler had set (its cookie, redirect, framing) and keeps what every answer carries', async () => {
    const res = await fetch(`${origin}/half-done`, { method: 'POST', redirect: 'manual' });
    expect(res.status).toBe(503);
    expect(await res.text()).toContain('cannot save anything right now');
    expect(res.headers.get('location')).toBeNull();
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('x-request-id')).toBe('req-1');
    expect(res.headers.get('x-frame-options')).toBe('DENY');
    // A browser app calling it sees the 503, not a network error.
    expect(res.headers.get('access-control-allow-origin')).toBe('https://app.example');
    // The browser keeps its id (sign-in alerts tell browsers apart by it); the unsaved session cookie is gone.
    const cookies = res.headers.getSetCookie();
    expect(cookies).toHaveLength(1);
    expect(cookies[0]).toMatch(/^accouch\.browser=[\w-]{22,}; /);
  });
});

describe('answers', () => {
  test('seeOther is a 303 to the URL, never cached', async () => {
    const res = await postForm('/change/ok', 'name=Ann');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('/done?x=1');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  test('html is a page, never cached', async () => {
    const res = await fetch(`${origin}/page`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(await res.text()).toBe('<h1>Hello</h1>');
  });
});
