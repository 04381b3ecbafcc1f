// Two Accouch replicas on one PostgreSQL database behind a load balancer: started together on an empty database,
// a sign-in whose requests hop between them, refresh and single sign-on through the other one, a shared
// throttle, and a key rotation made on one that the other signs with and publishes. Runs in e2e-postgres only.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import * as oidc from 'openid-client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Agent, formAction } from './support/agent.js';
import { startBalancer, type Balancer } from './support/balancer.js';
import { addClient, addUser, callback, codeFlow, discover, startAuth } from './support/rp.js';
import { databaseEnv, e2eEngine, startServer, type RunningServer, stopCleanly } from './support/server.js';

let balancer: Balancer;
let replicas: RunningServer[];
let config: oidc.Configuration;
const urlPassword = 'never-in-a-log-line';

/** The JWKS one replica publishes, asked directly rather than through the balancer. */
const jwksOf = async (replica: RunningServer) => createLocalJWKSet(await (await fetch(`http://localhost:${replica.port}/jwks`)).json() as JSONWebKeySet);

beforeAll(async () => {
  expect(e2eEngine, 'replicas share a PostgreSQL database: run this file in the e2e-postgres project').toBe('PostgreSQL');
  balancer = await startBalancer();
  const dataDirs = [0, 1].map(() => mkdtempSync(join(tmpdir(), 'accouch-replica-')));
  // One empty database and one secret key for both; each replica has its own data directory, as pods would.
  const shared = await databaseEnv(dataDirs[0]!);
  // The test server trusts its private socket and ignores passwords: one in the URL must still stay out of the logs.
  shared.ACCOUCH_DATABASE_URL = shared.ACCOUCH_DATABASE_URL!.replace('postgres://postgres@', `postgres://postgres:${urlPassword}@`);
  replicas = await Promise.all(dataDirs.map((dataDir) => startServer({ dataDir, issuer: balancer.issuer, env: shared })));
  balancer.replicas = replicas.map((r) => r.port);
  addUser(replicas[0]!, 'olga', 'olga password');
  const secret = addClient(replicas[1]!, 'app', ['--redirect-uri', callback, '--refresh', 'always']);
  config = await discover(replicas[0]!, 'app', secret);
});

afterAll(async () => {
  await balancer?.close();
  for (const replica of replicas ?? []) {
    await stopCleanly(replica);
    expect(replica.output()).toContain('"database":"postgres://postgres@localhost/');
    expect(replica.output()).not.toContain(urlPassword);
  }
});

describe('two replicas on one PostgreSQL database', () => {
  it('started together on an empty database, migrated it once and generated one key set', async () => {
    const keys = replicas[0]!.cli(['keys', 'list']);
    expect(keys.status, keys.stderr).toBe(0);
    expect(keys.stdout.match(/\sactive$/gm)).toHaveLength(3);
    const generated = replicas.filter((r) => r.output().includes('"event":"keys.generated"'));
    expect(generated).toHaveLength(1);
    const published = await Promise.all(replicas.map(async (r) => (await fetch(`http://localhost:${r.port}/jwks`)).json()));
    expect(published[1]).toEqual(published[0]);
  });

  it('signs in with requests hopping between replicas, then refreshes and signs in again through the other one', async () => {
    balancer.route = 'alternate';
    balancer.served = [];
    const { tokens, agent } = await codeFlow(replicas[0]!, config, 'olga', 'olga password');
    expect(new Set(balancer.served)).toEqual(new Set([0, 1]));
    expect(tokens.refresh_token).toBeTruthy();

    balancer.route = 1;
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.claims()!.sub).toBe(tokens.claims()!.sub);
    balancer.route = 0;
    const userinfo = await oidc.fetchUserInfo(config, refreshed.access_token, refreshed.claims()!.sub);
    expect(userinfo.preferred_username).toBe('olga');

    // The browser session made through both replicas signs in again through replica 1 without a password.
    balancer.route = 1;
    const again = await startAuth(config);
    const sso = await agent.follow(again.url, new URL(balancer.issuer).origin);
    expect(sso.url.origin + sso.url.pathname).toBe(callback);
    expect(sso.url.searchParams.get('code')).toBeTruthy();

    balancer.route = 0;
    // The rotated-away refresh token is spent on every replica: reuse is refused and revokes the grant.
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    balancer.route = 1;
    await expect(oidc.refreshTokenGrant(config, refreshed.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('counts failed passwords on both replicas towards one lock', async () => {
    balancer.route = 'alternate';
    const origin = new URL(balancer.issuer).origin;
    const statuses: number[] = [];
    for (let attempt = 0; attempt < 6; attempt += 1) {
      const agent = new Agent();
      const { res } = await agent.follow((await startAuth(config)).url, origin);
      const posted = await agent.post(new URL(formAction(await res.text(), '/password'), origin), { username: 'olga', password: `guess ${attempt}` });
      statuses.push(posted.status);
    }
    expect(statuses).toEqual([401, 401, 401, 401, 401, 429]);
    expect(replicas[1]!.cli(['user', 'unlock', 'olga']).status).toBe(0);
  });

  it('signs with a key rotated through the CLI on one replica from the other, and both publish old and new keys', async () => {
    balancer.route = 1;
    const { tokens } = await codeFlow(replicas[1]!, config, 'olga', 'olga password');
    const oldKid = decodeProtectedHeader(tokens.id_token!).kid;

    const rotated = replicas[0]!.cli(['keys', 'rotate']);
    expect(rotated.status, rotated.stderr).toBe(0);

    // Replica 1 notices within its 5 s poll: its refreshed id_tokens carry the new key.
    let current = tokens;
    for (let i = 0; i < 40 && decodeProtectedHeader(current.id_token!).kid === oldKid; i += 1) {
      await new Promise((r) => setTimeout(r, 250));
      current = await oidc.refreshTokenGrant(config, current.refresh_token!);
    }
    const newKid = decodeProtectedHeader(current.id_token!).kid;
    expect(newKid).not.toBe(oldKid);
    expect(replicas[0]!.cli(['keys', 'list']).stdout).toContain(`${newKid}  RS256`);

    for (const replica of replicas) {
      const jwks = await jwksOf(replica);
      await jwtVerify(tokens.id_token!, jwks, { issuer: balancer.issuer });
      await jwtVerify(current.id_token!, jwks, { issuer: balancer.issuer });
    }
  });
});
