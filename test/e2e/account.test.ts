// The account page at /account against the real server: signing in through the first-party client, profile
// and picture, the authenticator app, recovery codes, the password, the freshness rule for factor changes, the
// last way in, sessions and connected apps; in Chromium, adding a passkey and signing in with it.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, formAction, inputValue } from './support/agent.js';
import { expectAccessible } from './support/axe.js';
import { launchChromium } from './support/chromium.js';
import { addClient, addUser, callback, codeFlow, discover } from './support/rp.js';
import { freePort, screenshotDir, startServer, type RunningServer, stopCleanly } from './support/server.js';

let server: RunningServer;
let origin: string;
const png = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==', 'base64');

beforeAll(async () => {
  server = await startServer();
  origin = new URL(server.issuer).origin;
});

afterAll(async () => {
  await stopCleanly(server);
});

const account = (path = '') => `${server.issuer}/account${path}`;
const now = () => Math.floor(Date.now() / 1000);

interface Landed { res: Response; url: URL; html: string }

/**
 * Opens an account page and signs in as a person would: the password on our sign-in page, then a code from
 * the authenticator app or a recovery code when asked. Returns the account page it lands on.
 */
async function openSignedIn(
  agent: Agent, path: string, username: string, password: string, second?: () => Promise<{ factor: 'totp' | 'recovery'; code: string }>,
): Promise<Landed> {
  let { res, url } = await agent.follow(account(path), origin);
  for (let step = 0; step < 6; step += 1) {
    const html = await res.text();
    if (url.pathname.startsWith('/account')) return { res, url, html };
    expect(res.status, html).toBeLessThan(400);
    let post: Response;
    if (html.includes('/totp"') && second) {
      const { factor, code } = await second();
      post = await agent.post(new URL(formAction(html, `/${factor}`), origin), { code });
    } else if (html.includes('name="password"')) {
      post = await agent.post(new URL(formAction(html, '/password'), origin), { username, password });
    } else {
      throw new Error(`unexpected page ${url}: ${html.slice(0, 400)}`);
    }
    ({ res, url } = await agent.follow(url, origin, post));
  }
  throw new Error('sign-in did not finish');
}

/** Pretends the sign-in of this browser happened `age` seconds ago (the clock cannot be moved in a real server). */
function ageSession(agent: Agent, age: number) {
  const db = new SQLite(join(server.dataDir, 'accouch.sqlite'));
  try {
    db.pragma('busy_timeout = 5000');
    const changed = db.prepare("UPDATE oidc_payloads SET payload = json_set(payload, '$.loginTs', json_extract(payload, '$.loginTs') - ?) WHERE model = 'Session' AND id = ?")
      .run(age, agent.cookies.get('_session'));
    expect(changed.changes).toBe(1);
  } finally {
    db.close();
  }
}

const auditLog = () => server.cli(['audit', '--limit', '500']).stdout;

describe('signing in to the account page', () => {
  it('sends a signed-out browser to sign in through the accouch client, and back to the page it asked for', async () => {
    addUser(server, 'alice', 'alice password');
    const agent = new Agent();
    const first = await agent.get(account('/recovery'));
    expect(first.status).toBe(303);
    const auth = new URL(first.headers.get('location')!);
    expect(auth.origin + auth.pathname).toBe(`${server.issuer}/auth`);
    expect(auth.searchParams.get('client_id')).toBe('accouch');
    expect(auth.searchParams.get('redirect_uri')).toBe(account('/callback'));
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('state')).toMatch(/^[\w-]{16,}$/);
    expect(auth.searchParams.get('prompt')).toBeNull();

    const landed = await openSignedIn(agent, '/recovery', 'alice', 'alice password');
    expect(landed.url.pathname).toBe('/account/recovery');
    expect(landed.html).toContain('Recovery codes');
    const page = await agent.get(account());
    expect(page.headers.get('cache-control')).toBe('no-store');
    const html = await page.text();
    expect(html).toContain('Alice Example');
    expect(html).toContain('alice@home.example');
    expect(html).toMatch(/This browser[\s\S]*Current/);
  });

  it('shows a readable page for a cancelled sign-in or a callback from another browser', async () => {
    const agent = new Agent();
    await agent.get(account());
    const cancelled = await agent.get(account('/callback?error=access_denied&error_description=the+user+cancelled&state=x'));
    expect(cancelled.status).toBe(400);
    expect(await cancelled.text()).toContain('The sign-in was cancelled or refused.');

    const stranger = await new Agent().get(account('/callback?code=abc&state=not-mine'));
    expect(stranger.status).toBe(400);
    const html = await stranger.text();
    expect(html).toContain('started in another browser');
    expect(html).toContain('href="/account"');
  });
});

describe('an issuer with a path', () => {
  it('keeps the account pages, the sign-in, the way back and the forward-auth check under the path', async () => {
    const port = await freePort();
    const prefixed = await startServer({ port, issuer: `http://localhost:${port}/id` });
    try {
      addUser(prefixed, 'kim', 'kim password');
      const agent = new Agent();
      const first = await agent.get(`${prefixed.issuer}/account/totp`);
      const auth = new URL(first.headers.get('location')!);
      expect(auth.pathname).toBe('/id/auth');
      expect(auth.searchParams.get('redirect_uri')).toBe(`${prefixed.issuer}/account/callback`);
      let { res, url } = await agent.follow(auth, `http://localhost:${port}`);
      const html = await res.text();
      const post = await agent.post(new URL(formAction(html, '/password'), url), { username: 'kim', password: 'kim password' });
      ({ res, url } = await agent.follow(url, `http://localhost:${port}`, post));
      expect(url.pathname).toBe('/id/account/totp');
      const page = await res.text();
      expect(page).toContain('action="/id/account/totp"');
      expect(page).toContain('href="/id/static/accouch.css"');
      // The proxies' forward-auth check too (answered before koa): there under the path, nowhere else.
      const check = await fetch(`${prefixed.issuer}/forward-auth/traefik`);
      expect(check.status).toBe(403);
      expect(await check.text()).toContain('forward-auth answers only the proxies listed in network.trustedProxies');
      expect((await fetch(`http://localhost:${port}/forward-auth/traefik`)).status).toBe(404);
      expect(await (await fetch(`http://localhost:${port}/ID/Forward-Auth/Traefik/`)).text()).toContain('only the proxies listed');
    } finally {
      await prefixed.stop();
    }
  });
});

describe('profile', () => {
  it('changes the display name and email, seen by apps in the next id_token', async () => {
    addUser(server, 'bob', 'bob password');
    const secret = addClient(server, 'notes', ['--redirect-uri', callback, '--name', 'Notes']);
    const config = await discover(server, 'notes', secret);
    const agent = new Agent();
    await openSignedIn(agent, '', 'bob', 'bob password');
    const saved = await agent.post(account('/profile'), { name: '  Robert   Example ', email: 'robert@home.example' });
    expect(saved.status).toBe(303);
    expect(saved.headers.get('location')).toBe('/account?done=profile');
    const html = await (await agent.get(account('?done=profile'))).text();
    expect(html).toContain('Your profile is saved.');
    expect(html).toContain('value="Robert Example"');

    const bad = await agent.post(account('/profile'), { name: 'Robert', email: 'not an email' });
    expect(bad.status).toBe(400);
    expect(await bad.text()).toContain('That email address does not look right');

    const { tokens } = await codeFlow(server, config, 'bob', 'bob password', {}, new Agent());
    expect(tokens.claims()).toMatchObject({ name: 'Robert Example', email: 'robert@home.example', email_verified: false });
    expect(auditLog()).toMatch(/profile\.updated .*fields=name\+email/);
  });

  it('refuses a form posted from another site', async () => {
    addUser(server, 'olga', 'olga password');
    const agent = new Agent();
    await openSignedIn(agent, '', 'olga', 'olga password');
    for (const headers of [{ origin: 'https://evil.example' }, { origin: 'null', 'sec-fetch-site': 'same-site' }, { 'sec-fetch-site': 'cross-site' }]) {
      const res = await agent.request(account('/profile'), {
        method: 'POST', body: new URLSearchParams({ name: 'Mallory', email: '' }), headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      });
      expect(res.status).toBe(403);
    }
    // What Chromium sends: our origin from fetch(), and `Origin: null` from a form under referrer policy no-referrer.
    for (const headers of [{ origin, 'sec-fetch-site': 'same-origin' }, { origin: 'null', 'sec-fetch-site': 'same-origin' }]) {
      const ours = await agent.request(account('/profile'), {
        method: 'POST', body: new URLSearchParams({ name: 'Olga Example', email: 'olga@home.example' }),
        headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
      });
      expect(ours.status).toBe(303);
    }
    expect(await (await agent.get(account())).text()).not.toContain('Mallory');
  });

  it('takes a picture of at most 1 MB in a known format, and removes it', async () => {
    addUser(server, 'pia', 'pia password');
    const agent = new Agent();
    await openSignedIn(agent, '', 'pia', 'pia password');
    const upload = (data: Buffer, name: string) => {
      const body = new FormData();
      body.append('picture', new Blob([new Uint8Array(data)]), name);
      return agent.request(account('/picture'), { method: 'POST', body });
    };
    const notImage = await upload(Buffer.from('<svg xmlns="http://www.w3.org/2000/svg"/>'), 'x.png');
    expect(notImage.status).toBe(400);
    expect(await notImage.text()).toContain('must be a PNG, JPEG, GIF or WebP');
    const tooBig = await upload(Buffer.concat([png, Buffer.alloc(1024 * 1024)]), 'big.png');
    expect(tooBig.status).toBe(400);
    expect(await tooBig.text()).toContain('larger than 1 MB');

    expect((await upload(png, 'me.png')).headers.get('location')).toBe('/account?done=picture');
    const html = await (await agent.get(account())).text();
    const src = html.match(/<img class="avatar large" src="([^"]+)"/)?.[1];
    expect(src).toMatch(/^\/avatars\/[\w-]+\?v=/);
    const picture = await fetch(new URL(src!, origin));
    expect(picture.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await picture.arrayBuffer())).toEqual(png);

    expect((await agent.post(account('/picture/remove'), {})).status).toBe(303);
    expect(await (await agent.get(account())).text()).toContain('class="avatar initials');
  });
});

describe('sign-in methods', () => {
  it('enrols an authenticator app; the next sign-in asks for its code; a recovery code works instead', async () => {
    addUser(server, 'carol', 'carol password');
    const agent = new Agent();
    const { html: page } = await openSignedIn(agent, '/totp', 'carol', 'carol password');
    const secret = page.match(/<code id="totp-secret">([^<]+)<\/code>/)![1]!.replace(/\s+/g, '');
    expect(page).toMatch(/<img class="qr" src="data:image\/svg\+xml;base64,/);
    expect(page).not.toContain(secret); // shown in groups of four, never as one string to copy into a URL

    // A reload shows the same key (it may already be scanned).
    const again = await (await agent.get(account('/totp'))).text();
    expect(again.match(/<code id="totp-secret">([^<]+)<\/code>/)![1]!.replace(/\s+/g, '')).toBe(secret);

    const valid = await generate({ secret });
    const wrong = await agent.post(account('/totp'), { code: valid === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    expect(await wrong.text()).toContain('That code did not work');
    const enrolled = await agent.post(account('/totp'), { code: await generate({ secret }) });
    expect(enrolled.headers.get('location')).toBe('/account?done=totp-enrolled');
    expect(await (await agent.get(account())).text()).toContain('Sign-ins ask for a code from your authenticator app.');

    const recovery = await agent.post(account('/recovery'), {});
    const codesPage = await recovery.text();
    const codes = [...codesPage.matchAll(/<li><code>([a-z0-9]{5}-[a-z0-9]{5})<\/code><\/li>/g)].map((m) => m[1]!);
    expect(codes).toHaveLength(10);
    expect(codesPage).toContain('shown only this once');
    expect(await (await agent.get(account())).text()).toContain('10 of 10</strong> recovery codes left');

    // Another browser: the password is not enough any more. The enrolment used this 30 s step's code.
    const other = new Agent();
    let asked = false;
    const landed = await openSignedIn(other, '', 'carol', 'carol password', async () => {
      asked = true;
      return { factor: 'totp', code: await generate({ secret, epoch: now() + 30 }) };
    });
    expect(asked).toBe(true);
    expect(landed.html).toContain('Carol Example');

    const third = new Agent();
    await openSignedIn(third, '', 'carol', 'carol password', async () => ({ factor: 'recovery', code: codes[0]!.toUpperCase() }));
    expect(await (await third.get(account())).text()).toContain('9 of 10</strong> recovery codes left');

    expect((await third.post(account('/totp/remove'), {})).headers.get('location')).toBe('/account?done=totp-removed');
    const log = auditLog();
    for (const event of ['totp.enrolled', 'recovery.regenerated', 'totp.removed']) expect(log).toContain(event);
  });

  it('changes the password after a fresh sign-in and signs out the other browsers', async () => {
    addUser(server, 'dave', 'dave password');
    const other = new Agent();
    await openSignedIn(other, '', 'dave', 'dave password');
    const agent = new Agent();
    await openSignedIn(agent, '/password', 'dave', 'dave password');
    const mismatch = await agent.post(account('/password'), { password: 'new dave password', confirm: 'new dave pasword', endOthers: 'yes' });
    expect(mismatch.status).toBe(400);
    expect(await mismatch.text()).toContain('not the same');
    const short = await agent.post(account('/password'), { password: 'short', confirm: 'short' });
    expect(short.status).toBe(400);
    expect(await short.text()).toContain('at least 8 characters');
    const changed = await agent.post(account('/password'), { password: 'new dave password', confirm: 'new dave password', endOthers: 'yes' });
    expect(changed.headers.get('location')).toBe('/account?done=password');
    expect((await agent.get(account())).status).toBe(200);
    expect((await other.get(account())).status).toBe(303);

    const fresh = new Agent();
    const { res: first } = await fresh.follow(account(), origin);
    const form = await first.text();
    const refused = await fresh.post(new URL(formAction(form, '/password'), origin), { username: 'dave', password: 'dave password' });
    expect(refused.status).toBe(401);
    expect((await openSignedIn(new Agent(), '', 'dave', 'new dave password')).html).toContain('Dave Example');
    expect(auditLog()).toContain('password.changed');
  });

  it('refuses to remove the last way in', async () => {
    addUser(server, 'hana', 'hana password');
    const agent = new Agent();
    const { html } = await openSignedIn(agent, '', 'hana', 'hana password');
    expect(html).not.toContain('Remove password'); // not offered without a passkey
    const refused = await agent.post(account('/password/remove'), {});
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('This is your last way to sign in');
    expect((await openSignedIn(new Agent(), '', 'hana', 'hana password')).html).toContain('Hana Example');
    expect(auditLog()).not.toContain('password.removed');
  });

  it('asks for a fresh sign-in before a factor change when the last one is older than five minutes', async () => {
    addUser(server, 'ivan', 'ivan password');
    const agent = new Agent();
    await openSignedIn(agent, '', 'ivan', 'ivan password');
    ageSession(agent, 301);
    const regenerated = () => auditLog().split('\n').filter((line) => line.includes('recovery.regenerated')).length;
    const before = regenerated();

    // The page itself still shows: only changes need a fresh sign-in.
    expect((await agent.get(account())).status).toBe(200);
    const post = await agent.post(account('/recovery'), {});
    expect(post.status).toBe(303);
    const reauth = new URL(post.headers.get('location')!);
    expect(reauth.pathname).toBe('/auth');
    expect(reauth.searchParams.get('prompt')).toBe('login');
    expect(reauth.searchParams.get('login_hint')).toBe('ivan');
    expect(regenerated()).toBe(before);

    const page = await agent.get(account('/password'));
    expect(page.status).toBe(303);
    expect(new URL(page.headers.get('location')!).searchParams.get('prompt')).toBe('login');

    // Signing in again (the password, even though the session is still there) lands back on the page.
    const landed = await openSignedIn(agent, '/recovery', 'ivan', 'ivan password');
    expect(landed.url.pathname).toBe('/account/recovery');
    const codes = await agent.post(account('/recovery'), {});
    expect(codes.status).toBe(200);
    expect(await codes.text()).toContain('Your new recovery codes');
    expect(regenerated()).toBe(before + 1);
  });
});

describe('sessions and apps', () => {
  it('signs out another browser: its next visit has to sign in again', async () => {
    addUser(server, 'erin', 'erin password');
    const phone = new Agent();
    await openSignedIn(phone, '', 'erin', 'erin password');
    const laptop = new Agent();
    const { html } = await openSignedIn(laptop, '', 'erin', 'erin password');
    expect(html.match(/<strong>(This|Another) browser<\/strong>/g)).toEqual(expect.arrayContaining(['<strong>This browser</strong>', '<strong>Another browser</strong>']));
    const end = formAction(html, '/end');
    expect(end).not.toContain(phone.cookies.get('_session')!); // the session id (the cookie value) is never on the page

    const ended = await laptop.post(new URL(end, origin), {});
    expect(ended.headers.get('location')).toBe('/account?done=session-ended');
    const after = await phone.get(account());
    expect(after.status).toBe(303);
    expect(new URL(after.headers.get('location')!).searchParams.get('client_id')).toBe('accouch');
    const page = await (await laptop.get(account())).text();
    expect(auditLog()).toContain('session.revoked');

    // "Sign out" on the page ends this browser's session too, and comes back to the account page.
    const signOut = page.match(/<a class="button secondary account-signout" href="([^"]+)"/)![1]!.replace(/&amp;/g, '&');
    const confirm = await (await laptop.get(new URL(signOut, origin))).text();
    expect(confirm).toContain('Sign out?');
    const done = await laptop.post(new URL(formAction(confirm, '/confirm'), origin), { xsrf: inputValue(confirm, 'xsrf')!, logout: 'yes' });
    expect(done.headers.get('location')).toBe(account());
    expect((await laptop.get(account())).status).toBe(303);
  });

  it('revokes an app: it is gone from the list and its refresh token stops working', async () => {
    addUser(server, 'gina', 'gina password');
    const secret = addClient(server, 'wiki', ['--redirect-uri', callback, '--name', 'Family Wiki']);
    const config = await discover(server, 'wiki', secret);
    const agent = new Agent();
    const { tokens } = await codeFlow(server, config, 'gina', 'gina password', { scope: 'openid email offline_access', prompt: 'consent' }, agent);
    expect(tokens.refresh_token).toBeTruthy();

    const html = await (await agent.get(account())).text();
    const listed = html.match(/<strong>Family Wiki<\/strong>\s*<span class="muted">([^<]*)</)?.[1];
    expect(listed?.split(' · ').sort()).toEqual(['Stays signed in', 'Who you are', 'Your email address']);
    expect(html).not.toContain('<strong>Accouch account</strong>');
    const revoked = await agent.post(new URL(formAction(html, '/revoke'), origin), {});
    expect(revoked.headers.get('location')).toBe('/account?done=app-revoked');
    await agent.get(account('?done=app-revoked')).then((r) => r.text()).then((text) => expect(text).toContain('That app no longer has access.'));
    const after = await (await agent.get(account())).text();
    expect(after).not.toContain('Family Wiki');
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const log = auditLog();
    expect(log, log).toMatch(/app\.revoked .*client=wiki/);
  });
});

describe('in a browser', () => {
  let browser: Browser;
  beforeAll(async () => { browser = await launchChromium(); });
  afterAll(async () => { await browser?.close(); });

  it('adds a passkey, signs in with it from the lock screen, goes passwordless and keeps the last passkey', async () => {
    addUser(server, 'frank', 'frank password');
    const context = await browser.newContext();
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });
    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: { protocol: 'ctap2', transport: 'internal', hasResidentKey: true, hasUserVerification: true, isUserVerified: true },
    });

    await page.goto(account());
    await page.fill('#username', 'frank');
    await page.fill('#password', 'frank password');
    await page.keyboard.press('Enter');
    await page.waitForURL(account());
    expect(await page.textContent('h1')).toBe('Frank Example');

    // A form post from a real browser passes the same-origin check (Origin and Sec-Fetch-Site as Chromium sends them).
    await page.fill('#name', 'Frank Fielding');
    await page.click('text=Save profile');
    await page.waitForSelector('text=Your profile is saved.');
    expect(await page.textContent('h1')).toBe('Frank Fielding');

    await page.click('text=Add a passkey');
    await page.fill('#credential-name', 'Laptop');
    await page.click('button:has-text("Add a passkey")');
    await page.waitForSelector('text=Passkey added.');
    expect(await page.textContent('ul[aria-label=Passkeys]')).toContain('Laptop');

    mkdirSync(screenshotDir, { recursive: true });
    await page.goto(account());
    await page.setViewportSize({ width: 900, height: 1000 });
    for (const scheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme: scheme });
      await page.screenshot({ path: join(screenshotDir, `account-${scheme}.png`), fullPage: true });
      await expectAccessible(page, `account page, ${scheme}`, scheme === 'dark' ? ['color-contrast'] : undefined);
    }
    await page.emulateMedia({ colorScheme: 'light' });
    for (const path of ['/totp', '/webauthn/new?kind=security_key', '/password', '/recovery']) {
      await page.goto(account(path));
      await expectAccessible(page, path);
    }
    await page.goto(account());

    // Signed out: only the remembered-user cookie stays. The lock screen offers the passkey.
    const remembered = (await context.cookies()).filter((c) => c.name.startsWith('accouch.last_user'));
    expect(remembered).toHaveLength(2);
    await context.clearCookies();
    await context.addCookies(remembered);
    await page.goto(account());
    await page.click('text=Sign in with a passkey');
    await page.waitForURL(account());
    expect(await page.textContent('h1')).toBe('Frank Fielding');
    expect(await page.textContent('ul[aria-label=Passkeys]')).toMatch(/last used/);

    // Passwordless: the password can go because a passkey is left; then that passkey cannot.
    await page.click('text=Remove password');
    await page.waitForSelector('text=Your password is removed.');
    await page.click('a[aria-label="Rename or remove passkey Laptop"]');
    expect(await page.textContent('main')).toContain('This is your last way to sign in');
    expect(await page.$('button:has-text("Remove passkey")')).toBeNull();
    const id = new URL(page.url()).pathname.split('/').pop()!;
    const forced = await page.evaluate(async (url) => {
      const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: '' });
      return { status: res.status, text: await res.text() };
    }, `/account/credentials/${id}/remove`);
    expect(forced.status).toBe(409);
    expect(forced.text).toContain('This is your last way to sign in');

    // Renaming needs no fresh sign-in, and is what the list shows.
    await page.fill('#credential-name', 'Work laptop');
    await page.click('text=Save name');
    await page.waitForSelector('text=Name saved.');
    expect(await page.textContent('ul[aria-label=Passkeys]')).toContain('Work laptop');
    expect(cspViolations).toEqual([]);
    const log = auditLog();
    for (const event of ['passkey.registered', 'password.removed', 'passkey.renamed']) expect(log).toContain(event);
    await context.close();
  });
});
