// The oauth2-proxy preset with the real oauth2-proxy (v7.15.6, built by test/go-peers.ts) run with exactly the
// configuration `accouch app add oauth2-proxy` prints, behind Debian's nginx auth_request in front of an app
// without a sign-in of its own. Chromium opens the app, is sent to Accouch, signs in, and the app gets the
// X-Auth-Request-* headers; a user outside the allowed group never reaches it.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensurePeer } from '../go-peers.js';
import { launchChromium } from './support/chromium.js';
import { startNginx, type Nginx } from './support/nginx.js';
import { addUser } from './support/rp.js';
import { freePort, startServer, stopCleanly, type RunningServer } from './support/server.js';

let server: RunningServer;
let nginx: Nginx;
let proxy: ChildProcess;
let proxyOutput = '';
let app: Server;
let browser: Browser;
let appUrl: string;
let config: Record<string, unknown>;
/** Requests the app received: path and the headers nginx passed on from oauth2-proxy's answer. */
const seen: Array<{ path: string; headers: IncomingHttpHeaders }> = [];

/** The app: answers every request with who nginx says is there. */
async function startApp(port: number): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/favicon.ico') return void res.writeHead(404).end(); // the browser's own request, not the person's
    seen.push({ path: req.url ?? '/', headers: req.headers });
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }).end(`<!doctype html><title>Media</title><h1>Hello ${String(req.headers['x-preferred-username'] ?? '')}</h1>`);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return server;
}

/** oauth2-proxy's documented nginx auth_request setup: /oauth2/ to oauth2-proxy, every other request asks it first. */
const nginxServer = ({ port, proxyPort, appPort }: { port: number; proxyPort: number; appPort: number }) => `
  server {
    listen 127.0.0.1:${port};
    location /oauth2/ {
      proxy_pass http://127.0.0.1:${proxyPort};
      proxy_set_header Host $http_host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-Proto $scheme;
      proxy_set_header X-Forwarded-Uri $request_uri;
    }
    location = /oauth2/auth {
      proxy_pass http://127.0.0.1:${proxyPort};
      proxy_set_header Host $http_host;
      proxy_set_header X-Real-IP $remote_addr;
      proxy_set_header X-Forwarded-Uri $request_uri;
      proxy_set_header Content-Length "";
      proxy_pass_request_body off;
    }
    location @signin {
      return 302 /oauth2/start?rd=$scheme://$http_host$request_uri;
    }
    location / {
      auth_request /oauth2/auth;
      error_page 401 = @signin;
      auth_request_set $user $upstream_http_x_auth_request_user;
      auth_request_set $email $upstream_http_x_auth_request_email;
      auth_request_set $groups $upstream_http_x_auth_request_groups;
      auth_request_set $username $upstream_http_x_auth_request_preferred_username;
      proxy_set_header X-User $user;
      proxy_set_header X-Email $email;
      proxy_set_header X-Groups $groups;
      proxy_set_header X-Preferred-Username $username;
      proxy_pass http://127.0.0.1:${appPort};
    }
  }`;

beforeAll(async () => {
  const oauth2Proxy = ensurePeer('oauth2-proxy');
  server = await startServer();
  addUser(server, 'alice', 'alice password', ['--groups', 'family,admins']);
  addUser(server, 'bob', 'bob password', ['--groups', 'guests']);
  const [port, proxyPort, appPort] = [await freePort(), await freePort(), await freePort()];
  appUrl = `http://localhost:${port}`;

  const added = server.cli(['app', 'add', 'oauth2-proxy', '--url', appUrl, '--groups', 'family']);
  expect(added.status, added.stderr).toBe(0);
  const toml = /```toml\n([\s\S]*?)\n```/.exec(added.stdout)![1]!;
  config = parseToml(toml) as Record<string, unknown>;
  const dir = mkdtempSync(join(tmpdir(), 'accouch-oauth2-proxy-'));
  writeFileSync(join(dir, 'oauth2-proxy.cfg'), toml);

  app = await startApp(appPort);
  // The printed file as it is; only the listen address comes from the command line (the file says 0.0.0.0:4180,
  // a test takes a free port on loopback).
  proxy = spawn(oauth2Proxy, [`--config=${join(dir, 'oauth2-proxy.cfg')}`, `--http-address=127.0.0.1:${proxyPort}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  proxy.stdout!.on('data', (d) => { proxyOutput += d; });
  proxy.stderr!.on('data', (d) => { proxyOutput += d; });
  let exited = false;
  proxy.once('exit', () => { exited = true; });
  // Ready when its /ping answers (it has fetched Accouch's discovery document by then).
  for (;;) {
    if (exited) throw new Error(`oauth2-proxy exited:\n${proxyOutput}`);
    const ping = await fetch(`http://127.0.0.1:${proxyPort}/ping`).catch(() => undefined);
    if (ping?.ok) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  nginx = await startNginx(nginxServer({ port, proxyPort, appPort }), port);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await nginx?.close();
  if (proxy && proxy.exitCode === null) {
    const exited = new Promise((resolve) => proxy.once('exit', resolve));
    proxy.kill('SIGTERM');
    await exited;
  }
  await new Promise((resolve) => app?.close(resolve));
  await stopCleanly(server);
});

async function signIn(username: string, password: string) {
  const context = await browser.newContext();
  const page = await context.newPage();
  await page.goto(`${appUrl}/films?sort=new`);
  await page.waitForSelector('#username'); // Accouch's sign-in: skip_provider_button sends the browser straight there
  expect(new URL(page.url()).origin).toBe(new URL(server.issuer).origin);
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]:has-text("Sign in")');
  return { context, page };
}

describe('oauth2-proxy, as `accouch app add oauth2-proxy` configures it, behind nginx auth_request', () => {
  it('the printed configuration is the one this oauth2-proxy runs with', () => {
    expect(config).toMatchObject({
      provider: 'oidc', oidc_issuer_url: server.issuer, client_id: 'oauth2-proxy', redirect_url: `${appUrl}/oauth2/callback`,
      code_challenge_method: 'S256', allowed_groups: ['family'], cookie_secure: false, upstreams: ['static://202'], set_xauthrequest: true,
    });
  });

  it('a signed-out browser goes to Accouch, signs in, and comes back to the page it asked for; the app gets the user\'s headers', async () => {
    const { context, page } = await signIn('alice', 'alice password');
    await page.waitForSelector('h1:has-text("Hello alice")').catch(async (error: Error) => {
      throw new Error(`${error.message}\nat ${page.url()}: ${(await page.textContent('body'))?.slice(0, 500)}\noauth2-proxy:\n${proxyOutput.slice(-3000)}`);
    });
    expect(page.url()).toBe(`${appUrl}/films?sort=new`);
    const request = seen.at(-1)!;
    expect(request.path).toBe('/films?sort=new');
    // X-Auth-Request-User is oauth2-proxy's user id: Accouch's opaque, stable subject; the username comes apart.
    expect(request.headers).toMatchObject({ 'x-user': expect.stringMatching(/^[\w-]{16,}$/), 'x-email': 'alice@home.example', 'x-preferred-username': 'alice' });
    expect(String(request.headers['x-groups']).split(',').sort()).toEqual(['admins', 'family']);

    // Signed in: the next page goes straight to the app, no trip to Accouch.
    const before = seen.length;
    const next = await page.goto(`${appUrl}/music`);
    expect(next!.status()).toBe(200);
    expect(seen.length).toBe(before + 1);
    await context.close();
  });

  it('a user outside the allowed group never reaches the app', async () => {
    const before = seen.length;
    const { context, page } = await signIn('bob', 'bob password');
    await page.waitForLoadState('networkidle');
    expect(await page.textContent('body')).not.toContain('Hello');
    expect(seen.length).toBe(before);
    // Still signed out at the app: another page sends bob to sign in again.
    const again = await fetch(`${appUrl}/music`, { redirect: 'manual' });
    expect(again.status).toBe(302);
    await context.close();
  });
});
