// oauth2-proxy in front of an app without a sign-in of its own: its TOML config (provider oidc, PKCE S256, groups)
// and the Traefik forwardAuth Middleware plus IngressRoute that send signed-out browsers to Accouch.
import { randomBytes } from 'node:crypto';
import type { AppPreset } from './preset.js';

/** The scopes oauth2-proxy asks for (`scope`). */
export const oauth2ProxyScopes = ['openid', 'email', 'profile', 'groups'];

const toml = (value: string) => JSON.stringify(value); // a TOML basic string is a JSON string for these characters

export const oauth2Proxy: AppPreset = {
  info: {
    name: 'oauth2-proxy',
    title: 'oauth2-proxy',
    description: 'Any app without a sign-in of its own, behind oauth2-proxy and Traefik\'s forwardAuth (k3s)',
  },

  client: ({ base, id, name, secret }) => ({
    id,
    name: name ?? 'oauth2-proxy',
    secret,
    redirectUris: [`${base}/oauth2/callback`],
    skipConsent: true,
  }),

  instructions: ({ issuer, client, secret }) => {
    const callback = client.redirectUris[0] ?? '';
    const app = new URL(/\/oauth2\/callback$/.test(callback) ? callback.replace(/oauth2\/callback$/, '') : new URL(callback).origin);
    const path = app.pathname.replace(/\/$/, ''); // '' or the path the app is served under
    const prefix = `${path}/oauth2`;
    const https = app.protocol === 'https:';
    const host = app.hostname;
    // 32 random bytes, base64url: oauth2-proxy decodes it to an AES-256 key.
    const cookieSecret = randomBytes(32).toString('base64url');
    const config = [
      'provider = "oidc"',
      'provider_display_name = "Accouch"',
      `oidc_issuer_url = ${toml(issuer)}`,
      `client_id = ${toml(client.id)}`,
      `client_secret = ${toml(secret)}`,
      `redirect_url = ${toml(callback)}`,
      ...(prefix === '/oauth2' ? [] : [`proxy_prefix = ${toml(prefix)}`]),
      '# Accouch requires PKCE',
      'code_challenge_method = "S256"',
      `scope = ${toml(oauth2ProxyScopes.join(' '))}`,
      'oidc_groups_claim = "groups"',
      ...(client.allowedGroups.length ? [
        '# only these Accouch groups (Accouch refuses the others too)',
        `allowed_groups = [${client.allowedGroups.map(toml).join(', ')}]`,
      ] : []),
      '# Accouch sends email_verified: true for the addresses it vouches for',
      'insecure_oidc_allow_unverified_email = false',
      'email_domains = ["*"]',
      '# straight to Accouch, without a "Sign in with" page',
      'skip_provider_button = true',
      `cookie_secret = ${toml(cookieSecret)}`,
      `cookie_secure = ${https}`,
      `whitelist_domains = [${toml(app.host)}]`,
      '# behind Traefik: trust its X-Forwarded-* headers, answer forwardAuth with 202 when signed in,',
      '# and redirect to Accouch when not',
      'reverse_proxy = true',
      'upstreams = ["static://202"]',
      'set_xauthrequest = true',
      'http_address = "0.0.0.0:4180"',
    ].join('\n');
    const match = (extra: string) => `Host(\`${host}\`)${extra}`;
    const manifests = [
      'apiVersion: traefik.io/v1alpha1',
      'kind: Middleware',
      'metadata:',
      '  name: oauth2-proxy',
      '  namespace: default',
      'spec:',
      '  forwardAuth:',
      '    # oauth2-proxy\'s Service: it answers 202 when signed in, else redirects to Accouch',
      '    address: http://oauth2-proxy.default.svc.cluster.local:4180/',
      '    trustForwardHeader: true',
      '    authResponseHeaders:',
      '      - X-Auth-Request-User',
      '      - X-Auth-Request-Email',
      '      - X-Auth-Request-Groups',
      '      - X-Auth-Request-Preferred-Username',
      '---',
      'apiVersion: traefik.io/v1alpha1',
      'kind: IngressRoute',
      'metadata:',
      `  name: ${host.split('.')[0]!.toLowerCase().replace(/[^a-z0-9-]/g, '-')}`,
      '  namespace: default',
      'spec:',
      `  entryPoints: [${https ? 'websecure' : 'web'}]`,
      '  routes:',
      '    # the sign-in callback goes to oauth2-proxy itself',
      `    - match: ${match(` && PathPrefix(\`${prefix}/\`)`)}`,
      '      kind: Rule',
      '      services:',
      '        - name: oauth2-proxy',
      '          port: 4180',
      '    # everything else asks oauth2-proxy first',
      `    - match: ${match(path ? ` && PathPrefix(\`${path}\`)` : '')}`,
      '      kind: Rule',
      '      middlewares:',
      '        - name: oauth2-proxy',
      '      services:',
      '        - name: app # your app\'s Service',
      '          port: 80',
    ].join('\n');
    return [
      `oauth2-proxy signs people in through Accouch as client "${client.id}" and lets Traefik (k3s ships it) ask it about`,
      `every request to ${app.href.replace(/\/$/, '')}: signed-out browsers go to Accouch and come back to where they were.`,
      '',
      '1. oauth2-proxy.cfg (run `oauth2-proxy --config=oauth2-proxy.cfg`; in Kubernetes mount it from a Secret: it holds',
      '   the client secret and a fresh cookie secret):',
      '',
      '```toml',
      config,
      '```',
      '',
      '2. Traefik: the forwardAuth Middleware and the route of the app (`kubectl apply -f`; change the namespace, and the',
      '   Service names and ports, to yours). The app receives the user in the X-Auth-Request-* headers.',
      '',
      '```yaml',
      manifests,
      '```',
      '',
    ].join('\n');
  },
};
