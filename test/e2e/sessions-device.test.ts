// Browser sessions (single sign-on, RP-initiated logout), the device flow, per-client group restrictions,
// and an issuer with a path.
import { createServer } from 'node:http';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, formAction, inputValue } from './support/agent.js';
import { addClient, addUser, callback, codeFlow, discover, signIn, startAuth } from './support/rp.js';
import { freePort, startServer, type RunningServer, sqliteOnly, stopCleanly } from './support/server.js';

let server: RunningServer;
let config: oidc.Configuration;

beforeAll(async () => {
  server = await startServer();
  addUser(server, 'ivy', 'ivy password', ['--groups', 'family']);
  addUser(server, 'jack', 'jack password', ['--groups', 'admins']);
  const secret = addClient(server, 'app', ['--redirect-uri', callback, '--post-logout-redirect-uri', 'https://app.example/bye', '--device-flow']);
  config = await discover(server, 'app', secret);
});

afterAll(async () => {
  await stopCleanly(server);
});

describe('sessions', () => {
  it('signs in once, then single sign-on; after end-session the next sign-in asks again', async () => {
    const { tokens, agent } = await codeFlow(server, config, 'ivy', 'ivy password');

    const again = await startAuth(config);
    const sso = await agent.follow(again.url, new URL(server.issuer).origin);
    expect(sso.url.origin + sso.url.pathname).toBe(callback);
    expect(sso.url.searchParams.get('code')).toBeTruthy();

    const logoutUrl = oidc.buildEndSessionUrl(config, { id_token_hint: tokens.id_token!, post_logout_redirect_uri: 'https://app.example/bye', state: 'bye1' });
    const page = await agent.get(logoutUrl);
    const html = await page.text();
    expect(html).toContain('Sign out?');
    const done = await agent.post(new URL(formAction(html, '/confirm'), server.issuer), { xsrf: inputValue(html, 'xsrf')!, logout: 'yes' });
    expect(done.status).toBe(303);
    expect(done.headers.get('location')).toBe('https://app.example/bye?state=bye1');

    const third = await startAuth(config);
    const after = await agent.follow(third.url, new URL(server.issuer).origin);
    expect(await after.res.text()).toContain('name="password"');
  });

  it('refuses a user outside the groups a client allows, telling the app access_denied', async () => {
    const secret = addClient(server, 'admin-only', ['--redirect-uri', callback, '--groups', 'admins']);
    const restricted = await discover(server, 'admin-only', secret);
    const start = await startAuth(restricted);
    const returned = await signIn(new Agent(), server, start.url, 'ivy', 'ivy password');
    expect(returned.searchParams.get('error')).toBe('access_denied');
    expect(returned.searchParams.get('code')).toBeNull();

    const { tokens } = await codeFlow(server, restricted, 'jack', 'jack password');
    expect(tokens.claims()!.groups).toEqual(['admins']);
  });
});

describe('back-channel logout', () => {
  it('delivers a valid logout_token to every app that asked for one when the user signs out', async () => {
    const receiverPort = await freePort();
    const received: string[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (d) => { body += d; });
      req.on('end', () => {
        received.push(new URLSearchParams(body).get('logout_token') ?? '');
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(receiverPort, '127.0.0.1', resolve));
    const secret = addClient(server, 'wiki', ['--redirect-uri', callback, '--backchannel-logout-uri', `http://127.0.0.1:${receiverPort}/logout`, '--skip-consent']);
    const wiki = await discover(server, 'wiki', secret);
    const { tokens, agent } = await codeFlow(server, wiki, 'ivy', 'ivy password');

    const page = await agent.get(oidc.buildEndSessionUrl(wiki, { id_token_hint: tokens.id_token! }));
    const html = await page.text();
    await agent.post(new URL(formAction(html, '/confirm'), server.issuer), { xsrf: inputValue(html, 'xsrf')!, logout: 'yes' });
    for (let i = 0; i < 50 && !received.length; i += 1) await new Promise((r) => setTimeout(r, 100));
    receiver.close();

    expect(received).toHaveLength(1);
    const { payload, protectedHeader } = await jwtVerify(received[0]!, createRemoteJWKSet(new URL(`${server.issuer}/jwks`)), { issuer: server.issuer, audience: 'wiki' });
    expect(protectedHeader.alg).toBe('RS256');
    expect(payload.sub).toBe(tokens.claims()!.sub);
    expect(payload.sid).toBe(tokens.claims()!.sid);
    expect(payload.events).toEqual({ 'http://schemas.openid.net/event/backchannel-logout': {} });
    expect(payload.nonce).toBeUndefined();
  });
});

describe('device flow', () => {
  it('connects a device after the user enters its code and signs in', async () => {
    const device = await oidc.initiateDeviceAuthorization(config, { scope: 'openid profile' });
    expect(device.user_code).toMatch(/^[A-Z]{4}-[A-Z]{4}$/);
    const agent = new Agent();
    const origin = new URL(server.issuer).origin;
    let { res, url } = await agent.follow(device.verification_uri, origin);
    let html = await res.text();
    let post = await agent.post(new URL(formAction(html, '/device'), origin), { xsrf: inputValue(html, 'xsrf')!, user_code: device.user_code });
    ({ res, url } = await agent.follow(url, origin, post));
    for (let step = 0; step < 5; step += 1) {
      html = await res.text();
      if (html.includes('Device connected')) break;
      if (html.includes('op.deviceConfirmForm')) {
        expect(html).toContain(device.user_code);
        post = await agent.post(new URL(formAction(html, '/device'), origin), { xsrf: inputValue(html, 'xsrf')!, user_code: inputValue(html, 'user_code')!, confirm: 'yes' });
      } else if (html.includes('name="password"')) {
        post = await agent.post(new URL(formAction(html, '/password'), origin), { username: 'ivy', password: 'ivy password' });
      } else if (html.includes('/confirm"')) {
        post = await agent.post(new URL(formAction(html, '/confirm'), origin), {});
      } else {
        throw new Error(`unexpected page: ${html.slice(0, 400)}`);
      }
      ({ res, url } = await agent.follow(url, origin, post));
    }
    expect(html).toContain('Device connected');
    const tokens = await oidc.pollDeviceAuthorizationGrant(config, device);
    expect(tokens.claims()!.preferred_username).toBe('ivy');
  });

  it('says so when the code is wrong', async () => {
    const agent = new Agent();
    const page = await agent.get(`${server.issuer}/device`);
    const html = await page.text();
    const res = await agent.post(`${server.issuer}/device`, { xsrf: inputValue(html, 'xsrf')!, user_code: 'BBBB-CCCC' });
    expect(await res.text()).toContain('That code is not valid');
  });
});

sqliteOnly(() => describe('an issuer with a path', () => {
  it('mounts every route under the path', async () => {
    const port = await freePort();
    const prefixed = await startServer({ port, issuer: `http://localhost:${port}/id` });
    addUser(prefixed, 'kim', 'kim password');
    const secret = addClient(prefixed, 'app', ['--redirect-uri', callback]);
    const cfg = await discover(prefixed, 'app', secret);
    expect(cfg.serverMetadata().token_endpoint).toBe(`http://localhost:${port}/id/token`);
    const { tokens } = await codeFlow(prefixed, cfg, 'kim', 'kim password');
    expect(tokens.claims()!.iss).toBe(`http://localhost:${port}/id`);
    expect((await fetch(`http://localhost:${port}/id/static/accouch.css`)).status).toBe(200);
    await prefixed.stop();
  });
}));
