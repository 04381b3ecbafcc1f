// The only place oidc-provider is configured: code flow with PKCE S256 for everyone, rotating refresh tokens,
// device flow, client credentials, introspection, revocation, RP-initiated logout, our own pages.
import Provider, { errors, interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { NetworkClassifier } from '../auth/network.js';
import { acrValues, asAcr, satisfies } from '../auth/policy.js';
import { issuerPath, kubectlClientId, type Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { createAdapterClass } from './adapter.js';
import { claimsByScope, createFindAccount } from './account.js';
import { createClientAdapter, extraClientProperties, keepClientModels } from './clients.js';
import { strengthOf } from './interactions.js';
import { timeOrderTokenIds } from './token-ids.js';

/** Renders a page template from views/ (supplied by the HTTP layer, which owns templating). */
export type Render = (template: string, data: Record<string, unknown>) => string;

export interface TokensIssued {
  res: object;
  client: string | undefined;
  grantType: string;
  tokens: string[];
}

export interface ProviderDeps {
  config: Config;
  db: Db;
  log: Logger;
  jwks: { keys: Array<Record<string, unknown>> };
  cookieKeys: string[];
  render: Render;
  classifier: NetworkClassifier;
  /**
   * Told of every token endpoint success: the response it goes out on, the client, the grant type and which tokens it
   * issued (metrics, and the request's access line).
   */
  onTokensIssued?: ((issued: TokensIssued) => void) | undefined;
}

/**
 * Login prompt checks of our own: an existing session is not enough when this request needs a stronger
 * sign-in (from outside the home network, for this app, or by acr_values), or the app is not allowed from
 * here at all; the interaction then steps up or refuses.
 */
function loginPolicy(config: Config, classifier: NetworkClassifier) {
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  login.checks.add(new interactionPolicy.Check('accouch_strength', 'a stronger sign-in is needed for this request', async (ctx) => {
    const { session, client, params } = ctx.oidc;
    if (!session?.accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    const required = strengthOf({ network: classifier.ofRequest(ctx.req).network, globalPolicy: config.policy, client, acrValues: params?.acr_values });
    if (!required.allowed) return interactionPolicy.Check.REQUEST_PROMPT;
    return satisfies(asAcr(session.acr), required.acr) ? interactionPolicy.Check.NO_NEED_TO_PROMPT : interactionPolicy.Check.REQUEST_PROMPT;
  }));
  return policy;
}

const page = (ctx: KoaContextWithOIDC, html: string) => {
  ctx.type = 'html';
  ctx.set('cache-control', 'no-store');
  ctx.body = html;
};

/**
 * oidc-provider 9 saves, after a device-flow request its error handler already answered (GET /device/auth, a
 * malformed POST /device), a session that request touched but never stored, and that save throws: koa would
 * then replace the 4xx with a bare 500. The answer the error handler chose stands.
 */
async function keepRejection(ctx: { status: number; body: unknown }, next: () => Promise<unknown>): Promise<void> {
  try {
    await next();
  } catch (error) {
    if (!(error instanceof TypeError) || !error.message.includes('previously persisted Sessions')) throw error;
    if (ctx.status < 400 || ctx.status >= 500) {
      ctx.status = 400;
      ctx.body = { error: 'invalid_request', error_description: 'the request could not be processed' };
    }
  }
}

/** Endpoints that only take POST (CORS preflights aside): any other method is a 405, not a route lookup. */
const postOnlyPaths = new Set(['/token', '/device/auth', '/token/introspection', '/token/revocation']);

async function postOnly(ctx: { path: string; method: string; status: number; body: unknown; set(name: string, value: string): void }, next: () => Promise<unknown>): Promise<void> {
  if (!postOnlyPaths.has(ctx.path) || ctx.method === 'POST' || ctx.method === 'OPTIONS') {
    await next();
    return;
  }
  ctx.status = 405;
  ctx.set('allow', 'POST');
  ctx.set('cache-control', 'no-store');
  ctx.body = { error: 'invalid_request', error_description: `${ctx.method} is not allowed here: use POST` };
}

export function createProvider({ config, db, log, jwks, cookieKeys, render, classifier, onTokensIssued }: ProviderDeps): Provider {
  const base = issuerPath(config.issuer);
  const StoreAdapter = createAdapterClass(db);
  const clientAdapter = createClientAdapter(db);
  const refreshPolicy = (ctx: KoaContextWithOIDC) => ctx.oidc.client?.['accouch_refresh'] as string | undefined;

  const configuration: Configuration = {
    adapter: (name: string) => (name === 'Client' ? clientAdapter : new StoreAdapter(name)),
    findAccount: createFindAccount(db, config.issuer),
    jwks: jwks as Configuration['jwks'],
    cookies: { keys: cookieKeys, long: { signed: true }, short: { signed: true } },
    claims: claimsByScope,
    scopes: ['openid', 'offline_access', 'profile', 'email', 'groups', 'network'],
    conformIdTokenClaims: false,
    responseTypes: ['code'],
    // What a client may be registered with (tokenEndpointAuthMethod; public clients: none). No client_secret_jwt:
    // it would need the secret in clear on both sides for no gain over private_key_jwt.
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none'],
    // PKCE S256 for every client, unless a confidential client was explicitly registered without it (an app
    // such as an older Gitea that cannot send it; its secret still protects the code).
    pkce: { required: (_ctx, client) => client['accouch_pkce'] !== false },
    extraClientMetadata: { properties: extraClientProperties },
    clientDefaults: { id_token_signed_response_alg: 'RS256', grant_types: ['authorization_code'], response_types: ['code'] },
    interactions: { url: (_ctx, interaction) => `${base}/interaction/${interaction.uid}`, policy: loginPolicy(config, classifier) },
    acrValues: [...acrValues],
    routes: { authorization: '/auth', token: '/token', userinfo: '/me', jwks: '/jwks', revocation: '/token/revocation', introspection: '/token/introspection', end_session: '/session/end', device_authorization: '/device/auth', code_verification: '/device' },
    features: {
      devInteractions: { enabled: false },
      backchannelLogout: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // A client may only learn about its own tokens.
        allowedPolicy: async (_ctx, client, token) => token.clientId === client.clientId,
      },
      revocation: {
        enabled: true,
        allowedPolicy: async (_ctx, client, token) => {
          if (token.clientId === client.clientId) return true;
          if (client.clientAuthMethod === 'none') return false;
          throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
        },
      },
      userinfo: { enabled: true },
      deviceFlow: {
        enabled: true,
        charset: 'base-20',
        mask: '****-****',
        userCodeInputSource: async (ctx, form, _out, err) => {
          const wrongCode = err && ('userCode' in err || err.name === 'NoCodeError');
          const message = wrongCode ? 'That code is not valid. Check it and try again.'
            : err ? 'The sign-in request was interrupted. Start again on your device.' : undefined;
          page(ctx, render('device-input', { title: 'Connect a device', form, message }));
        },
        userCodeConfirmSource: async (ctx, form, client, _deviceInfo, userCode) => {
          page(ctx, render('device-confirm', { title: 'Connect a device', form, clientName: client.clientName ?? client.clientId, userCode }));
        },
        successSource: async (ctx) => {
          page(ctx, render('message', { title: 'Device connected', message: `${ctx.oidc.client?.clientName ?? 'The device'} is signed in. You can close this page.` }));
        },
      },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: async (ctx, form) => {
          page(ctx, render('logout', { title: 'Sign out', form, clientName: ctx.oidc.client?.clientName }));
        },
        postLogoutSuccessSource: async (ctx) => {
          page(ctx, render('message', { title: 'Signed out', message: 'You are signed out of Accouch.' }));
        },
      },
    },
    issueRefreshToken: async (ctx, client, source) => {
      if (!client.grantTypeAllowed('refresh_token')) return false;
      return refreshPolicy(ctx) === 'always' || source.scopes.has('offline_access');
    },
    // Refresh tokens of "always" clients (kubectl) outlive the browser session, like offline_access ones.
    expiresWithSession: async (ctx, source) => refreshPolicy(ctx) !== 'always' && !source.scopes.has('offline_access'),
    rotateRefreshToken: true,
    // Back-channel logout goes to apps on the household's own network, registered by the owner only (no
    // dynamic registration): oidc-provider's refusal of private addresses would block exactly those.
    fetch: (url, options) => {
      const { dispatcher: _ssrfGuard, ...rest } = options as RequestInit & { dispatcher?: unknown };
      return globalThis.fetch(url, rest);
    },
    clientBasedCORS: (_ctx, origin, client) => client.redirectUris?.some((uri) => URL.parse(uri)?.origin === origin) ?? false,
    renderError: async (ctx, out, error) => {
      if (!(error instanceof errors.OIDCProviderError)) log.error({ err: error }, 'oidc error page');
      page(ctx, render('error', { title: 'Something went wrong', error: out.error, description: out.error_description }));
    },
    ttl: {
      AccessToken: () => config.ttl.accessToken,
      AuthorizationCode: () => 60,
      ClientCredentials: () => config.ttl.clientCredentials,
      DeviceCode: () => config.ttl.deviceCode,
      BackchannelAuthenticationRequest: () => 600,
      // kube-apiserver accepts an id_token until it expires, with no way to revoke it: keep kubectl's short.
      IdToken: (_ctx, _token, client) => (client.clientId === kubectlClientId ? config.ttl.kubectlIdToken : config.ttl.idToken),
      RefreshToken: () => config.ttl.refreshToken,
      Interaction: () => config.ttl.interaction,
      Session: () => config.ttl.session,
      Grant: () => config.ttl.grant,
    },
  };

  const provider = new Provider(config.issuer, configuration);
  keepClientModels(provider, db);
  timeOrderTokenIds(provider);
  provider.proxy = config.trustProxy;
  provider.use(keepRejection);
  provider.use(postOnly);

  const oidcLog = log.child({ mod: 'oidc' });
  provider.on('server_error', (ctx, err) => oidcLog.error({ err, path: ctx.path }, 'oidc-provider server error'));
  for (const event of ['authorization.error', 'grant.error', 'introspection.error', 'revocation.error', 'userinfo.error', 'end_session.error', 'backchannel.error', 'jwks.error', 'discovery.error', 'check_session.error', 'device_authorization.error', 'code_verification.error'] as const) {
    (provider as unknown as NodeJS.EventEmitter).on(event, (_ctx: unknown, err: Error) => oidcLog.info({ event, error: err.name, description: (err as errors.OIDCProviderError).error_description }, 'oidc request rejected'));
  }
  provider.on('grant.success', (ctx) => {
    const grantType = String(ctx.oidc.params?.grant_type);
    const body = (ctx.body ?? {}) as Record<string, unknown>;
    const tokens = ['access_token', 'id_token', 'refresh_token'].filter((token) => typeof body[token] === 'string');
    onTokensIssued?.({ res: ctx.res, client: ctx.oidc.client?.clientId, grantType, tokens });
  });
  provider.on('grant.revoked', (_ctx, grantId) => oidcLog.info({ event: 'grant.revoked', grantId }, 'grant revoked'));
  return provider;
}
