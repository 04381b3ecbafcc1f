// GitHub (and GitHub Enterprise Server through its base URLs): OAuth 2 web flow with PKCE and state through
// openid-client, then who signed in from the REST API: /user, the verified primary address of /user/emails, and,
// when organisations matter (group mapping or an allow rule), /user/orgs and /user/teams.
import type { Configuration } from 'openid-client';
import type { CallbackRequest, Connector, Identity, LoginRequest } from './connector.js';

export interface GithubSettings {
  baseUrl: string;
  apiUrl: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  timeout: number;
  /** Read organisation and team membership (asks for read:org). */
  memberships: boolean;
}

const trim = (url: string) => url.replace(/\/+$/, '');

export function openGithubConnector(settings: GithubSettings): Connector {
  const baseUrl = trim(settings.baseUrl);
  const apiUrl = trim(settings.apiUrl);
  let cached: { client: typeof import('openid-client'); config: Configuration } | undefined;

  async function configuration() {
    if (cached) return cached;
    const client = await import('openid-client');
    // GitHub publishes no discovery document: its documented endpoints, and the secret in the form body.
    const config = new client.Configuration(
      { issuer: baseUrl, authorization_endpoint: `${baseUrl}/login/oauth/authorize`, token_endpoint: `${baseUrl}/login/oauth/access_token` },
      settings.clientId, undefined, client.ClientSecretPost(settings.clientSecret),
    );
    if (baseUrl.startsWith('http:') || apiUrl.startsWith('http:')) client.allowInsecureRequests(config); // loopback only (config schema)
    config.timeout = settings.timeout;
    cached = { client, config };
    return cached;
  }

  async function api<T>(path: string, token: string): Promise<T> {
    const { client, config } = await configuration();
    const headers = new Headers({ accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' });
    const response = await client.fetchProtectedResource(config, token, new URL(`${apiUrl}${path}`), 'GET', undefined, headers);
    if (!response.ok) throw Object.assign(new Error(`GitHub API ${path} answered ${response.status}`), { name: 'GithubApiError', status: response.status });
    return (await response.json()) as T;
  }

  return {
    async loginUrl({ callbackUrl, state, codeChallenge }: LoginRequest): Promise<URL> {
      const { client, config } = await configuration();
      const scope = [...new Set(['read:user', 'user:email', ...(settings.memberships ? ['read:org'] : []), ...settings.scopes])].join(' ');
      return client.buildAuthorizationUrl(config, {
        redirect_uri: callbackUrl, scope, state, code_challenge: codeChallenge, code_challenge_method: 'S256', allow_signup: 'false',
      });
    },

    async handleCallback({ currentUrl, state, codeVerifier }: CallbackRequest): Promise<Identity> {
      const { client, config } = await configuration();
      const tokens = await client.authorizationCodeGrant(config, currentUrl, { pkceCodeVerifier: codeVerifier, expectedState: state });
      const token = tokens.access_token;
      const user = await api<{ id?: unknown; login?: unknown; name?: unknown; avatar_url?: unknown }>('/user', token);
      if ((typeof user.id !== 'number' && typeof user.id !== 'string') || typeof user.login !== 'string') {
        throw Object.assign(new Error('GitHub /user has no id or login'), { name: 'GithubApiError' });
      }
      // Only the primary address, and only if GitHub verified it: /user's own `email` is whatever the user made public.
      const emails = await api<Array<{ email?: unknown; primary?: unknown; verified?: unknown }>>('/user/emails', token);
      const primary = Array.isArray(emails) ? emails.find((e) => e.primary === true && typeof e.email === 'string') : undefined;
      const memberships: string[] = [];
      if (settings.memberships) {
        const [orgs, teams] = await Promise.all([
          api<Array<{ login?: unknown }>>('/user/orgs?per_page=100', token),
          api<Array<{ slug?: unknown; organization?: { login?: unknown } }>>('/user/teams?per_page=100', token),
        ]);
        for (const org of Array.isArray(orgs) ? orgs : []) if (typeof org.login === 'string') memberships.push(org.login.toLowerCase());
        for (const team of Array.isArray(teams) ? teams : []) {
          if (typeof team.slug === 'string' && typeof team.organization?.login === 'string') memberships.push(`${team.organization.login}/${team.slug}`.toLowerCase());
        }
      }
      return {
        issuer: baseUrl,
        subject: String(user.id),
        login: user.login,
        name: typeof user.name === 'string' && user.name.trim() ? user.name.trim() : undefined,
        email: primary ? String(primary.email).toLowerCase() : undefined,
        emailVerified: primary?.verified === true,
        picture: typeof user.avatar_url === 'string' ? user.avatar_url : undefined,
        memberships,
      };
    },
  };
}
