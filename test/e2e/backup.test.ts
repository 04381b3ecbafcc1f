// Backup, restore, export and import as an owner runs them: a backup taken while people sign in, restored into
// a new data dir, serves every user, factor, app and key; an export imported elsewhere signs in the same way.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { generate } from 'otplib';
import { describe, expect, it } from 'vitest';
import { Agent, formAction } from './support/agent.js';
import { addClient, addUser, callback, codeFlow, discover, startAuth } from './support/rp.js';
import { createDatabase } from '../postgres/databases.js';
import { e2eEngine, mainJs, runCli, startServer, type CliResult, type RunningServer, sqliteOnly } from './support/server.js';

const now = () => Math.floor(Date.now() / 1000);
const jwksOf = async (issuer: string) => (await (await fetch(`${issuer}/jwks`)).json()) as JSONWebKeySet;

/** The CLI without blocking this process (the load keeps running while it works). */
function runCliAsync(env: Record<string, string>, args: string[]): Promise<CliResult> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [mainJs, ...args], { env: { PATH: process.env.PATH!, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => { stdout += d; });
    child.stderr.on('data', (d) => { stderr += d; });
    child.once('exit', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Enrols an authenticator app for `username` on the account page, as they would; returns its secret. */
async function enrolTotp(server: RunningServer, username: string, password: string): Promise<string> {
  const origin = new URL(server.issuer).origin;
  const agent = new Agent();
  let { res, url } = await agent.follow(`${server.issuer}/account/totp`, origin);
  let html = await res.text();
  if (html.includes('name="password"')) {
    const post = await agent.post(new URL(formAction(html, '/password'), origin), { username, password });
    ({ res, url } = await agent.follow(url, origin, post));
    html = await res.text();
  }
  const secret = html.match(/<code id="totp-secret">([^<]+)<\/code>/)![1]!.replace(/\s+/g, '');
  const enrolled = await agent.post(`${server.issuer}/account/totp`, { code: await generate({ secret }) });
  expect(enrolled.headers.get('location')).toBe('/account?done=totp-enrolled');
  return secret;
}

/** A full sign-in with password and then the authenticator app's next code; returns the claims of the id_token. */
async function signInWithTotp(server: RunningServer, config: oidc.Configuration, username: string, password: string, secret: string) {
  const origin = new URL(server.issuer).origin;
  const agent = new Agent();
  const start = await startAuth(config);
  let { res, url } = await agent.follow(start.url, origin);
  let asked = false;
  for (let step = 0; step < 5 && url.origin === origin; step += 1) {
    const html = await res.text();
    expect(res.status, html).toBe(200);
    let post: Response;
    if (html.includes('/totp"')) {
      asked = true;
      // The enrolment used this 30 s step's code, and each code works once: the next step's.
      post = await agent.post(new URL(formAction(html, '/totp'), origin), { code: await generate({ secret, epoch: now() + 30 }) });
    } else if (html.includes('name="password"')) {
      post = await agent.post(new URL(formAction(html, '/password'), origin), { username, password });
    } else {
      post = await agent.post(new URL(formAction(html, '/confirm'), origin), {});
    }
    ({ res, url } = await agent.follow(url, origin, post));
  }
  expect(asked).toBe(true);
  const tokens = await oidc.authorizationCodeGrant(config, url, { pkceCodeVerifier: start.verifier, expectedState: start.state, expectedNonce: start.nonce });
  return tokens.claims()!;
}

/** A wrong password is refused on the sign-in page. */
async function wrongPasswordStatus(server: RunningServer, config: oidc.Configuration, username: string): Promise<number> {
  const origin = new URL(server.issuer).origin;
  const agent = new Agent();
  const { res } = await agent.follow((await startAuth(config)).url, origin);
  return (await agent.post(new URL(formAction(await res.text(), '/password'), origin), { username, password: 'wrong password' })).status;
}

/** What the owner sees of the household, apps and keys. */
const inventory = (server: RunningServer) => ['user list', 'client list', 'keys list'].map((c) => server.cli(c.split(' ')).stdout).join('\n');

/** The claims a sign-in gives an app: the same on any copy of the data. */
const identity = (claims: oidc.IDToken) => ({
  sub: claims.sub, preferred_username: claims.preferred_username, email: claims.email, groups: claims.groups, acr: claims.acr, amr: claims.amr,
});

/** Seeds a household: a password user, one with an authenticator app, an app with refresh tokens. */
async function seed(server: RunningServer) {
  addUser(server, 'alice', 'alice password', ['--groups', 'family']);
  addUser(server, 'tess', 'tess password');
  const totpSecret = await enrolTotp(server, 'tess', 'tess password');
  const clientSecret = addClient(server, 'app', ['--redirect-uri', callback, '--refresh', 'always'])!;
  return { totpSecret, clientSecret };
}

sqliteOnly(() => describe('backup and restore', () => {
  it('backs up while people sign in; the restore serves every user, factor, app and key', async () => {
    const source = await startServer();
    const { totpSecret, clientSecret } = await seed(source);
    let config = await discover(source, 'app', clientSecret);
    const before = await codeFlow(source, config, 'alice', 'alice password');

    // Three apps signing people in and refreshing (each refresh rotates: a write), non-stop, while the backup runs.
    let running = true;
    let refreshes = 0;
    const load = Array.from({ length: 3 }, async () => {
      while (running) {
        let { refresh_token: refresh } = (await codeFlow(source, config, 'alice', 'alice password')).tokens;
        for (let i = 0; i < 10 && running; i += 1) {
          refresh = (await oidc.refreshTokenGrant(config, refresh!)).refresh_token;
          refreshes += 1;
        }
      }
    });
    while (refreshes < 5) await new Promise((r) => setTimeout(r, 20));
    const refreshesBefore = refreshes;
    const file = join(mkdtempSync(join(tmpdir(), 'accouch-backup-')), 'accouch.backup');
    const backup = await runCliAsync(source.env, ['backup', file]);
    const refreshesDuring = refreshes - refreshesBefore;
    running = false;
    await Promise.all(load);
    expect(backup.status, backup.stderr).toBe(0);
    expect(backup.stdout).toContain(`to ${file}`);
    expect(refreshesDuring).toBeGreaterThan(0);

    // The running server's database is not replaced under it.
    const refused = source.cli(['restore', file]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/is in use .*stop the server first/);
    // Something that is not a backup is refused before anything changes.
    const notBackup = source.cli(['restore', join(source.dataDir, 'secret.key')]);
    expect(notBackup.status).toBe(1);
    expect(notBackup.stderr).toContain('is not an SQLite database');

    const seen = inventory(source);
    expect(await source.stop()).toBe(0);

    const dataDir = mkdtempSync(join(tmpdir(), 'accouch-restored-'));
    const restored = runCli({ ...source.env, ACCOUCH_DATA_DIR: dataDir }, ['restore', file]);
    expect(restored.status, restored.stderr).toBe(0);
    // Same issuer (port) as before: tokens name it.
    const server = await startServer({ dataDir, port: source.port });
    expect(inventory(server)).toBe(seen);
    config = await discover(server, 'app', clientSecret);
    await jwtVerify(before.tokens.id_token!, createLocalJWKSet(await jwksOf(server.issuer)), { issuer: server.issuer });
    const refreshed = await oidc.refreshTokenGrant(config, before.tokens.refresh_token!);
    expect(refreshed.claims()!.preferred_username).toBe('alice');
    expect((await codeFlow(server, config, 'alice', 'alice password')).tokens.claims()!.preferred_username).toBe('alice');
    // The authenticator app still works: the secret key that sealed it came along.
    expect((await signInWithTotp(server, config, 'tess', 'tess password', totpSecret)).amr).toContain('otp');
    expect(await server.stop()).toBe(0);
  });
}));

/**
 * Where an import can go: each target gives the environment that points Accouch at a fresh, empty database. The
 * source is always an SQLite installation (the usual start); the e2e-postgres run moves it to PostgreSQL, with
 * the key file of the old data dir as the new secretKey (README: moving to PostgreSQL).
 */
const importTargets: Array<{ name: string; env: (source: RunningServer) => Promise<Record<string, string>> }> = e2eEngine === 'PostgreSQL'
  ? [{
    name: 'a new PostgreSQL database',
    env: async (source) => ({ ACCOUCH_DATABASE_URL: (await createDatabase()).url, ACCOUCH_SECRET_KEY_FILE: join(source.dataDir, 'secret.key') }),
  }]
  : [{ name: 'a new SQLite data dir', env: async () => ({ ACCOUCH_DATA_DIR: mkdtempSync(join(tmpdir(), 'accouch-import-')) }) }];

describe('export and import', () => {
  it.each(importTargets)('an export imported into $name gives the same sign-in results', async (target) => {
    const source = await startServer({ engine: 'SQLite' });
    const { totpSecret, clientSecret } = await seed(source);
    let config = await discover(source, 'app', clientSecret);
    const before = await codeFlow(source, config, 'alice', 'alice password');
    const expected = {
      alice: identity(before.tokens.claims()!),
      wrong: await wrongPasswordStatus(source, config, 'alice'),
    };
    const file = join(mkdtempSync(join(tmpdir(), 'accouch-export-')), 'accouch.jsonl');
    const exported = source.cli(['export', file]);
    expect(exported.status, exported.stderr).toBe(0);
    const seen = inventory(source);
    expect(await source.stop()).toBe(0);

    const targetEnv = await target.env(source);
    const env = { ...source.env, ...targetEnv };
    const imported = runCli(env, ['import', file]);
    expect(imported.status, imported.stderr).toBe(0);
    // A second import would mix two households: refused unless asked to replace.
    const again = runCli(env, ['import', file]);
    expect(again.status).toBe(1);
    expect(again.stderr).toContain('the database is not empty');

    const server = await startServer({ port: source.port, env: targetEnv });
    expect(inventory(server)).toBe(seen);
    config = await discover(server, 'app', clientSecret);
    expect(identity((await codeFlow(server, config, 'alice', 'alice password')).tokens.claims()!)).toEqual(expected.alice);
    expect(await wrongPasswordStatus(server, config, 'alice')).toBe(expected.wrong);
    expect((await signInWithTotp(server, config, 'tess', 'tess password', totpSecret)).amr).toEqual(expect.arrayContaining(['pwd', 'otp']));
    expect((await oidc.refreshTokenGrant(config, before.tokens.refresh_token!)).claims()!.sub).toBe(expected.alice.sub);
    await jwtVerify(before.tokens.id_token!, createLocalJWKSet(await jwksOf(server.issuer)), { issuer: server.issuer });
    expect(await server.stop()).toBe(0);
  });

  sqliteOnly(() => it('refuses a truncated export and changes nothing', async () => {
    const source = await startServer();
    addUser(source, 'alice', 'alice password');
    const dir = mkdtempSync(join(tmpdir(), 'accouch-export-'));
    const full = source.cli(['export']);
    expect(full.status, full.stderr).toBe(0);
    expect(await source.stop()).toBe(0);
    const lines = full.stdout.trimEnd().split('\n');
    writeFileSync(join(dir, 'cut.jsonl'), `${lines.slice(0, -2).join('\n')}\n`);
    const env = { ...source.env, ACCOUCH_DATA_DIR: join(dir, 'target') };
    const cut = runCli(env, ['import', join(dir, 'cut.jsonl')]);
    expect(cut.status).toBe(1);
    expect(cut.stderr).toContain('truncated');
    expect(runCli(env, ['user', 'list']).stdout).not.toContain('alice');
  }));
});
