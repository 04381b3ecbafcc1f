// App presets: each preset's client, and its setup text parsed as the app would read it (shell flags, INI, TOML,
// YAML) and checked against the registered client: client id, secret, issuer, redirect URIs.
import { parse as parseIni } from 'ini';
import { parse as parseToml } from 'smol-toml';
import { describe, expect, test } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { clientSchema, ConfigError, loadConfig, type ClientConfig } from '../../../src/config.js';
import { AppError } from '../../../src/errors.js';
import { kubectlClient } from '../../../src/integrations/kube.js';
import { declaredClients, listPresets, presetClient, presetInstructions, type PresetName } from '../../../src/integrations/presets.js';
import { tempFile } from '../helpers.js';

const issuer = 'https://id.home.example';
const secret = 's3cr3t-0123456789_abcdefghijklmnop';

/** The fenced blocks of a setup text, by language. */
function blocks(text: string): Array<{ lang: string; body: string }> {
  return [...text.matchAll(/^```(\w+)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1]!, body: m[2]! }));
}
const block = (text: string, lang: string) => {
  const found = blocks(text).filter((b) => b.lang === lang);
  expect(found, `one \`\`\`${lang} block in:\n${text}`).toHaveLength(1);
  return found[0]!.body;
};

/** Words of a shell command as sh would split them (continuation lines, single and double quotes). */
function shellWords(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  const text = command.replace(/\\\n/g, ' ');
  for (let i = 0; i < text.length; i += 1) {
    const c = text[i]!;
    if (c === "'" || c === '"') {
      const end = text.indexOf(c, i + 1);
      if (end === -1) throw new Error(`unterminated ${c} in: ${command}`);
      word = (word ?? '') + text.slice(i + 1, end);
      i = end;
    } else if (c === '\\') {
      word = (word ?? '') + text[i + 1];
      i += 1;
    } else if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** `--name=value` flags as a map of value lists (`--flag` alone is "true"). */
function flags(words: string[]): Map<string, string[]> {
  const map = new Map<string, string[]>();
  for (const word of words.filter((w) => w.startsWith('--'))) {
    const [name, ...value] = word.slice(2).split('=');
    map.set(name!, [...(map.get(name!) ?? []), value.length ? value.join('=') : 'true']);
  }
  return map;
}

const setup = (preset: PresetName, client: ClientConfig, withSecret = true) =>
  presetInstructions(preset, { issuer, client, secret: withSecret ? client.secret : undefined });

describe('presets', () => {
  test('are listed with a title and a description, in a fixed order', () => {
    const presets = listPresets();
    expect(presets.map((p) => p.name)).toEqual(['gitea', 'oauth2-proxy', 'grafana', 'kubectl', 'generic']);
    for (const p of presets) expect(p.title && p.description, p.name).toBeTruthy();
  });

  test('each gives a client that passes the client schema, confidential with a fresh secret (kubectl public)', () => {
    for (const { name } of listPresets()) {
      const client = presetClient(name, { url: 'https://app.home.example', id: name === 'generic' ? 'wiki' : undefined });
      expect(clientSchema.parse(client), name).toEqual(client);
      if (name === 'kubectl') {
        expect(client.public).toBe(true);
        expect(client.secret).toBeUndefined();
      } else {
        expect(client.public).toBe(false);
        expect(Buffer.from(client.secret!, 'base64url')).toHaveLength(32);
      }
    }
    const a = presetClient('gitea', { url: 'https://git.home.example' });
    const b = presetClient('gitea', { url: 'https://git.home.example' });
    expect(a.secret).not.toBe(b.secret);
  });

  test('take the given id, name and secret', () => {
    const client = presetClient('grafana', { url: 'https://grafana.home.example', id: 'dashboards', name: 'Dashboards', secret });
    expect(client).toMatchObject({ id: 'dashboards', name: 'Dashboards', secret });
  });

  test.each([
    ['gitea', 'ftp://git.home.example', /http\(s\)/],
    ['gitea', 'git.home.example', /http\(s\)/],
    ['grafana', 'https://grafana.home.example/?x=1', /query or fragment/],
    ['oauth2-proxy', 'https://app.home.example/#top', /query or fragment/],
  ] as const)('refuse %s at %s with a readable bad_request', (preset, url, message) => {
    const run = () => presetClient(preset, { url });
    expect(run).toThrow(AppError);
    expect(run).toThrow(message);
    try { run(); } catch (error) { expect((error as AppError).code).toBe('bad_request'); }
  });

  test('kubectl under another id: a second cluster\'s own client, public and native like the first', () => {
    expect(presetClient('kubectl', { url: '', id: 'kubectl-lab' })).toMatchObject({ id: 'kubectl-lab', public: true, native: true, refresh: 'always', deviceFlow: true });
  });

  test('refuse a bad id, a generic app without an id, redirect URIs for a named app', () => {
    expect(() => presetClient('gitea', { url: 'https://git.home.example', id: 'no spaces' })).toThrow(/^id: letters, digits/);
    expect(() => presetClient('generic', { url: 'https://wiki.home.example' })).toThrow(/generic app needs an id/);
    expect(() => presetClient('gitea', { url: 'https://git.home.example', redirectUris: ['https://x.example/cb'] })).toThrow(/only a generic app/);
    expect(() => presetClient('nope' as PresetName, { url: 'https://x.example' })).toThrow(/unknown preset "nope"/);
  });

  test('never print a secret they were not given: a placeholder stands in', () => {
    for (const { name } of listPresets()) {
      const client = presetClient(name, { url: 'https://app.home.example', id: name === 'generic' ? 'wiki' : undefined, secret: name === 'kubectl' ? undefined : secret });
      const text = setup(name, client, false);
      expect(text, name).not.toContain(secret);
    }
  });
});

describe('gitea', () => {
  const client = presetClient('gitea', { url: 'https://git.home.example/', secret });

  test('redirects to the callback of the "accouch" authentication source, without consent page', () => {
    expect(client).toMatchObject({ id: 'gitea', name: 'Gitea', redirectUris: ['https://git.home.example/user/oauth2/accouch/callback'], skipConsent: true });
  });

  test('prints the add-oauth command with the registered client, the discovery URL, groups and admins', () => {
    const words = shellWords(block(setup('gitea', client), 'sh'));
    expect(words.slice(0, 4)).toEqual(['gitea', 'admin', 'auth', 'add-oauth']);
    const f = flags(words);
    expect(Object.fromEntries(f)).toEqual({
      name: ['accouch'],
      provider: ['openidConnect'],
      key: [client.id],
      secret: [secret],
      'auto-discover-url': [`${issuer}/.well-known/openid-configuration`],
      scopes: ['openid', 'email', 'profile', 'groups'],
      'group-claim-name': ['groups'],
      'admin-group': ['admins'],
      'skip-local-2fa': ['true'],
    });
    // Gitea's callback is <ROOT_URL>user/oauth2/<source name>/callback.
    expect(`https://git.home.example/user/oauth2/${f.get('name')![0]}/callback`).toBe(client.redirectUris[0]);
  });

  test('prints app.ini settings that create and link accounts by username', () => {
    const ini = parseIni(block(setup('gitea', client), 'ini'));
    expect(ini.oauth2_client).toEqual({ ENABLE_AUTO_REGISTRATION: true, USERNAME: 'nickname', ACCOUNT_LINKING: 'auto', UPDATE_AVATAR: true });
    expect(ini.service).toEqual({ ALLOW_ONLY_EXTERNAL_REGISTRATION: true });
  });

  test('a secret with shell metacharacters stays one word', () => {
    const odd = presetClient('gitea', { url: 'https://git.home.example', secret: "it's a $ecret; rm -rf" });
    expect(flags(shellWords(block(setup('gitea', odd), 'sh'))).get('secret')).toEqual(["it's a $ecret; rm -rf"]);
  });
});

describe('oauth2-proxy', () => {
  const client = presetClient('oauth2-proxy', { url: 'https://media.home.example', secret });

  test('registers <url>/oauth2/callback', () => {
    expect(client).toMatchObject({ id: 'oauth2-proxy', redirectUris: ['https://media.home.example/oauth2/callback'], skipConsent: true });
  });

  test('prints a complete oauth2-proxy.cfg: OIDC, PKCE S256, groups, verified email only, a 32-byte cookie secret', () => {
    const cfg = parseToml(block(setup('oauth2-proxy', client), 'toml'));
    expect(cfg).toMatchObject({
      provider: 'oidc',
      oidc_issuer_url: issuer,
      client_id: client.id,
      client_secret: secret,
      redirect_url: client.redirectUris[0],
      code_challenge_method: 'S256',
      scope: 'openid email profile groups',
      oidc_groups_claim: 'groups',
      insecure_oidc_allow_unverified_email: false,
      email_domains: ['*'],
      skip_provider_button: true,
      cookie_secure: true,
      whitelist_domains: ['media.home.example'],
      reverse_proxy: true,
      upstreams: ['static://202'],
    });
    expect(cfg.proxy_prefix).toBeUndefined();
    expect(Buffer.from(String(cfg.cookie_secret), 'base64url')).toHaveLength(32);
    // A fresh cookie secret each time.
    expect(parseToml(block(setup('oauth2-proxy', client), 'toml')).cookie_secret).not.toBe(cfg.cookie_secret);
  });

  test('prints a Traefik forwardAuth Middleware and the IngressRoute that sends /oauth2/ to oauth2-proxy', () => {
    const docs = parseAllDocuments(block(setup('oauth2-proxy', client), 'yaml'));
    for (const doc of docs) expect(doc.errors).toEqual([]);
    const [middleware, route] = docs.map((d) => d.toJS());
    expect(middleware).toMatchObject({
      apiVersion: 'traefik.io/v1alpha1',
      kind: 'Middleware',
      metadata: { name: 'oauth2-proxy' },
      spec: { forwardAuth: { address: expect.stringMatching(/^http:\/\/oauth2-proxy\.[\w.-]+:4180\/$/), trustForwardHeader: true } },
    });
    expect(route).toMatchObject({ apiVersion: 'traefik.io/v1alpha1', kind: 'IngressRoute', spec: { entryPoints: ['websecure'] } });
    const [callbackRoute, appRoute] = route.spec.routes;
    expect(callbackRoute.match).toBe('Host(`media.home.example`) && PathPrefix(`/oauth2/`)');
    expect(callbackRoute.services[0].name).toBe('oauth2-proxy');
    expect(callbackRoute.middlewares).toBeUndefined();
    expect(appRoute.match).toBe('Host(`media.home.example`)');
    expect(appRoute.middlewares).toEqual([{ name: middleware.metadata.name }]);
  });

  test('an app under a path gets its own proxy prefix, and plain http drops the secure cookie', () => {
    const under = presetClient('oauth2-proxy', { url: 'http://home.example:8080/media/', secret });
    expect(under.redirectUris).toEqual(['http://home.example:8080/media/oauth2/callback']);
    const text = setup('oauth2-proxy', under);
    const cfg = parseToml(block(text, 'toml'));
    expect(cfg).toMatchObject({ proxy_prefix: '/media/oauth2', redirect_url: under.redirectUris[0], cookie_secure: false, whitelist_domains: ['home.example:8080'] });
    const route = parseAllDocuments(block(text, 'yaml'))[1]!.toJS();
    expect(route.spec.entryPoints).toEqual(['web']);
    expect(route.spec.routes.map((r: { match: string }) => r.match)).toEqual([
      'Host(`home.example`) && PathPrefix(`/media/oauth2/`)',
      'Host(`home.example`) && PathPrefix(`/media`)',
    ]);
  });
});

describe('grafana', () => {
  const client = presetClient('grafana', { url: 'https://grafana.home.example', secret });

  test('registers /login/generic_oauth and /login after sign-out', () => {
    expect(client).toMatchObject({
      id: 'grafana', redirectUris: ['https://grafana.home.example/login/generic_oauth'], postLogoutRedirectUris: ['https://grafana.home.example/login'],
    });
  });

  test('prints [auth.generic_oauth] with our endpoints, PKCE, Basic auth and the role from groups', () => {
    const ini = parseIni(block(setup('grafana', client), 'ini'));
    const oauth = ini.auth.generic_oauth;
    expect(oauth).toMatchObject({
      enabled: true,
      client_id: client.id,
      client_secret: secret,
      scopes: 'openid email profile groups',
      auth_url: `${issuer}/auth`,
      token_url: `${issuer}/token`,
      api_url: `${issuer}/me`,
      use_pkce: true,
      auth_style: 'InHeader',
      login_attribute_path: 'preferred_username',
      email_attribute_path: 'email',
      groups_attribute_path: 'groups',
      role_attribute_path: "contains(groups[*], 'admins') && 'Admin' || 'Viewer'",
    });
    // Grafana's callback is root_url + login/generic_oauth.
    expect(`${ini.server.root_url}login/generic_oauth`).toBe(client.redirectUris[0]);
    const signOut = new URL(oauth.signout_redirect_url);
    expect(`${signOut.origin}${signOut.pathname}`).toBe(`${issuer}/session/end`);
    expect(Object.fromEntries(signOut.searchParams)).toEqual({ client_id: client.id, post_logout_redirect_uri: client.postLogoutRedirectUris[0] });
  });

  test('builds endpoint URLs under an issuer with a path and a trailing slash', () => {
    const oauth = parseIni(block(presetInstructions('grafana', { issuer: 'https://home.example/id/', client, secret }), 'ini')).auth.generic_oauth;
    expect([oauth.auth_url, oauth.token_url, oauth.api_url]).toEqual(['https://home.example/id/auth', 'https://home.example/id/token', 'https://home.example/id/me']);
  });
});

describe('kubectl', () => {
  test('is the public native client `accouch kubeconfig` uses, and points there', () => {
    const client = presetClient('kubectl', { url: '' });
    expect(client).toEqual(kubectlClient());
    expect(client).toMatchObject({ id: 'kubectl', public: true, native: true, refresh: 'always', deviceFlow: true, skipConsent: true });
    expect(client.redirectUris).toContain('http://127.0.0.1/callback');
    const words = shellWords(block(setup('kubectl', client), 'sh').split('\n')[0]!);
    expect(words.slice(0, 4)).toEqual(['npx', 'accouch', 'kubeconfig', '--server']);
    expect(words[4]).toMatch(/^https:\/\/.+:6443$/);
  });
});

describe('generic', () => {
  test('is a confidential web client at <url>/callback, or at the redirect URIs given', () => {
    expect(presetClient('generic', { url: 'https://wiki.home.example', id: 'wiki', secret })).toMatchObject({
      id: 'wiki', public: false, secret, redirectUris: ['https://wiki.home.example/callback'], skipConsent: false,
    });
    expect(presetClient('generic', { url: 'https://wiki.home.example', id: 'wiki', redirectUris: ['https://wiki.home.example/oidc/cb'] }).redirectUris)
      .toEqual(['https://wiki.home.example/oidc/cb']);
  });

  test('prints the issuer, discovery URL, client id and secret', () => {
    const client = presetClient('generic', { url: 'https://wiki.home.example', id: 'wiki', secret });
    const fields = Object.fromEntries(block(setup('generic', client), 'text').trim().split('\n').map((line) => {
      const [, key, value] = /^([^:]+):\s+(.*)$/.exec(line)!;
      return [key, value];
    }));
    expect(fields).toMatchObject({
      Issuer: issuer,
      'Discovery URL': `${issuer}/.well-known/openid-configuration`,
      'Client ID': 'wiki',
      'Client secret': secret,
      'Redirect URI': 'https://wiki.home.example/callback',
    });
  });
});

describe('presets in the configuration file', () => {
  test('expand into the same clients, the secret read from secretFile', () => {
    const secretFile = tempFile('gitea-secret', `${secret}\n`);
    const file = tempFile('accouch.yaml', [
      'clients:',
      '  - preset: gitea',
      '    url: https://git.home.example',
      `    secretFile: ${secretFile}`,
      '  - preset: grafana',
      '    url: https://grafana.home.example',
      '    id: dashboards',
      `    secret: ${secret}`,
      '  - preset: kubectl',
      '  - preset: generic',
      '    id: wiki',
      '    url: https://wiki.home.example',
      `    secret: ${secret}`,
      '    redirectUris: [https://wiki.home.example/oidc/cb]',
      '  - id: plain',
      `    secret: ${secret}`,
      '    redirectUris: [https://plain.home.example/cb]',
      '',
    ].join('\n'));
    const clients = declaredClients(loadConfig({ env: {}, file }).clients);
    expect(clients.map((c) => c.id)).toEqual(['gitea', 'dashboards', 'kubectl', 'wiki', 'plain']);
    expect(clients[0]).toEqual({ ...presetClient('gitea', { url: 'https://git.home.example', secret }) });
    expect(clients[1]).toMatchObject({ secret, redirectUris: ['https://grafana.home.example/login/generic_oauth'] });
    expect(clients[2]).toEqual(kubectlClient());
    expect(clients[3]).toMatchObject({ secret, redirectUris: ['https://wiki.home.example/oidc/cb'] });
    expect(clients[4]).toMatchObject({ id: 'plain', secret });
  });

  test('report every bad preset entry with its path', () => {
    const file = tempFile('accouch.yaml', [
      'clients:',
      '  - preset: gitea',
      '    url: git.home.example',
      `    secret: ${secret}`,
      '  - preset: jenkins',
      '    url: https://ci.home.example',
      '  - preset: grafana',
      '    url: https://grafana.home.example',
      '  - preset: kubectl',
      `    secret: ${secret}`,
      '  - preset: generic',
      '    url: https://wiki.home.example',
      `    secret: ${secret}`,
      '  - preset: oauth2-proxy',
      `    secret: ${secret}`,
      '    redirectUris: [https://x.home.example/cb]',
      '    colour: blue',
      '',
    ].join('\n'));
    expect(problemsOf(() => loadConfig({ env: {}, file }))).toEqual([
      expect.stringMatching(/^clients\.0\.url: must be the http\(s\) address/),
      expect.stringMatching(/^clients\.1\.preset: .*"gitea"/),
      expect.stringMatching(/^clients\.2\.secret: give secret or secretFile/),
      expect.stringMatching(/^clients\.3\.secret: kubectl is a public client/),
      expect.stringMatching(/^clients\.4\.id: a generic app needs an id/),
      expect.stringMatching(/^clients\.5\.colour: unknown key/),
      expect.stringMatching(/^clients\.5\.url: the oauth2-proxy preset needs the address/),
      expect.stringMatching(/^clients\.5\.redirectUris: only a generic app/),
    ]);
  });

  test('a preset\'s default id counts against duplicates and the reserved id', () => {
    const file = tempFile('accouch.yaml', [
      'clients:',
      '  - preset: gitea',
      '    url: https://git.home.example',
      `    secret: ${secret}`,
      '  - id: gitea',
      `    secret: ${secret}`,
      '    redirectUris: [https://git2.home.example/cb]',
      '  - preset: generic',
      '    id: accouch',
      '    url: https://wiki.home.example',
      `    secret: ${secret}`,
      '',
    ].join('\n'));
    expect(problemsOf(() => loadConfig({ env: {}, file }))).toEqual([
      'clients.1.id: duplicate client id "gitea"',
      'clients.2.id: "accouch" is reserved for Accouch\'s own pages',
    ]);
  });

  test('a preset that does not expand is a configuration error naming the entry', () => {
    const run = () => declaredClients([{ preset: 'generic', id: 'wiki', url: 'https://wiki.home.example', secret: 'wiki-client-secret-0123456789', redirectUris: ['com.example.wiki:/cb'] }]);
    expect(run).toThrow(ConfigError);
    expect(problemsOf(run)).toEqual([expect.stringMatching(/^clients\.0 \(generic "wiki"\): redirectUris\.0: a web app redirects to http\(s\) only/)]);
  });
});

function problemsOf(run: () => unknown): string[] {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}
