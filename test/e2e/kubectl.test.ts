// kubectl signs in through Accouch: Debian's kubectl with a kubeconfig exactly as `accouch kubeconfig --issuer-ca`
// writes it (Node runs Accouch's plugin, fetched from Accouch and pinned by sha256), against kube-apiserver's own
// authenticator (test/go/apiserver, k8s.io/apiserver) loading the AuthenticationConfiguration that
// `accouch integrate kube-apiserver --out-dir --issuer-ca` wrote, over TLS with a private CA; Accouch itself is
// behind Debian's nginx with a certificate from that CA. The browser step is headless Chromium on the address the
// plugin prints; then the cache, the silent refresh after the id_token expires (once for two parallel calls), the
// device flow, and tokens the API server must refuse.
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { generateKeyPair, SignJWT } from 'jose';
import * as tls from 'node:tls';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { ensurePeer } from '../go-peers.js';
import { launchChromium } from './support/chromium.js';
import { ensureKubectl, getWithToken, makeCertificates, startApiserver, type Apiserver, type Certificates } from './support/kube-apiserver.js';
import { startNginx, tlsProxyServer, type Nginx } from './support/nginx.js';
import { addClient, addUser, callback, codeFlow, discover } from './support/rp.js';
import { freePort, runCli, startServer, type RunningServer, stopCleanly, until } from './support/server.js';
import { parseMetrics, sample, scrape } from './support/metrics.js';

/** The kubectl client's id_token lifetime on this server (ttl.kubectlIdToken): short, to see it expire. */
const idTokenTtl = 20;
/** The plugin uses a cached id_token only while it has at least this long left (minValiditySeconds). */
const margin = 10;

let kubectl: string;
let certificates: Certificates;
let server: RunningServer;
let ingress: Nginx;
let apiserver: Apiserver;
let browser: Browser;
/** What `integrate kube-apiserver --out-dir` wrote. */
let apiserverFiles: string;

beforeAll(async () => {
  kubectl = ensureKubectl();
  certificates = makeCertificates();
  // The apps this test plays (openid-client, the sign-in agent) trust the household's CA, as those on the LAN do.
  tls.setDefaultCACertificates([...tls.getCACertificates('default'), readFileSync(certificates.caFile, 'utf8')]);
  // kube-apiserver takes only an https issuer: Accouch behind nginx with a certificate from the private CA.
  const tlsPort = await freePort();
  server = await startServer({ issuer: `https://localhost:${tlsPort}`, env: { ACCOUCH_TTL_KUBECTL_ID_TOKEN: String(idTokenTtl), ACCOUCH_TRUST_PROXY: 'true', ACCOUCH_METRICS_TOKEN: metricsToken } });
  ingress = await startNginx(tlsProxyServer({ port: tlsPort, upstream: `http://127.0.0.1:${server.port}`, ...certificates }), tlsPort);
  addUser(server, 'alice', 'alice password', ['--groups', 'admins,family']);
  apiserverFiles = mkdtempSync(join(tmpdir(), 'accouch-apiserver-'));
  const integrate = server.cli(['integrate', 'kube-apiserver', '--out-dir', apiserverFiles, '--issuer-ca', certificates.caFile]);
  expect(integrate.status, integrate.stderr).toBe(0);
  apiserver = await startApiserver({ authenticationConfig: join(apiserverFiles, 'authentication-config.yaml'), certificates });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await apiserver?.close();
  await ingress?.close();
  await stopCleanly(server);
});

/** A browser on the person's machine, which trusts the household's CA (the test's Chromium is told to). */
const newBrowserContext = () => browser.newContext({ ignoreHTTPSErrors: true });

/** A laptop: its own home directory (so its own ~/.kube), a kubeconfig from `accouch kubeconfig`, and a browser opener that only records. */
interface Laptop { home: string; kubeconfig: string; opened: string; env: Record<string, string>; cacheDir: string }

function laptop(flags: string[] = [], edit: (exec: { command: string; args: string[] }) => void = () => {}): Laptop {
  const home = mkdtempSync(join(tmpdir(), 'accouch-laptop-'));
  const result = server.cli(['kubeconfig', '--server', apiserver.url, '--certificate-authority', apiserver.caFile, '--issuer-ca', certificates.caFile, ...flags]);
  expect(result.status, result.stderr).toBe(0);
  const config = parse(result.stdout) as { users: Array<{ user: { exec: { command: string; args: string[] } } }> };
  const exec = config.users[0]!.user.exec;
  const kubelogin = flags.includes('kubelogin');
  expect(exec.command).toBe(kubelogin ? 'kubectl' : 'node');
  expect(exec.args.join(' ')).not.toMatch(/npx|npm/);
  edit(exec);
  const kubeconfig = join(home, 'kubeconfig.yaml');
  writeFileSync(kubeconfig, stringify(config));
  // The laptop has kubectl and Node.js (this one) and nothing of Accouch; xdg-open records what it was asked to
  // open, so the test sees the plugin try (and no real browser starts).
  const bin = join(home, 'bin');
  const opened = join(home, 'opened.txt');
  mkdirSync(bin);
  symlinkSync(process.execPath, join(bin, 'node'));
  // With --plugin kubelogin: kubelogin installed as kubectl's oidc-login plugin (as `kubectl krew install oidc-login` does).
  if (kubelogin) symlinkSync(ensurePeer('kubelogin'), join(bin, 'kubectl-oidc_login'));
  writeFileSync(join(bin, 'xdg-open'), `#!/bin/sh\necho "$1" >> '${opened}'\n`);
  chmodSync(join(bin, 'xdg-open'), 0o755);
  writeFileSync(opened, '');
  return { home, kubeconfig, opened, cacheDir: join(home, '.kube', 'cache', 'accouch'), env: { PATH: `${bin}:/usr/bin:/bin`, HOME: home, KUBECONFIG: kubeconfig } };
}

interface KubectlRun {
  /** Resolves with the first match of `pattern` in what kubectl printed on stderr so far or later. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  done: Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>;
  kill(): void;
}

function runKubectl(on: Laptop, args = ['get', 'namespaces']): KubectlRun {
  const started = Date.now();
  // Its own process group, so kill() also ends the plugin kubectl started (which holds kubectl's stderr open).
  const child = spawn(kubectl, args, { env: on.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ pattern: RegExp; resolve: (m: RegExpMatchArray) => void }> = [];
  child.stdout.on('data', (d) => { stdout += d; });
  child.stderr.on('data', (d) => {
    stderr += d;
    for (const waiter of waiters.splice(0)) {
      const match = stderr.match(waiter.pattern);
      if (match) waiter.resolve(match);
      else waiters.push(waiter);
    }
  });
  const done = new Promise<{ code: number | null; stdout: string; stderr: string; ms: number }>((resolve) => {
    child.once('close', (code) => resolve({ code, stdout, stderr, ms: Date.now() - started }));
  });
  return {
    done,
    kill: () => process.kill(-child.pid!, 'SIGTERM'),
    waitFor: (pattern) => new Promise((resolve, reject) => {
      const match = stderr.match(pattern);
      if (match) return resolve(match);
      waiters.push({ pattern, resolve });
      void done.then(() => reject(new Error(`kubectl ended before printing ${pattern}:\n${stderr}`)));
    }),
  };
}

const signInUrl = /https?:\/\/\S+\/auth\?\S+/;
const metricsToken = 'kubectl-test-scrape-token-0123456789';
/** Refresh tokens issued so far, from the server's own counter (exact at once, unlike the batched access log). */
const refreshes = async () => sample(parseMetrics((await scrape(`http://127.0.0.1:${server.port}/metrics`, metricsToken)).text),
  'accouch_tokens_issued_total', { grant_type: 'refresh_token', token: 'refresh_token' });
const cacheEntry = (on: Laptop) => {
  const [file] = readdirSync(on.cacheDir).filter((f) => f.endsWith('.json'));
  return JSON.parse(readFileSync(join(on.cacheDir, file!), 'utf8')) as { idToken: string; refreshToken: string; expiresAt: number };
};
/** Waits until the plugin no longer trusts the cached id_token (less than `margin` seconds left). */
const waitForExpiry = async (on: Laptop) => {
  const wait = (cacheEntry(on).expiresAt - margin + 1) * 1000 - Date.now();
  if (wait > 0) await new Promise((r) => setTimeout(r, wait));
};

async function signInOnPage(page: Page, username: string, password: string) {
  await page.waitForSelector('#username');
  await page.fill('#username', username);
  await page.fill('#password', password);
  await page.click('button[type=submit]:has-text("Sign in")');
}

/** On the device page showing the code: confirm, sign in as alice; then kubectl (waiting meanwhile) lists the namespaces. */
async function confirmDeviceAsAlice(page: Page, run: KubectlRun) {
  await page.click('button:has-text("Yes, connect it")');
  await signInOnPage(page, 'alice', 'alice password');
  await page.waitForSelector('h1:has-text("Device connected")');
  await page.context().close();
  const result = await run.done;
  expect(result.code, result.stderr).toBe(0);
  expect(result.stdout).toContain('accouch-home');
  return result;
}

describe('kubectl with Accouch\'s credential plugin', () => {
  let alice: Laptop;

  it('first call: the plugin prints a sign-in address and opens it; after signing in, kubectl lists the namespaces as accouch:alice', async () => {
    alice = laptop();
    const run = runKubectl(alice);
    const [url] = await run.waitFor(signInUrl);
    const context = await newBrowserContext();
    const page = await context.newPage();
    await page.goto(url);
    await signInOnPage(page, 'alice', 'alice password');
    await page.waitForSelector('h1:has-text("Signed in")');
    expect(await page.textContent('body')).toContain('You can close this tab');
    expect(new URL(page.url()).origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    await context.close();

    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/^NAME\s+/);
    for (const name of ['default', 'kube-system', 'accouch-home']) expect(result.stdout).toContain(name);
    expect(readFileSync(alice.opened, 'utf8').trim()).toBe(url);
    const seen = apiserver.requests.at(-1)!;
    expect(seen.path).toBe('/api/v1/namespaces');
    expect(seen.user).toEqual({ username: 'accouch:alice', groups: ['accouch:admins', 'accouch:family', 'system:authenticated'] });
    // The plugin came from Accouch, once, and is cached under the sha256 the kubeconfig pins.
    const [plugin] = readdirSync(alice.cacheDir).filter((f) => f.startsWith('kubectl-credential-'));
    expect(plugin).toMatch(/^kubectl-credential-[0-9a-f]{64}\.mjs$/);

    // The cache: a private directory and file, holding an id_token that lives ttl.kubectlIdToken seconds.
    expect(statSync(alice.cacheDir).mode & 0o777).toBe(0o700);
    for (const file of readdirSync(alice.cacheDir)) expect(statSync(join(alice.cacheDir, file)).mode & 0o777).toBe(0o600);
    const entry = cacheEntry(alice);
    const claims = JSON.parse(Buffer.from(entry.idToken.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number; aud: string };
    expect(claims.exp - claims.iat).toBe(idTokenTtl);
    expect(claims.aud).toBe('kubectl');
    expect(entry.refreshToken).toBeTruthy();
  });

  it('second call: the cached id_token, no browser, no token request; kubectl auth whoami shows the user', async () => {
    const before = { entry: cacheEntry(alice), refreshes: await refreshes() };
    const result = await runKubectl(alice).done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('accouch-home');
    const whoami = await runKubectl(alice, ['auth', 'whoami', '-o', 'json']).done;
    expect(whoami.code, whoami.stderr).toBe(0);
    expect(JSON.parse(whoami.stdout).status.userInfo).toMatchObject({ username: 'accouch:alice', groups: ['accouch:admins', 'accouch:family', 'system:authenticated'] });
    expect(result.stderr).not.toMatch(signInUrl);
    expect(readFileSync(alice.opened, 'utf8').trim().split('\n')).toHaveLength(1);
    expect(result.ms).toBeLessThan(8_000);
    expect(cacheEntry(alice)).toEqual(before.entry);
    expect(await refreshes()).toBe(before.refreshes);
  });

  it('after the id_token expires: a silent refresh (the refresh token rotates), no browser', async () => {
    await waitForExpiry(alice);
    const before = { entry: cacheEntry(alice), refreshes: await refreshes() };
    const result = await runKubectl(alice).done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('accouch-home');
    expect(result.stderr).not.toMatch(signInUrl);
    expect(await refreshes()).toBe(before.refreshes + 1);
    const after = cacheEntry(alice);
    expect(after.idToken).not.toBe(before.entry.idToken);
    expect(after.refreshToken).not.toBe(before.entry.refreshToken);
    expect(after.expiresAt).toBeGreaterThan(before.entry.expiresAt);
    expect(apiserver.requests.at(-1)!.user?.username).toBe('accouch:alice');
  });

  it('two kubectl calls at once after expiry refresh once: the second waits and uses the first one\'s tokens', async () => {
    await waitForExpiry(alice);
    const before = await refreshes();
    const results = await Promise.all([runKubectl(alice).done, runKubectl(alice).done]);
    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.stdout).toContain('accouch-home');
      expect(result.stderr).not.toMatch(signInUrl);
    }
    // A second refresh with the same (rotated) token would have been reuse, and revoked the grant.
    expect(await refreshes()).toBe(before + 1);
    expect(server.output()).not.toMatch(/"event":"grant.revoked"/);
  });
});

describe('kubectl with --device', () => {
  it('prints an address and a code; once confirmed in a browser elsewhere, kubectl lists the namespaces', async () => {
    const bob = laptop(['--device']);
    const run = runKubectl(bob);
    const [, verificationUri, userCode] = await run.waitFor(/open (\S+) on any device and enter the code\s+([A-Z]{4}-[A-Z]{4})/);
    expect(verificationUri).toBe(`${server.issuer}/device`);

    const context = await newBrowserContext(); // another device: no session there
    const page = await context.newPage();
    await page.goto(verificationUri!);
    await page.fill('[name=user_code]', userCode!);
    await page.click('button:has-text("Continue")');
    await page.waitForSelector(`text=${userCode}`);
    const result = await confirmDeviceAsAlice(page, run);
    expect(result.stderr).not.toMatch(signInUrl);
    expect(readFileSync(bob.opened, 'utf8')).toBe(''); // the device flow is for machines without a browser
    expect(apiserver.requests.at(-1)!.user?.username).toBe('accouch:alice');
  });
});

describe('kubectl with kubelogin (--plugin kubelogin)', () => {
  /** The first address kubelogin asked xdg-open to open. */
  const opened = async (on: Laptop, run: KubectlRun): Promise<string> => {
    let ended = false;
    void run.done.then(() => { ended = true; });
    for (;;) {
      const url = readFileSync(on.opened, 'utf8').trim().split('\n')[0];
      if (url) return url;
      if (ended) throw new Error(`kubectl ended before kubelogin opened a browser:\n${(await run.done).stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };
  const kubeloginCache = (on: Laptop) => join(on.home, '.kube', 'cache', 'oidc-login');
  let dave: Laptop;

  it('first call: kubelogin opens the browser on its loopback address, the person signs in at Accouch, kubectl lists the namespaces', async () => {
    dave = laptop(['--plugin', 'kubelogin']);
    const run = runKubectl(dave);
    const url = await opened(dave, run);
    expect(url).toMatch(/^http:\/\/localhost:\d+\/?$/);
    const context = await newBrowserContext();
    const page = await context.newPage();
    await page.goto(url);
    await signInOnPage(page, 'alice', 'alice password');
    await page.waitForURL(/^http:\/\/localhost:\d+\//);
    await context.close();

    const result = await run.done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('accouch-home');
    expect(apiserver.requests.at(-1)!.user).toEqual({ username: 'accouch:alice', groups: ['accouch:admins', 'accouch:family', 'system:authenticated'] });
    expect(readdirSync(kubeloginCache(dave)).length).toBeGreaterThan(0);
  });

  it('after the id_token expires: kubelogin refreshes silently, no browser', async () => {
    const idToken = () => {
      const files = readdirSync(kubeloginCache(dave)).filter((f) => !f.endsWith('.lock'));
      return (JSON.parse(readFileSync(join(kubeloginCache(dave), files[0]!), 'utf8')) as { id_token: string }).id_token;
    };
    const before = { token: idToken(), refreshes: await refreshes() };
    const exp = (JSON.parse(Buffer.from(before.token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
    const wait = (exp + 1) * 1000 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    const result = await runKubectl(dave).done;
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('accouch-home');
    expect(await refreshes()).toBe(before.refreshes + 1);
    expect(idToken()).not.toBe(before.token);
    expect(readFileSync(dave.opened, 'utf8').trim().split('\n')).toHaveLength(1);
  });
  it('--device: kubelogin opens the verification address with the code, the person confirms and signs in, kubectl lists the namespaces', async () => {
    const erin = laptop(['--plugin', 'kubelogin', '--device']);
    const run = runKubectl(erin);
    const url = await opened(erin, run);
    expect(url).toMatch(new RegExp(`^${server.issuer}/device\\?user_code=`));
    const context = await newBrowserContext(); // the phone: no session there
    const page = await context.newPage();
    await page.goto(url);
    await confirmDeviceAsAlice(page, run);
    expect(apiserver.requests.at(-1)!.user?.username).toBe('accouch:alice');
  });
});

describe('kube-apiserver\'s authenticator refuses what it must', () => {
  /** A request to the apiserver and its record of it, whose line reaches us through a pipe, maybe after the answer. */
  const asApiserver = async (path: string, token: string) => {
    const before = apiserver.requests.length;
    const answer = await getWithToken(`${apiserver.url}${path}`, token, apiserver.caFile);
    await until(() => apiserver.requests.length > before, `the apiserver's record of ${path}`);
    return { ...answer, record: apiserver.requests.at(-1)! };
  };

  it('accepts a kubectl id_token, and refuses one for another audience, a tampered one, a foreign signature, and none', async () => {
    // A kubectl id_token from a code flow as the plugin makes it (loopback redirect; the port is never contacted).
    const kubectlClient = await discover(server, 'kubectl');
    const { tokens: kube } = await codeFlow(server, kubectlClient, 'alice', 'alice password', { redirect_uri: 'http://127.0.0.1:9/callback', scope: 'openid profile email groups' });
    const idToken = kube.id_token!;
    // Each request waits for its record, so that no record comes late into the next one's place.
    expect((await asApiserver('/api/v1/namespaces', idToken)).status).toBe(200);

    const secret = addClient(server, 'wiki', ['--redirect-uri', callback]);
    const { tokens } = await codeFlow(server, await discover(server, 'wiki', secret), 'alice', 'alice password');
    const otherAudience = await asApiserver('/api/v1/namespaces', tokens.id_token!);
    expect(otherAudience.status).toBe(401);
    expect(JSON.parse(otherAudience.body)).toEqual({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    expect(otherAudience.record.refused).toMatch(/audience/);

    const [header, payload, signature] = idToken.split('.');
    const claims = JSON.parse(Buffer.from(payload!, 'base64url').toString()) as Record<string, unknown>;
    const tampered = [header, Buffer.from(JSON.stringify({ ...claims, groups: ['admins', 'system:masters'] })).toString('base64url'), signature].join('.');
    const tamperedAnswer = await asApiserver('/api/v1/namespaces', tampered);
    expect(tamperedAnswer.status).toBe(401);
    expect(tamperedAnswer.record.refused).toMatch(/signature/);

    const { privateKey } = await generateKeyPair('RS256');
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'RS256', kid: JSON.parse(Buffer.from(header!, 'base64url').toString()).kid }).sign(privateKey);
    const forgedAnswer = await asApiserver('/api/v1/namespaces', forged);
    expect(forgedAnswer.status).toBe(401);
    expect(forgedAnswer.record.refused).toMatch(/signature/);

    const none = await asApiserver('/version', '');
    expect(none.status).toBe(401);
    expect(none.record.refused).toBe('no bearer token');
  });
});

describe('the commands around it', () => {
  it('`accouch kubeconfig` again reuses the kubectl client; `integrate kube-apiserver` wrote every part as its own file', () => {
    const again = server.cli(['kubeconfig', '--server', apiserver.url]);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).not.toContain('Registered');
    const list = server.cli(['client', 'list']);
    expect(list.stdout.match(/^kubectl\s/gm)).toHaveLength(1);

    expect(readdirSync(apiserverFiles).sort()).toEqual(['accouch-admins.yaml', 'authentication-config.yaml', 'k3s-config.yaml', 'kube-apiserver.flags', 'kubeadm-config.yaml']);
    expect(readFileSync(join(apiserverFiles, 'kube-apiserver.flags'), 'utf8')).toContain(`--oidc-issuer-url=${server.issuer}\n--oidc-client-id=kubectl\n`);
    const flags = server.cli(['integrate', 'kube-apiserver', '--format', 'flags']);
    expect(flags.stdout).toBe(readFileSync(join(apiserverFiles, 'kube-apiserver.flags'), 'utf8'));
    const rbac = server.cli(['integrate', 'kube-apiserver', '--format', 'rbac']);
    expect(parse(rbac.stdout)).toMatchObject({ kind: 'ClusterRoleBinding', subjects: [{ kind: 'Group', name: 'accouch:admins' }] });
    const wrong = server.cli(['integrate', 'kube-apiserver', '--format', 'helm']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr.trim()).toBe('error: --format: one of flags, k3s, kubeadm, authentication-config, rbac (got "helm")');

    const plain = server.cli(['kubeconfig', '--server', 'http://127.0.0.1:6443']);
    expect(plain.status).toBe(1);
    expect(plain.stderr.trim()).toBe('error: --server: the API server\'s https:// URL, e.g. https://192.168.1.10:6443 (got "http://127.0.0.1:6443")');
  });

  it('the plugin fails in one readable line with a non-zero exit when the issuer is unreachable', async () => {
    const port = await freePort();
    const cacheDir = mkdtempSync(join(tmpdir(), 'accouch-cache-'));
    const result = runCli({ HOME: cacheDir }, ['kubectl-credential', '--issuer', `http://127.0.0.1:${port}`, '--client-id', 'kubectl', '--cache-dir', cacheDir, '--no-browser']);
    expect(result.status).toBe(1);
    expect(result.stdout).toBe('');
    expect(result.stderr).toBe(`error: cannot reach http://127.0.0.1:${port}: ECONNREFUSED\n`);
  });

  it('without the issuer\'s CA, the plugin says so and how to fix it', async () => {
    const cacheDir = mkdtempSync(join(tmpdir(), 'accouch-cache-'));
    const result = runCli({ HOME: cacheDir }, ['kubectl-credential', '--issuer', server.issuer, '--client-id', 'kubectl', '--cache-dir', cacheDir, '--no-browser']);
    expect(result.status).toBe(1);
    expect(result.stderr).toBe(`error: cannot reach ${server.issuer}: UNABLE_TO_VERIFY_LEAF_SIGNATURE (its certificate is not from a CA this machine trusts: print the kubeconfig again with \`accouch kubeconfig --issuer-ca <ca.crt>\`)\n`);
  });

  it('the kubeconfig runs only the plugin whose sha256 it names: a changed copy in the cache is fetched again, a changed plugin at Accouch is refused', async () => {
    const carol = laptop();
    const exec = (parse(readFileSync(carol.kubeconfig, 'utf8')) as { users: Array<{ user: { exec: { args: string[] } } }> }).users[0]!.user.exec;
    const sha256 = exec.args[4]!;
    const served = await fetch(`${server.issuer}/static/kubectl-credential.mjs`);
    expect(createHash('sha256').update(Buffer.from(await served.arrayBuffer())).digest('hex')).toBe(sha256);
    // Something wrote its own code where the plugin is cached: the loader does not run it.
    mkdirSync(carol.cacheDir, { recursive: true });
    const cached = join(carol.cacheDir, `kubectl-credential-${sha256}.mjs`);
    writeFileSync(cached, 'process.stdout.write("pwned"); process.exit(0);');
    const run = runKubectl(carol);
    await run.waitFor(signInUrl); // the real plugin, fetched again, asks for a sign-in
    run.kill();
    expect((await run.done).stdout).not.toContain('pwned');
    expect(createHash('sha256').update(readFileSync(cached)).digest('hex')).toBe(sha256);

    const mallory = laptop([], (e) => { e.args[4] = 'f'.repeat(64); });
    const refused = await runKubectl(mallory).done;
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain(`error: the plugin at ${server.issuer}/static/kubectl-credential.mjs is not the one this kubeconfig trusts (sha256 ${'f'.repeat(64)})`);
    expect(refused.stdout).toBe('');
  });
});
