// Signing in from outside the home network: here localhost is "outside" (network.trusted names another
// range), the default outside policy asks for more than a password, one app refuses outside altogether,
// and the sign-in page does not list the household (login.showUserList: false).
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, formAction } from './support/agent.js';
import { launchChromium } from './support/chromium.js';
import { reserveRpApp, startRpApp, type RpApp } from './support/rp-app.js';
import { addUser, discover, signIn, startAuth } from './support/rp.js';
import { freePort, startServer, type RunningServer, stopCleanly } from './support/server.js';
import { setUpOwnerWithPasskey } from './support/owner.js';

let server: RunningServer;
let app: RpApp;
let browser: Browser;
// A stand-in for the callback pages of Notes and Vault: the test reads the code or error from the address.
let notesServer: Server;
let notesCallback: string;
let vaultCallback: string;
let notes: oidc.Configuration;
let vault: oidc.Configuration;
// The owner's own browser, kept from setup: it remembers them and holds their passkey.
let owner: { context: BrowserContext; page: Page };

beforeAll(async () => {
  const where = await reserveRpApp();
  const notesPort = await freePort();
  notesServer = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/plain' }).end('Notes'));
  await new Promise<void>((resolve) => notesServer.listen(notesPort, '127.0.0.1', resolve));
  notesCallback = `http://localhost:${notesPort}/callback`;
  vaultCallback = `http://localhost:${notesPort}/vault`;
  const dir = mkdtempSync(join(tmpdir(), 'accouch-network-'));
  writeFileSync(join(dir, 'accouch.yaml'), [
    'clients:',
    `  - { id: photos, name: Family Photos, secret: photos-secret-0123456789, redirectUris: ["${where.callback}"], skipConsent: true }`,
    `  - { id: notes, name: Notes, secret: notes-secret-0123456789, redirectUris: ["${notesCallback}"], skipConsent: true }`,
    `  - { id: vault, name: Vault, secret: vault-secret-0123456789, redirectUris: ["${vaultCallback}"], skipConsent: true, policy: { outside: deny } }`,
  ].join('\n'));
  server = await startServer({
    env: { ACCOUCH_CONFIG: join(dir, 'accouch.yaml'), ACCOUCH_NETWORK_TRUSTED: '10.255.255.0/24', ACCOUCH_LOGIN_SHOW_USER_LIST: 'false' },
  });
  app = await startRpApp(where, server.issuer, 'photos', 'photos-secret-0123456789');
  notes = await discover(server, 'notes', 'notes-secret-0123456789');
  vault = await discover(server, 'vault', 'vault-secret-0123456789');
  browser = await launchChromium();

  // The owner sets up with a passkey (setup works from anywhere: it needs the one-time link).
  owner = await setUpOwnerWithPasskey(browser, server);
  addUser(server, 'paul', 'paul password 1');
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  notesServer?.close();
  await stopCleanly(server);
});

describe('from outside the home network', () => {
  it('shows only a username field, refuses a password alone, and lets a passkey in', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    expect(await page.locator('.tiles, .tile').count()).toBe(0);
    const html = await page.content();
    for (const name of ['Olivia', 'olivia', 'Paul Example']) expect(html).not.toContain(name);
    // No search either: a query finds no one and the page has no search box, as if the parameter were not there.
    const searched = new URL(page.url());
    searched.searchParams.set('view', 'other');
    searched.searchParams.set('q', 'pa');
    await page.goto(searched.href);
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    expect(await page.locator('.tiles, .tile, #q, [role=search]').count()).toBe(0);
    for (const name of ['Olivia', 'Paul Example']) expect(await page.content()).not.toContain(name);
    await page.fill('#username', 'paul');
    await page.fill('#password', 'paul password 1');
    await page.press('#password', 'Enter');
    // The same words a wrong password gets: the refusal does not tell a stranger the password was right.
    await page.waitForSelector('text=a password alone is not enough here');
    expect(new URL(page.url()).origin).toBe(new URL(server.issuer).origin);
    await context.close();

    // The owner's passkey is phishing-resistant: enough from anywhere.
    await owner.page.goto(`${app.url}/login`);
    await owner.page.waitForSelector('h1.who:has-text("Olivia Owner")');
    await owner.page.click('#passkey');
    await owner.page.waitForSelector('h1:has-text("Hello Olivia Owner")');

    // Apps that ask for the network claim learn where the sign-in came from.
    const start = await startAuth(notes, { redirect_uri: notesCallback, scope: 'openid network' });
    await owner.page.goto(start.url.href);
    const returned = new URL(owner.page.url());
    expect(returned.searchParams.get('code'), owner.page.url()).toBeTruthy();
    const tokens = await oidc.authorizationCodeGrant(notes, returned, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
    expect(tokens.claims()!.network).toBe('outside');
  });

  it('keeps a home-only app closed from outside, even with a strong session', async () => {
    await owner.page.goto((await startAuth(vault, { redirect_uri: vaultCallback })).url.href);
    const url = new URL(owner.page.url());
    expect(url.origin + url.pathname).toBe(vaultCallback);
    expect(url.searchParams.get('error')).toBe('access_denied');
    expect(url.searchParams.get('error_description')).toContain('home network');
  });

  it('does not believe X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    const spoofer = new Agent({ 'x-forwarded-for': '10.255.255.7' });
    const refused = await signIn(spoofer, server, (await startAuth(vault, { redirect_uri: vaultCallback })).url, 'paul', 'paul password 1');
    expect(refused.searchParams.get('error')).toBe('access_denied');
    const origin = new URL(server.issuer).origin;
    const { res } = await spoofer.follow((await startAuth(notes, { redirect_uri: notesCallback })).url, origin);
    const passwordOnly = await spoofer.post(new URL(formAction(await res.text(), '/password'), origin), { username: 'paul', password: 'paul password 1' });
    expect(passwordOnly.status).toBe(401);
    expect(await passwordOnly.text()).toContain('a password alone is not enough here');
  });
});
