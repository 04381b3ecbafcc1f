// The owner console at /admin against the real server: only members of `admins` get in; apps from a preset with
// their setup text, secret rotation seen at the token endpoint; session revocation seen by the refresh token;
// disabling, invitation and reset links; key rotation seen in the JWKS; the audit log; and, in Chromium, axe and
// screenshots in light and dark.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, formAction } from './support/agent.js';
import { expectAccessible } from './support/axe.js';
import { launchChromium } from './support/chromium.js';
import { addClient, addUser, callback, clientCredentials, codeFlow, discover, discoverWith } from './support/rp.js';
import { screenshotDir, startServer, type RunningServer, stopCleanly } from './support/server.js';
import { addVirtualAuthenticator } from './support/webauthn.js';

let server: RunningServer;
let origin: string;
const ownerPassword = 'olive owns the house';
let owner: Agent;

beforeAll(async () => {
  server = await startServer();
  origin = new URL(server.issuer).origin;
  addUser(server, 'olive', ownerPassword, ['--groups', 'admins']);
  owner = new Agent();
  await openSignedIn(owner, '/admin', 'olive', ownerPassword);
});

afterAll(async () => {
  await stopCleanly(server);
});

const url = (path: string) => `${server.issuer}${path}`;

/**
 * Opens a page (or follows `first`, a redirect to sign in) and signs in with a password as a person would;
 * returns the page it lands on.
 */
async function openSignedIn(agent: Agent, path: string, username: string, password: string, first?: Response): Promise<{ res: Response; url: URL; html: string }> {
  let { res, url: at } = await agent.follow(url(path), origin, first);
  for (let step = 0; step < 5; step += 1) {
    const html = await res.text();
    if (at.pathname.startsWith(path.split('?')[0]!) && !html.includes('name="password"')) return { res, url: at, html };
    expect(html, `sign-in page at ${at}`).toContain('name="password"');
    const post = await agent.post(new URL(formAction(html, '/password'), origin), { username, password });
    ({ res, url: at } = await agent.follow(at, origin, post));
  }
  throw new Error('sign-in did not finish');
}

const page = async (agent: Agent, path: string) => {
  const res = await agent.get(url(path));
  expect(res.status, path).toBe(200);
  expect(res.headers.get('cache-control')).toBe('no-store');
  return res.text();
};

/** The href of the "Manage" link of a named person or app on a console list. */
const manageLink = (html: string, name: string) => {
  const href = html.match(new RegExp(`href="([^"]+)" aria-label="Manage ${name}"`))?.[1];
  expect(href, `Manage ${name}`).toBeDefined();
  return href!;
};

const auditLog = () => server.cli(['audit', '--limit', '1000']).stdout;

function ageSession(agent: Agent, age: number) {
  const db = new SQLite(join(server.dataDir, 'accouch.sqlite'));
  try {
    db.pragma('busy_timeout = 5000');
    db.prepare("UPDATE oidc_payloads SET payload = json_set(payload, '$.loginTs', json_extract(payload, '$.loginTs') - ?) WHERE model = 'Session' AND id = ?")
      .run(age, agent.cookies.get('_session'));
  } finally {
    db.close();
  }
}

describe('who gets in', () => {
  it('sends a signed-out browser to sign in and back to the console', async () => {
    const agent = new Agent();
    const first = await agent.get(url('/admin/users'));
    expect(first.status).toBe(303);
    const auth = new URL(first.headers.get('location')!);
    expect(auth.pathname).toBe('/auth');
    expect(auth.searchParams.get('client_id')).toBe('accouch');
    const landed = await openSignedIn(agent, '/admin/users', 'olive', ownerPassword);
    expect(landed.url.pathname).toBe('/admin/users');
    expect(landed.html).toContain('<h1>Users</h1>');
    expect((await agent.post(url('/admin/keys/rotate'), {})).status).toBe(200); // this sign-in is fresh
  });

  it('gives a non-admin 403 on every page and every change, and a form from another site 403 too', async () => {
    addUser(server, 'nick', 'nick password', ['--groups', 'family']);
    const nick = new Agent();
    const landed = await openSignedIn(nick, '/admin', 'nick', 'nick password');
    expect(landed.res.status).toBe(403);
    expect(landed.html).toContain('The owner console is for members of the admins group.');
    for (const path of ['/admin', '/admin/apps', '/admin/apps/new', '/admin/users', '/admin/sessions', '/admin/keys', '/admin/audit']) {
      expect((await nick.get(url(path))).status, path).toBe(403);
    }
    const posts = [
      '/admin/apps', '/admin/apps/x/redirects', '/admin/apps/x/keys', '/admin/apps/x/secret', '/admin/apps/x/remove', '/admin/users/invite', '/admin/users/x/groups',
      '/admin/users/x/disable', '/admin/users/x/enable', '/admin/users/x/reset', '/admin/sessions/x/revoke', '/admin/keys/rotate',
    ];
    for (const path of posts) expect((await nick.post(url(path), { preset: 'generic', url: 'https://x.example', id: 'x', groups: 'admins' })).status, path).toBe(403);
    expect(auditLog()).not.toMatch(/client\.created|user\.invited|keys\.rotated.*nick/);

    const forged = await owner.request(url('/admin/users/invite'), {
      method: 'POST', body: new URLSearchParams({ groups: 'admins' }), headers: { 'content-type': 'application/x-www-form-urlencoded', origin: 'https://evil.example' },
    });
    expect(forged.status).toBe(403);
  });
});

describe('apps', () => {
  it('adds an app from a preset and shows its setup text; a rotated secret replaces the old one at the token endpoint', async () => {
    addUser(server, 'amy', 'amy password');
    const form = await page(owner, '/admin/apps/new');
    expect(form).toContain('value="generic"');
    const added = await owner.post(url('/admin/apps'), { preset: 'generic', url: 'https://app.example', id: 'notes', name: 'Notes' });
    expect(added.status).toBe(200);
    const html = await added.text();
    const secret = html.match(/<code id="client-secret">([^<]+)<\/code>/)?.[1];
    expect(secret).toMatch(/^[\w-]{40,}$/);
    const setup = html.match(/<pre class="admin-pre" id="setup-text"[^>]*><code>([\s\S]*?)<\/code><\/pre>/)?.[1];
    expect(setup).toContain('notes');
    expect(setup).toContain(secret);
    expect(setup).toContain(server.issuer);
    expect(await page(owner, '/admin/apps')).toMatch(/<strong>Notes<\/strong>[\s\S]*<code>notes<\/code> · confidential/);

    const old = await discover(server, 'notes', secret);
    expect((await codeFlow(server, old, 'amy', 'amy password')).tokens.id_token).toBeTruthy();

    const rotated = await owner.post(url('/admin/apps/notes/secret'), {});
    expect(rotated.status).toBe(200);
    const fresh = (await rotated.text()).match(/<code id="client-secret">([^<]+)<\/code>/)![1]!;
    expect(fresh).not.toBe(secret);
    await expect(codeFlow(server, old, 'amy', 'amy password')).rejects.toMatchObject({ error: 'invalid_client' });
    const renewed = await discover(server, 'notes', fresh);
    expect((await codeFlow(server, renewed, 'amy', 'amy password')).tokens.id_token).toBeTruthy();

    const redirects = await owner.post(url('/admin/apps/notes/redirects'), { redirectUris: `${callback}\nhttps://app.example/other` });
    expect(redirects.headers.get('location')).toBe('/admin/apps/notes?done=redirects-saved');
    const detail = await page(owner, '/admin/apps/notes?done=redirects-saved');
    expect(detail).toContain('Redirect URIs saved.');
    expect(detail).toContain('https://app.example/other</textarea>');
    const bad = await owner.post(url('/admin/apps/notes/redirects'), { redirectUris: 'not a uri' });
    expect(bad.status).toBe(400);

    // An app that posts its secret in the form: client_secret_post, as `client add --auth-method` sets it.
    expect(detail).toMatch(/value="client_secret_basic" checked/);
    const method = await owner.post(url('/admin/apps/notes/auth-method'), { tokenEndpointAuthMethod: 'client_secret_post' });
    expect(method.headers.get('location')).toBe('/admin/apps/notes?done=auth-method-saved');
    expect(await page(owner, '/admin/apps/notes?done=auth-method-saved')).toMatch(/value="client_secret_post" checked/);
    expect((await owner.post(url('/admin/apps/notes/auth-method'), { tokenEndpointAuthMethod: 'none' })).status).toBe(400);

    expect((await owner.post(url('/admin/apps/notes/remove'), {})).headers.get('location')).toBe('/admin/apps?done=app-removed');
    expect(await page(owner, '/admin/apps')).not.toContain('<strong>Notes</strong>');
    await expect(codeFlow(server, renewed, 'amy', 'amy password')).rejects.toThrow();
    const log = auditLog();
    for (const event of ['client.created', 'client.secret_rotated', 'client.updated', 'client.removed']) expect(log).toMatch(new RegExp(`${event.replace('.', '\\.')} .*client=notes`));
  });
});

/** A client_credentials request from app `clientId` proving itself with `auth`: the access token, or the OAuth error code. */
const tokenFor = async (clientId: string, auth: oidc.ClientAuth) => clientCredentials(await discoverWith(server, clientId, auth));

describe('an app that signs with its own key', () => {
  it('switches to private_key_jwt with pasted public keys after a fresh sign-in, refuses a private key, and switches back to a new secret', async () => {
    const secret = addClient(server, 'robot', ['--name', 'Backup Robot', '--client-credentials'])!;
    expect(await tokenFor('robot', oidc.ClientSecretBasic(secret))).not.toMatch(/^error/);
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'robot-1', alg: 'ES256', use: 'sig' };
    const privateJwk = { ...(await exportJWK(privateKey)), kid: 'robot-1' };

    // Giving an app a key is as strong as knowing its secret: it needs a sign-in at most five minutes old.
    ageSession(owner, 301);
    const keys = { jwks: JSON.stringify({ keys: [publicJwk] }, null, 2), jwksUri: '' };
    const stale = await owner.post(url('/admin/apps/robot/keys'), keys);
    expect(stale.status).toBe(303);
    expect(new URL(stale.headers.get('location')!).searchParams.get('prompt')).toBe('login');
    const back = await openSignedIn(owner, '/admin/apps/robot', 'olive', ownerPassword, stale);
    expect(back.html).toContain('Or it signs with its own key (private_key_jwt)');

    const refused = await owner.post(url('/admin/apps/robot/keys'), { jwks: JSON.stringify({ keys: [privateJwk] }), jwksUri: '' });
    expect(refused.status).toBe(400);
    const refusedPage = await refused.text();
    expect(refusedPage).toContain('That is a private key: it stays with the app and was not saved.');
    expect(refusedPage).not.toContain(privateJwk.d!); // not even shown back in the form
    const offLoopback = await owner.post(url('/admin/apps/robot/keys'), { jwksUri: 'http://robot.example/jwks', jwks: '' });
    expect(offLoopback.status).toBe(400);
    expect(await offLoopback.text()).toContain('must be https (http only on a loopback address)');
    expect(await tokenFor('robot', oidc.ClientSecretBasic(secret))).not.toMatch(/^error/); // nothing changed

    const saved = await owner.post(url('/admin/apps/robot/keys'), keys);
    expect(saved.headers.get('location')).toBe('/admin/apps/robot?done=keys-saved');
    const detail = await page(owner, '/admin/apps/robot?done=keys-saved');
    expect(detail).toContain('Keys saved: the app must now sign its requests with one of them (private_key_jwt).');
    expect(detail).toContain('Switch to a secret');
    expect(detail).not.toContain('Rotate secret');

    const key = { key: privateKey, kid: 'robot-1' };
    expect(await tokenFor('robot', oidc.PrivateKeyJwt(key))).not.toMatch(/^error/);
    expect(await tokenFor('robot', oidc.ClientSecretBasic(secret))).toBe('error: invalid_client');
    const stranger = await generateKeyPair('ES256');
    expect(await tokenFor('robot', oidc.PrivateKeyJwt({ key: stranger.privateKey, kid: 'robot-1' }))).toBe('error: invalid_client');

    // New keys at an address the app serves (http is allowed on loopback): the new key works, the old one no longer.
    const next = await generateKeyPair('ES256', { extractable: true });
    const nextJwk = { ...(await exportJWK(next.publicKey)), kid: 'robot-2', alg: 'ES256', use: 'sig' };
    const jwksServer = createServer((_req, res) => res.setHeader('content-type', 'application/json').end(JSON.stringify({ keys: [nextJwk] })));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    try {
      const jwksUri = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
      const moved = await owner.post(url('/admin/apps/robot/keys'), { jwksUri, jwks: '' });
      expect(moved.headers.get('location')).toBe('/admin/apps/robot?done=keys-saved');
      expect(await page(owner, '/admin/apps/robot')).toContain(`<code id="jwks-uri">${jwksUri}</code>`);
      expect(await tokenFor('robot', oidc.PrivateKeyJwt({ key: next.privateKey, kid: 'robot-2' }))).not.toMatch(/^error/);
      expect(await tokenFor('robot', oidc.PrivateKeyJwt(key))).toBe('error: invalid_client');
    } finally {
      jwksServer.close();
    }

    // Back to a secret: the rotation page shows the new one once, and the key stops working.
    const switched = await owner.post(url('/admin/apps/robot/secret'), { tokenEndpointAuthMethod: 'client_secret_post' });
    expect(switched.status).toBe(200);
    const fresh = (await switched.text()).match(/<code id="client-secret">([^<]+)<\/code>/)![1]!;
    expect(fresh).not.toBe(secret);
    expect(await tokenFor('robot', oidc.ClientSecretPost(fresh))).not.toMatch(/^error/);
    expect(await tokenFor('robot', oidc.PrivateKeyJwt({ key: next.privateKey, kid: 'robot-2' }))).toBe('error: invalid_client');
    expect(await page(owner, '/admin/apps/robot')).toMatch(/value="client_secret_post" checked/);

    const log = auditLog();
    expect(log).toMatch(/client\.updated .*client=robot/);
    expect(log).toContain('jwksUri=http://127.0.0.1:');
    expect(log).toMatch(/client\.secret_rotated .*client=robot/);
    expect(log).not.toContain(publicJwk.x!);
    expect(log).not.toContain(privateJwk.d!);
  });
});

describe('users and sessions', () => {
  it("revokes another user's session: they are signed out and their refresh token fails", async () => {
    addUser(server, 'carol', 'carol password');
    const secret = addClient(server, 'wiki', ['--redirect-uri', callback, '--name', 'Family Wiki']);
    const config = await discover(server, 'wiki', secret);
    const carol = new Agent();
    const { tokens } = await codeFlow(server, config, 'carol', 'carol password', { scope: 'openid offline_access', prompt: 'consent' }, carol);
    expect(tokens.refresh_token).toBeTruthy();

    const html = await page(owner, '/admin/sessions');
    const item = html.split('<li>').find((li) => li.includes('<strong>Carol Example</strong>'))!;
    expect(item).toContain('Family Wiki');
    expect(item).not.toContain(carol.cookies.get('_session')!);
    const action = item.match(/action="([^"]+\/revoke)"/)![1]!;
    expect((await owner.post(new URL(action, origin), {})).headers.get('location')).toBe('/admin/sessions?done=session-revoked');
    expect(await page(owner, '/admin/sessions')).not.toContain('<strong>Carol Example</strong>');
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await carol.get(url('/account'))).status).toBe(303);
  });

  it('disables a user (signed out, sign-in refused) and enables them again; changes their groups', async () => {
    addUser(server, 'dave', 'dave password');
    const dave = new Agent();
    await openSignedIn(dave, '/account', 'dave', 'dave password');
    const manage = manageLink(await page(owner, '/admin/users'), 'Dave Example');
    const disabled = await owner.post(new URL(`${manage}/disable`, origin), {});
    expect(disabled.headers.get('location')).toBe(`${manage}?done=disabled`);
    expect(await page(owner, `${manage}?done=disabled`)).toMatch(/The user is disabled[\s\S]*status-disabled/);
    expect((await dave.get(url('/account'))).status).toBe(303);

    const again = new Agent();
    const { res } = await again.follow(url('/account'), origin);
    const refused = await again.post(new URL(formAction(await res.text(), '/password'), origin), { username: 'dave', password: 'dave password' });
    expect(refused.status).toBe(401);

    expect((await owner.post(new URL(`${manage}/enable`, origin), {})).headers.get('location')).toBe(`${manage}?done=enabled`);
    expect((await openSignedIn(new Agent(), '/account', 'dave', 'dave password')).html).toContain('Dave Example');

    expect((await owner.post(new URL(`${manage}/groups`, origin), { groups: 'family, kids' })).status).toBe(303);
    expect(await page(owner, '/admin/users')).toMatch(/Dave Example[\s\S]*?Groups: family, kids/);
    const self = manageLink(await page(owner, '/admin/users'), 'Olive Example');
    const leave = await owner.post(new URL(`${self}/groups`, origin), { groups: 'family' });
    expect(leave.status).toBe(400);
    expect(await leave.text()).toContain('You cannot leave');
  });

  it('an invitation link lets a new person create their account with a password and sign in', async () => {
    const created = await owner.post(url('/admin/users/invite'), { groups: 'family' });
    expect(created.status).toBe(200);
    const link = new URL(oneTimeLink(await created.text()));
    expect(link.pathname).toBe('/invite');

    const erin = new Agent();
    const profile = await erin.get(link);
    expect(profile.status).toBe(200);
    expect(await profile.text()).toContain('Join Accouch');
    const token = link.searchParams.get('token')!;
    const taken = await erin.post(url('/invite/profile'), { token, name: 'Erin', username: 'olive', email: '', method: 'password' });
    expect(taken.status).toBe(409);
    expect(await taken.text()).toContain('is taken');
    const saved = await erin.post(url('/invite/profile'), { token, name: 'Erin Example', username: 'erin', email: 'erin@home.example', method: 'password' });
    expect(saved.status).toBe(303);
    const passwordPage = await (await erin.get(link)).text();
    expect(passwordPage).toContain('Choose your password');
    expect((await erin.post(url('/invite/password'), { token, password: 'erin password', confirm: 'erin password', code: '' })).status).toBe(303);
    const codes = await (await erin.get(link)).text();
    expect([...codes.matchAll(/<li><code>([a-z0-9]{5}-[a-z0-9]{5})<\/code><\/li>/g)]).toHaveLength(10);
    const finished = await erin.post(url('/invite/finish'), { token });
    expect(finished.headers.get('location')).toBe('/account');
    expect((await erin.get(link)).status).toBe(404); // used up

    expect((await openSignedIn(new Agent(), '/account', 'erin', 'erin password')).html).toContain('Erin Example');
    expect(await page(owner, '/admin/users')).toMatch(/Erin Example[\s\S]*?Groups: family[\s\S]*?status-active/);
    expect(auditLog()).toMatch(/user\.invite_accepted/);
  });

  it("a reset link replaces a user's password and signs them out everywhere", async () => {
    addUser(server, 'frank', 'frank old password');
    const frank = new Agent();
    await openSignedIn(frank, '/account', 'frank', 'frank old password');
    const manage = manageLink(await page(owner, '/admin/users'), 'Frank Example');
    const created = await owner.post(new URL(`${manage}/reset`, origin), {});
    expect(created.status).toBe(200);
    const link = new URL(oneTimeLink(await created.text()));
    const token = link.searchParams.get('token')!;

    const opened = new Agent();
    expect(await (await opened.get(link)).text()).toContain('Reset your sign-in, Frank Example');
    expect((await frank.get(url('/account'))).status).toBe(200); // opening the link changes nothing yet
    expect((await opened.post(url('/reset/method'), { token, method: 'password' })).status).toBe(303);
    expect(await (await opened.get(link)).text()).toContain('Choose your password');
    expect((await opened.post(url('/reset/password'), { token, password: 'frank new password', confirm: 'frank new password', code: '' })).status).toBe(303);
    expect((await frank.get(url('/account'))).status).toBe(303); // signed out
    expect(await (await opened.get(link)).text()).toContain('Save your recovery codes');
    expect((await opened.post(url('/reset/finish'), { token })).headers.get('location')).toBe('/account');

    const again = new Agent();
    const { res } = await again.follow(url('/account'), origin);
    const refused = await again.post(new URL(formAction(await res.text(), '/password'), origin), { username: 'frank', password: 'frank old password' });
    expect(refused.status).toBe(401);
    expect((await openSignedIn(new Agent(), '/account', 'frank', 'frank new password')).html).toContain('Frank Example');
    expect(auditLog()).toMatch(/user\.factors_reset/);
  });
});

describe('signing keys', () => {
  it('rotates after a fresh sign-in; the JWKS publishes the new keys within seconds', async () => {
    const kidsOf = async () => ((await (await fetch(url('/jwks'))).json()) as { keys: Array<{ kid: string }> }).keys.map((k) => k.kid);
    const before = await kidsOf();
    ageSession(owner, 301);
    const stale = await owner.post(url('/admin/keys/rotate'), {});
    expect(stale.status).toBe(303);
    expect(new URL(stale.headers.get('location')!).searchParams.get('prompt')).toBe('login');
    // Signing in again (the password, though the session is still there) comes back to the keys page.
    expect((await openSignedIn(owner, '/admin/keys', 'olive', ownerPassword, stale)).url.pathname).toBe('/admin/keys');

    const rotated = await owner.post(url('/admin/keys/rotate'), {});
    expect(rotated.status).toBe(200);
    const html = await rotated.text();
    const fresh = [...html.matchAll(/<code class="admin-kid">([^<]+)<\/code>[\s\S]*?<td>(RS256|ES256|EdDSA)<\/td>[\s\S]*?Active, new/g)].map((m) => m[1]!);
    expect(fresh).toHaveLength(3);
    for (const kid of fresh) expect(before).not.toContain(kid);
    const deadline = Date.now() + 8_000;
    let published = await kidsOf();
    while (!fresh.every((kid) => published.includes(kid)) && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 250));
      published = await kidsOf();
    }
    expect(published).toEqual(expect.arrayContaining([...fresh, ...before])); // the old ones stay published
  });
});

describe('the audit log', () => {
  it('shows the console changes, filters by event prefix and user, and pages by 50', async () => {
    const all = await page(owner, '/admin/audit');
    for (const event of ['client.created', 'client.secret_rotated', 'session.revoked', 'user.disabled', 'user.enabled', 'user.groups_changed', 'user.invited', 'user.reset_link_created', 'keys.rotated']) {
      expect(all, event).toContain(`<code>${event}</code>`);
    }
    const clients = await page(owner, '/admin/audit?event=client.');
    const events = [...clients.matchAll(/<td><code>([^<]+)<\/code><\/td>/g)].map((m) => m[1]!);
    expect(events.length).toBeGreaterThan(3);
    expect(events.every((e) => e.startsWith('client.'))).toBe(true);
    expect(clients).toContain('value="client."');

    const dave = await page(owner, '/admin/audit?user=dave&event=user.');
    const daveEvents = [...dave.matchAll(/<td><code>([^<]+)<\/code><\/td>/g)].map((m) => m[1]!);
    expect(daveEvents.sort()).toEqual(['user.created', 'user.disabled', 'user.enabled', 'user.groups_changed']); // by the CLI or the console
    expect(dave).toContain('user=dave');

    // A busy afternoon of group changes: more than a page of them.
    const manage = manageLink(await page(owner, '/admin/users'), 'Dave Example');
    for (let i = 0; i < 52; i += 1) expect((await owner.post(new URL(`${manage}/groups`, origin), { groups: i % 2 ? 'family, kids' : 'family' })).status).toBe(303);
    const first = await page(owner, '/admin/audit?event=user.groups');
    expect([...first.matchAll(/<td><code>user\.groups_changed<\/code><\/td>/g)]).toHaveLength(50);
    const next = first.match(/<a href="([^"]+)" rel="next">/)?.[1]?.replace(/&amp;/g, '&');
    expect(next).toBe('/admin/audit?event=user.groups&page=2');
    const second = await page(owner, next!);
    expect([...second.matchAll(/<td><code>user\.groups_changed<\/code><\/td>/g)]).toHaveLength(53 - 50);
    expect(second).toContain('rel="prev"');
    expect(second).not.toContain('rel="next"');
    const today = new Date().toISOString().slice(0, 10);
    expect(await page(owner, `/admin/audit?from=${today}&to=${today}&event=keys.`)).toContain('<code>keys.rotated</code>');
    expect(await page(owner, '/admin/audit?from=2000-01-01&to=2000-01-02')).toContain('No events.');
  });
});

describe('in a browser', () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => { await browser?.close(); });

  async function check(page: Page, label: string, shot?: string) {
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      if (shot) await page.screenshot({ path: join(screenshotDir, `${shot}-${scheme}.png`), fullPage: true });
      await expectAccessible(page, `${label}, ${scheme}`, scheme === 'dark' ? ['color-contrast'] : undefined);
    }
    await page.emulateMedia({ colorScheme: 'light' });
  }

  it('passes axe on every console page, in light and dark, on a laptop and a phone, without CSP violations', async () => {
    mkdirSync(screenshotDir, { recursive: true });
    const context = await browser.newContext({ viewport: { width: 1000, height: 900 } });
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
    await page.goto(url('/admin'));
    await page.fill('#username', 'olive');
    await page.fill('#password', ownerPassword);
    await page.keyboard.press('Enter');
    await page.waitForURL(url('/admin'));
    expect(await page.textContent('h1')).toBe('Owner console');
    await check(page, 'console overview', 'admin');

    // A form post from the browser passes the same-origin check; the setup text is shown.
    await page.click('nav >> text=Apps');
    await page.click('text=Add an app');
    await check(page, 'add an app');
    await page.check('input[name=preset][value=generic]');
    await page.fill('#app-url', 'https://photos.example');
    await page.fill('#app-name', 'Photos');
    await page.fill('#app-id', 'photos');
    await page.click('button:has-text("Add app")');
    await page.waitForSelector('h1:has-text("Photos is added")');
    await check(page, 'app added', 'admin-app-added');
    await page.click('text=Done');
    await check(page, 'app page');
    // An app that signs with its own key: its keys, and the way back to a secret.
    const jwksFile = join(server.dataDir, 'signer-jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK((await generateKeyPair('ES256')).publicKey)), kid: 'signer-1' }] }));
    expect(server.cli(['client', 'add', 'signer', '--client-credentials', '--auth-method', 'private_key_jwt', '--jwks', jwksFile]).status).toBe(0);
    await page.goto(url('/admin/apps/signer'));
    await page.click('summary:has-text("Its public keys")');
    expect(await page.textContent('#app-jwks')).toContain('"kid": "signer-1"');
    await check(page, 'app page with its own key', 'admin-app-key');
    await page.goto(url('/admin/apps'));
    await check(page, 'apps', 'admin-apps');
    await page.goto(url('/admin/users'));
    await check(page, 'users', 'admin-users');
    await page.click('a[aria-label="Manage Olive Example"]');
    await check(page, 'user page');
    await page.goto(url('/admin/sessions'));
    await check(page, 'sessions');
    await page.goto(url('/admin/keys'));
    await check(page, 'keys');
    await page.goto(url('/admin/audit?event=user.'));
    await check(page, 'audit log', 'admin-audit');

    await page.goto(url('/admin/users'));
    await page.fill('#invite-groups', 'family');
    await page.click('button:has-text("Create an invitation link")');
    const link = await page.inputValue('#one-time-link');
    await check(page, 'invitation link');

    // The invitee's pages, on a phone.
    const phone = await browser.newContext({ viewport: { width: 420, height: 820 }, deviceScaleFactor: 2 });
    const invitee = await phone.newPage();
    await invitee.goto(link);
    await check(invitee, 'invitation: profile', 'invite');
    await invitee.fill('#name', 'Gus Example');
    await invitee.fill('#username', 'gus');
    await invitee.check('input[name=method][value=password]');
    await invitee.click('button:has-text("Continue")');
    await invitee.waitForSelector('h1:has-text("Choose your password")');
    await check(invitee, 'invitation: password');
    // Changes their mind: a passkey, then the recovery codes, then the lock screen greets them.
    await addVirtualAuthenticator(invitee);
    await invitee.click('text=Back');
    await invitee.waitForSelector('h1:has-text("Join Accouch")');
    expect(await invitee.inputValue('#username')).toBe('gus');
    await invitee.check('input[name=method][value=passkey]');
    await invitee.click('button:has-text("Continue")');
    await invitee.waitForSelector('button:has-text("Create passkey")');
    await check(invitee, 'invitation: passkey');
    await invitee.click('button:has-text("Create passkey")');
    await invitee.waitForSelector('h1:has-text("Save your recovery codes")');
    await check(invitee, 'invitation: recovery codes');
    await invitee.click('button:has-text("I saved them: finish")');
    await invitee.waitForSelector('h1.who:has-text("Gus Example")');
    await invitee.click('text=Sign in with a passkey');
    await invitee.waitForURL(url('/account'));
    expect(await invitee.textContent('h1')).toBe('Gus Example');

    await page.setViewportSize({ width: 420, height: 820 });
    await page.goto(url('/admin/audit'));
    await page.screenshot({ path: join(screenshotDir, 'admin-audit-phone.png'), fullPage: true });
    expect(await page.evaluate(() => document.documentElement.scrollWidth <= window.innerWidth + 1)).toBe(true);
    expect(cspViolations).toEqual([]);
    await phone.close();
    await context.close();
  });
});

/** The one-time link shown to the admin. */
function oneTimeLink(html: string): string {
  const value = html.match(/<input id="one-time-link"[^>]*value="([^"]+)"/)?.[1];
  expect(value, 'one-time link').toBeDefined();
  return value!.replace(/&amp;/g, '&');
}
