// The "Who is signing in?" page of a large household (1,000 members through `accouch user import`): the people who
// signed in last as tiles, never everyone; anyone else found by a search that works without JavaScript and signs
// in from there. Over plain HTTP (the Agent, no script runs) and in Chromium as a person would.
import * as oidc from 'openid-client';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent } from './support/agent.js';
import { expectAccessible } from './support/axe.js';
import { launchChromium } from './support/chromium.js';
import { reserveRpApp, startRpApp, type RpApp } from './support/rp-app.js';
import { addClient, addUser, callback, codeFlow, discover, signIn, startAuth } from './support/rp.js';
import { startServer, stopCleanly, type RunningServer } from './support/server.js';

const members = 1000;
/** Nine people sign in, one more than the page's tiles (auth/household.ts tileLimit). */
const regulars = ['ada', 'bea', 'cyd', 'dee', 'eve', 'fay', 'gus', 'hal', 'ivy'];
const tileLimit = 8;
const password = 'a long sentence for the household';
const memberPassword = 'member seven seven seven';

let server: RunningServer;
let app: RpApp;
let config: oidc.Configuration;
let browser: Browser;

/** The tiles of a chooser page: the name each shows and where it leads. */
function tilesOf(html: string): Array<{ name: string; href: string }> {
  return [...html.matchAll(/<a class="tile" href="([^"]+)">[\s\S]*?<span>([^<]*)<\/span>/g)].map((m) => ({ href: m[1]!.replace(/&amp;/g, '&'), name: m[2]! }));
}

/** Starts a sign-in in a browser that remembers no one; returns the chooser page's URL and HTML. */
async function chooser(agent = new Agent()) {
  const { url, verifier, state, nonce } = await startAuth(config);
  const { res, url: page } = await agent.follow(url, new URL(server.issuer).origin);
  const html = await res.text();
  expect(res.status, html).toBe(200);
  expect(html).toContain('Who is signing in?');
  return { agent, page, html, verifier, state, nonce };
}

/** Waits until the clock shows a later second than `after` (times of sign-ins are whole seconds). */
async function nextSecond(after: number) {
  while (Math.floor(Date.now() / 1000) <= after) await new Promise((resolve) => setTimeout(resolve, 20));
}

beforeAll(async () => {
  server = await startServer();
  const where = await reserveRpApp();
  const secret = addClient(server, 'garden', ['--redirect-uri', callback, '--redirect-uri', where.callback, '--name', 'Garden Planner', '--skip-consent'])!;
  app = await startRpApp(where, server.issuer, 'garden', secret);
  config = await discover(server, 'garden', secret);
  for (const name of regulars) addUser(server, name, password);
  const lines = Array.from({ length: members }, (_, i) => JSON.stringify({ username: `member${String(i).padStart(4, '0')}`, name: `Member ${i}`, groups: ['family'] }));
  const imported = server.cli(['user', 'import', '-'], `${lines.join('\n')}\n`);
  expect(imported.status, imported.stderr).toBe(0);
  expect(imported.stdout).toContain(`imported ${members} users`);
  const passwd = server.cli(['user', 'passwd', 'member0777', '--password-stdin'], memberPassword);
  expect(passwd.status, passwd.stderr).toBe(0);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await app?.close();
  await stopCleanly(server);
});

describe('a household of a thousand', () => {
  it('shows the people who signed in last, at most eight, and a search instead of everyone', async () => {
    // Nobody has signed in yet: no tiles, only the search and the username form.
    const empty = await chooser();
    expect(tilesOf(empty.html)).toEqual([]);
    expect(empty.html).toContain('role="search"');

    // The first regular signs in a second before the others, so the page has a clear oldest to drop.
    const first = await codeFlow(server, config, regulars[0]!, password);
    expect(first.tokens.claims()!.sub).toBeTruthy();
    await nextSecond(Math.floor(Date.now() / 1000));
    for (const name of regulars.slice(1)) await codeFlow(server, config, name, password);

    const { html } = await chooser();
    const tiles = tilesOf(html);
    expect(tiles).toHaveLength(tileLimit);
    const shown = tiles.map((t) => t.name).sort();
    expect(shown).toEqual(regulars.slice(1).map((n) => `${n[0]!.toUpperCase()}${n.slice(1)} Example`).sort());
    expect(html).toContain('Signed in recently');
    expect(html).not.toContain('Member 1');
    // Still one form to type a username into.
    expect(html).toContain('name="username"');
  });

  it('finds someone who is not a tile by the start of their name, without JavaScript, and signs them in', async () => {
    const { agent, page, verifier, state, nonce } = await chooser();
    const search = new URL(page);
    search.searchParams.set('view', 'other');
    search.searchParams.set('q', 'member077');
    let res = await agent.get(search);
    let html = await res.text();
    expect(res.status, html).toBe(200);
    // Ten matches at most (member0770 … member0779), the first in username order.
    expect(tilesOf(html).map((t) => t.name)).toEqual(Array.from({ length: 10 }, (_, i) => `Member ${770 + i}`));
    expect(html).not.toContain('More people match');
    search.searchParams.set('q', 'member07');
    html = await (await agent.get(search)).text();
    expect(tilesOf(html).map((t) => t.name)).toEqual(Array.from({ length: 10 }, (_, i) => `Member ${700 + i}`));
    expect(html).toContain('More people match');

    search.searchParams.set('q', 'Member 777');
    res = await agent.get(search);
    html = await res.text();
    const [tile, ...others] = tilesOf(html);
    expect(others).toEqual([]);
    expect(tile!.name).toBe('Member 777');
    expect(html).toContain('value="Member 777"');

    const origin = new URL(server.issuer).origin;
    const returned = await signIn(agent, server, new URL(tile!.href, origin), 'member0777', memberPassword);
    const tokens = await oidc.authorizationCodeGrant(config, returned, { pkceCodeVerifier: verifier, expectedState: state, expectedNonce: nonce });
    const info = await oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub);
    expect(info.preferred_username).toBe('member0777');

    // A typed username still works for anyone, tile or not.
    const typed = await codeFlow(server, config, 'member0777', memberPassword);
    expect(typed.tokens.claims()!.sub).toBe(tokens.claims()!.sub);
  });

  it('says when no one matches, and refuses an overlong or repeated search with a 400', async () => {
    const { agent, page } = await chooser();
    const search = new URL(page);
    search.searchParams.set('view', 'other');
    search.searchParams.set('q', 'nobody-here');
    let res = await agent.get(search);
    let html = await res.text();
    expect(res.status).toBe(200);
    expect(tilesOf(html)).toEqual([]);
    expect(html).toContain('starts with “nobody-here”');

    search.searchParams.set('q', 'm'.repeat(65));
    res = await agent.get(search);
    html = await res.text();
    expect(res.status).toBe(400);
    expect(html).toContain('at most 64 characters');

    search.searchParams.set('q', 'ada');
    search.searchParams.append('q', 'bea');
    res = await agent.get(search);
    expect(res.status).toBe(400);
  });

  it('in a browser: search, pick the person, type the password, arrive in the app (and the page passes axe)', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${app.url}/login`);
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    expect(await page.locator('.tile').count()).toBe(tileLimit);
    await expectAccessible(page, 'chooser with recent members and search');
    await page.fill('#q', 'member0777');
    await page.press('#q', 'Enter');
    await page.waitForSelector('.tile:has-text("Member 777")');
    expect(await page.locator('.tile').count()).toBe(1);
    await expectAccessible(page, 'search results');
    await page.click('.tile:has-text("Member 777")');
    await page.waitForSelector('h1.who:has-text("Member 777")');
    await page.fill('#password', memberPassword);
    // Sign-in times are whole seconds: this one comes after every other, so Member 777 is the latest below.
    await nextSecond(Math.floor(Date.now() / 1000));
    await page.press('#password', 'Enter');
    await page.waitForSelector('h1:has-text("Hello Member 777")');

    // This browser now remembers Member 777: the next sign-in (prompt=login: past the session) shows them on the
    // lock screen, and "Other user" leads to the chooser, where they are now the most recent tile.
    await page.goto((await startAuth(config, { prompt: 'login' })).url.href);
    await page.waitForSelector('h1.who:has-text("Member 777")');
    await page.click('text=Other user');
    await page.waitForSelector('h1:has-text("Who is signing in?")');
    expect(await page.locator('.tile').count()).toBe(tileLimit);
    expect(await page.locator('.tile').first().textContent()).toContain('Member 777');
    await context.close();
  });
});
