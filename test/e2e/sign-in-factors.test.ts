// A household on one server: the owner set up with a password and an authenticator app, others added with
// the CLI. The second step after a password (TOTP, recovery codes, a security key), switching and forgetting
// the remembered user, and throttling that says nothing about who exists.
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, formAction } from './support/agent.js';
import { launchChromium } from './support/chromium.js';
import { reserveRpApp, startRpApp, type RpApp } from './support/rp-app.js';
import { addClient, addUser, discover, startAuth } from './support/rp.js';
import { startServer, type RunningServer, stopCleanly } from './support/server.js';
import { addVirtualAuthenticator, usbSecurityKey } from './support/webauthn.js';

let server: RunningServer;
let app: RpApp;
let browser: Browser;
let wiki: oidc.Configuration;
let origin: string;

const ownerPassword = 'grace likes cobol a lot';
let totpSecret: string;
let recoveryCodes: string[];

/** Sets up the owner through the setup link: profile, password and authenticator app, recovery codes. */
async function setUpOwner(page: Page) {
  const setupUrl = server.output().match(/http:\/\/localhost:\d+\/setup\?token=[\w.~-]+/)?.[0];
  expect(setupUrl, server.output()).toBeDefined();
  await page.goto(setupUrl!);
  await page.fill('#name', 'Grace Hopper');
  await page.fill('#username', 'grace');
  await page.check('input[name=method][value=password]');
  await page.click('button:has-text("Continue")');
  await page.waitForSelector('h1:has-text("Password and authenticator app")');
  totpSecret = (await page.textContent('#totp-secret'))!.trim();
  await page.fill('#password', ownerPassword);
  await page.fill('#confirm', ownerPassword);
  await page.fill('#code', await generate({ secret: totpSecret }));
  await page.click('button:has-text("Continue")');
  await page.waitForSelector('h1:has-text("Save your recovery codes")');
  recoveryCodes = await page.locator('#recovery-codes code').allTextContents();
  expect(recoveryCodes).toHaveLength(10);
  await page.click('button:has-text("I saved them: finish")');
  await page.waitForURL((url) => url.pathname !== '/setup/finish');
}

beforeAll(async () => {
  server = await startServer();
  origin = new URL(server.issuer).origin;
  const where = await reserveRpApp();
  app = await startRpApp(where, server.issuer, 'wiki', addClient(server, 'wiki', ['--redirect-uri', where.callback, '--name', 'Family Wiki', '--skip-consent']));
  wiki = await discover(server, 'wiki-api', addClient(server, 'wiki-api', ['--redirect-uri', 'https://app.example/callback', '--skip-consent']));
  browser = await launchChromium();
  const context = await browser.newContext();
  await setUpOwner(await context.newPage());
  await context.close();
  // Setup is open only while nobody has a way in: the others come after the owner.
  addUser(server, 'bob', 'bob password 1');
  addUser(server, 'carol', 'carol password 1');
  addUser(server, 'dave', 'dave password 1');
  addUser(server, 'erin', 'erin password 1');
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await stopCleanly(server);
});

/** Drops the browser's Accouch session but keeps the remembered user, as after a session expired. */
async function endSession(context: BrowserContext) {
  const remembered = (await context.cookies()).filter((c) => c.name.startsWith('accouch.last_user'));
  await context.clearCookies();
  await context.addCookies(remembered);
}

/** Over HTTP: starts a sign-in, types a username and password, and returns the page that comes next. */
async function afterPassword(agent: Agent, username: string, password: string) {
  const start = await startAuth(wiki);
  const first = await agent.follow(start.url, origin);
  const chooser = await first.res.text();
  const posted = await agent.post(new URL(formAction(chooser, '/password'), origin), { username, password });
  const next = await agent.follow(first.url, origin, posted);
  return { ...next, html: next.url.origin === origin ? await next.res.text() : '' };
}

/** Over HTTP: a second-factor form post; returns where it led. */
async function submitCode(agent: Agent, html: string, step: '/totp' | '/recovery', code: string) {
  const posted = await agent.post(new URL(formAction(html, step), origin), { code });
  if (posted.status !== 303) return { status: posted.status, html: await posted.text(), url: undefined };
  const next = await agent.follow(new URL(formAction(html, step), origin), origin, posted);
  return { status: next.res.status, html: '', url: next.url };
}

describe('password and authenticator app', () => {
  it('asks for the code after the password; a wrong or replayed code is refused', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    await page.click('.tile:has-text("Grace Hopper")');
    await page.waitForSelector('h1.who:has-text("Grace Hopper")');
    expect(await page.textContent('.lock .avatar.initials')).toBe('GH'); // no picture: initials
    await page.fill('#password', ownerPassword);
    await page.press('#password', 'Enter');

    await page.waitForSelector('h1:has-text("Confirm it is you, Grace Hopper")');
    expect(await page.locator('#security-key').count()).toBe(0); // no keys: no key button
    // The code of the next 30 s step: the current one may have been used by setup a moment ago.
    const code = await generate({ secret: totpSecret, epoch: Math.floor(Date.now() / 1000) + 30 });
    const wrong = String((Number(code) + 500_001) % 1_000_000).padStart(6, '0');
    await page.fill('#totp', wrong);
    await page.press('#totp', 'Enter');
    await page.waitForSelector('[role=alert]:has-text("That code did not work")');
    expect(await page.textContent('h1')).toContain('Confirm it is you');
    await page.fill('#totp', code);
    await page.press('#totp', 'Enter');
    await page.waitForSelector('h1:has-text("Hello Grace Hopper")');
    expect.soft((await page.textContent('#amr'))!.split(',').sort(), 'the app sees amr').toEqual(['mfa', 'otp', 'pwd']);
    await context.close();

    // Someone who saw the code and the password, trying again at once: the code is spent.
    const thief = new Agent();
    const second = await afterPassword(thief, 'grace', ownerPassword);
    expect(second.html).toContain('Confirm it is you');
    const replay = await submitCode(thief, second.html, '/totp', code);
    expect(replay.status).toBe(401);
    // Past the password, the person is told why: the code was already used, wait for the next one.
    expect(replay.html).toContain('That code was already used. Wait for the next code');
  });

  it('lets a recovery code in once', async () => {
    const [code] = recoveryCodes;
    const agent = new Agent();
    const second = await afterPassword(agent, 'grace', ownerPassword);
    expect(second.html).toContain('Use a recovery code');
    const used = await submitCode(agent, second.html, '/recovery', code!.toUpperCase().replace('-', ' ')); // as typed from paper
    expect(used.url?.searchParams.get('code'), used.html).toBeTruthy();

    const again = new Agent();
    const retry = await afterPassword(again, 'grace', ownerPassword);
    const refused = await submitCode(again, retry.html, '/recovery', code!);
    expect(refused.status).toBe(401);
    expect(refused.html).toContain('That code was already used');
  });
});

describe('security key', () => {
  it('added on the account page, it confirms sign-ins after the password', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const key = await addVirtualAuthenticator(page, usbSecurityKey);
    await page.goto(`${server.issuer}/account`);
    await page.fill('#username', 'erin');
    await page.fill('#password', 'erin password 1');
    await page.press('#password', 'Enter');
    await page.click('a:has-text("Add a security key")');
    await page.fill('#credential-name', 'Blue key');
    await page.click('button:has-text("Add a security key")');
    await page.waitForSelector('ul[aria-label="Security keys"] li:has-text("Blue key")');
    expect((await key.credentials())[0]).toMatchObject({ isResidentCredential: false });

    await endSession(context);
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1.who:has-text("Erin Example")');
    await page.fill('#password', 'erin password 1');
    await page.press('#password', 'Enter');
    await page.waitForSelector('h1:has-text("Confirm it is you, Erin Example")');
    expect(await page.locator('#totp').count()).toBe(0); // no authenticator app: no code field
    await page.click('button:has-text("Use your security key or passkey")');
    await page.waitForSelector('h1:has-text("Hello Erin Example")');
    expect.soft((await page.textContent('#amr'))!.split(',').sort(), 'the app sees amr').toEqual(['hwk', 'mfa', 'pwd']);
    await context.close();
  });
});

describe('who is signing in', () => {
  it('switches to another person with "Other user" and forgets the browser on request', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/login`);
    await page.click('.tile:has-text("Bob Example")');
    await page.waitForSelector('h1.who:has-text("Bob Example")');
    await page.fill('#password', 'bob password 1');
    await page.press('#password', 'Enter');
    await page.waitForSelector('h1:has-text("Hello Bob Example")');

    // Next time this browser shows Bob; Carol picks herself from the household.
    await endSession(context);
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1.who:has-text("Bob Example")');
    await page.click('text=Other user');
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    expect(await page.locator('.tile span').allTextContents()).toEqual(expect.arrayContaining(['Grace Hopper', 'Bob Example', 'Carol Example', 'Dave Example', 'Erin Example']));
    await page.click('.tile:has-text("Carol Example")');
    await page.waitForSelector('h1.who:has-text("Carol Example")');
    await page.fill('#password', 'carol password 1');
    await page.press('#password', 'Enter');
    await page.waitForSelector('h1:has-text("Hello Carol Example")');

    await endSession(context);
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1.who:has-text("Carol Example")');
    // Reached from the tiles, someone else is shown: the page offers to forget nobody.
    await page.click('text=Other user');
    await page.click('.tile:has-text("Bob Example")');
    await page.waitForSelector('h1.who:has-text("Bob Example")');
    expect(await page.locator('text=Forget this browser').count()).toBe(0);
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1.who:has-text("Carol Example")');
    await page.click('text=Forget this browser');
    await page.waitForSelector('h1:has-text("Forget Carol Example on this browser?")');
    expect((await context.cookies()).map((c) => c.name)).toContain('accouch.last_user');
    await page.click('button:has-text("Yes, forget Carol Example")');
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    expect((await context.cookies()).map((c) => c.name)).not.toContain('accouch.last_user');

    // A fresh visit: nobody is pre-selected.
    await endSession(context);
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    expect(await page.locator('h1.who').count()).toBe(0);
    await context.close();
  });
});

describe('throttling', () => {
  /** Wrong passwords for one username over HTTP until a 429; returns the pages with ids normalised. */
  async function hammer(username: string) {
    const pages: Array<{ status: number; html: string; retryAfter: string | null }> = [];
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const agent = new Agent();
      const start = await startAuth(wiki);
      const { res, url } = await agent.follow(start.url, origin);
      const uid = url.pathname.split('/').at(-1)!;
      const posted = await agent.post(new URL(formAction(await res.text(), '/password'), origin), { username, password: `guess ${attempt}` });
      const html = (await posted.text()).replaceAll(uid, '<uid>').replaceAll(`value="${username}"`, 'value="<username>"').replace(/Wait \d+ seconds/, 'Wait <n> seconds');
      pages.push({ status: posted.status, html, retryAfter: posted.headers.get('retry-after') });
    }
    return pages;
  }

  it('locks a username after five failures, whether or not it exists, says so the same way, and unlocks from the CLI', async () => {
    const real = await hammer('dave');
    expect(real.map((p) => p.status)).toEqual([401, 401, 401, 401, 401, 429]);
    expect(real[0]!.html).toContain('That username and password do not match.');
    const locked = real[5]!;
    expect(Number(locked.retryAfter)).toBeGreaterThan(20);
    expect(Number(locked.retryAfter)).toBeLessThanOrEqual(30);
    expect(locked.html).toContain('Too many attempts. Wait <n> seconds and try again.');

    // Even the right password waits now, unless the owner unlocks the account.
    const blocked = await afterPassword(new Agent(), 'dave', 'dave password 1');
    expect(blocked.res.status).toBe(429);
    const unlock = server.cli(['user', 'unlock', 'dave']);
    expect(unlock.status, unlock.stderr).toBe(0);
    const unlocked = await afterPassword(new Agent(), 'dave', 'dave password 1');
    expect(unlocked.url.searchParams.get('code'), unlocked.html).toBeTruthy();

    const ghost = await hammer('nobody-here');
    expect(ghost.map((p) => p.status)).toEqual(real.map((p) => p.status));
    ghost.forEach((p, i) => expect(p.html, `attempt ${i + 1}`).toBe(real[i]!.html));
    expect(Math.abs(Number(ghost[5]!.retryAfter) - Number(locked.retryAfter))).toBeLessThanOrEqual(2);
  });
});
