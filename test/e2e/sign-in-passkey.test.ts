// First boot with a passkey, then the lock screen in another browser: one tap into an app. And the passkey
// assertions a server must refuse: without user verification, replayed, or from a cloned key (lower counter).
import { createServer, type Server } from 'node:http';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Cookie, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/chromium.js';
import { tinyPng } from './support/png.js';
import { reserveRpApp, startRpApp, type RpApp } from './support/rp-app.js';
import { addClient, discover, startAuth } from './support/rp.js';
import { freePort, startServer, type RunningServer, sqliteOnly, stopCleanly } from './support/server.js';
import { addVirtualAuthenticator, onlyCredential, type VirtualCredential } from './support/webauthn.js';

let server: RunningServer;
let app: RpApp;
let browser: Browser;
let notes: oidc.Configuration;
let notesCallback: string;
let notesServer: Server;

// What the owner's laptop keeps after the first test: the remembered-user cookie and the passkey.
let remembered: Cookie[] = [];
let passkey: VirtualCredential;

beforeAll(async () => {
  server = await startServer();
  const where = await reserveRpApp();
  const secret = addClient(server, 'photos', ['--redirect-uri', where.callback, '--name', 'Family Photos', '--skip-consent']);
  app = await startRpApp(where, server.issuer, 'photos', secret);
  // A second app, driven from the test with openid-client to read the id_token: its callback page only says
  // hello, and the test picks the code up from the address bar.
  const notesPort = await freePort();
  notesServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('Notes'));
  await new Promise<void>((resolve) => notesServer.listen(notesPort, '127.0.0.1', resolve));
  notesCallback = `http://localhost:${notesPort}/callback`;
  notes = await discover(server, 'notes', addClient(server, 'notes', ['--redirect-uri', notesCallback, '--name', 'Notes', '--skip-consent']));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  notesServer?.close();
  await stopCleanly(server);
});

/** A browser that has seen the owner before: only the remembered-user cookie, and the passkey on the device. */
async function ownersLaptop(): Promise<{ context: BrowserContext; page: Page; authenticator: Awaited<ReturnType<typeof addVirtualAuthenticator>> }> {
  const context = await browser.newContext();
  await context.addCookies(remembered);
  const page = await context.newPage();
  const authenticator = await addVirtualAuthenticator(page);
  await authenticator.add(passkey);
  return { context, page, authenticator };
}

/** Opens the app's sign-in and waits for the lock screen. */
async function openLockScreen(page: Page) {
  await page.goto(`${app.url}/login`);
  await page.waitForSelector('h1.who:has-text("Ada Lovelace")');
}

/** The passkey button fails visibly with `message`, and the app has not signed anyone in. */
async function expectRefused(page: Page, message: RegExp) {
  const error = page.locator('#webauthn-error');
  await error.waitFor({ state: 'visible' });
  expect(await error.textContent()).toMatch(message);
  expect(page.url()).toContain('/interaction/');
  await openLockScreen(page); // no session: the app sends us back to the lock screen
}

const notVerified = /That passkey or security key could not be verified/;

describe('first boot with a passkey', () => {
  it('creates the owner from the one-time link, then signs in with one tap from the lock screen of a new browser', async () => {
    const setupUrl = server.output().match(/http:\/\/localhost:\d+\/setup\?token=[\w.~-]+/)?.[0];
    expect(setupUrl, server.output()).toBeDefined();

    const context = await browser.newContext();
    const page = await context.newPage();
    const authenticator = await addVirtualAuthenticator(page);
    await page.goto(setupUrl!);
    await page.fill('#name', 'Ada Lovelace');
    await page.fill('#username', 'ada');
    await page.fill('#email', 'ada@home.example');
    await page.setInputFiles('#avatar', { name: 'ada.png', mimeType: 'image/png', buffer: tinyPng([90, 60, 200]) });
    expect(await page.isChecked('input[name=method][value=passkey]')).toBe(true); // the default
    await page.click('button:has-text("Continue")');

    await page.waitForSelector('h1:has-text("Create your passkey, Ada Lovelace")');
    // The picture is shown from the link's own state: nothing is stored outside it before the passkey exists.
    expect(await page.getAttribute('img.avatar', 'src')).toMatch(/^data:image\/png;base64,/);
    await page.click('button:has-text("Create passkey")');

    await page.waitForSelector('h1:has-text("Save your recovery codes")');
    const codes = await page.locator('#recovery-codes code').allTextContents();
    expect(codes).toHaveLength(10);
    for (const code of codes) expect(code).toMatch(/^[2-9a-z]{5}-[2-9a-z]{5}$/);
    expect((await authenticator.credentials())[0]).toMatchObject({ isResidentCredential: true, rpId: 'localhost' });
    await page.click('button:has-text("I saved them: finish")');
    await page.waitForURL((url) => url.pathname !== '/setup/finish');

    // Into the app: the browser remembers the owner, so the lock screen shows them with a passkey button.
    await openLockScreen(page);
    await page.click('#passkey');
    await page.waitForSelector('h1:has-text("Hello Ada Lovelace")');
    // soft: a missing amr must not hide what the rest of this test checks.
    expect.soft((await page.textContent('#amr'))!.split(','), 'the app sees amr').toContain('mfa');
    expect(await page.textContent('#groups')).toBe('admins');

    // A passkey with user verification is phishing-resistant: acr "phr" in the id_token.
    const start = await startAuth(notes, { redirect_uri: notesCallback });
    await page.goto(start.url.href); // single sign-on: straight back to Notes
    const returned = new URL(page.url());
    expect(returned.searchParams.get('code'), page.url()).toBeTruthy();
    const tokens = await oidc.authorizationCodeGrant(notes, returned, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
    const claims = tokens.claims()!;
    expect.soft(claims.acr, 'acr in the id_token').toBe('phr');
    expect.soft(claims.amr, 'amr in the id_token').toEqual(expect.arrayContaining(['hwk', 'user', 'mfa']));
    expect(claims.picture).toMatch(new RegExp(`^${server.issuer}/avatars/`));

    remembered = (await context.cookies()).filter((c) => c.name.startsWith('accouch.last_user'));
    expect(remembered.map((c) => c.name).sort()).toEqual(['accouch.last_user', 'accouch.last_user.sig']);
    passkey = await onlyCredential(authenticator);
    await context.close();

    // Another browser with the same passkey and only the remembered-user cookie: one tap.
    const laptop = await ownersLaptop();
    await openLockScreen(laptop.page);
    const picture = laptop.page.locator('.lock img.avatar');
    expect(await picture.getAttribute('src')).toMatch(/^\/avatars\//);
    expect(await picture.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth)).toBe(24); // loaded
    expect(await laptop.page.locator('#password').count()).toBe(0); // the owner has no password
    await laptop.page.click('text=Sign in with a passkey');
    await laptop.page.waitForSelector('h1:has-text("Hello Ada Lovelace")');
    passkey = await onlyCredential(laptop.authenticator);
    await laptop.context.close();

    // The link was for one use: now it leads nowhere, and /setup without a token shows nothing either.
    const check = await browser.newPage();
    const again = await check.goto(setupUrl!);
    expect(again!.status()).toBe(404);
    expect(await check.textContent('h1')).toBe('No setup here');
    const bare = await check.goto(`${server.issuer}/setup`);
    expect(bare!.status()).toBe(404);
    expect(await check.textContent('h1')).toBe('No setup here');
    expect(await check.locator('input, form').count()).toBe(0);
    await check.close();
    const link = server.cli(['setup-link']);
    expect(link.status).not.toBe(0);
    expect(link.stderr).toContain('already set up');
  });
});

// These use the owner and the passkey that the first test created (tests in a file run in order).
sqliteOnly(() => describe('passkey assertions that must not sign anyone in', () => {
  it('refuses a passkey sign-in without user verification', async () => {
    const { context, page, authenticator } = await ownersLaptop();
    await authenticator.setUserVerified(false);
    await openLockScreen(page);
    await page.click('#passkey');
    await expectRefused(page, /cancelled or timed out/); // the browser would not sign without verification

    // The browser enforces "required"; a page that asked for less must still be refused by the server.
    await page.route('**/interaction/*/webauthn/options', async (route) => {
      const response = await route.fetch();
      route.fulfill({ response, json: { ...(await response.json()), userVerification: 'discouraged' } });
    });
    const verdict = page.waitForResponse((r) => r.url().endsWith('/webauthn') && r.request().method() === 'POST');
    await page.click('#passkey');
    expect((await verdict).status()).toBe(400);
    await expectRefused(page, notVerified);
    await context.close();
  });

  it('refuses a replayed assertion', async () => {
    const { context, page } = await ownersLaptop();
    await openLockScreen(page);
    // Let the first assertion through but stop the browser before it finishes signing in, so the
    // sign-in page is still there to replay against.
    let stopped!: () => void;
    const resumeStopped = new Promise<void>((resolve) => { stopped = resolve; });
    await page.route(`${server.issuer}/auth/**`, async (route) => { await route.abort(); stopped(); });
    const first = page.waitForResponse((r) => r.url().endsWith('/webauthn') && r.request().method() === 'POST');
    await page.click('#passkey');
    const accepted = await first;
    expect(accepted.status()).toBe(200);
    const replay = await page.request.post(accepted.url(), {
      data: accepted.request().postData()!, headers: { 'content-type': 'application/json', accept: 'application/json' },
    });
    expect(replay.status()).toBe(400);
    expect((await replay.json()).error).toMatch(notVerified);
    // Only once the browser's own attempt to finish has been stopped: unrouting earlier would let it through
    // when the page is slow to act on the answer, and sign the owner in after all.
    await resumeStopped;
    await page.unroute(`${server.issuer}/auth/**`);
    await openLockScreen(page); // no session
    await context.close();
  });

  it('refuses a key whose signature counter went backwards (a clone)', async () => {
    const { context, page, authenticator } = await ownersLaptop();
    expect(passkey.signCount).toBeGreaterThan(0);
    await authenticator.replace(passkey.credentialId, { signCount: 0 });
    await openLockScreen(page);
    const verdict = page.waitForResponse((r) => r.url().endsWith('/webauthn') && r.request().method() === 'POST');
    await page.click('#passkey');
    expect((await verdict).status()).toBe(400);
    await expectRefused(page, notVerified);
    await context.close();
  });
}));
