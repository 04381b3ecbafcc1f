// Forward-auth through real proxies: Debian's nginx (auth_request) and caddy (forward_auth) in front of an echo app,
// configured with the snippets Accouch prints. Chromium signs in (password, passkey), non-members and outsiders are
// refused, sign-out ends access, fetch() gets 401; Traefik's protocol by headers as its documentation describes.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { caddySnippet } from '../../src/integrations/forward-auth.js';
import { forwardAuthAppSchema } from '../../src/config.js';
import { Agent } from './support/agent.js';
import { expectAccessible } from './support/axe.js';
import { ensureChromium, launchChromium } from './support/chromium.js';
import { startCaddy, startEcho, startNginx, type Echo, type Proxy } from './support/proxies.js';
import { addClient, addUser, codeFlow, discover, signIn } from './support/rp.js';
import { freePort, logLines, startServer, stopCleanly, until, type RunningServer } from './support/server.js';
import { setUpOwnerWithPasskey } from './support/owner.js';

let server: RunningServer;
let echo: Echo;
let nginx: Proxy;
let caddy: Proxy;
let browser: Browser;
let notesUrl: string; // behind nginx, family only, declared with the CLI
let photosUrl: string; // behind caddy, admins only and only from home, declared in the YAML file
let owner: { context: BrowserContext; page: Page };
const outside = { 'x-forwarded-for': '203.0.113.9' };

interface Answer { status: number; headers: Record<string, string | string[] | undefined> }

/**
 * A GET as a browser navigation or a proxy sends it: node:http, because fetch() always says Sec-Fetch-Mode: cors.
 * `connect` overrides the address connected to (names such as photos.localhost resolve in Chromium only); `path`, the
 * request target sent.
 */
function get(url: string, headers: Record<string, string>, options: { connect?: string; localAddress?: string; path?: string } = {}): Promise<Answer> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    request({ host: options.connect ?? u.hostname, port: u.port, path: options.path ?? u.pathname + u.search, localAddress: options.localAddress, headers: { host: u.host, ...headers } }, (res) => {
      res.resume();
      res.once('end', () => resolve({ status: res.statusCode!, headers: res.headers }));
    }).once('error', reject).end();
  });
}
const header = (answer: Answer, name: string) => {
  const value = answer.headers[name];
  return Array.isArray(value) ? value.join('\n') : value ?? null;
};

/** Echo's view of the request, from the page Chromium landed on. */
async function echoed(page: Page): Promise<{ url: string; headers: Record<string, string> }> {
  return JSON.parse((await page.textContent('#echo'))!);
}

async function signInWithPassword(page: Page, username: string, password: string) {
  await page.fill('#username', username);
  await page.press('#username', 'Enter');
  await page.fill('#password', password);
  await page.press('#password', 'Enter');
}

beforeAll(async () => {
  ensureChromium();
  echo = await startEcho();
  const [nginxPort, caddyPort] = [await freePort(), await freePort()];
  notesUrl = `http://127.0.0.1:${nginxPort}`;
  photosUrl = `http://photos.localhost:${caddyPort}`;
  const dir = mkdtempSync(join(tmpdir(), 'accouch-forward-auth-'));
  writeFileSync(join(dir, 'accouch.yaml'), [
    'forwardAuth:',
    `  - { id: photos, name: Family Photos, hosts: ["photos.localhost:${caddyPort}"], allowedGroups: [admins], policy: { outside: deny } }`,
  ].join('\n'));
  server = await startServer({
    env: { ACCOUCH_CONFIG: join(dir, 'accouch.yaml'), ACCOUCH_NETWORK_TRUSTED_PROXIES: '127.0.0.1,::1', ACCOUCH_LOGIN_SHOW_USER_LIST: 'false' },
  });
  const added = server.cli(['app', 'add', 'forward-auth', '--url', notesUrl, '--id', 'notes', '--name', 'Notes', '--groups', 'family']);
  expect(added.status, added.stderr).toBe(0);
  // The nginx block exactly as printed, with the echo app as the upstream.
  const nginxBlock = added.stdout.split('== nginx ==')[1]!.split('== Caddy ==')[0]!.replace('http://127.0.0.1:8096', `http://127.0.0.1:${echo.port}`);
  nginx = await startNginx(nginxPort, nginxBlock.replace(/^#.*$/m, ''));
  const photos = forwardAuthAppSchema.parse({ id: 'photos', hosts: [`photos.localhost:${caddyPort}`] });
  caddy = await startCaddy(caddyPort, caddySnippet({ issuer: server.issuer, app: photos })
    .replace(/^\S+ \{/, `http://photos.localhost:${caddyPort} {`).replace('127.0.0.1:8096', `127.0.0.1:${echo.port}`)
    // Caddy believes X-Forwarded-* from 127.0.0.1 (Chromium), as it would from a router in front of it: the tests
    // play "outside" with that header. Anyone else's are replaced by what Caddy saw.
    .replace(/(forward_auth \S+ \{\n)/, '$1        trusted_proxies 127.0.0.1/32 ::1/128\n'));

  browser = await launchChromium();
  // The owner sets up with a passkey; this browser keeps it.
  owner = await setUpOwnerWithPasskey(browser, server);
  addUser(server, 'paul', 'paul password 1', ['--groups', 'family']);
  addUser(server, 'nina', 'nina password 1', ['--groups', 'family']);
});

afterAll(async () => {
  await browser?.close();
  await nginx?.stop();
  await caddy?.stop();
  await echo?.close();
  await stopCleanly(server);
});

describe('nginx auth_request', () => {
  it('sends a signed-out browser to the lock screen and back to the page it asked for, with Remote-User', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${notesUrl}/recipes?sort=new`);
    expect(new URL(page.url()).origin).toBe(server.issuer);
    await signInWithPassword(page, 'paul', 'paul password 1');
    await page.waitForURL(`${notesUrl}/recipes?sort=new`);
    const seen = await echoed(page);
    expect(seen.url).toBe('/recipes?sort=new');
    expect(seen.headers['remote-user']).toBe('paul');
    expect(seen.headers['remote-groups']).toBe('family');
    expect(seen.headers['remote-email']).toBe('paul@home.example');
    expect(seen.headers['remote-name']).toBe('Paul Example');
    // The cookie is the app host's own (a host-only cookie set through the single-use code), not Accouch's session.
    const cookies = await context.cookies(notesUrl);
    expect(cookies.map((c) => c.name)).toEqual(['accouch_fa']);
    expect(cookies[0]!.httpOnly).toBe(true);

    // fetch() from the page passes while signed in...
    expect(await page.evaluate(() => fetch('/data/list').then((r) => r.status))).toBe(200);
    // ...and sign-out at Accouch ends access within seconds: fetch() then gets a bare 401, no redirect.
    const signOut = await context.newPage();
    await signOut.goto(`${server.issuer}/session/end`);
    await signOut.click('button:has-text("Yes, sign me out")');
    await signOut.waitForSelector('text=You are signed out of Accouch.');
    await expect.poll(() => page.evaluate(() => fetch('/data/list').then((r) => r.status)), { timeout: 15_000, interval: 200 }).toBe(401);
    // A page load goes back to the lock screen.
    await page.goto(`${notesUrl}/recipes`);
    expect(new URL(page.url()).origin).toBe(server.issuer);
    await context.close();
  });

  it('answers a request without a session from fetch() with 401, never a redirect', async () => {
    const res = await fetch(`${notesUrl}/data/list`, { redirect: 'manual', headers: { accept: '*/*', 'sec-fetch-mode': 'cors' } });
    expect(res.status).toBe(401);
    expect(res.headers.get('location')).toBeNull();
  });

  it('refuses outsiders more than a password: from outside, a password-only account is turned away', async () => {
    const context = await browser.newContext({ extraHTTPHeaders: outside });
    const page = await context.newPage();
    await page.goto(`${notesUrl}/`);
    await signInWithPassword(page, 'nina', 'nina password 1');
    await page.waitForSelector('h1');
    expect(new URL(page.url()).origin).toBe(server.issuer);
    expect(await page.textContent('body')).not.toContain('remote-user');
    // At home the same password lets her in; going outside with that session asks for a stronger sign-in.
    await context.setExtraHTTPHeaders({});
    await page.goto(`${notesUrl}/`);
    if (new URL(page.url()).origin === server.issuer) await signInWithPassword(page, 'nina', 'nina password 1');
    await page.waitForURL(`${notesUrl}/`);
    expect((await echoed(page)).headers['remote-user']).toBe('nina');
    await context.setExtraHTTPHeaders(outside);
    await page.goto(`${notesUrl}/`);
    expect(new URL(page.url()).origin).toBe(server.issuer);
    await context.close();
  });
});

describe('caddy forward_auth', () => {
  it('lets the owner in with her passkey', async () => {
    const { page } = owner;
    await page.goto(`${photosUrl}/albums`);
    expect(new URL(page.url()).origin).toBe(server.issuer);
    await page.click('#passkey');
    await page.waitForURL(`${photosUrl}/albums`);
    const seen = await echoed(page);
    expect(seen.headers['remote-user']).toBe('olivia');
    expect(seen.headers['remote-groups']).toBe('admins');
  });

  it('shows a non-member a 403 page that says so', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(`${photosUrl}/`);
    const refused = page.waitForResponse((res) => res.url().startsWith(`${server.issuer}/forward-auth/callback`));
    await signInWithPassword(page, 'paul', 'paul password 1');
    expect((await refused).status()).toBe(403);
    await page.waitForSelector('h1:has-text("Not for your account")');
    expect(await page.textContent('body')).toContain('is not allowed to use Family Photos');
    await context.close();
  });

  it('refuses a home-only app from outside, even to its owner', async () => {
    const { page, context } = owner;
    await context.setExtraHTTPHeaders(outside);
    try {
      const res = await page.goto(`${photosUrl}/albums`);
      expect(res!.status()).toBe(403);
      expect(await page.textContent('body')).toContain('can only be used from the home network');
    } finally {
      await context.setExtraHTTPHeaders({});
    }
  });

  it('does not believe a client\'s own X-Forwarded-Host: caddy sets the host it served', async () => {
    const res = await get(`${photosUrl}/`, { accept: 'text/html', 'sec-fetch-mode': 'navigate', 'x-forwarded-host': new URL(notesUrl).host }, { connect: '127.0.0.1', localAddress: '127.0.0.3' });
    expect(res.status).toBe(302);
    expect(new URL(header(res, 'location')!).searchParams.get('rd')).toBe(`${photosUrl}/`);
  });
});

describe('the owner console', () => {
  it('protects an app from the console and shows what to paste into the proxy', async () => {
    const { page } = owner;
    await page.goto(`${server.issuer}/admin/forward-auth`);
    expect(await page.textContent('ul[aria-label="Apps behind your proxy"]')).toContain('added with the command line');
    await expectAccessible(page, 'forward-auth apps in the owner console');
    await page.fill('#fa-id', 'dashboard');
    await page.fill('#fa-name', 'Dashboard');
    await page.fill('#fa-urls', 'https://dash.home.example');
    await page.fill('#fa-groups', 'admins');
    await page.selectOption('#fa-outside', 'phr');
    await page.click('button:has-text("Protect this app")');
    await page.waitForSelector('h1:has-text("Dashboard is protected")');
    const setup = (await page.textContent('#setup-text'))!;
    expect(setup).toContain(`address: ${server.issuer}/forward-auth/traefik`);
    expect(setup).toContain('auth_request /.accouch-auth/check;');
    expect(setup).toContain('forward_auth localhost:');
    const listed = server.cli(['app', 'list']);
    expect(listed.stdout).toMatch(/dashboard\s+console\s+dash\.home\.example\s+admins\s+outside=phr/);
    // A host taken by another app is refused with the reason, on the form.
    await page.goto(`${server.issuer}/admin/forward-auth`);
    await page.fill('#fa-id', 'notes2');
    await page.fill('#fa-urls', notesUrl);
    await page.click('button:has-text("Protect this app")');
    expect(await page.textContent('[role=alert]')).toContain('already belongs to another forward-auth app');
  });
});

describe('Traefik forwardAuth, by headers', () => {
  // Traefik sends a GET to the address with the original request's headers plus X-Forwarded-Method, -Proto,
  // -Host, -Uri and -For; a 2xx lets the request through with authResponseHeaders copied, anything else is
  // returned to the browser as is (status, Location, Set-Cookie).
  const traefik = async (headers: Record<string, string>) => {
    const answer = await get(`${server.issuer}/forward-auth/traefik`, headers);
    return { status: answer.status, headers: { get: (name: string) => header(answer, name) } };
  };
  const asTraefik = (url: string, extra: Record<string, string> = {}) => {
    const u = new URL(url);
    return traefik({
      accept: 'text/html,application/xhtml+xml', 'sec-fetch-mode': 'navigate', 'x-forwarded-method': 'GET', 'x-forwarded-proto': u.protocol.slice(0, -1),
      'x-forwarded-host': u.host, 'x-forwarded-uri': u.pathname + u.search, 'x-forwarded-for': '192.168.1.20', ...extra,
    });
  };

  it('redirects, signs in, trades the single-use code for a host cookie once, then lets requests through', async () => {
    const first = await asTraefik(`${notesUrl}/wiki?page=1`);
    expect(first.status).toBe(302);
    const start = first.headers.get('location')!;
    expect(start).toBe(`${server.issuer}/forward-auth/start?rd=${encodeURIComponent(`${notesUrl}/wiki?page=1`)}`);

    const agent = new Agent();
    const landed = await signIn(agent, server, new URL(start), 'paul', 'paul password 1');
    expect(landed.origin).toBe(notesUrl);
    expect(landed.pathname).toBe('/.accouch-auth/callback');
    const traded = await asTraefik(landed.href);
    expect(traded.status).toBe(302);
    expect(traded.headers.get('location')).toBe(`${notesUrl}/wiki?page=1`);
    const setCookie = traded.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^accouch_fa=[\w-]+\.[\w-]+; Path=\/; Max-Age=\d+; HttpOnly; SameSite=Lax$/);
    const cookie = setCookie.split(';')[0]!;

    const passed = await asTraefik(`${notesUrl}/wiki?page=1`, { cookie });
    expect(passed.status).toBe(200);
    expect(passed.headers.get('remote-user')).toBe('paul');
    // Answered before koa (http/app.ts) with what every answer gets: a request id, the security headers, no caching,
    // and one access line.
    const id = passed.headers.get('x-request-id')!;
    expect(id).toMatch(/^[\w-]+$/);
    expect(passed.headers.get('content-security-policy')).toMatch(/^default-src 'none'; /);
    expect(passed.headers.get('x-frame-options')).toBe('DENY');
    expect(passed.headers.get('cache-control')).toBe('no-store');
    await until(() => logLines(server).some((l) => l.reqId === id), 'the access line of the check');
    expect(logLines(server).filter((l) => l.reqId === id)).toEqual([expect.objectContaining({ msg: 'request', method: 'GET', path: '/forward-auth/traefik', status: 200 })]);
    // Found as koa's router found it: any case, a trailing slash, an absolute-form request target.
    for (const path of ['/Forward-Auth/Traefik', '/forward-auth/traefik/', `${server.issuer}/forward-auth/traefik`]) {
      const u = new URL(`${notesUrl}/wiki?page=1`);
      const spelled = await get(`${server.issuer}/`, {
        accept: 'text/html', 'sec-fetch-mode': 'navigate', 'x-forwarded-proto': u.protocol.slice(0, -1), 'x-forwarded-host': u.host, 'x-forwarded-uri': u.pathname + u.search,
        'x-forwarded-for': '192.168.1.20', cookie,
      }, { path });
      expect(spelled.status, path).toBe(200);
      expect(header(spelled, 'remote-user'), path).toBe('paul');
      // No browser cookie of ours: the proxy would hand it to the app's host.
      expect(header(spelled, 'set-cookie'), path).toBeNull();
    }
    // The code works once; a replay starts over instead of setting another cookie.
    const replay = await asTraefik(landed.href);
    expect(replay.status).toBe(302);
    expect(replay.headers.get('set-cookie')).toBeNull();
    expect(replay.headers.get('location')).toContain('/forward-auth/start?');
    // The cookie is the notes host's: another app's host does not accept it.
    const elsewhere = await asTraefik(`${photosUrl}/`, { cookie });
    expect(elsewhere.status).toBe(302);
    // A wrong bearer token is a 401 for an API client, not a redirect.
    const bearer = await asTraefik(`${notesUrl}/api`, { authorization: 'Bearer not-a-token', accept: 'application/json', 'sec-fetch-mode': '' });
    expect(bearer.status).toBe(401);
  });

  it('accepts an Accouch access token from an API client, with the groups rule of the app', async () => {
    const secret = addClient(server, 'scripts', ['--redirect-uri', 'https://app.example/callback', '--skip-consent']);
    const config = await discover(server, 'scripts', secret);
    const api = { accept: 'application/json', 'sec-fetch-mode': '' };
    const paul = (await codeFlow(server, config, 'paul', 'paul password 1')).tokens.access_token;
    const passed = await asTraefik(`${notesUrl}/api/list`, { ...api, authorization: `Bearer ${paul}` });
    expect(passed.status).toBe(200);
    expect(passed.headers.get('remote-user')).toBe('paul');
    // The photos app is for admins only: the same token is refused there.
    const refused = await asTraefik(`${photosUrl}/api`, { ...api, authorization: `Bearer ${paul}` });
    expect(refused.status).toBe(403);
  });

  it('refuses bad input with a 4xx, never a redirect off the household\'s hosts, never a 500', async () => {
    const base = { 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(notesUrl).host, 'x-forwarded-uri': '/', accept: 'text/html', 'sec-fetch-mode': 'navigate' };
    const cases: Array<[string, Record<string, string>]> = [
      ['no X-Forwarded-Host', { ...base, 'x-forwarded-host': '' }],
      ['no X-Forwarded-Uri', { ...base, 'x-forwarded-uri': '' }],
      ['a URI that changes the origin', { ...base, 'x-forwarded-uri': '//evil.example/' }],
      ['a host with a path', { ...base, 'x-forwarded-host': 'evil.example/x' }],
      ['a bad scheme', { ...base, 'x-forwarded-proto': 'javascript' }],
      ['a host not declared', { ...base, 'x-forwarded-host': 'evil.example' }],
      ['a 10 kB URI', { ...base, 'x-forwarded-uri': `/${'a'.repeat(10_000)}` }],
      ['a 10 kB cookie', { ...base, cookie: `accouch_fa=${'b'.repeat(10_000)}` }],
    ];
    for (const [name, headers] of cases) {
      const res = await traefik(headers);
      const location = res.headers.get('location');
      if (name === 'a 10 kB cookie') expect(res.status, name).toBe(302); // a cookie that is not ours is no cookie
      else expect(res.status, name).toBeGreaterThanOrEqual(400);
      expect(res.status, name).toBeLessThan(500);
      if (location) expect(new URL(location).origin, name).toBe(server.issuer);
    }
    for (const rd of ['https://evil.example/', '//evil.example/', `http://user:pw@${new URL(notesUrl).host}/`, 'javascript:alert(1)', `${'x'.repeat(10_000)}`]) {
      const res = await fetch(`${server.issuer}/forward-auth/start?${new URLSearchParams({ rd })}`, { redirect: 'manual' });
      expect(res.status, rd).toBe(400);
    }
    // Through nginx: a 10 kB path is refused by a proxy or by us, as a 4xx.
    const long = await get(`${notesUrl}/${'a'.repeat(10_000)}`, { accept: 'text/html', 'sec-fetch-mode': 'navigate' });
    expect(long.status).toBeGreaterThanOrEqual(400);
    expect(long.status).toBeLessThan(500);
    expect(server.output()).not.toMatch(/"level":50/);
  });

  it('does not believe X-Forwarded-* from an address that is not a trusted proxy', async () => {
    const res = await get(`${server.issuer}/forward-auth/traefik`, { 'x-forwarded-proto': 'http', 'x-forwarded-host': new URL(notesUrl).host, 'x-forwarded-uri': '/' }, { connect: '127.0.0.2', localAddress: '127.0.0.2' });
    expect(res.status).toBe(403);
  });
});

describe('apps beside the issuer, under one registrable domain', () => {
  // Chromium resolves *.home.test to loopback, as a household's DNS would resolve its names: Accouch at
  // id.home.test, two apps behind one nginx at notes.home.test and wiki.home.test.
  let issuerServer: RunningServer;
  let proxy: Proxy;
  let named: Browser;
  let notes: string;
  let wiki: string;

  beforeAll(async () => {
    const port = await freePort();
    const nginxPort = await freePort();
    notes = `http://notes.home.test:${nginxPort}`;
    wiki = `http://wiki.home.test:${nginxPort}`;
    issuerServer = await startServer({
      port, issuer: `http://id.home.test:${port}`,
      env: { ACCOUCH_NETWORK_TRUSTED_PROXIES: '127.0.0.1,::1', ACCOUCH_LOGIN_SHOW_USER_LIST: 'false' },
    });
    addUser(issuerServer, 'paul', 'paul password 1', ['--groups', 'family']);
    const added = issuerServer.cli(['app', 'add', 'forward-auth', '--url', notes, '--url', wiki, '--id', 'homeapps']);
    expect(added.status, added.stderr).toBe(0);
    const block = added.stdout.split('== nginx ==')[1]!.split('== Caddy ==')[0]!
      .replace('http://127.0.0.1:8096', `http://127.0.0.1:${echo.port}`)
      // nginx reaches Accouch on loopback; the name is the browser's.
      .replace(`http://id.home.test:${port}/`, `http://127.0.0.1:${port}/`);
    proxy = await startNginx(nginxPort, block.replace(/^#.*$/m, ''));
    named = await launchChromium(['--host-resolver-rules=MAP *.home.test 127.0.0.1']);
  });

  afterAll(async () => {
    await named?.close();
    await proxy?.stop();
    await stopCleanly(issuerServer);
  });

  it('one sign-in covers every app on the domain, through one cookie on home.test and no code round trip', async () => {
    const context = await named.newContext();
    const page = await context.newPage();
    const visited: string[] = [];
    page.on('request', (req) => visited.push(req.url()));
    await page.goto(`${notes}/today`);
    expect(new URL(page.url()).host).toBe(new URL(issuerServer.issuer).host);
    await signInWithPassword(page, 'paul', 'paul password 1');
    await page.waitForURL(`${notes}/today`);
    expect((await echoed(page)).headers['remote-user']).toBe('paul');
    const cookie = (await context.cookies()).find((c) => c.name === 'accouch_fa')!;
    expect(cookie.domain).toBe('.home.test');
    expect(visited.some((url) => url.includes('/.accouch-auth/callback'))).toBe(false);
    // The other app needs no sign-in of its own.
    await page.goto(`${wiki}/start`);
    expect(page.url()).toBe(`${wiki}/start`);
    expect((await echoed(page)).headers['remote-user']).toBe('paul');
    await context.close();
  });
});
