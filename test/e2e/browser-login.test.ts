// A person signs into a web app through Accouch in a real browser (Debian Chromium, headless).
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchChromium } from './support/chromium.js';
import { reserveRpApp, startRpApp, type RpApp } from './support/rp-app.js';
import { addClient, addUser } from './support/rp.js';
import { startServer, type RunningServer, stopCleanly } from './support/server.js';

let server: RunningServer;
let app: RpApp;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  addUser(server, 'alice', 'correct horse battery', ['--groups', 'admins,family']);
  const where = await reserveRpApp();
  const secret = addClient(server, 'wiki', ['--redirect-uri', where.callback, '--name', 'Family Wiki']);
  app = await startRpApp(where, server.issuer, 'wiki', secret);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await stopCleanly(server);
});

describe('browser sign-in', () => {
  it('signs in with the keyboard only, asks for consent once, and lands in the app', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const cspViolations: string[] = [];
    page.on('console', (m) => { if (/Content Security Policy/i.test(m.text())) cspViolations.push(m.text()); });

    await page.goto(`${app.url}/login`);
    await expect.poll(() => page.title()).toContain('Sign in');
    expect(await page.textContent('main')).toContain('Family Wiki');
    // The username field has focus: type, tab, type, Enter.
    await page.keyboard.type('alice');
    await page.keyboard.press('Tab');
    await page.keyboard.type('wrong password');
    await page.keyboard.press('Enter');
    await page.waitForSelector('[role=alert]');
    expect(await page.textContent('[role=alert]')).toContain('do not match');
    expect(await page.inputValue('#username')).toBe('alice');
    await page.keyboard.type('correct horse battery'); // focus is back on the password field
    await page.keyboard.press('Enter');

    await page.waitForSelector('text=Allow Family Wiki?');
    expect(await page.textContent('main')).toContain('See which groups you belong to');
    await page.keyboard.press('Enter'); // "Allow" has focus
    await page.waitForSelector('h1:has-text("Hello Alice Example")');
    expect(await page.textContent('#groups')).toBe('admins,family');

    // Signed in already: the next visit goes straight through, no password and no consent.
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1:has-text("Hello Alice Example")');
    expect(cspViolations).toEqual([]);
    await context.close();
  });
});
