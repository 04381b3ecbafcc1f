// Malformed and hostile requests get the right OAuth error or a readable page: never a 500, never a
// redirect to an unregistered URI.
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from './support/agent.js';
import { addClient, addUser, callback, discover, signIn, startAuth } from './support/rp.js';
import { startServer, type RunningServer, stopCleanly } from './support/server.js';

let server: RunningServer;
let config: oidc.Configuration;
let secret: string;

beforeAll(async () => {
  server = await startServer();
  addUser(server, 'bob', 'bob password 1');
  secret = addClient(server, 'app', ['--redirect-uri', callback])!;
  config = await discover(server, 'app', secret);
});

afterAll(async () => {
  await stopCleanly(server);
});

async function authorize(params: Record<string, string>) {
  const url = new URL(`${server.issuer}/auth`);
  for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
  return fetch(url, { redirect: 'manual' });
}

const valid = { client_id: 'app', response_type: 'code', scope: 'openid', redirect_uri: callback, code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 's1' };

describe('authorization endpoint', () => {
  it.each([
    ['an unknown client', { client_id: 'nobody' }],
    ['an unregistered redirect URI', { redirect_uri: 'https://evil.example/callback' }],
    ['a trailing-slash variant of the redirect URI', { redirect_uri: `${callback}/` }],
  ])('shows an error page and does not redirect for %s', async (_label, override) => {
    const res = await authorize({ ...valid, ...override });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const html = await res.text();
    expect(html).toContain('Something went wrong');
    expect(html).not.toMatch(/at .*\.js:\d+/);
  });

  it('refuses PKCE plain and requests without a code challenge, telling the app', async () => {
    for (const override of [{ code_challenge_method: 'plain', code_challenge: 'a'.repeat(43) }, { code_challenge: '', code_challenge_method: '' }]) {
      const res = await authorize({ ...valid, ...override });
      expect(res.status).toBe(303);
      const location = new URL(res.headers.get('location')!);
      expect(`${location.origin}${location.pathname}`).toBe(callback);
      expect(location.searchParams.get('error')).toBe('invalid_request');
    }
  });

  it('refuses the implicit flow', async () => {
    const res = await authorize({ ...valid, response_type: 'id_token token', nonce: 'n' });
    const location = new URL(res.headers.get('location')!);
    expect(location.searchParams.get('error') ?? new URLSearchParams(location.hash.slice(1)).get('error')).toBe('unsupported_response_type');
  });
});

describe('token endpoint', () => {
  async function freshCode() {
    const start = await startAuth(config);
    const returned = await signIn(new Agent(), server, start.url, 'bob', 'bob password 1');
    return { ...start, code: returned.searchParams.get('code')! };
  }

  async function token(body: Record<string, string>, auth = `Basic ${Buffer.from(`app:${secret}`).toString('base64')}`) {
    const res = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { authorization: auth, 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(body) });
    return { status: res.status, body: await res.json() as Record<string, string> };
  }

  it('rejects a missing or wrong PKCE verifier', async () => {
    const { code, verifier } = await freshCode();
    const missing = await token({ grant_type: 'authorization_code', code, redirect_uri: callback });
    expect(missing).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });

    const second = await freshCode();
    const wrong = await token({ grant_type: 'authorization_code', code: second.code, redirect_uri: callback, code_verifier: `${verifier}x`.slice(1) });
    expect(wrong).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('accepts a code once and refuses it the second time', async () => {
    const { code, verifier } = await freshCode();
    const body = { grant_type: 'authorization_code', code, redirect_uri: callback, code_verifier: verifier };
    expect((await token(body)).status).toBe(200);
    expect(await token(body)).toMatchObject({ status: 400, body: { error: 'invalid_grant' } });
  });

  it('rejects a wrong client secret', async () => {
    const { code, verifier } = await freshCode();
    const result = await token({ grant_type: 'authorization_code', code, redirect_uri: callback, code_verifier: verifier }, `Basic ${Buffer.from('app:wrong-secret').toString('base64')}`);
    expect(result).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('refuses the password grant and garbage bodies with OAuth errors', async () => {
    expect(await token({ grant_type: 'password', username: 'bob', password: 'bob password 1' })).toMatchObject({ status: 400, body: { error: 'unsupported_grant_type' } });
    const res = await fetch(`${server.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{not json' });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
  });
});

describe('sign-in page', () => {
  it('gives the same answer for an unknown user and a wrong password', async () => {
    const pages: string[] = [];
    for (const [username, password] of [['nobody', 'whatever123'], ['bob', 'wrong password']] as const) {
      const start = await startAuth(config);
      const agent = new Agent();
      const first = await agent.follow(start.url, new URL(server.issuer).origin);
      const html = await first.res.text();
      const action = html.match(/action="([^"]*\/password)"/)![1]!;
      const res = await agent.post(new URL(action, server.issuer), { username, password });
      expect(res.status).toBe(401);
      pages.push((await res.text()).replace(/interaction\/[\w-]+/g, 'interaction/UID').replace(/data-uid="[^"]*"/g, '').replace(/value="[^"]*"/g, ''));
    }
    expect(pages[0]).toContain('That username and password do not match.');
    expect(pages[0]).toBe(pages[1]);
  });

  it('shows a start-again page for an unknown or expired interaction', async () => {
    const res = await fetch(`${server.issuer}/interaction/does-not-exist`);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('Start again');
    const post = await fetch(`${server.issuer}/interaction/does-not-exist/password`, { method: 'POST', body: new URLSearchParams({ username: 'bob', password: 'x' }) });
    expect(post.status).toBe(400);
  });

  it('answers unknown paths and methods without a 500', async () => {
    expect((await fetch(`${server.issuer}/nope`)).status).toBe(404);
    expect((await fetch(`${server.issuer}/healthz`, { method: 'DELETE' })).status).toBeLessThan(500);
  });
});

describe('forms checked at the edge (http/kit.ts parseBody)', () => {
  it('answers a field sent twice with a 400 page that names the field, never a 500', async () => {
    for (const path of ['/join', '/alerts']) {
      const field = path === '/join' ? 'code' : 'token';
      const res = await fetch(`${server.issuer}${path}`, {
        method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: `${field}=a&${field}=b`,
      });
      expect(res.status, path).toBe(400);
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(await res.text()).toContain(`&quot;${field}&quot; must be text.`);
    }
  });

  it('answers a WebAuthn body without its response with a readable JSON 400', async () => {
    const res = await fetch(`${server.issuer}/interaction/does-not-exist/webauthn`, {
      method: 'POST', headers: { 'content-type': 'application/json', accept: 'application/json' }, body: '{"mode":"second"}',
    });
    // An unknown interaction is refused before the body is read: the sign-in page's own JSON answer.
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error: 'This sign-in page has expired. Go back to the app and sign in again.' });
  });
});
