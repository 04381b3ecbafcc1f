// App presets against the real server: `accouch app add` prints a setup that parses, and the clients it registers
// complete a code flow with exactly the request each app makes (scopes, PKCE, state, nonce or none, client_secret_basic);
// a preset declared in the YAML file works after startup.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseIni } from 'ini';
import { createRemoteJWKSet, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { parse as parseToml } from 'smol-toml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { Agent } from './support/agent.js';
import { addUser, signIn } from './support/rp.js';
import { freePort, runCli, startServer, type RunningServer, stopCleanly } from './support/server.js';

const grafanaSecret = 'grafana-secret-from-a-mounted-file-0123456789';
let server: RunningServer;

beforeAll(async () => {
  const dir = mkdtempSync(join(tmpdir(), 'accouch-presets-'));
  writeFileSync(join(dir, 'grafana-secret'), `${grafanaSecret}\n`);
  writeFileSync(join(dir, 'accouch.yaml'), [
    'clients:',
    '  - preset: grafana',
    '    url: https://grafana.home.example',
    `    secretFile: ${join(dir, 'grafana-secret')}`,
    '',
  ].join('\n'));
  server = await startServer({ env: { ACCOUCH_CONFIG: join(dir, 'accouch.yaml') } });
  addUser(server, 'alice', 'correct horse battery', ['--groups', 'admins,family']);
});

afterAll(async () => {
  await stopCleanly(server);
});

/** The fenced blocks of a setup text, by language. */
function block(text: string, lang: string): string {
  const found = [...text.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].filter((m) => m[1] === lang);
  expect(found, `one \`\`\`${lang} block in:\n${text}`).toHaveLength(1);
  return found[0]![2]!;
}

/** `--name=value` flags of a shell command (continuation lines joined; values here need no quotes). */
function flags(command: string): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const word of command.replace(/\\\n/g, ' ').split(/\s+/).filter((w) => w.startsWith('--'))) {
    const [name, ...value] = word.slice(2).split('=');
    map.set(name!, [...(map.get(name!) ?? []), value.length ? value.join('=') : 'true']);
  }
  return map;
}

/**
 * server.cli blocks this process (spawnSync): let it notice the keep-alive sockets the server closed meanwhile, or
 * the next fetch reuses one and fails with "other side closed".
 */
const settle = () => new Promise((resolve) => setTimeout(resolve, 20));

async function appAdd(args: string[]) {
  const result = server.cli(['app', 'add', ...args]);
  expect(result.status, result.stderr).toBe(0);
  await settle();
  return result.stdout;
}

interface AppRequest {
  clientId: string;
  secret: string;
  redirectUri: string;
  scope: string;
  /** Whether the app sends an S256 code_challenge (and the verifier at the token endpoint). */
  pkce: boolean;
  /** Parameters only this app adds. */
  extra?: Record<string, string>;
}

/**
 * The authorization request exactly as the app builds it (Go's x/oauth2 AuthCodeURL for all three), a person
 * signing in, and the code redeemed with HTTP Basic as x/oauth2 does first. Returns the tokens, or the error
 * the app's callback received.
 */
async function appSignIn(app: AppRequest) {
  await settle();
  const config = await oidc.discovery(new URL(server.issuer), app.clientId, undefined, oidc.ClientSecretBasic(app.secret), { execute: [oidc.allowInsecureRequests] });
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = new URL(config.serverMetadata().authorization_endpoint!);
  url.search = new URLSearchParams({
    client_id: app.clientId,
    redirect_uri: app.redirectUri,
    response_type: 'code',
    scope: app.scope,
    state,
    ...(app.pkce ? { code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256' } : {}),
    ...app.extra,
  }).toString();
  const returned = await signIn(new Agent(), server, url, 'alice', 'correct horse battery');
  expect(`${returned.origin}${returned.pathname}`).toBe(app.redirectUri);
  if (returned.searchParams.get('error')) return { error: returned.searchParams.get('error'), description: returned.searchParams.get('error_description') };
  const tokens = await oidc.authorizationCodeGrant(config, returned, { pkceCodeVerifier: app.pkce ? verifier : undefined, expectedState: state });
  const { payload } = await jwtVerify(tokens.id_token!, createRemoteJWKSet(new URL(config.serverMetadata().jwks_uri!)), { issuer: server.issuer, audience: app.clientId });
  return { tokens, claims: payload, config };
}

describe('accouch app add oauth2-proxy', () => {
  it('prints a config whose client completes oauth2-proxy\'s code flow (PKCE S256, groups, verified email)', async () => {
    const text = await appAdd(['oauth2-proxy', '--url', 'https://media.home.example']);
    const cfg = parseToml(block(text, 'toml')) as Record<string, unknown>;
    expect(cfg).toMatchObject({ provider: 'oidc', oidc_issuer_url: server.issuer, client_id: 'oauth2-proxy', redirect_url: 'https://media.home.example/oauth2/callback' });
    for (const doc of parseAllDocuments(block(text, 'yaml'))) expect(doc.errors).toEqual([]);

    // oauth2-proxy's login URL: approval_prompt (prompt is unset), PKCE from code_challenge_method, no nonce
    // (insecure_oidc_skip_nonce defaults to true).
    const result = await appSignIn({
      clientId: String(cfg.client_id), secret: String(cfg.client_secret), redirectUri: String(cfg.redirect_url), scope: String(cfg.scope),
      pkce: cfg.code_challenge_method === 'S256', extra: { approval_prompt: 'force' },
    });
    expect(result.claims).toMatchObject({ email: 'alice@home.example', email_verified: true, groups: ['admins', 'family'] });
    expect(result.claims![String(cfg.oidc_groups_claim)]).toEqual(['admins', 'family']);
  });
});

describe('accouch app add gitea', () => {
  let command: Map<string, string[]>;
  let callback: string;

  beforeAll(async () => {
    const text = await appAdd(['gitea', '--url', 'https://git.home.example']);
    command = flags(block(text, 'sh'));
    callback = `https://git.home.example/user/oauth2/${command.get('name')![0]}/callback`;
    expect(parseIni(block(text, 'ini')).oauth2_client.USERNAME).toBe('nickname');
  });

  it('prints the discovery URL of this server', async () => {
    const discovery = await fetch(command.get('auto-discover-url')![0]!);
    expect(discovery.status).toBe(200);
    expect((await discovery.json()).issuer).toBe(server.issuer);
  });

  it('registers a client that completes Gitea\'s code flow with PKCE, and gives it the username and groups', async () => {
    const result = await appSignIn({
      clientId: command.get('key')![0]!, secret: command.get('secret')![0]!, redirectUri: callback, scope: command.get('scopes')!.join(' '), pkce: true,
    });
    // goth reads the userinfo too; Gitea takes the username from nickname and the admin flag from the group claim.
    const info = await oidc.fetchUserInfo(result.config!, result.tokens!.access_token, String(result.claims!.sub));
    expect(info.nickname).toBe('alice');
    expect(info[command.get('group-claim-name')![0]!]).toContain(command.get('admin-group')![0]);
  });

  it('also completes the code flow of a released Gitea, which sends no PKCE (its client is confidential)', async () => {
    const result = await appSignIn({
      clientId: command.get('key')![0]!, secret: command.get('secret')![0]!, redirectUri: callback, scope: command.get('scopes')!.join(' '), pkce: false,
    });
    expect(result.error).toBeUndefined();
    expect(result.claims!.preferred_username).toBe('alice');
  });
});

describe('a preset in the configuration file', () => {
  it('is registered at startup from the YAML file, with its secret from secretFile', () => {
    const list = server.cli(['client', 'list']);
    expect(list.status, list.stderr).toBe(0);
    expect(list.stdout).toMatch(/^grafana\s+Grafana\s+confidential\s+config\s+https:\/\/grafana\.home\.example\/login\/generic_oauth$/m);
  });

  it('completes Grafana\'s code flow (use_pkce, its scopes)', async () => {
    const result = await appSignIn({
      clientId: 'grafana', secret: grafanaSecret, redirectUri: 'https://grafana.home.example/login/generic_oauth',
      scope: 'openid email profile groups', pkce: true, extra: { access_type: 'online' },
    });
    expect(result.claims).toMatchObject({ preferred_username: 'alice', email: 'alice@home.example', groups: ['admins', 'family'] });
  });

  it('matches what `accouch app add grafana` prints: the same endpoints as the discovery document', async () => {
    const ini = parseIni(block(await appAdd(['grafana', '--id', 'grafana-two', '--url', 'https://grafana2.home.example']), 'ini'));
    const meta = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
    const oauth = ini.auth.generic_oauth;
    expect([oauth.auth_url, oauth.token_url, oauth.api_url]).toEqual([meta.authorization_endpoint, meta.token_endpoint, meta.userinfo_endpoint]);
    expect(oauth.client_id).toBe('grafana-two');
  });

  it('with a bad url stops the server at startup, naming the key', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'accouch-presets-bad-'));
    writeFileSync(join(dir, 'accouch.yaml'), 'clients:\n  - preset: gitea\n    url: git.home.example\n');
    const result = runCli({ ACCOUCH_CONFIG: join(dir, 'accouch.yaml'), ACCOUCH_PORT: String(await freePort()), ACCOUCH_DATA_DIR: dir }, ['serve']);
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/clients\.0\.url: must be the http\(s\) address/);
    expect(result.stderr).toMatch(/clients\.0\.secret: give secret or secretFile/);
  });
});

describe('accouch app add', () => {
  it('registers kubectl as `accouch kubeconfig` does, and reuses it the second time', () => {
    const first = server.cli(['app', 'add', 'kubectl']);
    expect(first.status, first.stderr).toBe(0);
    expect(first.stdout).toMatch(/npx accouch kubeconfig --server /);
    const again = server.cli(['app', 'add', 'kubectl']);
    expect(again.status, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/already registered: reusing it/);
    expect(server.cli(['client', 'list']).stdout).toMatch(/^kubectl\s+kubectl\s+public native\s+cli\s/m);
  });

  it('prints a generic app\'s issuer, client id and secret, and the secret works at the token endpoint', async () => {
    const text = block(await appAdd(['generic', '--id', 'wiki', '--url', 'https://wiki.home.example']), 'text');
    const field = (name: string) => new RegExp(`^${name}:\\s+(\\S+)$`, 'm').exec(text)?.[1];
    expect(field('Issuer')).toBe(server.issuer);
    expect(field('Client ID')).toBe('wiki');
    const result = await appSignIn({ clientId: 'wiki', secret: field('Client secret')!, redirectUri: field('Redirect URI')!, scope: 'openid email profile groups', pkce: true });
    expect(result.claims!.sub).toBeTruthy();
  });

  it.each([
    [['jenkins', '--url', 'https://ci.home.example'], /unknown preset "jenkins": one of gitea, oauth2-proxy, grafana, kubectl, generic/],
    [['gitea', '--url', 'git.home.example'], /the gitea address must be an http\(s\) URL/],
    [['gitea', '--url', 'https://git.home.example/?x'], /query or fragment/],
    [['grafana'], /--url: the address grafana is served at/],
    [['generic', '--url', 'https://wiki2.home.example'], /generic app needs an id/],
    [['gitea', '--url', 'https://git.home.example'], /client "gitea" already exists/],
  ])('exits 1 with a message for %j', (args, message) => {
    const result = server.cli(['app', 'add', ...args]);
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(message);
    expect(result.stdout).toBe('');
  });
});
