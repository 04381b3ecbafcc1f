// Stored clients as oidc-provider sees them: metadata per kind of client, served by the read-only Client adapter,
// and accepted by the provider Accouch actually configures.
import { describe, expect, test } from 'vitest';
import { clientSchema, loadConfig, type ClientConfig } from '../../../src/config.js';
import { createLogger } from '../../../src/log.js';
import { createClientAdapter, toClientMetadata } from '../../../src/oidc/clients.js';
import { ensureSigningKeys, keyRetention, loadCookieKeys, loadJwks } from '../../../src/oidc/keys.js';
import { createProvider } from '../../../src/oidc/provider.js';
import { deleteClient, insertClient, upsertConfigClient } from '../../../src/store/clients.js';
import type { Db } from '../../../src/store/db.js';
import { openTestDb } from '../helpers.js';

const secret = 'grafana-client-secret-0123456789';

const kinds = {
  confidential: { id: 'grafana', name: 'Grafana', secret, redirectUris: ['https://grafana.example.com/login/generic_oauth'] },
  public: { id: 'spa', public: true, redirectUris: ['https://spa.example.com/cb'] },
  native: { id: 'kubectl', public: true, native: true, refresh: 'always', redirectUris: ['http://localhost:8000', 'com.example.app:/oauth2redirect'] },
  noRefresh: { id: 'wiki', secret, refresh: 'never', redirectUris: ['https://wiki.example.com/cb'] },
  serviceOnly: { id: 'backup', secret, clientCredentials: true },
  device: { id: 'tv', public: true, deviceFlow: true },
  secretPost: { id: 'poster', secret, tokenEndpointAuthMethod: 'client_secret_post', redirectUris: ['https://poster.example.com/cb'] },
  keyJwks: {
    id: 'signer', tokenEndpointAuthMethod: 'private_key_jwt', clientCredentials: true,
    jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU', y: 'x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0', kid: 'k1' }] },
  },
  keyJwksUri: { id: 'remote-signer', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'https://signer.example.com/jwks', clientCredentials: true },
} satisfies Record<string, Record<string, unknown>>;

const declare = (raw: Record<string, unknown>): ClientConfig => clientSchema.parse(raw);

async function stored(db: Db, raw: Record<string, unknown>) {
  await insertClient(db, 'cli', declare(raw));
  return createClientAdapter(db).find(raw.id as string);
}

describe('Client adapter', () => {
  test('a confidential client comes back with its secret and client_secret_basic', async () => {
    const db = await openTestDb();
    expect(await stored(db, kinds.confidential)).toMatchObject({
      client_id: 'grafana',
      client_name: 'Grafana',
      client_secret: secret,
      token_endpoint_auth_method: 'client_secret_basic',
      application_type: 'web',
      redirect_uris: ['https://grafana.example.com/login/generic_oauth'],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
    });
  });

  test('a public client authenticates with none and has no secret', async () => {
    const db = await openTestDb();
    const metadata = await stored(db, kinds.public);
    expect(metadata).toMatchObject({ client_id: 'spa', token_endpoint_auth_method: 'none' });
    expect(metadata).not.toHaveProperty('client_secret');
  });

  test('a native client is application_type native', async () => {
    const db = await openTestDb();
    expect(await stored(db, kinds.native)).toMatchObject({ application_type: 'native', accouch_refresh: 'always' });
  });

  test("refresh 'never' leaves out the refresh_token grant", async () => {
    const db = await openTestDb();
    expect((await stored(db, kinds.noRefresh))?.grant_types).toEqual(['authorization_code']);
  });

  test('a client_credentials-only client has no authorization_code grant and no response types', async () => {
    const db = await openTestDb();
    expect(await stored(db, kinds.serviceOnly)).toMatchObject({ grant_types: ['client_credentials'], response_types: [] });
  });

  test('the token endpoint auth method and the keys a client registered', async () => {
    const db = await openTestDb();
    expect(await stored(db, kinds.secretPost)).toMatchObject({ client_secret: secret, token_endpoint_auth_method: 'client_secret_post' });
    const signer = await stored(db, kinds.keyJwks);
    expect(signer).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks: kinds.keyJwks.jwks });
    expect(signer).not.toHaveProperty('client_secret');
    expect(await stored(db, kinds.keyJwksUri)).toMatchObject({ token_endpoint_auth_method: 'private_key_jwt', jwks_uri: 'https://signer.example.com/jwks' });
  });

  test.each([
    [{ ...kinds.secretPost, public: true, secret: undefined }, 'tokenEndpointAuthMethod', 'a public client does not authenticate'],
    [{ ...kinds.keyJwks, jwks: undefined }, 'jwks', 'give jwks or jwksUri'],
    [{ ...kinds.keyJwks, jwksUri: 'https://x.example/jwks' }, 'jwksUri', 'not both'],
    [{ ...kinds.keyJwks, secret }, 'secret', 'give no secret'],
    [{ ...kinds.confidential, jwksUri: 'https://x.example/jwks' }, 'jwksUri', 'only for tokenEndpointAuthMethod: private_key_jwt'],
    [{ ...kinds.keyJwks, jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, 'jwks', 'only public keys'],
    [{ ...kinds.keyJwks, jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'AA' }] } }, 'jwks', 'not a public key'],
    [{ ...kinds.keyJwksUri, jwksUri: 'http://signer.example.com/jwks' }, 'jwksUri', 'must be https (http only on a loopback address)'],
  ])('refuses %#: %s', (raw, path, message) => {
    const result = clientSchema.safeParse(raw);
    expect(result.success).toBe(false);
    expect(result.error!.issues.find((i) => i.path[0] === path)?.message).toContain(message);
  });

  test('an unknown client id is not found', async () => {
    const db = await openTestDb();
    expect(await createClientAdapter(db).find('nobody')).toBeUndefined();
  });

  test('oidc-provider cannot write clients through the adapter', async () => {
    const db = await openTestDb();
    await expect(createClientAdapter(db).upsert('evil', { client_id: 'evil' }, 0)).rejects.toThrow();
    expect(await createClientAdapter(db).find('evil')).toBeUndefined();
  });

  test('toClientMetadata does not share arrays with the frozen config', () => {
    const config = declare(kinds.confidential);
    const metadata = toClientMetadata(config);
    expect(metadata.redirect_uris).toEqual(config.redirectUris);
    expect(metadata.redirect_uris).not.toBe(config.redirectUris);
  });
});

async function providerOver(db: Db) {
  await ensureSigningKeys(db);
  const config = loadConfig({ env: {} });
  return createProvider({
    config,
    db,
    log: createLogger('silent'),
    jwks: await loadJwks(db, keyRetention(config.ttl)),
    cookieKeys: await loadCookieKeys(db),
    render: () => '',
  });
}

describe('the configured provider accepts every kind of declared client', () => {
  test.each(Object.entries(kinds))('%s', async (_kind, raw) => {
    const db = await openTestDb();
    const provider = await providerOver(db);
    await insertClient(db, 'cli', declare(raw));
    const client = await provider.Client.find(raw.id);
    expect(client?.clientId).toBe(raw.id);
  });
});

describe("the provider's client models", () => {
  // The model built for a client is kept while the stored client is unchanged (oidc/clients.ts keepClientModels):
  // every change must still be seen by the next lookup.
  test('follow every change to the stored client: changed, removed, added again', async () => {
    const db = await openTestDb();
    const provider = await providerOver(db);
    await insertClient(db, 'cli', declare(kinds.confidential));
    const first = await provider.Client.find('grafana');
    expect(first?.clientSecret).toBe(secret);
    expect(await provider.Client.find('grafana')).toBe(first);

    await upsertConfigClient(db, declare({ ...kinds.confidential, secret: 'rotated-secret-0123456789abcdef', name: 'Dashboards' }));
    const changed = await provider.Client.find('grafana');
    expect(changed).toMatchObject({ clientSecret: 'rotated-secret-0123456789abcdef', clientName: 'Dashboards' });
    expect(await provider.Client.find('grafana')).toBe(changed);

    await deleteClient(db, 'grafana');
    expect(await provider.Client.find('grafana')).toBeUndefined();

    await insertClient(db, 'cli', declare({ ...kinds.confidential, redirectUris: ['https://grafana.example.com/other'] }));
    expect((await provider.Client.find('grafana'))?.redirectUris).toEqual(['https://grafana.example.com/other']);
    expect(await provider.Client.find('')).toBeUndefined();
  });
});
