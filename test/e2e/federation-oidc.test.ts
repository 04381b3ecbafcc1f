// Upstream sign-in against a second, real OpenID provider (an oidc-provider with its own accounts and sign-in
// form), as a generic `oidc` upstream and as a Google-shaped one: linking from the account page, signing in with
// the link, strangers refused, an allow rule creating a household user, and an upstream that refuses, cannot be
// reached, or does not answer. All in Chromium, from an app's point of view.
import { writeFileSync } from 'node:fs';
import { createServer as createTcpServer, type Server as TcpServer, type Socket } from 'node:net';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/chromium.js';
import { tinyPng } from './support/png.js';
import { startWithUpstreams } from './support/federation.js';
import type { RpApp } from './support/rp-app.js';
import { freePort, type RunningServer, stopCleanly } from './support/server.js';
import { startUpstreamProvider, type UpstreamProvider } from './support/upstream-provider.js';

let server: RunningServer;
let upstream: UpstreamProvider;
let app: RpApp;
let browser: Browser;
let hanging: TcpServer;
const sockets: Socket[] = [];

beforeAll(async () => {
  const port = await freePort();
  const accouch = `http://localhost:${port}`;
  const callback = (id: string) => `${accouch}/federation/${id}/callback`;
  upstream = await startUpstreamProvider({
    name: 'Family ID',
    accounts: [
      { sub: 'up-ada', username: 'ada', password: 'ada at upstream', name: 'Ada at Family ID', email: 'ada@upstream.example', email_verified: true },
      { sub: 'up-mallory', username: 'mallory', password: 'mallory at upstream', name: 'Mallory', email: 'mallory@evil.example', email_verified: true },
      { sub: 'up-grace', username: 'grace', password: 'grace at upstream', name: 'Grace Hopper', email: 'grace@family.example', email_verified: true, hd: 'family.example', pictureData: tinyPng([200, 40, 40]) },
      { sub: 'up-linus', username: 'linus', password: 'linus at upstream', name: 'Linus', email: 'linus@family.example', email_verified: false, hd: 'family.example' },
    ],
    clients: [
      { client_id: 'accouch-family', client_secret: 'family upstream secret', redirect_uris: [callback('family')] },
      { client_id: 'accouch-google', client_secret: 'google upstream secret', redirect_uris: [callback('google')] },
    ],
  });
  // An upstream that accepts connections and never answers, and one where nothing listens.
  hanging = createTcpServer((socket) => { sockets.push(socket); });
  const hangingPort = await freePort();
  await new Promise<void>((resolve) => hanging.listen(hangingPort, '127.0.0.1', resolve));
  const closedPort = await freePort();

  const secretFile = join(process.env.TMPDIR ?? '/tmp', `accouch-google-secret-${port}`);
  writeFileSync(secretFile, 'google upstream secret\n');
  ({ server, app } = await startWithUpstreams(port, [
    { id: 'family', type: 'oidc', name: 'Family ID', issuer: upstream.issuer, clientId: 'accouch-family', clientSecret: 'family upstream secret' },
    { id: 'google', type: 'google', issuer: upstream.issuer, clientId: 'accouch-google', clientSecretFile: secretFile, allow: { googleDomains: ['family.example'] } },
    { id: 'down', type: 'oidc', name: 'Down ID', issuer: `http://127.0.0.1:${closedPort}`, clientId: 'x', clientSecret: 'y' },
    { id: 'slow', type: 'oidc', name: 'Slow ID', issuer: `http://127.0.0.1:${hangingPort}`, clientId: 'x', clientSecret: 'y', timeout: 1 },
  ]));
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await upstream?.close();
  for (const socket of sockets) socket.destroy();
  hanging?.close();
  await stopCleanly(server);
  // Neither the upstream's client secret nor its tokens reach the log.
  expect(server.output()).not.toContain('upstream secret');
});

const auditLog = () => server.cli(['audit', '--limit', '500']).stdout;
const users = () => server.cli(['user', 'list']).stdout;

/** Opens the app's sign-in in a new browser, on Accouch's "Who is signing in?" page. */
async function openSignIn(context?: BrowserContext): Promise<{ context: BrowserContext; page: Page }> {
  const ctx = context ?? (await browser.newContext());
  const page = await ctx.newPage();
  await page.goto(`${app.url}/login`);
  await page.waitForSelector('h1:has-text("Who is signing in?")');
  return { context: ctx, page };
}

/** Signs in at the upstream's own form. */
async function upstreamSignIn(page: Page, username: string, password: string) {
  await page.waitForSelector('h1:has-text("Sign in to Family ID")');
  expect(new URL(page.url()).origin).toBe(upstream.issuer);
  await page.fill('#upstream-username', username);
  await page.fill('#upstream-password', password);
  await page.click('#upstream-submit');
}

describe('an OpenID Connect upstream', () => {
  let owner: BrowserContext;

  it('links an upstream identity from the account page', async () => {
    owner = await browser.newContext();
    const page = await owner.newPage();
    await page.goto(`${server.issuer}/account`);
    await page.fill('#username', 'ada');
    await page.fill('#password', 'ada local password');
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('h2:has-text("Linked accounts")');
    const family = page.locator('#linked-accounts li', { hasText: 'Family ID' });
    expect(await family.textContent()).toContain('Not linked');

    await family.locator('button:has-text("Link")').click();
    await upstreamSignIn(page, 'ada', 'ada at upstream');
    await page.waitForSelector('text=Account linked. You can use it to sign in.');
    expect(new URL(page.url()).pathname).toBe('/account');
    expect(await page.locator('#linked-accounts li', { hasText: 'Family ID' }).textContent()).toMatch(/ada · linked/);
    expect(auditLog()).toMatch(/federation\.linked .*upstream=family account=ada/);
  });

  it('signs the linked user in to an app with "Continue with Family ID", as a federated sign-in', async () => {
    const { context, page } = await openSignIn();
    await page.click('button:has-text("Continue with Family ID")');
    await upstreamSignIn(page, 'ada', 'ada at upstream');
    await page.waitForSelector('h1:has-text("Hello Ada Example")'); // the local account, not the upstream's name
    expect((await page.textContent('#amr'))!.split(',')).toEqual(['fed']);
    expect(auditLog()).toMatch(/login\.success .*factors=federated .*upstream=family/);
    // The lock screen now remembers Ada, and still offers the upstream.
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1:has-text("Hello Ada Example")'); // single sign-on
    await context.close();
  });

  it('refuses an upstream identity that is linked to nobody, with a way back to the other ways in', async () => {
    const { context, page } = await openSignIn();
    await page.click('button:has-text("Continue with Family ID")');
    await upstreamSignIn(page, 'mallory', 'mallory at upstream');
    await page.waitForSelector('h1:has-text("This Family ID account is not linked")');
    expect(await page.textContent('main')).toContain('mallory is not linked to anyone in this household');
    await page.click('a:has-text("Sign in another way")');
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    expect(users()).not.toContain('mallory');
    expect(auditLog()).toMatch(/login\.failure .*factor=federated upstream=family reason=not linked account=mallory/);
    await context.close();
  });

  it('tells the user when the upstream refuses, and stores nothing', async () => {
    const { context, page } = await openSignIn();
    await page.click('button:has-text("Continue with Family ID")');
    await page.waitForSelector('#upstream-cancel');
    await page.click('#upstream-cancel');
    await page.waitForSelector('h1:has-text("Could not sign in with Family ID")');
    expect(await page.textContent('main')).toContain('Family ID did not let you in (The user cancelled the sign-in). Nothing was changed.');
    await page.click('a:has-text("Sign in another way")');
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    await context.close();
  });

  it('says so when the upstream cannot be reached or does not answer in time', async () => {
    const { context, page } = await openSignIn();
    await page.click('button:has-text("Continue with Down ID")');
    await page.waitForSelector('h1:has-text("Could not sign in with Down ID")');
    expect(await page.textContent('main')).toContain('Down ID could not be reached. Nothing was changed.');
    await page.click('a:has-text("Sign in another way")');
    await page.waitForSelector('h1:has-text("Who is signing in?")');

    const started = Date.now();
    await page.click('button:has-text("Continue with Slow ID")');
    await page.waitForSelector('h1:has-text("Could not sign in with Slow ID")');
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(await page.textContent('main')).toContain('Slow ID did not answer within 1 second. Nothing was changed.');
    await context.close();
  });

  it('unlinks only after a fresh sign-in', async () => {
    const page = await owner.newPage();
    await page.goto(`${server.issuer}/account`);
    // Five minutes later: unlinking asks to sign in again first.
    const session = (await owner.cookies()).find((c) => c.name === '_session')!.value;
    const db = new SQLite(join(server.dataDir, 'accouch.sqlite'));
    db.pragma('busy_timeout = 5000');
    db.prepare("UPDATE oidc_payloads SET payload = json_set(payload, '$.loginTs', json_extract(payload, '$.loginTs') - 301) WHERE model = 'Session' AND id = ?").run(session);
    db.close();
    await page.locator('#linked-accounts li', { hasText: 'Family ID' }).locator('button:has-text("Unlink")').click();
    await page.waitForSelector('#password'); // the lock screen, for Ada
    expect(await page.textContent('h1')).toContain('Ada Example');
    await page.fill('#password', 'ada local password');
    await page.click('button:has-text("Sign in")');
    await page.waitForSelector('h2:has-text("Linked accounts")');
    await page.locator('#linked-accounts li', { hasText: 'Family ID' }).locator('button:has-text("Unlink")').click();
    await page.waitForSelector('text=Account unlinked.');
    expect(await page.locator('#linked-accounts li', { hasText: 'Family ID' }).textContent()).toContain('Not linked');
    expect(auditLog()).toMatch(/federation\.unlinked .*upstream=family/);
    await owner.close();
  });
});

describe('a Google-shaped upstream with an allow rule', () => {
  it('creates a household user with the upstream\'s name, verified email and picture', async () => {
    const { context, page } = await openSignIn();
    await page.click('button:has-text("Continue with Google")');
    await upstreamSignIn(page, 'grace', 'grace at upstream');
    await page.waitForSelector('h1:has-text("Hello Grace Hopper")');
    expect(await page.textContent('#email')).toBe('grace@family.example');
    const picture = (await page.textContent('#picture'))!;
    expect(picture).toMatch(new RegExp(`^${server.issuer}/avatars/`));
    const image = await fetch(picture);
    expect(image.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await image.arrayBuffer()).equals(tinyPng([200, 40, 40]))).toBe(true);
    expect(users()).toMatch(/grace\s+Grace Hopper/);
    expect(auditLog()).toMatch(/user\.created .*username=grace upstream=google account=grace/);

    // Their only way in is the link: the account page offers no Unlink, and a forged request is refused.
    await page.goto(`${server.issuer}/account`);
    const google = page.locator('#linked-accounts li', { hasText: 'Google' });
    expect(await google.textContent()).toContain('grace');
    expect(await google.locator('button:has-text("Unlink")').count()).toBe(0);
    const refused = await page.request.post(`${server.issuer}/account/links/google/unlink`, { headers: { origin: server.issuer }, form: {} });
    expect(refused.status()).toBe(409);
    expect(await refused.text()).toContain('This is your last way to sign in');
    await context.close();
  });

  it('does not use an email address the upstream has not verified', async () => {
    const { context, page } = await openSignIn();
    await page.click('button:has-text("Continue with Google")');
    await upstreamSignIn(page, 'linus', 'linus at upstream');
    await page.waitForSelector('h1:has-text("Hello Linus")');
    expect(await page.textContent('#email')).toBe('');
    expect(users()).toMatch(/linus\s+Linus/);
    await context.close();
  });
});
