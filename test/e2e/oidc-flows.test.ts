// The standard flows a relying party uses, against the real server: discovery, code + PKCE, id_token checked
// against the JWKS, userinfo, refresh rotation with reuse detection, revocation, introspection, client credentials.
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { timePrefix } from '../../src/oidc/token-ids.js';
import { addClient, addUser, callback, codeFlow, discover } from './support/rp.js';
import { logLines, startServer, type RunningServer, stopCleanly, until } from './support/server.js';

let server: RunningServer;
let config: oidc.Configuration;
let secret: string;

beforeAll(async () => {
  server = await startServer();
  addUser(server, 'alice', 'correct horse battery', ['--groups', 'admins,family']);
  secret = addClient(server, 'gitea', ['--redirect-uri', callback, '--name', 'Gitea', '--post-logout-redirect-uri', 'https://app.example/bye', '--client-credentials'])!;
  config = await discover(server, 'gitea', secret);
});

afterAll(async () => {
  await stopCleanly(server);
  // Startup and every flow above ran without oidc-provider's development warnings or notices.
  expect(server.output()).not.toMatch(/oidc-provider (WARNING|NOTICE)/);
  expect(server.output()).toMatch(/\/setup\?token=[\w-]{20,}/);
});

describe('discovery', () => {
  it('advertises a code-only, S256-only provider with RS256 id_tokens', () => {
    const meta = config.serverMetadata();
    expect(meta.issuer).toBe(server.issuer);
    expect(meta.code_challenge_methods_supported).toEqual(['S256']);
    expect(meta.response_types_supported).toEqual(['code']);
    expect(meta.id_token_signing_alg_values_supported).toContain('RS256');
    expect(meta.grant_types_supported).toEqual(expect.arrayContaining(['authorization_code', 'refresh_token', 'client_credentials', 'urn:ietf:params:oauth:grant-type:device_code']));
    expect(meta.grant_types_supported).not.toContain('implicit');
    expect(meta.grant_types_supported).not.toContain('password');
    expect(meta.authorization_response_iss_parameter_supported).toBe(true);
    expect(meta.scopes_supported).toEqual(expect.arrayContaining(['openid', 'profile', 'email', 'groups', 'offline_access']));
  });
});

describe('authorization code flow', () => {
  it('signs alice in and issues an RS256 id_token, verified against the JWKS, with email and groups inside', async () => {
    const { tokens, returned } = await codeFlow(server, config, 'alice', 'correct horse battery');
    expect(returned.searchParams.get('iss')).toBe(server.issuer);
    const idToken = tokens.id_token!;
    expect(decodeProtectedHeader(idToken).alg).toBe('RS256');
    const jwks = createRemoteJWKSet(new URL(`${server.issuer}/jwks`));
    const { payload } = await jwtVerify(idToken, jwks, { issuer: server.issuer, audience: 'gitea' });
    expect(payload).toMatchObject({
      email: 'alice@home.example',
      email_verified: true,
      groups: ['admins', 'family'],
      preferred_username: 'alice',
      nickname: 'alice',
      name: 'Alice Example',
    });
    expect(tokens.refresh_token).toBeUndefined();
  });

  it('serves userinfo for the access token', async () => {
    const { tokens } = await codeFlow(server, config, 'alice', 'correct horse battery');
    const sub = tokens.claims()!.sub;
    const info = await oidc.fetchUserInfo(config, tokens.access_token, sub);
    expect(info).toMatchObject({ sub, email: 'alice@home.example', groups: ['admins', 'family'], preferred_username: 'alice' });
  });

  it('rotates refresh tokens and revokes the whole grant when an old one is reused', async () => {
    const { tokens } = await codeFlow(server, config, 'alice', 'correct horse battery', { scope: 'openid email offline_access', prompt: 'consent' });
    const first = tokens.refresh_token!;
    expect(first).toBeTruthy();
    const second = await oidc.refreshTokenGrant(config, first);
    expect(second.refresh_token).toBeTruthy();
    expect(second.refresh_token).not.toBe(first);
    expect(second.refresh_token! > first).toBe(true); // issued later, so sorted after it
    expect(second.id_token).toBeTruthy();

    await expect(oidc.refreshTokenGrant(config, first)).rejects.toMatchObject({ error: 'invalid_grant' });
    // Reuse revoked the grant: the newest refresh token and its access token are dead too.
    await expect(oidc.refreshTokenGrant(config, second.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    const introspected = await oidc.tokenIntrospection(config, second.access_token);
    expect(introspected.active).toBe(false);
  });

  it('introspects its own tokens and revokes them', async () => {
    const { tokens } = await codeFlow(server, config, 'alice', 'correct horse battery');
    const active = await oidc.tokenIntrospection(config, tokens.access_token);
    expect(active).toMatchObject({ active: true, client_id: 'gitea', sub: tokens.claims()!.sub });
    await oidc.tokenRevocation(config, tokens.access_token);
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(false);
    await expect(oidc.fetchUserInfo(config, tokens.access_token, tokens.claims()!.sub)).rejects.toBeTruthy();
  });

  it('does not let one client introspect another client\'s token', async () => {
    const otherSecret = addClient(server, 'grafana', ['--redirect-uri', callback])!;
    const other = await discover(server, 'grafana', otherSecret);
    const { tokens } = await codeFlow(server, config, 'alice', 'correct horse battery');
    expect((await oidc.tokenIntrospection(other, tokens.access_token)).active).toBe(false);
  });

  it('issues client_credentials tokens to a confidential client', async () => {
    const before = timePrefix();
    const tokens = await oidc.clientCredentialsGrant(config);
    const after = timePrefix();
    // The token (its row's id) starts with when it was issued: new rows go to the end of the id index.
    expect(tokens.access_token.slice(0, 9) >= before && tokens.access_token.slice(0, 9) <= after).toBe(true);
    expect(tokens.token_type.toLowerCase()).toBe('bearer');
    expect((await oidc.tokenIntrospection(config, tokens.access_token)).active).toBe(true);
  });

  it('says which client got tokens, by which grant, on the token request\'s one access line', async () => {
    await oidc.clientCredentialsGrant(config);
    const issued = () => logLines(server).filter((l) => l.event === 'token.issued' && l.grant_type === 'client_credentials');
    // The access log reaches stdout in batches.
    await until(() => issued().length >= 1, 'the access line of a client_credentials request');
    for (const line of issued()) {
      expect(line).toMatchObject({ msg: 'request', method: 'POST', path: '/token', status: 200, client: 'gitea' });
      expect(logLines(server).filter((l) => l.reqId === line.reqId)).toHaveLength(1);
    }
  });
});
