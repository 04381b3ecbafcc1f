// Per-client token endpoint authentication, with openid-client v6 as the app: client_secret_post (the secret in
// the form) and private_key_jwt (a JWT signed with the app's own key, checked against the JWK Set registered with
// `client add --jwks`), next to the default client_secret_basic. Each app is held to the one method it registered.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addClient, addUser, callback, clientCredentials, codeFlow, discoverWith } from './support/rp.js';
import { startServer, stopCleanly, type RunningServer } from './support/server.js';

let server: RunningServer;
const dir = mkdtempSync(join(tmpdir(), 'accouch-client-auth-'));

beforeAll(async () => {
  server = await startServer();
  addUser(server, 'alice', 'alice password');
});
afterAll(async () => stopCleanly(server));

const configure = (clientId: string, auth: oidc.ClientAuth, metadata: Partial<oidc.ClientMetadata> = {}) => discoverWith(server, clientId, auth, metadata);

describe('client_secret_post', () => {
  it('an app that posts its secret completes the code flow and the client_credentials grant; a wrong secret is refused', async () => {
    const secret = addClient(server, 'poster', ['--redirect-uri', callback, '--auth-method', 'client_secret_post', '--client-credentials'])!;
    const listed = server.cli(['client', 'list']);
    expect(listed.stdout).toMatch(/^poster\s+confidential \(client_secret_post\)\s/m);

    const { tokens } = await codeFlow(server, await configure('poster', oidc.ClientSecretPost(secret)), 'alice', 'alice password');
    expect(tokens.claims()?.aud).toBe('poster');
    expect(await clientCredentials(await configure('poster', oidc.ClientSecretPost(secret)))).not.toMatch(/^error/);
    expect(await clientCredentials(await configure('poster', oidc.ClientSecretPost('not the secret at all, no')))).toBe('error: invalid_client');
    // oidc-provider takes a secret in either place for either secret method (Basic is the one every server must
    // accept, RFC 6749 2.3.1): what the method decides is what the app is told to send.
    expect(await clientCredentials(await configure('poster', oidc.ClientSecretBasic(secret)))).not.toMatch(/^error/);
  });

  it('the discovery document offers exactly the methods a client can be registered with', async () => {
    const discovery = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json() as Record<string, unknown>;
    expect(discovery.token_endpoint_auth_methods_supported).toEqual(['client_secret_basic', 'client_secret_post', 'private_key_jwt', 'none']);
  });
});

describe('private_key_jwt', () => {
  it('an app registered with its public key signs in with a JWT assertion; another key, or a secret, is refused', async () => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = join(dir, 'app-jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'app-1', alg: 'ES256', use: 'sig' }] }));
    const added = server.cli(['client', 'add', 'signer', '--redirect-uri', callback, '--auth-method', 'private_key_jwt', '--jwks', jwks, '--client-credentials']);
    expect(added.status, added.stderr).toBe(0);
    expect(added.stdout).not.toContain('client secret'); // nothing to keep: the key is the app's

    const key = { key: privateKey, kid: 'app-1' };
    const { tokens } = await codeFlow(server, await configure('signer', oidc.PrivateKeyJwt(key)), 'alice', 'alice password');
    expect(tokens.claims()?.aud).toBe('signer');
    expect(await clientCredentials(await configure('signer', oidc.PrivateKeyJwt(key)))).not.toMatch(/^error/);

    const other = await generateKeyPair('ES256');
    expect(await clientCredentials(await configure('signer', oidc.PrivateKeyJwt({ key: other.privateKey, kid: 'app-1' })))).toBe('error: invalid_client');
    expect(await clientCredentials(await configure('signer', oidc.ClientSecretBasic('some secret the app never had')))).toBe('error: invalid_client');
  });

  it('the CLI moves a registered app to its own key and back to a new secret, with the console\'s checks', async () => {
    const secret = addClient(server, 'switcher', ['--client-credentials'])!;
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
    const jwks = join(dir, 'switcher-jwks.json');
    writeFileSync(jwks, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'switcher-1' }] }));
    const privateJwks = join(dir, 'switcher-private.json');
    writeFileSync(privateJwks, JSON.stringify({ keys: [{ ...(await exportJWK(privateKey)), kid: 'switcher-1' }] }));

    const refused = server.cli(['client', 'auth-method', 'switcher', 'private_key_jwt', '--jwks', privateJwks]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toContain('That is a private key: it stays with the app and was not saved.');
    expect(server.cli(['client', 'auth-method', 'switcher', 'client_secret_jwt']).stderr).toContain('<method>: one of client_secret_basic, client_secret_post, private_key_jwt');
    expect(await clientCredentials(await configure('switcher', oidc.ClientSecretBasic(secret)))).not.toMatch(/^error/);

    const keyed = server.cli(['client', 'auth-method', 'switcher', 'private_key_jwt', '--jwks', jwks]);
    expect(keyed.status, keyed.stderr).toBe(0);
    expect(keyed.stdout).toBe('client switcher now uses private_key_jwt\n');
    const key = { key: privateKey, kid: 'switcher-1' };
    expect(await clientCredentials(await configure('switcher', oidc.PrivateKeyJwt(key)))).not.toMatch(/^error/);
    expect(await clientCredentials(await configure('switcher', oidc.ClientSecretBasic(secret)))).toBe('error: invalid_client');

    const back = server.cli(['client', 'auth-method', 'switcher', 'client_secret_post']);
    expect(back.status, back.stderr).toBe(0);
    const fresh = back.stdout.match(/client secret \(shown once, store it now\): (\S+)/)?.[1];
    expect(fresh).toMatch(/^[\w-]{43}$/);
    expect(await clientCredentials(await configure('switcher', oidc.ClientSecretPost(fresh!)))).not.toMatch(/^error/);
    expect(await clientCredentials(await configure('switcher', oidc.PrivateKeyJwt(key)))).toBe('error: invalid_client');
    expect(server.cli(['client', 'list']).stdout).toMatch(/^switcher\s+confidential \(client_secret_post\)\s/m);
    expect(server.cli(['audit', '--limit', '20']).stdout).toMatch(/client\.updated .*client=switcher tokenEndpointAuthMethod=private_key_jwt keys=1 kids=switcher-1 secretRemoved=true/);
  });

  it('refuses to register what cannot work, each with the flag to fix', async () => {
    const privateJwk = join(dir, 'private-jwks.json');
    const { privateKey } = await generateKeyPair('ES256', { extractable: true });
    writeFileSync(privateJwk, JSON.stringify({ keys: [await exportJWK(privateKey)] }));
    const notJson = join(dir, 'not.json');
    writeFileSync(notJson, 'keys: []');
    const cases: Array<[string[], string]> = [
      [['--auth-method', 'private_key_jwt'], "--jwks: private_key_jwt needs the client's public keys: give jwks or jwksUri"],
      [['--auth-method', 'private_key_jwt', '--jwks', privateJwk], '--jwks: only public keys: this key holds private material (d or k)'],
      [['--auth-method', 'private_key_jwt', '--jwks', notJson], `--jwks: ${notJson} is not JSON (a JWK Set: { "keys": [ ... ] })`],
      [['--auth-method', 'client_secret_jwt'], '--auth-method: Invalid option: expected one of "client_secret_basic"|"client_secret_post"|"private_key_jwt"'],
      [['--public', '--auth-method', 'client_secret_post'], '--auth-method: a public client does not authenticate (it uses PKCE): leave tokenEndpointAuthMethod out'],
      [['--jwks-uri', 'https://app.example/jwks'], '--jwks-uri: keys are only for tokenEndpointAuthMethod: private_key_jwt'],
    ];
    for (const [flags, message] of cases) {
      const result = server.cli(['client', 'add', 'nope', '--redirect-uri', callback, ...flags]);
      expect(result.status, flags.join(' ')).toBe(1);
      expect(result.stderr).toContain(message);
    }
    expect(server.cli(['client', 'list']).stdout).not.toMatch(/^nope\s/m);
  });
});
