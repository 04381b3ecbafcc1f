// Any OpenID Connect issuer, Google included: discovery, authorization code + PKCE + state + nonce through
// openid-client, id_token validation, then userinfo for what the id_token left out. The discovered configuration
// is kept for an hour; a failed discovery is not kept, so the next sign-in tries again.
import type { Configuration } from 'openid-client';
import type { CallbackRequest, Connector, Identity, LoginRequest } from './connector.js';

export interface OidcSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  scopes: string[];
  /** Seconds for each request to the upstream. */
  timeout: number;
  /** Google: read the Workspace domain (hd). */
  google?: boolean;
}

const discoveryTtl = 3600_000;

export function openOidcConnector(settings: OidcSettings): Connector {
  let discovered: { config: Configuration; at: number } | undefined;

  async function configuration(): Promise<{ client: typeof import('openid-client'); config: Configuration }> {
    const client = await import('openid-client');
    if (!discovered || Date.now() - discovered.at > discoveryTtl) {
      // The config schema allows http only on loopback addresses.
      const execute = new URL(settings.issuer).protocol === 'http:' ? [client.allowInsecureRequests] : [];
      const config = await client.discovery(new URL(settings.issuer), settings.clientId, undefined, undefined, { execute, timeout: settings.timeout });
      const methods = config.serverMetadata().token_endpoint_auth_methods_supported;
      // client_secret_basic is the default an OpenID provider must support; post only where basic is not offered.
      const auth = !methods || methods.includes('client_secret_basic') ? client.ClientSecretBasic(settings.clientSecret) : client.ClientSecretPost(settings.clientSecret);
      discovered = { config: new client.Configuration(config.serverMetadata(), settings.clientId, undefined, auth), at: Date.now() };
      for (const step of execute) step(discovered.config);
      discovered.config.timeout = settings.timeout;
    }
    return { client, config: discovered.config };
  }

  return {
    async loginUrl({ callbackUrl, state, nonce, codeChallenge }: LoginRequest): Promise<URL> {
      const { client, config } = await configuration();
      const scope = [...new Set(['openid', 'email', 'profile', ...settings.scopes])].join(' ');
      return client.buildAuthorizationUrl(config, {
        redirect_uri: callbackUrl, scope, state, nonce, code_challenge: codeChallenge, code_challenge_method: 'S256',
      });
    },

    async handleCallback({ currentUrl, state, nonce, codeVerifier }: CallbackRequest): Promise<Identity> {
      const { client, config } = await configuration();
      const tokens = await client.authorizationCodeGrant(config, currentUrl, { pkceCodeVerifier: codeVerifier, expectedState: state, expectedNonce: nonce, idTokenExpected: true });
      const claims = { ...tokens.claims()! } as Record<string, unknown>;
      if (config.serverMetadata().userinfo_endpoint && (!claims.email || !claims.name)) {
        const info = await client.fetchUserInfo(config, tokens.access_token, String(claims.sub));
        for (const [key, value] of Object.entries(info)) if (claims[key] === undefined) claims[key] = value;
      }
      const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);
      return {
        issuer: String(claims.iss),
        subject: String(claims.sub),
        login: text(claims.preferred_username),
        name: text(claims.name),
        email: text(claims.email)?.toLowerCase(),
        emailVerified: claims.email_verified === true,
        picture: text(claims.picture),
        memberships: [],
        domain: settings.google ? text(claims.hd)?.toLowerCase() : undefined,
      };
    },
  };
}
