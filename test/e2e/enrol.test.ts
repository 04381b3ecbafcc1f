// Enrolment against the real server, as a household does it: setup links that die when a new one is printed,
// a link-preview bot that opens links and changes nothing, links held by the first browser that submits, the
// owner's invitation QR scanned by a phone (a second browser context) that enrols a passkey and signs in on the lock
// screen, the short code typed at /join, and "add a passkey on another device" from the account page.
import jsqrModule from 'jsqr';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { PNG } from 'pngjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from './support/agent.js';
import { expectAccessible } from './support/axe.js';
import { ensureChromium, launchChromium } from './support/chromium.js';
import { startServer, stopCleanly, type RunningServer } from './support/server.js';
import { addVirtualAuthenticator, type VirtualAuthenticator } from './support/webauthn.js';

const jsQR = ((jsqrModule as unknown as { default?: typeof jsqrModule }).default ?? jsqrModule);

let server: RunningServer;
let browser: Browser;
let owner: { context: BrowserContext; page: Page };
const phoneViewport = { viewport: { width: 412, height: 860 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

const url = (path: string) => `${server.issuer}${path}`;

/** What a phone's camera would read from the QR code image on the page. */
async function scanQr(page: Page): Promise<string> {
  const src = (await page.getAttribute('#link-qr', 'src'))!;
  expect(src).toMatch(/^data:image\/png;base64,/);
  const png = PNG.sync.read(Buffer.from(src.split(',')[1]!, 'base64'));
  const found = jsQR(new Uint8ClampedArray(png.data), png.width, png.height);
  expect(found, 'a QR code on the page').toBeTruthy();
  return found!.data;
}

/** A new browser (its own cookies) with a platform passkey store, as a phone or a tablet. */
async function device(): Promise<{ context: BrowserContext; page: Page; authenticator: VirtualAuthenticator }> {
  const context = await browser.newContext(phoneViewport);
  const page = await context.newPage();
  return { context, page, authenticator: await addVirtualAuthenticator(page) };
}

async function signInWithPasskey(page: Page, name: string) {
  await page.waitForSelector(`h1.who:has-text("${name}")`);
  await page.click('text=Sign in with a passkey');
}

beforeAll(async () => {
  ensureChromium();
  server = await startServer();
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stopCleanly(server);
});

describe('first boot', () => {
  it('a new setup link kills the old one, a preview bot changes nothing, and the owner lands on "what next"', async () => {
    const printed = server.output().match(/http:\/\/localhost:\d+\/setup\?token=[\w.~-]+/)?.[0];
    expect(printed, server.output()).toBeDefined();
    const fresh = server.cli(['setup-link']);
    expect(fresh.status, fresh.stderr).toBe(0);
    const link = fresh.stdout.trim();
    expect((await fetch(printed!)).status).toBe(404); // the link in the log is dead now
    const bot = await fetch(link); // a chat app's link preview
    expect(bot.status).toBe(200);
    expect(await bot.text()).toContain('Welcome to Accouch');

    const context = await browser.newContext();
    const page = await context.newPage();
    await addVirtualAuthenticator(page);
    owner = { context, page };
    await page.goto(link);
    await page.fill('#name', 'Olive Owner');
    await page.fill('#username', 'olive');
    await page.click('button:has-text("Continue")');
    // Before the passkey exists, nobody does: no user to sign in as, and `setup-link` says who is mid-way.
    await page.waitForSelector('button:has-text("Create passkey")');
    expect(server.cli(['user', 'list']).stdout).toContain('no users yet');
    const busy = server.cli(['setup-link']);
    expect(busy.stderr).toContain('Olive Owner (olive) was setting up on an earlier link');
    expect((await page.goto(link))!.status()).toBe(404);
    await page.goto(busy.stdout.trim());
    await page.fill('#name', 'Olive Owner');
    await page.fill('#username', 'olive');
    await page.click('button:has-text("Continue")');
    await page.click('button:has-text("Create passkey")');
    await page.waitForSelector('h1:has-text("Save your recovery codes")');
    const codes = await page.locator('#recovery-codes code').allTextContents();
    expect(codes).toHaveLength(10);

    // The bot again, now that the credential exists: the "in use" page, and the owner's codes stay the same.
    const again = await fetch(busy.stdout.trim());
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('in use on another device');
    await page.reload();
    expect(await page.locator('#recovery-codes code').allTextContents()).toEqual(codes);
    expect(server.cli(['setup-link']).stderr).toContain('already set up');

    await page.click('button:has-text("I saved them: finish")');
    await page.waitForSelector('h1:has-text("Accouch is ready")');
    await expectAccessible(page, 'what next');
    for (const path of ['/admin/apps', '/admin/users', '/account']) expect(await page.locator(`a[href="${path}"]`).count(), path).toBe(1);
    await page.click('text=Open the owner console');
    await signInWithPasskey(page, 'Olive Owner');
    await page.waitForURL(url('/admin'));

    await page.goto(url('/account'));
    expect(await page.locator('#console-link').getAttribute('href')).toBe('/admin');
    // The first passkey is named after the browser it was made in, not "Passkey".
    expect(await page.textContent('ul[aria-label="Passkeys"]')).toContain('Chrome on Linux');
    const audit = server.cli(['audit']).stdout;
    for (const event of ['setup.link_created', 'setup.credential_saved', 'setup.completed']) expect(audit).toContain(event);
  });
});

describe('invitations for the family', () => {
  it('the phone scans the invitation QR, enrols a passkey and signs in; another device sees the link in use', async () => {
    const { page } = owner;
    await page.goto(url('/admin/users'));
    await page.fill('#invite-groups', 'family');
    await page.click('button:has-text("Create an invitation link")');
    const link = await scanQr(page);
    expect(link).toBe(await page.inputValue('#one-time-link'));
    expect(new URL(link).pathname).toBe('/invite');
    const code = (await page.textContent('#short-code'))!.trim();
    expect(code).toMatch(/^[2-9A-Z]{4}-[2-9A-Z]{4}$/);
    await expectAccessible(page, 'invitation link with QR');

    // Someone types the code at /join on a laptop: it only shows the invitation.
    const laptop = await browser.newContext();
    const typed = await laptop.newPage();
    await typed.goto(url('/join'));
    await typed.fill('#code', code.toLowerCase().replace('-', ' '));
    await typed.click('button:has-text("Continue")');
    await typed.waitForSelector('h1:has-text("Join Accouch")');

    const phone = await device();
    await phone.page.goto(link);
    await phone.page.fill('#name', 'Gus Example');
    await phone.page.fill('#username', 'gus');
    await phone.page.click('button:has-text("Continue")');
    // The fingerprint fails halfway: a clear message, nobody created, and the link still works.
    await phone.authenticator.setUserVerified(false);
    await phone.page.click('button:has-text("Create passkey")');
    await phone.page.waitForSelector('#webauthn-error:not([hidden])');
    expect(server.cli(['user', 'list']).stdout).not.toContain('gus');
    await phone.authenticator.setUserVerified(true);
    await phone.page.click('button:has-text("Create passkey")');
    await phone.page.waitForSelector('h1:has-text("Save your recovery codes")');

    // The phone holds the link now: the laptop gets the "in use" page and can write nothing.
    const inUse = await typed.reload();
    expect(inUse!.status()).toBe(409);
    expect(await typed.textContent('h1')).toBe('This link is in use on another device');
    await expectAccessible(typed, 'link in use');
    await laptop.close();

    await phone.page.click('button:has-text("I saved them: finish")');
    await signInWithPasskey(phone.page, 'Gus Example');
    await phone.page.waitForURL(url('/account'));
    expect(await phone.page.textContent('h1')).toBe('Gus Example');
    expect(await phone.page.textContent('ul[aria-label="Passkeys"]')).toContain('Chrome on');
    await phone.context.close();

    await page.goto(url('/admin/users'));
    expect(await page.textContent('body')).toContain('Gus Example');
  });

  it('two browsers submitting on one invitation at once: one holds it, the other gets the in-use page', async () => {
    const { page } = owner;
    await page.goto(url('/admin/users'));
    await page.click('button:has-text("Create an invitation link")');
    const link = new URL(await page.inputValue('#one-time-link'));
    const token = link.searchParams.get('token')!;
    const [a, b] = [new Agent(), new Agent()];
    // Each has opened the link: the page gave it the browser's id, which the claim then names (one cookie, not two).
    await Promise.all([a, b].map((agent) => agent.get(link)));
    const ids = new Map([a, b].map((agent) => [agent, agent.cookies.get('accouch.browser')]));
    expect([...ids.values()].every((id) => /^[\w-]{22}$/.test(id ?? ''))).toBe(true);
    const answers = await Promise.all([a, b].map((agent, i) => agent.post(url(`/invite/profile?token=${token}`), { name: `Twin ${i}`, username: `twin${i}`, method: 'password' })));
    expect(answers.map((r) => r.status).sort()).toEqual([303, 409]);
    const winner = answers[0]!.status === 303 ? a : b;
    const loser = winner === a ? b : a;
    expect(winner.cookies.get('accouch.browser')).toBe(ids.get(winner));
    expect(await (await winner.get(link)).text()).toContain('Choose your password');
    const refused = await loser.get(link);
    expect(refused.status).toBe(409);
    expect(await refused.text()).toContain('in use on another device');
    expect(server.cli(['user', 'list']).stdout).not.toContain('twin');

    // Malformed links and codes: a clear page, never a 500.
    for (const bad of ['/invite?token=nonsense-nonsense-nonsense', '/invite', '/reset?token=%00', `/add-passkey?token=${token}`]) {
      const res = await fetch(url(bad));
      expect(res.status, bad).toBe(404);
      expect(await res.text(), bad).toContain('not valid');
    }
    const wrongCode = await new Agent().post(url('/join'), { code: 'AAAA-AAAA' });
    expect(wrongCode.status).toBe(400);
    expect(await wrongCode.text()).toContain('That code is not valid');
  });
});

describe('a passkey on another device', () => {
  it('the account page shows a code that lets a tablet create its own passkey for the owner', async () => {
    const { page } = owner;
    await page.goto(url('/account'));
    await page.click('button:has-text("Add a passkey on another device")');
    // It needs a sign-in from the last five minutes: on a slow run, the lock screen asks first.
    await page.waitForSelector('h1:has-text("Add a passkey on another device"), h1.who');
    if (await page.locator('h1.who').count()) {
      await signInWithPasskey(page, 'Olive Owner');
      await page.waitForURL(url('/account'));
      await page.click('button:has-text("Add a passkey on another device")');
      await page.waitForSelector('h1:has-text("Add a passkey on another device")');
    }
    const link = await scanQr(page);
    expect(new URL(link).pathname).toBe('/add-passkey');

    const tablet = await device();
    await tablet.page.goto(link);
    await tablet.page.waitForSelector('h1:has-text("Add a passkey on this device, Olive Owner")');
    await tablet.page.click('button:has-text("Create passkey")');
    await tablet.page.waitForSelector('h1:has-text("Your passkey is saved")');
    await tablet.page.click('button:has-text("Finish")');
    await signInWithPasskey(tablet.page, 'Olive Owner');
    await tablet.page.waitForURL(url('/account'));
    expect(await tablet.page.textContent('h1')).toBe('Olive Owner');
    await tablet.context.close();

    expect((await fetch(link)).status).toBe(404); // single use
    const audit = server.cli(['audit']).stdout;
    for (const event of ['passkey.device_link_created', 'passkey.device_link_used', 'user.invited', 'user.invite_accepted']) expect(audit).toContain(event);
  });
});

// Last: it locks this address out for a minute.
describe('short codes', () => {
  it('guessing codes at /join is throttled by address: after twenty wrong ones, a 429 page, also in a burst', async () => {
    // Thirty guesses at once: each is counted before its code is looked at, so only the twenty free ones (and the
    // one that takes the lock) are; the rest get the 429 at once.
    const code = (i: number) => `ZZZZ-${String(2222 + i).replace(/[01]/g, '9')}`;
    const burst = (await Promise.all(Array.from({ length: 30 }, (_, i) => new Agent().post(url('/join'), { code: code(i) })))).map((r) => r.status);
    expect(burst.filter((s) => s === 400).length).toBeLessThanOrEqual(21);
    expect(burst.filter((s) => s === 429).length).toBeGreaterThanOrEqual(9);
    const guesser = new Agent();
    let status = 0;
    for (let i = 0; i < 25 && status !== 429; i++) status = (await guesser.post(url('/join'), { code: `ZZZZ-${String(2222 + i).replace(/[01]/g, '9')}` })).status;
    expect(status).toBe(429);
    const page = await (await guesser.post(url('/join'), { code: 'ZZZZ-ZZZZ' })).text();
    expect(page).toContain('Too many wrong codes');
  });
});
