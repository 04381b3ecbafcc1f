// How the setup and sign-in pages look and whether everyone can use them: axe-core on every page a person
// meets on first boot and at sign-in, and phone-sized screenshots in light and dark for the docs.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { generate } from 'otplib';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectAccessible } from './support/axe.js';
import { launchChromium } from './support/chromium.js';
import { reserveRpApp, startRpApp, type RpApp } from './support/rp-app.js';
import { addClient, addUser } from './support/rp.js';
import { screenshotDir, startServer, type RunningServer, stopCleanly } from './support/server.js';
import { addVirtualAuthenticator } from './support/webauthn.js';

const screenshots = screenshotDir;
const phone = { width: 420, height: 820 };
const password = 'a long sentence for margaret';

let server: RunningServer;
let app: RpApp;
let browser: Browser;

beforeAll(async () => {
  server = await startServer();
  const where = await reserveRpApp();
  // Not first-party: the consent page shows.
  app = await startRpApp(where, server.issuer, 'garden', addClient(server, 'garden', ['--redirect-uri', where.callback, '--name', 'Garden Planner']));
  browser = await launchChromium();
  mkdirSync(screenshots, { recursive: true });
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await stopCleanly(server);
});

/** Saves <screenshotDir>/<name>-light.png and -dark.png of the page as it is now. */
async function shoot(page: Page, name: string) {
  for (const colorScheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme });
    await page.screenshot({ path: join(screenshots, `${name}-${colorScheme}.png`), fullPage: true });
  }
  await page.emulateMedia({ colorScheme: 'light' });
}

/** Every axe rule in light mode; in dark mode only colours change, so only contrast is checked again. */
async function expectAccessibleBoth(page: Page, label: string) {
  await expectAccessible(page, `${label} (light)`);
  await page.emulateMedia({ colorScheme: 'dark' });
  await expectAccessible(page, `${label} (dark)`, ['color-contrast']);
  await page.emulateMedia({ colorScheme: 'light' });
}

describe('setup and sign-in pages', () => {
  it('pass axe (no serious or critical violations), and are photographed for the docs', async () => {
    const context = await browser.newContext({ viewport: phone, deviceScaleFactor: 2 });
    const page = await context.newPage();
    await addVirtualAuthenticator(page);

    await page.goto(server.output().match(/http:\/\/localhost:\d+\/setup\?token=[\w.~-]+/)![0]);
    await page.waitForSelector('h1:has-text("Welcome to Accouch")');
    await expectAccessibleBoth(page, 'setup: profile');
    await shoot(page, 'setup');
    await page.fill('#name', 'Margaret Hamilton');
    await page.fill('#username', 'margaret');
    await page.click('button:has-text("Continue")');

    await page.waitForSelector('button:has-text("Create passkey")');
    await expectAccessibleBoth(page, 'setup: passkey');
    await page.click('text=Back'); // changes her mind: a password and an authenticator app
    await page.waitForSelector('h1:has-text("Welcome to Accouch")');
    expect(await page.inputValue('#name')).toBe('Margaret Hamilton');
    await page.check('input[name=method][value=password]');
    await page.click('button:has-text("Continue")');

    await page.waitForSelector('h1:has-text("Password and authenticator app")');
    await expectAccessibleBoth(page, 'setup: password and TOTP');
    const secret = (await page.textContent('#totp-secret'))!.trim();
    await page.fill('#password', password);
    await page.fill('#confirm', password);
    await page.fill('#code', await generate({ secret }));
    await page.click('button:has-text("Continue")');

    await page.waitForSelector('h1:has-text("Save your recovery codes")');
    await expectAccessibleBoth(page, 'setup: recovery codes');
    await page.click('button:has-text("I saved them: finish")');
    await page.waitForURL((url) => url.pathname !== '/setup/finish');
    addUser(server, 'linus', 'linus password 1');

    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1.who:has-text("Margaret Hamilton")');
    await expectAccessibleBoth(page, 'lock screen');
    await shoot(page, 'lock-screen');
    await page.click('text=Other user');
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    await expectAccessibleBoth(page, 'choose user');
    await page.click('.tile:has-text("Margaret Hamilton")');
    await page.waitForSelector('h1.who:has-text("Margaret Hamilton")');
    await page.fill('#password', password);
    await page.press('#password', 'Enter');

    await page.waitForSelector('h1:has-text("Confirm it is you")');
    await expectAccessibleBoth(page, 'second factor');
    await shoot(page, 'second-factor');
    await page.fill('#totp', await generate({ secret, epoch: Math.floor(Date.now() / 1000) + 30 }));
    await page.press('#totp', 'Enter');

    await page.waitForSelector('h1:has-text("Allow Garden Planner?")');
    await expectAccessibleBoth(page, 'consent');
    await page.click('button:has-text("Allow")');
    await page.waitForSelector('h1:has-text("Hello Margaret Hamilton")');
    await context.close();
  });
});
