// Declared clients (config schema shape, from YAML or the CLI) → oidc-provider ClientMetadata, and the
// read-only 'Client' adapter that serves them from the store.
import type { Adapter, AdapterPayload, ClientMetadata, Provider } from 'oidc-provider';
import type { ClientConfig } from '../config.js';
import type { Db } from '../store/db.js';
import { findClient, type StoredClient } from '../store/clients.js';

/** Extra metadata keys oidc-provider keeps on the Client object for our policies. */
export const extraClientProperties = ['accouch_allowed_groups', 'accouch_refresh', 'accouch_skip_consent', 'accouch_policy', 'accouch_pkce'];

/** How the client authenticates at the token, introspection and revocation endpoints, and with what. */
function clientAuthentication(client: ClientConfig): Partial<ClientMetadata> {
  if (client.public) return { token_endpoint_auth_method: 'none' };
  const method = client.tokenEndpointAuthMethod ?? 'client_secret_basic';
  if (method === 'private_key_jwt') return { token_endpoint_auth_method: method, ...(client.jwks ? { jwks: client.jwks as ClientMetadata['jwks'] } : { jwks_uri: client.jwksUri }) };
  return { client_secret: client.secret, token_endpoint_auth_method: method };
}

export function toClientMetadata(client: ClientConfig): ClientMetadata {
  const grantTypes: string[] = [];
  if (client.redirectUris.length) grantTypes.push('authorization_code');
  if (client.deviceFlow) grantTypes.push('urn:ietf:params:oauth:grant-type:device_code');
  if (grantTypes.length && client.refresh !== 'never') grantTypes.push('refresh_token');
  if (client.clientCredentials) grantTypes.push('client_credentials');
  return {
    client_id: client.id,
    client_name: client.name ?? client.id,
    ...clientAuthentication(client),
    application_type: client.native ? 'native' : 'web',
    redirect_uris: [...client.redirectUris],
    post_logout_redirect_uris: [...client.postLogoutRedirectUris],
    ...(client.backchannelLogoutUri ? { backchannel_logout_uri: client.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
    grant_types: grantTypes,
    response_types: client.redirectUris.length ? ['code'] : [],
    id_token_signed_response_alg: client.idTokenAlg,
    accouch_allowed_groups: [...client.allowedGroups],
    accouch_refresh: client.refresh,
    accouch_skip_consent: client.skipConsent,
    accouch_policy: client.policy ?? {},
    accouch_pkce: client.pkce,
  };
}

/** The 'Client' model: clients are managed by config reconciliation and the CLI, never by oidc-provider. */
export function createClientAdapter(db: Db): Adapter {
  const readOnly = async () => { throw new Error('clients are managed through accouch, not oidc-provider'); };
  return {
    async find(id: string): Promise<AdapterPayload | undefined> {
      const stored = await findClient(db, id);
      return stored && (toClientMetadata(stored.config) as AdapterPayload);
    },
    upsert: readOnly,
    findByUid: readOnly,
    findByUserCode: readOnly,
    consume: readOnly,
    destroy: readOnly,
    revokeByGrantId: readOnly,
  };
}

type ClientModel = NonNullable<Awaited<ReturnType<Provider['Client']['find']>>>;

/**
 * oidc-provider keeps one Client model per distinct metadata, but to find it serialises and hashes the metadata
 * on every lookup (every token, userinfo and introspection request). An unchanged stored client is the same
 * object (store/clients.ts), so the model the engine built for it is kept by that object: a changed client is a
 * new object, found and built by the engine as before.
 */
export function keepClientModels(provider: Provider, db: Db): void {
  const Client = provider.Client;
  const engineFind = Client.find.bind(Client);
  const built = new WeakMap<StoredClient, ClientModel>();
  Client.find = async (id: string) => {
    const stored = typeof id === 'string' && id ? await findClient(db, id) : undefined;
    const kept = stored && built.get(stored);
    if (kept) return kept;
    const client = await engineFind(id);
    if (stored && client) built.set(stored, client);
    return client;
  };
}
