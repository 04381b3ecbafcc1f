// App presets: the client each app needs (its redirect URIs, a secret, no consent page) and the text to paste into
// the app, for `accouch app add`, the owner console and `clients: - preset:` entries in the configuration file.
import { createHmac, randomBytes } from 'node:crypto';
import {
  clientSchema, ConfigError, entryClientId, presetNames, type ClientConfig, type ClientEntry, type PresetEntry,
} from '../config.js';
import { badRequest } from '../errors.js';
import { generic } from './generic.js';
import { gitea } from './gitea.js';
import { grafana } from './grafana.js';
import { kubectlClient, kubectlClientId } from './kube.js';
import { oauth2Proxy } from './oauth2-proxy.js';

/** 'gitea' | 'oauth2-proxy' | 'grafana' | 'kubectl' | 'generic' (listed in config.ts, which YAML entries are checked against). */
export type PresetName = (typeof presetNames)[number];
export interface PresetInfo { name: PresetName; title: string; description: string }

/** What an app file knows: who it is, the client it needs, and what to paste into it. */
export interface AppPreset {
  info: PresetInfo;
  /** The client for an app served at `base` (its URL without a trailing slash); clientSchema validates it. */
  client(input: { base: string; id: string; name?: string; secret?: string; redirectUris?: string[] }): Record<string, unknown>;
  instructions(input: SetupInput): string;
}

export interface SetupInput {
  issuer: string;
  /** The issuer without a trailing slash, for building endpoint URLs. */
  base: string;
  discovery: string;
  client: ClientConfig;
  /** The client secret, or a placeholder when it is not shown (a confidential client whose secret was shown before). */
  secret: string;
}

export interface PresetInput {
  url: string;
  id?: string;
  name?: string;
  secret?: string;
  /** generic only: the app's own redirect URIs instead of `<url>/callback`. */
  redirectUris?: string[];
}

const kubectl: AppPreset = {
  info: {
    name: 'kubectl',
    title: 'kubectl',
    description: 'Kubernetes from the command line: a public client on the laptop, refresh tokens, the device flow',
  },
  client: ({ id, name }) => ({ ...kubectlClient(id), ...(name ? { name } : {}) }),
  instructions: ({ client }) => [
    `kubectl signs in as the public client "${client.id}" (no secret). Where the Accouch CLI runs, print a kubeconfig`,
    'for your API server (add `--certificate-authority <ca.crt>` when its certificate is not from a public CA):',
    '',
    '```sh',
    'npx accouch kubeconfig --server https://<apiserver-host>:6443 > home.yaml',
    '```',
    '',
    'Copy home.yaml to each laptop and run `KUBECONFIG=home.yaml kubectl get namespaces`: the first call opens',
    'the browser on Accouch. `--device` signs in with a code instead, on machines without a browser.',
    'The API server must trust Accouch too: `npx accouch integrate kube-apiserver` prints its settings.',
    '',
  ].join('\n'),
};

const presets: Record<PresetName, AppPreset> = {
  gitea,
  'oauth2-proxy': oauth2Proxy,
  grafana,
  kubectl,
  generic,
};

/** Every preset, in the order the CLI and the owner console offer them. */
export function listPresets(): PresetInfo[] {
  return presetNames.map((name) => ({ ...presets[name].info }));
}

export const isPresetName = (value: string): value is PresetName => (presetNames as readonly string[]).includes(value);

/** A fresh client secret: 32 random bytes, base64url (safe in shell commands, INI, TOML and URLs). */
export const newPresetSecret = () => randomBytes(32).toString('base64url');

/** The app's URL without a trailing slash, or a readable error. */
function appBase(preset: PresetName, url: string): string {
  const parsed = URL.parse(url.trim());
  if (!parsed || !['http:', 'https:'].includes(parsed.protocol) || !parsed.hostname) {
    throw badRequest(`the ${preset} address must be an http(s) URL, such as https://${preset === 'grafana' ? 'grafana' : 'app'}.home.example (got "${url}")`);
  }
  if (parsed.search || parsed.hash || url.includes('?') || url.includes('#')) {
    throw badRequest(`the ${preset} address must not have a query or fragment (got "${url}")`);
  }
  return parsed.href.replace(/\/+$/, '');
}

/** The client to register for an app served at `url` (validated by clientSchema; throws AppError('bad_request') with a readable message for a bad url/id). */
export function presetClient(preset: PresetName, input: PresetInput): ClientConfig {
  const app = presets[preset];
  if (!app) throw badRequest(`unknown preset "${String(preset)}": one of ${presetNames.join(', ')}`);
  if (preset === 'kubectl' && input.id && input.id !== kubectlClientId) {
    throw badRequest(`kubectl's client is "${kubectlClientId}" (\`accouch kubeconfig\` signs in as it): leave the id empty`);
  }
  if (preset === 'generic' && !input.id) throw badRequest('a generic app needs an id (the client_id it will send), such as "wiki"');
  if (input.redirectUris?.length && preset !== 'generic') throw badRequest(`the ${preset} preset knows its redirect URI: only a generic app takes redirect URIs`);
  const base = preset === 'kubectl' ? '' : appBase(preset, input.url);
  const id = input.id?.trim() || preset;
  const secret = preset === 'kubectl' ? undefined : input.secret ?? newPresetSecret();
  const parsed = clientSchema.safeParse(app.client({ base, id, name: input.name?.trim() || undefined, secret, redirectUris: input.redirectUris }));
  if (!parsed.success) {
    throw badRequest(parsed.error.issues.map((issue) => `${issue.path.join('.') || preset}: ${issue.message}`).join('\n'));
  }
  return parsed.data;
}

/** What to paste into the app: plain text (commands, config files), for the CLI and the owner console. */
export function presetInstructions(preset: PresetName, input: { issuer: string; client: ClientConfig; secret?: string }): string {
  const app = presets[preset];
  if (!app) throw badRequest(`unknown preset "${String(preset)}": one of ${presetNames.join(', ')}`);
  const base = input.issuer.replace(/\/+$/, '');
  return app.instructions({
    issuer: input.issuer,
    base,
    discovery: `${base}/.well-known/openid-configuration`,
    client: input.client,
    secret: input.secret ?? 'PASTE-THE-CLIENT-SECRET',
  });
}

/**
 * The clients a configuration declares, presets expanded; a preset that does not expand is reported like any
 * other configuration error, with its path.
 */
export function declaredClients(entries: readonly ClientEntry[]): ClientConfig[] {
  const problems: string[] = [];
  const clients = entries.flatMap((entry, index) => {
    if (!('preset' in entry)) return [entry];
    const { preset, url, id, name, secret, redirectUris } = entry as PresetEntry;
    try {
      return [presetClient(preset, { url: url ?? '', id, name, secret, redirectUris })];
    } catch (error) {
      problems.push(`clients.${index} (${preset} "${entryClientId(entry)}"): ${(error as Error).message}`);
      return [];
    }
  });
  if (problems.length) throw new ConfigError(problems);
  return clients;
}

/** What an app reads from the Secret Accouch writes for a cluster resource (README "Give an app SSO in one resource"). */
export interface SecretValues { clientId: string; clientSecret: string; issuer: string; discovery: string }

/**
 * A preset app's own keys in that Secret, named as its Helm chart reads them: Gitea's `oauth[].existingSecret`
 * (key, secret), oauth2-proxy's `config.existingSecret` (client-id, client-secret, cookie-secret) and Grafana's
 * `envFromSecret` (GF_AUTH_GENERIC_OAUTH_* variables). The cookie secret follows from the client secret, so it
 * stays the same until the secret is rotated.
 */
export function presetSecretKeys(preset: PresetName | undefined, v: SecretValues): Record<string, string> {
  switch (preset) {
    case 'gitea':
      return { key: v.clientId, secret: v.clientSecret };
    case 'oauth2-proxy':
      return {
        'client-id': v.clientId,
        'client-secret': v.clientSecret,
        'cookie-secret': createHmac('sha256', v.clientSecret).update('oauth2-proxy cookie secret').digest('base64url'),
      };
    case 'grafana':
      return {
        GF_AUTH_GENERIC_OAUTH_CLIENT_ID: v.clientId,
        GF_AUTH_GENERIC_OAUTH_CLIENT_SECRET: v.clientSecret,
        GF_AUTH_GENERIC_OAUTH_AUTH_URL: `${v.issuer.replace(/\/+$/, '')}/auth`,
        GF_AUTH_GENERIC_OAUTH_TOKEN_URL: `${v.issuer.replace(/\/+$/, '')}/token`,
        GF_AUTH_GENERIC_OAUTH_API_URL: `${v.issuer.replace(/\/+$/, '')}/me`,
      };
    default:
      return {};
  }
}
