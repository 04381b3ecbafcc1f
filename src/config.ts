// The one configuration schema: defaults < YAML file (ACCOUCH_CONFIG) < env (ACCOUCH_*) < ACCOUCH_*_FILE.
// Every problem is collected and reported with its path; nothing else in the codebase reads process.env.
import { createPublicKey, type JsonWebKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type YAML from 'yaml';
import { z } from 'zod';

// Zod compiles a schema to JavaScript at its first parse: worth it for a schema parsed many times, not for ours
// (this setting is global: the configuration is parsed once, at start, where compiling cost more than all the
// parsing after it; forms and app registrations take microseconds either way).
z.config({ jitless: true });

const redirectUri = z.string().refine((value) => {
  const url = URL.parse(value);
  return url !== null && url.hash === '' && !value.includes('#');
}, 'must be an absolute URI without a fragment');

const clientId = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, ".", "_" and "-", at most 64');

export const signingAlgs = ['RS256', 'ES256', 'EdDSA'] as const;
export const refreshPolicies = ['offline_access', 'always', 'never'] as const;

/** The client id of Accouch's own account pages; no app may take it. */
export const accountClientId = 'accouch';

/** The first-party client forward-auth signs browsers in through (src/http/forward-auth.ts); no app may take it. */
export const forwardAuthClientId = 'accouch-forward-auth';

/** The client `accouch kubeconfig` registers; its id_tokens live ttl.kubectlIdToken. */
export const kubectlClientId = 'kubectl';

export const strengths = ['any', 'mfa', 'phr', 'deny'] as const;
const strength = z.enum(strengths);

const cidr = z.string().refine((value) => {
  const [address, bits, ...rest] = value.split('/');
  if (rest.length || !address) return false;
  const v4 = /^(\d{1,3})(\.\d{1,3}){3}$/.test(address) && address.split('.').every((o) => Number(o) <= 255);
  const v6 = address.includes(':') && URL.canParse(`http://[${address}]/`);
  const max = v4 ? 32 : 128;
  return (v4 || v6) && (bits === undefined || (/^\d{1,3}$/.test(bits) && Number(bits) <= max));
}, 'must be an IPv4 or IPv6 address or CIDR, e.g. 192.168.1.0/24');

const networkPolicySchema = z.strictObject({
  home: strength.optional().describe('minimum sign-in from the home network: any, mfa, phr (passkey or security key) or deny'),
  outside: strength.optional().describe('minimum sign-in from outside the home network'),
});

/** How a confidential client proves itself at the token endpoint (public clients: none, PKCE only). */
export const tokenEndpointAuthMethods = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;

/** A client's public keys (private_key_jwt): a JWK Set of public keys node:crypto can read. */
const clientJwks = z.strictObject({ keys: z.array(z.record(z.string(), z.unknown())).min(1) }).superRefine((jwks, ctx) => {
  jwks.keys.forEach((jwk, i) => {
    const problem = (message: string) => ctx.addIssue({ code: 'custom', path: ['keys', i], message });
    if ('d' in jwk || 'k' in jwk) return problem('only public keys: this key holds private material (d or k)');
    try {
      createPublicKey({ key: jwk as JsonWebKey, format: 'jwk' });
    } catch (error) {
      problem(`not a public key: ${(error as Error).message}`);
    }
  });
});

export const clientSchema = z.strictObject({
  id: clientId.describe('client_id the app sends'),
  name: z.string().min(1).optional().describe('name shown on the consent page'),
  secret: z.string().min(16).optional().describe('client secret of a confidential client (at least 16 characters)'),
  secretFile: z.string().optional().describe('file holding the client secret (a mounted Secret)'),
  public: z.boolean().default(false).describe('public client: no secret, PKCE only (SPAs, CLIs)'),
  tokenEndpointAuthMethod: z.enum(tokenEndpointAuthMethods).optional()
    .describe('how a confidential client authenticates at the token endpoint: client_secret_basic (default), client_secret_post (the secret in the form), or private_key_jwt (a JWT signed with its key: give jwks or jwksUri)'),
  jwks: clientJwks.optional().describe('private_key_jwt: the client\'s public keys, a JWK Set ({ keys: [...] })'),
  jwksUri: z.url({ protocol: /^https?$/ })
    .refine((uri) => { const url = URL.parse(uri); return url?.protocol !== 'http:' || ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname); }, 'must be https (http only on a loopback address): whoever can change the keys on the way can sign in as the app')
    .optional().describe('private_key_jwt: where Accouch fetches the client\'s public keys (JWK Set; https, or http on a loopback address)'),
  native: z.boolean().default(false).describe('native app: loopback redirect URIs match on any port (RFC 8252)'),
  redirectUris: z.array(redirectUri).default([]).describe('exact redirect URIs'),
  postLogoutRedirectUris: z.array(redirectUri).default([]).describe('exact post-logout redirect URIs'),
  backchannelLogoutUri: z.url({ protocol: /^https?$/ }).optional()
    .describe('back-channel logout: Accouch POSTs a logout_token here when the user signs out'),
  allowedGroups: z.array(z.string().min(1)).default([]).describe('only members of these groups may sign in (empty: everyone)'),
  idTokenAlg: z.enum(signingAlgs).default('RS256').describe('id_token signing algorithm'),
  refresh: z.enum(refreshPolicies).default('offline_access')
    .describe('refresh tokens: when offline_access is granted, always (kubectl, kubelogin), or never'),
  clientCredentials: z.boolean().default(false).describe('allow the client_credentials grant (confidential clients)'),
  deviceFlow: z.boolean().default(false).describe('allow the device authorization grant'),
  skipConsent: z.boolean().default(false).describe('first-party app: no consent page'),
  pkce: z.boolean().default(true)
    .describe('require PKCE (S256); only a confidential client of an app that cannot send it (Gitea before PKCE support) may turn it off'),
  policy: networkPolicySchema.optional().describe('this app\'s own minimum sign-in per network (stricter of this and the global policy)'),
}).superRefine((client, ctx) => {
  const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  const keyAuth = client.tokenEndpointAuthMethod === 'private_key_jwt';
  if (client.public && (client.secret || client.secretFile)) problem('secret', 'a public client has no secret');
  if (client.public && client.tokenEndpointAuthMethod) problem('tokenEndpointAuthMethod', 'a public client does not authenticate (it uses PKCE): leave tokenEndpointAuthMethod out');
  if (!client.public && !keyAuth && !client.secret && !client.secretFile) problem('secret', 'a confidential client needs secret or secretFile');
  if (keyAuth && (client.secret || client.secretFile)) problem('secret', 'a private_key_jwt client proves itself with its key: give no secret');
  if (keyAuth && !client.jwks && !client.jwksUri) problem('jwks', 'private_key_jwt needs the client\'s public keys: give jwks or jwksUri');
  if (client.jwks && client.jwksUri) problem('jwksUri', 'give jwks or jwksUri, not both');
  if (!keyAuth && (client.jwks || client.jwksUri)) problem(client.jwks ? 'jwks' : 'jwksUri', 'keys are only for tokenEndpointAuthMethod: private_key_jwt');
  if (client.secret && client.secretFile) problem('secretFile', 'give secret or secretFile, not both');
  if (!client.redirectUris.length && !client.deviceFlow && !client.clientCredentials) {
    problem('redirectUris', 'give redirectUris, or enable deviceFlow or clientCredentials');
  }
  if (client.public && client.clientCredentials) problem('clientCredentials', 'a public client cannot use client_credentials');
  if (client.public && !client.pkce) problem('pkce', 'a public client must use PKCE: it has no secret to protect its codes');
  client.redirectUris.forEach((uri, i) => {
    const url = URL.parse(uri);
    const loopback = url && ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
    if (client.native && url?.protocol === 'http:' && !loopback) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris', i], message: 'a native app may use http only on a loopback address' });
    }
    if (!client.native && url && !['http:', 'https:'].includes(url.protocol)) {
      ctx.addIssue({ code: 'custom', path: ['redirectUris', i], message: 'a web app redirects to http(s) only (set native for custom schemes)' });
    }
  });
});
export type ClientConfig = z.infer<typeof clientSchema>;

/** Apps with a preset (src/integrations/presets.ts): a `clients` entry may name one instead of spelling the client out. */
export const presetNames = ['gitea', 'oauth2-proxy', 'grafana', 'kubectl', 'generic'] as const;

const appUrl = z.string().refine((value) => {
  const url = URL.parse(value);
  return url !== null && ['http:', 'https:'].includes(url.protocol) && !value.includes('?') && !value.includes('#');
}, 'must be the http(s) address the app is served at, without query or fragment');

/** A `clients` entry naming a preset; expanded into the preset's client at startup (the server cannot print a secret). */
export const presetEntrySchema = z.strictObject({
  preset: z.enum(presetNames),
  url: appUrl.optional(),
  id: clientSchema.shape.id.optional(),
  name: clientSchema.shape.name,
  secret: clientSchema.shape.secret,
  secretFile: clientSchema.shape.secretFile,
  redirectUris: z.array(redirectUri).optional(),
}).superRefine((entry, ctx) => {
  const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  const isPublic = entry.preset === 'kubectl';
  if (!entry.url && !isPublic) problem('url', `the ${entry.preset} preset needs the address the app is served at`);
  if (entry.preset === 'generic' && !entry.id) problem('id', 'a generic app needs an id');
  if (entry.redirectUris && entry.preset !== 'generic') problem('redirectUris', 'only a generic app takes redirectUris (a preset knows its own)');
  if (isPublic && (entry.secret || entry.secretFile)) problem('secret', 'kubectl is a public client: it has no secret');
  if (!isPublic && !entry.secret && !entry.secretFile) problem('secret', 'give secret or secretFile (generate one with `openssl rand -base64 32`)');
  if (entry.secret && entry.secretFile) problem('secretFile', 'give secret or secretFile, not both');
});
export type PresetEntry = z.infer<typeof presetEntrySchema>;
export type ClientEntry = ClientConfig | PresetEntry;

/** The id a `clients` entry registers: its own, or its preset's name. */
export const entryClientId = (entry: ClientEntry) => entry.id ?? ('preset' in entry ? entry.preset : '');

// An entry is a preset when it says so; each kind reports its own problems (a union would only say "invalid input").
// The README reference shows both kinds as one list of keys.
// Made when the reference is written (config-reference.ts), not at every start.
const documentedEntry = {
  type: 'object',
  get properties() {
    const json = (schema: z.ZodType) => schema.toJSONSchema({ io: 'output', unrepresentable: 'any' }) as { properties: Record<string, object> };
    const client = json(clientSchema).properties;
    const preset = json(presetEntrySchema).properties;
    return {
      ...client,
      id: { ...client.id, description: 'client_id the app sends (required, except with preset: the preset\'s name by default)' },
      preset: { ...preset.preset, description: 'instead of the keys above, an app preset: id (optional except for generic), name, secret or secretFile, url, and redirectUris for generic' },
      url: { ...preset.url, description: 'with preset: the address the app is served at (not needed for kubectl)' },
    };
  },
};
const clientEntrySchema = z.unknown().transform((value, ctx): ClientEntry => {
  const schema = value !== null && typeof value === 'object' && 'preset' in value ? presetEntrySchema : clientSchema;
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  // Refinement problems leave a well-formed entry: the list's own checks (duplicate ids) still run, as without presets.
  const wellFormed = result.error.issues.every((issue) => issue.code === 'custom');
  for (const issue of result.error.issues) ctx.addIssue({ ...issue, continue: wellFormed } as Parameters<typeof ctx.addIssue>[0]);
  return wellFormed ? (value as ClientEntry) : z.NEVER;
}).meta(documentedEntry);

/** A host name as a browser sends it in Host (lower case, optional port), never a URL, a wildcard or an IP literal with a path. */
const appHost = z.string().transform((v) => v.trim().toLowerCase()).refine((value) => {
  if (!/^[a-z0-9.:[\]-]{1,255}$/.test(value)) return false;
  const url = URL.parse(`http://${value}/`);
  return url !== null && url.host === value;
}, 'must be a host name as the browser sends it, e.g. jellyfin.home.example or app.home.example:8443');

const headerName = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'an HTTP header name: letters, digits and "-"');

/** An app behind a reverse proxy (Traefik, Caddy, nginx) that signs in through Accouch's forward-auth endpoint. */
export const forwardAuthAppSchema = z.strictObject({
  id: clientId.describe('identifier of the protected app'),
  name: z.string().min(1).optional().describe('name shown on the refusal page (default: the id)'),
  hosts: z.array(appHost).min(1).describe('host names the app is served at (as in the browser\'s address bar, with a port if not 80/443)'),
  allowedGroups: z.array(z.string().min(1)).default([]).describe('only members of these groups may use the app (empty: everyone)'),
  policy: networkPolicySchema.optional().describe('this app\'s own minimum sign-in per network (stricter of this and the global policy)'),
  headers: z.strictObject({
    user: headerName.default('Remote-User').describe('header with the username'),
    groups: headerName.default('Remote-Groups').describe('header with the groups, comma-separated'),
    email: headerName.default('Remote-Email').describe('header with the email address'),
    name: headerName.default('Remote-Name').describe('header with the display name'),
  }).prefault({}).describe('names of the identity headers the app receives'),
});
export type ForwardAuthAppConfig = z.infer<typeof forwardAuthAppSchema>;

// Numbers from the environment arrive as strings: a blank one is an error, not zero.
const number = () => z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? Number.NaN : v), z.coerce.number());

/** Kinds of upstream identity providers a household member may sign in with. */
export const upstreamTypes = ['github', 'google', 'oidc'] as const;

const loopbackHosts = ['localhost', '127.0.0.1', '[::1]'];
/** An upstream's address: https, or http on a loopback address only (a provider on the same machine, tests). */
const upstreamUrl = z.string().refine((value) => {
  const url = URL.parse(value);
  return url !== null && !url.search && !url.hash && !value.includes('#')
    && (url.protocol === 'https:' || (url.protocol === 'http:' && loopbackHosts.includes(url.hostname)));
}, 'must be an https URL without query or fragment (http only on a loopback address)');

const lowerList = z.array(z.string().trim().min(1).transform((v) => v.toLowerCase())).default([]);

/** An upstream identity provider ("Continue with …"): GitHub (OAuth 2 and its REST API), Google, or any OpenID Connect issuer. */
export const upstreamSchema = z.strictObject({
  id: z.string().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'lower-case letters, digits and "-", at most 32')
    .describe('identifier, part of the callback URL <issuer>/federation/<id>/callback'),
  type: z.enum(upstreamTypes).describe('github, google or oidc (any OpenID Connect issuer)'),
  name: z.string().trim().min(1).max(40).optional().describe('shown as "Continue with <name>" (default: GitHub, Google, or the id)'),
  clientId: z.string().min(1).max(256).describe('client id of the OAuth app registered at the upstream'),
  clientSecret: z.string().min(1).max(512).optional().describe('its client secret'),
  clientSecretFile: z.string().optional().describe('file holding the client secret (a mounted Secret)'),
  issuer: upstreamUrl.optional().describe('oidc: the issuer URL (discovery at <issuer>/.well-known/openid-configuration); google: default https://accounts.google.com'),
  baseUrl: upstreamUrl.optional().describe('github: the web address, for GitHub Enterprise Server (default https://github.com)'),
  apiUrl: upstreamUrl.optional().describe('github: the REST API address (default https://api.github.com; GitHub Enterprise Server: <baseUrl>/api/v3)'),
  scopes: z.array(z.string().regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'a scope token')).default([]).describe('scopes to ask for besides the ones Accouch needs'),
  groups: z.record(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*(\/[A-Za-z0-9][A-Za-z0-9_.-]*)?$/, 'an organisation, or organisation/team'), z.string().trim().min(1).max(64))
    .default({}).describe('github: organisation or "organisation/team" → local group, synchronised at every sign-in'),
  allow: z.strictObject({
    githubLogins: lowerList.describe('github: these GitHub logins'),
    githubOrgs: lowerList.describe('github: members of these organisations'),
    googleDomains: lowerList.describe('google: accounts of these Google Workspace domains (the hd claim)'),
    emails: lowerList.describe('these email addresses, when the upstream says they are verified'),
  }).prefault({}).describe('who gets a household account on first sign-in without being linked (default: nobody)'),
  timeout: number().pipe(z.number().int().min(1).max(10)).default(10).describe('seconds to wait for the upstream before giving up'),
}).superRefine((upstream, ctx) => {
  const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (!upstream.clientSecret && !upstream.clientSecretFile) problem('clientSecret', 'give clientSecret or clientSecretFile');
  if (upstream.clientSecret && upstream.clientSecretFile) problem('clientSecretFile', 'give clientSecret or clientSecretFile, not both');
  if (upstream.type === 'oidc' && !upstream.issuer) problem('issuer', 'an oidc upstream needs its issuer URL');
  if (upstream.type === 'github' && upstream.issuer) problem('issuer', 'GitHub is not an OpenID Connect issuer: use baseUrl and apiUrl for GitHub Enterprise Server');
  if (upstream.type !== 'github') {
    for (const key of ['baseUrl', 'apiUrl'] as const) if (upstream[key]) problem(key, 'only for github');
    if (Object.keys(upstream.groups).length) problem('groups', 'only for github (organisation and team membership)');
    if (upstream.allow.githubLogins.length) ctx.addIssue({ code: 'custom', path: ['allow', 'githubLogins'], message: 'only for github' });
    if (upstream.allow.githubOrgs.length) ctx.addIssue({ code: 'custom', path: ['allow', 'githubOrgs'], message: 'only for github' });
  }
  if (upstream.type !== 'google' && upstream.allow.googleDomains.length) ctx.addIssue({ code: 'custom', path: ['allow', 'googleDomains'], message: 'only for google' });
});
export type UpstreamConfig = z.infer<typeof upstreamSchema>;

const seconds = (d: number) => number().pipe(z.number().int().min(1)).default(d);

/** Kinds of sign-in alert (auth/alerts): what happened, as a person would put it. */
export const alertKinds = ['outside', 'newBrowser', 'factor', 'locked', 'newApp', 'link', 'notMe'] as const;
export type AlertKind = (typeof alertKinds)[number];
export const alertChannels = ['push', 'email'] as const;
export type AlertChannel = (typeof alertChannels)[number];
const alertKindDefaults: Record<AlertKind, AlertChannel[]> = {
  outside: ['push', 'email'], newBrowser: ['push', 'email'], factor: ['push', 'email'], locked: ['push', 'email'],
  newApp: ['push'], link: ['push', 'email'], notMe: ['push', 'email'],
};
const alertKindHelp: Record<AlertKind, string> = {
  outside: 'a sign-in from outside the home network (the owner also gets everyone\'s)',
  newBrowser: 'a sign-in from a browser this person never used',
  factor: 'a passkey, security key, authenticator app or password added or removed',
  locked: 'a password locked by failed attempts (the owner also gets everyone\'s)',
  newApp: 'an app signed in to for the first time',
  link: 'a setup, invitation or reset link used',
  notMe: '"This wasn\'t me" confirmed (the owner gets everyone\'s)',
};
const alertChannelList = (d: AlertChannel[]) => z.array(z.enum(alertChannels)).default(d);

export const configSchema = z.strictObject({
  issuer: z.string().default('http://localhost:8080').refine((value) => {
    const url = URL.parse(value);
    return url !== null && ['http:', 'https:'].includes(url.protocol) && !value.includes('?') && !value.includes('#');
  }, 'must be an http(s) URL without query or fragment').describe('issuer URL, used byte-exact'),
  host: z.string().optional().describe('address to listen on (default: all interfaces)'),
  port: number().pipe(z.number().int().min(0).max(65535)).default(8080).describe('port to listen on (0: any free port)'),
  dataDir: z.string().min(1).default('./data').describe('directory of the SQLite database (and of the generated secret.key)'),
  databaseUrl: z.string().refine((value) => /^postgres(ql)?:\/\/./i.test(value) && URL.canParse(value), 'must be a postgres:// or postgresql:// URL')
    .optional()
    .describe('PostgreSQL instead of the embedded SQLite, e.g. postgres://accouch:PASSWORD@db:5432/accouch (ACCOUCH_DATABASE_URL_FILE for a mounted Secret); needed for several replicas; requires secretKey'),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info').describe('log level'),
  trustProxy: z.stringbool().or(z.boolean()).default(false)
    .describe('behind a TLS-terminating proxy: trust X-Forwarded-Proto/-For (the issuer host always wins)'),
  secretKey: z.string().min(32).optional()
    .describe('key that encrypts TOTP secrets and signs links: a passphrase of at least 32 characters, or a secret.key file\'s content (used as is); default: generated into <dataDir>/secret.key; required with databaseUrl, the same on every replica'),
  login: z.strictObject({
    showUserList: z.stringbool().or(z.boolean()).default(true).describe('"Other user" shows the household as tiles (false: a username field)'),
  }).prefault({}).describe('the sign-in page'),
  webauthn: z.strictObject({
    rpId: z.string().optional().describe('WebAuthn relying party id (default: the issuer\'s host name)'),
    rpName: z.string().default('Accouch').describe('name authenticators show'),
  }).prefault({}).describe('passkeys and security keys'),
  network: z.strictObject({
    trusted: z.array(cidr).default(['127.0.0.0/8', '::1/128', '10.0.0.0/8', '172.16.0.0/12', '192.168.0.0/16', 'fc00::/7', 'fe80::/10'])
      .describe('addresses of the home network'),
    trustedProxies: z.array(cidr).default([])
      .describe('proxies whose X-Forwarded-For is believed (e.g. the ingress); empty: the peer address is the client'),
  }).prefault({}).describe('which sign-ins come from home'),
  policy: z.strictObject({
    home: strength.default('any').describe('minimum sign-in from the home network: any, mfa, phr (passkey or security key) or deny'),
    outside: strength.default('mfa').describe('minimum sign-in from outside the home network'),
  }).prefault({}).describe('sign-in strength required, per network, for every app'),
  ttl: z.strictObject({
    idToken: seconds(3600).describe('id_token lifetime'),
    kubectlIdToken: seconds(900).describe('id_token lifetime for the kubectl client (kube-apiserver trusts an id_token until it expires: keep it short)'),
    accessToken: seconds(3600).describe('access token lifetime'),
    refreshToken: seconds(14 * 86400).describe('refresh token lifetime (rotated on every use)'),
    session: seconds(14 * 86400).describe('browser session lifetime'),
    grant: seconds(14 * 86400).describe('grant lifetime'),
    interaction: seconds(3600).describe('sign-in page lifetime'),
    deviceCode: seconds(600).describe('device code lifetime'),
    clientCredentials: seconds(600).describe('client_credentials token lifetime'),
  }).prefault({}).describe('token and session lifetimes in seconds'),
  timeouts: z.strictObject({
    headers: seconds(10).describe('a client must send the request line and headers within this time, or gets 408'),
    request: seconds(30).describe('a client must send the whole request, body included, within this time, or gets 408'),
    keepAlive: seconds(5).describe('an idle keep-alive connection is closed after this time'),
  }).prefault({}).describe('HTTP server timeouts in seconds: a slow or stalled client cannot hold a connection'),
  metrics: z.strictObject({
    port: number().pipe(z.number().int().min(0).max(65535)).optional()
      .describe('serve /metrics on a listener of its own at this port (0: any free port); off unless this or metrics.token is set'),
    host: z.string().default('127.0.0.1').describe('address of the metrics listener (the default keeps it on this machine)'),
    token: z.string().min(16).optional()
      .describe('bearer token for /metrics (at least 16 characters); with it, the public listener serves /metrics too, and every scrape must send it'),
  }).prefault({}).describe('Prometheus metrics (GET /metrics); off unless a port or a token is set'),
  notify: z.strictObject({
    ...Object.fromEntries(alertKinds.map((kind) => [kind, alertChannelList(alertKindDefaults[kind]).describe(alertKindHelp[kind])])) as Record<AlertKind, ReturnType<typeof alertChannelList>>,
    webhookUrl: z.url({ protocol: /^https?$/ }).optional()
      .describe('POST every alert of webhookEvents here as JSON (ntfy, Gotify, Matrix hookshot); the body names what happened, never a link, code or token'),
    webhookEvents: z.array(z.enum(alertKinds)).default(['outside', 'locked', 'notMe']).describe('alert kinds sent to the webhook (the whole household\'s)'),
    pushContact: z.string().regex(/^(mailto:.+|https:\/\/.+)$/, 'a mailto: or https: URL').optional()
      .describe('contact push services see in our VAPID token (default: mailto:accouch@<issuer host>)'),
    retrySeconds: seconds(30).describe('first retry of a failed delivery; each next one waits twice as long (at most an hour); dropped after a day'),
    timeout: seconds(10).describe('seconds to wait for a push service, mail server or webhook'),
  }).prefault({}).describe('sign-in alerts: the channels each kind goes to unless the person chooses otherwise on /account (push, email)'),
  smtp: z.strictObject({
    host: z.string().min(1).optional().describe('mail server for alert emails (email alerts are off without it)'),
    port: number().pipe(z.number().int().min(1).max(65535)).default(587).describe('its port'),
    security: z.enum(['starttls', 'tls', 'none']).default('starttls').describe('starttls (required), tls (implicit, usually port 465) or none'),
    user: z.string().min(1).optional().describe('user to log in as'),
    password: z.string().min(1).optional().describe('its password (ACCOUCH_SMTP_PASSWORD_FILE for a mounted Secret)'),
    passwordFile: z.string().optional().describe('file holding the password'),
    from: z.string().min(3).optional().describe('sender, e.g. "Accouch <accouch@example.org>" (default: accouch@<issuer host>)'),
  }).prefault({}).describe('SMTP for alert emails'),
  kubernetes: z.strictObject({
    enabled: z.stringbool().or(z.boolean()).default(false)
      .describe('watch AccouchClient resources in the cluster and register their apps (README "Give an app SSO in one resource")'),
    kubeconfig: z.string().optional()
      .describe('kubeconfig file to reach the API server with (default: the pod\'s service account, in-cluster)'),
    namespaces: z.array(z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a namespace name')).default([])
      .describe('namespaces whose AccouchClients are served (empty: every namespace)'),
    leaseNamespace: z.string().regex(/^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/, 'a namespace name').default('default')
      .describe('namespace of the Lease that lets one replica reconcile at a time (the chart sets its own)'),
    leaseName: z.string().regex(/^[a-z0-9]([-.a-z0-9]{0,251}[a-z0-9])?$/, 'a resource name').default('accouch-reconciler')
      .describe('name of that Lease'),
    leaseDuration: number().pipe(z.number().int().min(2).max(300)).default(15)
      .describe('seconds a replica holds the Lease without renewing it before another may take over'),
    watchIngresses: z.stringbool().or(z.boolean()).default(false)
      .describe('Ingresses annotated accouch.dev/forward-auth: "true" declare a forward-auth app for their hosts (and a Traefik Middleware)'),
    patchIngresses: z.stringbool().or(z.boolean()).default(false)
      .describe('add the Traefik router annotation to those Ingresses (otherwise an Event says which one to add)'),
    forwardAuthAddress: z.url({ protocol: /^https?$/ }).optional()
      .describe('the address those Middlewares ask (default <issuer>/forward-auth/traefik; the chart sets its Service, inside the cluster)'),
  }).prefault({}).describe('apps installed in the cluster enrol themselves (an AccouchClient resource and a Secret for the app)'),
  clients: z.array(clientEntrySchema).default([]).superRefine((clients, ctx) => {
    const seen = new Set<string>();
    clients.forEach((client, index) => {
      const id = entryClientId(client);
      if (seen.has(id)) ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate client id "${id}"` });
      if (id === accountClientId || id === forwardAuthClientId) ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `"${id}" is reserved for Accouch's own pages` });
      seen.add(id);
    });
}).describe('apps declared in configuration, reconciled at startup'),
  forwardAuth: z.array(forwardAuthAppSchema).default([]).superRefine((apps, ctx) => {
    const ids = new Set<string>();
    const hosts = new Set<string>();
    apps.forEach((app, index) => {
      if (ids.has(app.id)) ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate forward-auth app id "${app.id}"` });
      ids.add(app.id);
      app.hosts.forEach((host, h) => {
        if (hosts.has(host)) ctx.addIssue({ code: 'custom', path: [index, 'hosts', h], message: `host "${host}" belongs to another forward-auth app` });
        hosts.add(host);
      });
    });
  }).describe('apps behind a reverse proxy that sign in through Accouch (forward-auth), reconciled at startup'),
  upstreams: z.array(upstreamSchema).default([]).superRefine((upstreams, ctx) => {
    const seen = new Set<string>();
    upstreams.forEach((upstream, index) => {
      if (seen.has(upstream.id)) ctx.addIssue({ code: 'custom', path: [index, 'id'], message: `duplicate upstream id "${upstream.id}"` });
      seen.add(upstream.id);
    });
  }).describe('upstream identity providers: "Continue with GitHub", Google, any OpenID Connect issuer'),
});

export type Config = Readonly<z.infer<typeof configSchema>>;

/** Path prefix of the issuer ('' for an issuer without path), under which every page and endpoint is mounted. */
export const issuerPath = (issuer: string) => new URL(issuer).pathname.replace(/\/$/, '');

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

type Env = Record<string, string | undefined>;

const toEnvName = (key: string) => `ACCOUCH_${key.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}`;

/** The schema inside optional/default/prefault wrappers. */
function unwrap(schema: z.ZodType): z.ZodType {
  let current = schema as z.ZodType & { unwrap?: () => z.ZodType; def: { innerType?: z.ZodType } };
  while (current.def.innerType) current = current.def.innerType as typeof current;
  return current;
}

/**
 * Environment names: ACCOUCH_<KEY> for top-level values, ACCOUCH_<SECTION>_<KEY> for values of a section
 * (ttl, policy, network, ...). Lists are comma-separated. Clients are YAML-only.
 */
function envKeys(): Map<string, string[]> {
  const keys = new Map<string, string[]>();
  for (const [key, field] of Object.entries(configSchema.shape)) {
    if (key === 'clients' || key === 'upstreams' || key === 'forwardAuth') continue;
    const inner = unwrap(field as z.ZodType);
    if (inner instanceof z.ZodObject) {
      for (const sub of Object.keys(inner.shape)) keys.set(`${toEnvName(key)}_${toEnvName(sub).slice(8)}`, [key, sub]);
    } else {
      keys.set(toEnvName(key), [key]);
    }
  }
  return keys;
}

/** Whether the value at a path is a list (comma-separated in the environment). */
function isListPath(path: string[]): boolean {
  let field: z.ZodType = configSchema;
  for (const key of path) field = (unwrap(field) as z.ZodObject).shape[key] as z.ZodType;
  return unwrap(field) instanceof z.ZodArray;
}

/** Lists every environment variable the schema accepts, for the README reference. */
export function envNameFor(path: string[]): string | undefined {
  for (const [name, keyPath] of envKeys()) if (keyPath.join('.') === path.join('.')) return name;
  return undefined;
}

function setPath(target: Record<string, unknown>, path: string[], value: unknown) {
  let node = target;
  for (const key of path.slice(0, -1)) {
    if (typeof node[key] !== 'object' || node[key] === null) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[path.at(-1)!] = value;
}

function readSecretFile(file: string, label: string, problems: string[]): string | undefined {
  try {
    return readFileSync(file, 'utf8').trim();
  } catch (error) {
    problems.push(`${label}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
    return undefined;
  }
}

/** Builds the frozen configuration, or throws ConfigError naming every bad key. */
export function loadConfig({ env, file }: { env: Env; file?: string }): Config {
  const problems: string[] = [];
  let raw: Record<string, unknown> = {};
  const configFile = file ?? env.ACCOUCH_CONFIG;
  if (configFile) {
    try {
      // Loaded only for a config file: many installs run on env alone, and yaml costs every start ~10 MB.
      const { parse } = createRequire(import.meta.url)('yaml') as typeof YAML;
      const parsed = parse(readFileSync(configFile, 'utf8')) ?? {};
      if (typeof parsed !== 'object' || Array.isArray(parsed)) problems.push(`${configFile}: must be a YAML mapping`);
      else raw = parsed;
    } catch (error) {
      problems.push(`${configFile}: ${(error as Error).message.split('\n')[0]}`);
    }
  }

  const keys = envKeys();
  const names = Object.keys(env).filter((name) => name.startsWith('ACCOUCH_') && env[name] !== undefined && name !== 'ACCOUCH_CONFIG');
  const isFile = (name: string) => name.endsWith('_FILE') && keys.has(name.slice(0, -5));
  // Plain variables first, then *_FILE ones, so a mounted secret wins whatever the environment's order.
  for (const name of [...names.filter((n) => !isFile(n)), ...names.filter(isFile)]) {
    const path = keys.get(isFile(name) ? name.slice(0, -5) : name);
    if (!path) {
      problems.push(`${name}: unknown environment variable`);
      continue;
    }
    const resolved = isFile(name) ? readSecretFile(env[name]!, name, problems) : env[name]!;
    if (resolved === undefined) continue;
    setPath(raw, path, isListPath(path) ? resolved.split(',').map((v) => v.trim()).filter(Boolean) : resolved);
  }

  const result = configSchema.safeParse(raw);
  // A generated secret.key lives in one replica's data directory: another replica (or a fresh container) would
  // generate its own and could not open the TOTP secrets and links the first one sealed. Checked beside the
  // schema so it is reported with every other problem.
  if (raw.databaseUrl && !raw.secretKey) {
    problems.push('secretKey: required with databaseUrl: every replica must use the same one (e.g. ACCOUCH_SECRET_KEY_FILE)');
  }
  if (!result.success) {
    for (const issue of result.error.issues) {
      if (issue.code === 'unrecognized_keys') {
        for (const key of issue.keys) problems.push(`${[...issue.path, key].join('.')}: unknown key`);
        continue;
      }
      const where = issue.path.length ? issue.path.join('.') : '(root)';
      problems.push(`${where}: ${issue.message}`);
    }
  }
  if (problems.length || !result.success) throw new ConfigError(problems);

  const config = result.data;
  config.clients.forEach((client, index) => {
    if (client.secretFile) client.secret = readSecretFile(client.secretFile, `clients.${index}.secretFile`, problems);
  });
  config.upstreams.forEach((upstream, index) => {
    if (upstream.clientSecretFile) upstream.clientSecret = readSecretFile(upstream.clientSecretFile, `upstreams.${index}.clientSecretFile`, problems);
  });
  if (config.smtp.passwordFile) config.smtp.password = readSecretFile(config.smtp.passwordFile, 'smtp.passwordFile', problems);
  if (problems.length) throw new ConfigError(problems);
  return deepFreeze(config);
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}
