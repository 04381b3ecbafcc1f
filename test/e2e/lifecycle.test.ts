// What an owner does to a running Accouch: restart it, pull the plug, rotate keys, misconfigure it, run the CLI.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { describe, expect, it } from 'vitest';
import { Agent, formAction } from './support/agent.js';
import { addClient, addUser, callback, codeFlow, discover, startAuth } from './support/rp.js';
import { freePort, runCli, startServer, sqliteOnly } from './support/server.js';

const jwksOf = async (issuer: string) => (await (await fetch(`${issuer}/jwks`)).json()) as JSONWebKeySet;

describe('persistence', () => {
  it('keeps refresh tokens and sessions across a restart and across kill -9', async () => {
    let server = await startServer();
    addUser(server, 'carol', 'carol password');
    addClient(server, 'kubectl', ['--public', '--native', '--redirect-uri', 'http://127.0.0.1/callback', '--refresh', 'always']);
    let config = await discover(server, 'kubectl');
    // A native app on any loopback port; refresh tokens without prompt=consent for refresh=always clients.
    const { tokens } = await codeFlow(server, config, 'carol', 'carol password', { redirect_uri: 'http://127.0.0.1:43117/callback' });
    expect(tokens.refresh_token).toBeTruthy();

    server = await server.restart();
    config = await discover(server, 'kubectl');
    const afterRestart = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(afterRestart.id_token).toBeTruthy();

    await server.kill();
    server = await (await import('./support/server.js')).startServer({ dataDir: server.dataDir, port: server.port });
    config = await discover(server, 'kubectl');
    const afterKill = await oidc.refreshTokenGrant(config, afterRestart.refresh_token!);
    expect(afterKill.claims()!.preferred_username).toBe('carol');
    // The same signing key survived: tokens from before verify against today's JWKS.
    await jwtVerify(tokens.id_token!, createLocalJWKSet(await jwksOf(server.issuer)), { issuer: server.issuer });
    expect(await server.stop()).toBe(0);
  });
});

describe('keys', () => {
  it('rotates keys in a running server; tokens issued before still verify', async () => {
    const server = await startServer();
    addUser(server, 'dave', 'dave password');
    const secret = addClient(server, 'app', ['--redirect-uri', callback]);
    const config = await discover(server, 'app', secret);
    const before = (await codeFlow(server, config, 'dave', 'dave password')).tokens.id_token!;
    const oldKid = decodeProtectedHeader(before).kid;

    const rotated = server.cli(['keys', 'rotate']);
    expect(rotated.status, rotated.stderr).toBe(0);
    const listed = server.cli(['keys', 'list']).stdout;
    expect(listed).toMatch(new RegExp(`${oldKid}\\s+RS256.*retired, published until`));

    // The running server notices within its 5 s poll.
    let after = before;
    for (let i = 0; i < 40 && decodeProtectedHeader(after).kid === oldKid; i += 1) {
      await new Promise((r) => setTimeout(r, 250));
      after = (await codeFlow(server, config, 'dave', 'dave password')).tokens.id_token!;
    }
    expect(decodeProtectedHeader(after).kid).not.toBe(oldKid);
    const jwks = createLocalJWKSet(await jwksOf(server.issuer));
    await jwtVerify(before, jwks, { issuer: server.issuer });
    await jwtVerify(after, jwks, { issuer: server.issuer });
    expect(await server.stop()).toBe(0);
  });

  sqliteOnly(() => it('signs with ES256 or EdDSA for clients that ask', async () => {
    const server = await startServer();
    addUser(server, 'erin', 'erin password');
    for (const alg of ['ES256', 'EdDSA']) {
      const secret = addClient(server, `app-${alg}`, ['--redirect-uri', callback, '--id-token-alg', alg]);
      const config = await discover(server, `app-${alg}`, secret);
      const idToken = (await codeFlow(server, config, 'erin', 'erin password')).tokens.id_token!;
      expect(decodeProtectedHeader(idToken).alg).toBe(alg);
      await jwtVerify(idToken, createLocalJWKSet(await jwksOf(server.issuer)));
    }
    await server.stop();
  }));
});

sqliteOnly(() => describe('configuration', () => {
  it('names every bad key and exits non-zero before listening', async () => {
    const port = await freePort();
    const file = join(await import('node:os').then((os) => os.tmpdir()), `accouch-bad-${port}.yaml`);
    writeFileSync(file, 'issuer: "not a url"\nlogLevel: loud\nbogus: 1\nclients:\n  - id: x\n    redirectUris: ["https://a.example/cb"]\n');
    const result = runCli({ ACCOUCH_CONFIG: file, ACCOUCH_PORT: String(port), ACCOUCH_TTL_ID_TOKEN: '-5', ACCOUCH_DATA_DIR: '/tmp/unused-accouch' }, ['serve']);
    expect(result.status).toBe(2);
    for (const key of ['issuer', 'logLevel', 'bogus', 'clients.0.secret', 'ttl.idToken']) expect(result.stderr).toContain(key);
    const connect = await fetch(`http://localhost:${port}/healthz`).catch((e: Error) => e);
    expect(connect).toBeInstanceOf(Error);
  });

  it('reconciles clients declared in YAML, with the secret from a file', async () => {
    const port = await freePort();
    const dir = (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'accouch-cfg-'));
    writeFileSync(join(dir, 'secret'), 'a-secret-from-a-mounted-file\n');
    writeFileSync(join(dir, 'accouch.yaml'), `clients:\n  - id: grafana\n    name: Grafana\n    secretFile: ${join(dir, 'secret')}\n    redirectUris: ["${callback}"]\n    skipConsent: true\n`);
    const server = await startServer({ port, env: { ACCOUCH_CONFIG: join(dir, 'accouch.yaml') } });
    addUser(server, 'finn', 'finn password');
    const config = await discover(server, 'grafana', 'a-secret-from-a-mounted-file');
    const { tokens } = await codeFlow(server, config, 'finn', 'finn password');
    expect(tokens.claims()!.preferred_username).toBe('finn');
    const removal = server.cli(['client', 'remove', 'grafana']);
    expect(removal.status).toBe(1);
    expect(removal.stderr).toContain('declared in the configuration file');
    await server.stop();
  });
}));

sqliteOnly(() => describe('behind a TLS-terminating proxy', () => {
  it('serves https URLs and Secure cookies; a forged host changes nothing', async () => {
    const port = await freePort();
    const server = await startServer({ port, issuer: 'https://id.home.example/', env: { ACCOUCH_TRUST_PROXY: 'true' } });
    const headers = { 'x-forwarded-proto': 'https', host: 'evil.example', 'x-forwarded-host': 'evil.example' };
    const meta = await (await fetch(`http://localhost:${port}/.well-known/openid-configuration`, { headers })).json() as Record<string, string>;
    expect(meta.issuer).toBe('https://id.home.example/');
    expect(meta.authorization_endpoint).toBe('https://id.home.example/auth');
    expect(JSON.stringify(meta)).not.toContain('evil');

    addClient(server, 'app', ['--redirect-uri', callback]);
    const url = `http://localhost:${port}/auth?client_id=app&response_type=code&scope=openid&redirect_uri=${encodeURIComponent(callback)}&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256`;
    const res = await fetch(url, { headers, redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toMatch(/^\/interaction\//);
    const cookies = res.headers.getSetCookie();
    expect(cookies.length).toBeGreaterThan(0);
    for (const cookie of cookies) expect(cookie).toMatch(/;\s*secure/i);
    await server.stop();
  });
}));

sqliteOnly(() => describe('CLI', () => {
  it('rejects bad input with a clear message and a non-zero exit', async () => {
    const port = await freePort();
    const env = { ACCOUCH_DATA_DIR: (await import('node:fs')).mkdtempSync(join((await import('node:os')).tmpdir(), 'accouch-cli-')), ACCOUCH_PORT: String(port) };
    const add = (args: string[], input?: string) => runCli(env, ['user', 'add', ...args], input);
    expect(add(['gina', '--name', 'Gina', '--password-stdin'], 'gina password').status).toBe(0);
    const duplicate = add(['GINA', '--name', 'Gina again']);
    expect(duplicate.status).toBe(1);
    expect(duplicate.stderr).toContain('already exists');
    const short = add(['hank', '--name', 'Hank', '--password-stdin'], 'short');
    expect(short.status).toBe(1);
    expect(short.stderr).toContain('at least 8');
    const unknown = runCli(env, ['user', 'passwd', 'nobody'], 'a long password');
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toContain('no user "nobody"');
    const badUri = runCli(env, ['client', 'add', 'app', '--redirect-uri', 'not a uri']);
    expect(badUri.status).toBe(1);
    expect(badUri.stderr).toContain('--redirect-uri');
    const dupClient = [runCli(env, ['client', 'add', 'app', '--redirect-uri', callback]), runCli(env, ['client', 'add', 'app', '--redirect-uri', callback])];
    expect(dupClient.map((r) => r.status)).toEqual([0, 1]);
    expect(runCli(env, ['client', 'remove', 'ghost']).status).toBe(1);
    expect(runCli(env, ['frobnicate']).status).not.toBe(0);
    const help = runCli(env, ['client', 'add', '--help']);
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('--redirect-uri');
    const list = runCli(env, ['user', 'list']);
    expect(list.stdout).toMatch(/gina\s+Gina/);
  });
}));

sqliteOnly(() => describe('shutdown', () => {
  it('finishes sign-ins in flight on SIGTERM, then exits 0', async () => {
    const server = await startServer();
    addUser(server, 'lena', 'lena password');
    const secret = addClient(server, 'app', ['--redirect-uri', callback]);
    const config = await discover(server, 'app', secret);
    const origin = new URL(server.issuer).origin;
    const forms = await Promise.all(Array.from({ length: 6 }, async () => {
      const agent = new Agent();
      const { res } = await agent.follow((await startAuth(config)).url, origin);
      return { agent, action: new URL(formAction(await res.text(), '/password'), origin) };
    }));
    // Six password checks (scrypt) are queued when the signal arrives; every one gets its answer.
    const pending = Promise.all(forms.map(({ agent, action }) => agent.post(action, { username: 'lena', password: 'lena password' })));
    await new Promise((r) => setTimeout(r, 60));
    const exit = server.stop();
    const answers = await pending;
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(303));
    expect(await exit).toBe(0);
    expect(server.output()).toMatch(/shutting down[\s\S]*stopped/);
  });
}));
