// The owner's first boot in Chromium: the one-time setup link from the server's output, name and username, a
// passkey on a virtual authenticator, recovery codes saved. The browser context keeps the passkey and session.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { RunningServer } from './server.js';
import { addVirtualAuthenticator } from './webauthn.js';

export async function setUpOwnerWithPasskey(browser: Browser, server: RunningServer, owner = { name: 'Olivia Owner', username: 'olivia' }): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext();
  const page = await context.newPage();
  await addVirtualAuthenticator(page);
  await page.goto(server.output().match(/http:\/\/localhost:\d+\/setup\?token=[\w.~-]+/)![0]);
  await page.fill('#name', owner.name);
  await page.fill('#username', owner.username);
  await page.click('button:has-text("Continue")');
  await page.click('button:has-text("Create passkey")');
  await page.click('button:has-text("I saved them: finish")');
  await page.waitForURL((url) => url.pathname !== '/setup/finish' && url.pathname !== '/setup');
  return { context, page };
}
