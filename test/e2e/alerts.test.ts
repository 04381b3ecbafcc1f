// Sign-in alerts against the real server: here localhost is "outside" (network.trusted names another range).
// Web Push reaches a push service stand-in that decrypts each message with the keys of a subscription the test
// made and checks the VAPID token; email goes through Debian's aiosmtpd with STARTTLS required; the webhook is a
// plain HTTP listener. "This wasn't me" is followed from an alert's link to revoked sessions and refresh tokens.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { aptInstall } from '../apt.js';
import { Agent, formAction } from './support/agent.js';
import { launchChromium } from './support/chromium.js';
import { startPushService, type PushMode, type PushService, type TestSubscription } from './support/push-service.js';
import { addUser, codeFlow, discover } from './support/rp.js';
import { startServer, stopCleanly, type RunningServer } from './support/server.js';
import { startMailServer, type MailServer } from './support/smtp.js';
import { addVirtualAuthenticator, usbSecurityKey } from './support/webauthn.js';

let server: RunningServer;
let push: PushService;
let mail: MailServer;
let hookServer: Server;
const hooks: Array<Record<string, unknown>> = [];
let notes: oidc.Configuration;
let origin: string;
let browser: Browser;

const phoneUa = 'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Mobile Safari/537.36';
const laptopUa = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 14_0) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.0 Safari/605.1.15';

/** A message as the mail server stored it, quoted-printable undone (nodemailer folds long lines). */
const readable = (raw: string) => raw.replace(/=\r?\n/g, '').replace(/=([0-9A-F]{2})/g, (_, hex: string) => String.fromCharCode(parseInt(hex, 16)));
/** The Subject header, RFC 2047 encoded-words undone. */
const subjectOf = (raw: string) => (/^Subject: (.*)$/m.exec(raw)?.[1] ?? '')
  .replace(/=\?UTF-8\?Q\?([^?]*)\?=/gi, (_, q: string) => q.replace(/_/g, ' ').replace(/=([0-9A-F]{2})/g, (__, hex: string) => String.fromCharCode(parseInt(hex, 16))));
const mailTo = (address: string, text: string) => (raw: string) => new RegExp(`^To: ${address}`, 'mi').test(raw) && readable(raw).includes(text);

/** Opens an account page with a password sign-in (the policy lets a password alone in from outside here). */
async function openAccount(agent: Agent, username: string, password: string, path = '/account/alerts'): Promise<string> {
  let { res, url } = await agent.follow(`${server.issuer}${path}`, origin);
  let html = await res.text();
  if (html.includes('name="password"')) {
    const post = await agent.post(new URL(formAction(html, '/password'), origin), { username, password });
    ({ res, url } = await agent.follow(url, origin, post));
    html = await res.text();
  }
  expect(url.pathname, html.slice(0, 300)).toBe(path);
  return html;
}

async function subscribePhone(agent: Agent): Promise<TestSubscription> {
  const sub = push.subscribe();
  const res = await agent.request(`${server.issuer}/account/alerts/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(sub.json) });
  expect(res.status).toBe(201);
  return sub;
}

const signInToNotes = (username: string, password: string) =>
  codeFlow(server, notes, username, password, { scope: 'openid offline_access', prompt: 'consent' }, new Agent({ 'user-agent': laptopUa }));

/** Sets how the push service answers, signs Paul in to Notes from outside, and waits until a push of it arrives. */
async function signInAndPush(mode: PushMode) {
  push.mode = mode;
  const before = push.arrivals.length;
  await signInToNotes('paul', 'paul password 1');
  await push.waitForArrivals(before + 1);
}

beforeAll(async () => {
  if (!existsSync('/usr/bin/openssl')) aptInstall('openssl', 'The alert tests make a certificate with openssl: run `sudo apt-get install -y openssl` and try again.');
  const dir = mkdtempSync(join(tmpdir(), 'accouch-alerts-'));
  // One certificate for the push service and the mail server; the server trusts it through NODE_EXTRA_CA_CERTS.
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '2', '-subj', '/CN=localhost',
    '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  push = await startPushService({ key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') });
  mail = await startMailServer({ certFile: join(dir, 'cert.pem'), keyFile: join(dir, 'key.pem') });
  hookServer = createServer((req, res) => {
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => { hooks.push(JSON.parse(body)); res.writeHead(204).end(); });
  });
  await new Promise<void>((resolve) => hookServer.listen(0, '127.0.0.1', resolve));
  writeFileSync(join(dir, 'accouch.yaml'), [
    'clients:',
    '  - { id: notes, name: Notes, secret: notes-secret-0123456789, redirectUris: ["https://app.example/callback"], skipConsent: true }',
  ].join('\n'));
  server = await startServer({
    env: {
      ACCOUCH_CONFIG: join(dir, 'accouch.yaml'), ACCOUCH_NETWORK_TRUSTED: '10.255.255.0/24', ACCOUCH_POLICY_OUTSIDE: 'any',
      ACCOUCH_SMTP_HOST: '127.0.0.1', ACCOUCH_SMTP_PORT: String(mail.port), ACCOUCH_SMTP_SECURITY: 'starttls',
      ACCOUCH_NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${(hookServer.address() as { port: number }).port}/hook`,
      ACCOUCH_NOTIFY_RETRY_SECONDS: '1', NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem'),
    },
  });
  origin = new URL(server.issuer).origin;
  addUser(server, 'olivia', 'olivia password 1', ['--groups', 'admins']);
  addUser(server, 'paul', 'paul password 1');
  notes = await discover(server, 'notes', 'notes-secret-0123456789');
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await stopCleanly(server);
  await push?.close();
  await mail?.close();
  hookServer?.close();
});

describe('alerts of a sign-in from outside', () => {
  let phone: Agent;
  let sub: TestSubscription;

  it('reach the phone by Web Push, encrypted for it and signed with our VAPID key, and name what happened', async () => {
    phone = new Agent({ 'user-agent': phoneUa });
    const page = await openAccount(phone, 'paul', 'paul password 1');
    const vapidKey = /data-key="([\w-]+)"/.exec(page)![1]!;
    sub = await subscribePhone(phone);
    expect(await openAccount(phone, 'paul', 'paul password 1')).toContain('Chrome on Android');
    // Anything else than a browser's subscription is refused with a 400.
    const bad = await phone.request(`${server.issuer}/account/alerts/push`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ endpoint: 'http://example.org/x', keys: {} }) });
    expect(bad.status).toBe(400);

    const { tokens } = await signInToNotes('paul', 'paul password 1');
    const message = await push.waitFor((m) => m.subscription === sub.id && m.payload.kind === 'outside' && String(m.payload.body).includes('Notes'), 'alert of the sign-in to Notes');
    expect(message.payload.title).toBe('Sign-in from outside home');
    expect(message.payload.body).toMatch(/^You signed in to Notes from outside the home network \(127\.0\.0\.1\), on Safari on macOS, in a browser never used before at \d{4}-\d\d-\d\d \d\d:\d\d UTC\.$/);
    expect(String(message.payload.url)).toMatch(new RegExp(`^${server.issuer}/alerts\\?token=[\\w-]+\\.[\\w-]+$`));
    expect(message.vapid.publicKey).toBe(vapidKey);
    expect(message.vapid.claims).toMatchObject({ aud: push.origin, sub: 'mailto:accouch@localhost' });
    expect(message.headers.urgency).toBe('high');
    expect(push.problems).toEqual([]);
    for (const secret of [tokens.access_token, tokens.refresh_token!, 'paul password 1']) expect(JSON.stringify(message.payload)).not.toContain(secret);
  });

  it('reach the mailbox over STARTTLS, with the owner told of the household\'s outside sign-ins', async () => {
    // aiosmtpd was started with a certificate and requires STARTTLS: a message it stored came over TLS.
    const ownRaw = await mail.waitFor(mailTo('paul@home.example', 'You signed in to Notes'), 'Paul\'s alert');
    const own = readable(ownRaw);
    expect(subjectOf(ownRaw)).toBe('Accouch: Sign-in from outside home');
    expect(own).toMatch(/^From: Accouch <accouch@localhost>$/m);
    expect(own).toContain('Content-Type: text/plain');
    expect(own).toContain('Content-Type: text/html');
    expect(own).toMatch(new RegExp(`${server.issuer}/alerts\\?token=[\\w-]+\\.[\\w-]+`));
    const owner = readable(await mail.waitFor(mailTo('olivia@home.example', 'Paul Example (paul) signed in to Notes'), 'the owner\'s copy'));
    expect(owner).toContain('from outside the home network (127.0.0.1)');
  });

  it('reach the webhook once per sign-in, without the link', async () => {
    await expect.poll(() => hooks.find((h) => h.app === 'Notes'), { timeout: 30_000 }).toBeTruthy();
    const hook = hooks.find((h) => h.app === 'Notes')!;
    expect(hook).toMatchObject({ kind: 'outside', title: 'Sign-in from outside home', user: 'paul', network: 'outside', app: 'Notes' });
    expect(JSON.stringify(hooks)).not.toContain('/alerts');
    expect(hooks.filter((h) => h.app === 'Notes')).toHaveLength(1);
  });

  it('"Notify me on this device" in Chromium: the page subscribes with our key and posts the subscription', async () => {
    const context = await browser.newContext({ userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36' });
    await context.grantPermissions(['notifications'], { origin });
    const page = await context.newPage();
    await page.goto(`${server.issuer}/account/alerts`);
    await page.fill('#username', 'olivia');
    await page.fill('#password', 'olivia password 1');
    await page.press('#password', 'Enter');
    await page.waitForURL(`${server.issuer}/account/alerts`);
    // Headless Chromium here has no push service to register with: it refuses, and the page says so.
    await page.click('#notify-me');
    await page.waitForSelector('#push-status:has-text("Could not turn on notifications")');
    expect(await page.textContent('#push-status')).toContain('Registration failed');

    // Past that point the browser would hand back its push service's subscription: the stand-in's, here. What the
    // page does with it (the key it subscribes with, the POST) is the real page's script and service worker.
    const sub = push.subscribe();
    await page.addInitScript((json) => {
      PushManager.prototype.getSubscription = () => Promise.resolve(null);
      PushManager.prototype.subscribe = function (options?: PushSubscriptionOptionsInit) {
        const key = new Uint8Array(options!.applicationServerKey as ArrayBuffer);
        // Kept across the reload the page does once the device is saved.
        sessionStorage.setItem('subscribed-with', btoa(String.fromCharCode(...key)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, ''));
        return Promise.resolve({ toJSON: () => json } as unknown as PushSubscription);
      };
    }, sub.json);
    await page.reload();
    const vapidKey = await page.getAttribute('#notify-me', 'data-key');
    await page.click('#notify-me');
    await page.waitForSelector('.account-list li:has-text("Chrome on Linux")');
    expect(await page.evaluate(() => sessionStorage.getItem('subscribed-with'))).toBe(vapidKey);
    const registrations = await page.evaluate(() => navigator.serviceWorker.getRegistrations().then((all) => all.map((r) => r.active?.scriptURL)));
    expect(registrations).toEqual([`${server.issuer}/static/push-sw.js`]);

    // The owner hears of Paul's outside sign-ins on that browser.
    await signInToNotes('paul', 'paul password 1');
    // Her own earlier sign-in's alert may reach the new device first: wait for Paul's.
    const message = await push.waitFor((m) => m.subscription === sub.id && String(m.payload.body).includes('(paul)'), 'the owner\'s alert');
    expect(message.payload.body).toMatch(/^Paul Example \(paul\) signed in to Notes from outside the home network/);
    await context.close();
  });

  it('never hold up a sign-in: with a push service that hangs, sign-ins answer while the push waits', async () => {
    await signInAndPush('hang');
    // The alert's push is on the wire and unanswered; another sign-in still completes.
    const during = push.messages.length;
    const { tokens } = await signInToNotes('paul', 'paul password 1');
    expect(tokens.id_token).toBeTruthy();
    expect(push.unanswered()).toBeGreaterThan(0);
    expect(push.messages.length).toBe(during);
    // Once the service answers again, the retries deliver what waited.
    push.mode = 'accept';
    await expect.poll(() => push.messages.length - during, { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
  });

  it('deliver a queued alert once after a restart, and forget a subscription the push service says is gone', async () => {
    await signInAndPush('fail');
    const queued = push.messages.length;
    server = await server.restart();
    push.mode = 'accept';
    const delivered = await push.waitFor((m) => push.messages.indexOf(m) >= queued, 'the queued alert after the restart');
    expect(delivered.payload.title).toBe('Sign-in from outside home');
    // Another alert after it, then: the first came exactly once.
    await signInToNotes('paul', 'paul password 1');
    await push.waitFor((m) => m.payload.tag !== delivered.payload.tag && push.messages.indexOf(m) > push.messages.indexOf(delivered), 'the next alert');
    expect(push.messages.filter((m) => m.payload.tag === delivered.payload.tag)).toHaveLength(1);

    await signInAndPush('gone');
    await expect.poll(async () => (await openAccount(phone, 'paul', 'paul password 1')).includes('Chrome on Android'), { timeout: 30_000 }).toBe(false);
    push.mode = 'accept';
  });
});

describe('"This wasn\'t me"', () => {
  it('from the alert\'s link, signs the person out everywhere, revokes refresh tokens, tells the owner, and works once', async () => {
    const phone = new Agent({ 'user-agent': phoneUa });
    await openAccount(phone, 'paul', 'paul password 1');
    const { tokens } = await signInToNotes('paul', 'paul password 1');
    const alertMail = readable(await mail.waitFor((raw) => mailTo('paul@home.example', 'You signed in to Notes')(raw), 'an alert'));
    const link = new RegExp(`${server.issuer}/alerts\\?token=[\\w-]+\\.[\\w-]+`).exec(alertMail)![0];

    // Looking changes nothing, and needs no sign-in.
    const stranger = new Agent();
    for (let i = 0; i < 2; i += 1) {
      const page = await stranger.get(link);
      expect(page.status).toBe(200);
      expect(await page.text()).toContain('This wasn\'t me: sign out everywhere');
    }
    const refreshed = await oidc.refreshTokenGrant(notes, tokens.refresh_token!);
    const tampered = link.slice(0, -1) + (link.endsWith('A') ? 'B' : 'A');
    expect((await stranger.get(tampered)).status).toBe(404);

    const token = new URL(link).searchParams.get('token')!;
    const confirmed = await stranger.post(`${server.issuer}/alerts`, { token });
    expect(confirmed.status).toBe(200);
    expect(await confirmed.text()).toContain('Signed out everywhere');
    await expect(oidc.refreshTokenGrant(notes, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const signedOut = await phone.get(`${server.issuer}/account/alerts`);
    expect([302, 303]).toContain(signedOut.status);
    expect(new URL(signedOut.headers.get('location')!, origin).pathname).not.toMatch(/^\/account\/alerts/);

    const again = await stranger.post(`${server.issuer}/alerts`, { token });
    expect(again.status).toBe(409);
    expect(await again.text()).toContain('works once');
    const owner = await mail.waitFor(mailTo('olivia@home.example', 'Paul Example (paul) said a sign-in was not them'), 'the owner told');
    expect(subjectOf(owner)).toBe('Accouch: "This wasn\'t me"');
    // No link token in any log line.
    expect(server.output()).not.toContain(token);
  });

  it('makes the next sign-in use the strongest factor: the security key, not the authenticator app', async () => {
    {
      addUser(server, 'rita', 'rita password 1');
      const context = await browser.newContext();
      const page = await context.newPage();
      await addVirtualAuthenticator(page, usbSecurityKey);
      await page.goto(`${server.issuer}/account/totp`);
      await page.fill('#username', 'rita');
      await page.fill('#password', 'rita password 1');
      await page.press('#password', 'Enter');
      await page.waitForSelector('#totp-secret');
      const secret = (await page.textContent('#totp-secret'))!.replace(/\s+/g, '');
      await page.fill('#totp-code', await generate({ secret }));
      await page.press('#totp-code', 'Enter');
      await page.waitForSelector('text=Authenticator app set up.');
      await page.click('a:has-text("Add a security key")');
      await page.fill('#credential-name', 'Blue key');
      await page.click('button:has-text("Add a security key")');
      await page.waitForSelector('ul[aria-label="Security keys"] li:has-text("Blue key")');

      // Before: a password, then the app's code or the key.
      const secondStep = async () => {
        const agent = new Agent();
        let { res, url } = await agent.follow(`${server.issuer}/account`, origin);
        const post = await agent.post(new URL(formAction(await res.text(), '/password'), origin), { username: 'rita', password: 'rita password 1' });
        ({ res, url } = await agent.follow(url, origin, post));
        return res.text();
      };
      const before = await secondStep();
      expect(before).toContain('id="totp"');
      expect(before).toContain('id="security-key"');

      const alertMail = readable(await mail.waitFor(mailTo('rita@home.example', 'You signed in from outside the home network'), 'Rita\'s outside sign-in'));
      const link = new RegExp(`${server.issuer}/alerts\\?token=[\\w-]+\\.[\\w-]+`).exec(alertMail)![0];
      const notMe = await context.newPage();
      await notMe.goto(link);
      await notMe.click('button:has-text("This wasn\'t me")');
      await notMe.waitForSelector('h1:has-text("Signed out everywhere")');

      const after = await secondStep();
      expect(after).not.toContain('id="totp"');
      expect(after).toContain('id="security-key"');
      await page.goto(`${server.issuer}/account`);
      await page.fill('#password', 'rita password 1');
      await page.press('#password', 'Enter');
      await page.waitForSelector('h1:has-text("Confirm it is you")');
      expect(await page.locator('#totp').count()).toBe(0);
      await page.click('button:has-text("Use your security key or passkey")');
      await page.waitForURL(`${server.issuer}/account`);
      await context.close();
    }
  });
});

describe('email', () => {
  it('the owner sends a test message from the console, or from the command line', async () => {
    const owner = new Agent();
    const page = await openAccount(owner, 'olivia', 'olivia password 1', '/admin/alerts');
    expect(page).toContain(`through 127.0.0.1:${mail.port} (starttls)`);
    const sent = await owner.post(`${server.issuer}/admin/alerts/test-email`, { to: 'paul@home.example' });
    expect(sent.status).toBe(200);
    expect(await sent.text()).toContain('Test message sent to paul@home.example');
    await mail.waitFor((raw) => subjectOf(raw) === 'Accouch: test message' && /^To: paul@home\.example/m.test(raw), 'the console\'s test message');
    const refused = await owner.post(`${server.issuer}/admin/alerts/test-email`, { to: 'not an address' });
    expect(refused.status).toBe(400);
    expect(await refused.text()).toContain('The test message was not sent: not an address is not an email address');

    const result = server.cli(['test-email', 'olivia@home.example']);
    expect(result.status, result.stderr).toBe(0);
    expect(result.stdout).toContain('sent a test message to olivia@home.example');
    await mail.waitFor((raw) => subjectOf(raw) === 'Accouch: test message' && /^To: olivia@home\.example/m.test(raw), 'the command line\'s test message');
  });
});
