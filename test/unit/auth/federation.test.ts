// Upstream sign-in rules without an upstream: who an allow rule admits, which groups a mapping grants, how an
// upstream's failure reads, what a federated sign-in still needs, the single use of its state, and the last way in.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createUser, findUserById } from '../../../src/store/users.js';
import { admitsNewUser, linkUpstreamIdentity, mappedGroups, resolveUpstreamSignIn, unlinkUpstreamIdentity } from '../../../src/auth/federation/accounts.js';
import { upstreamFailure, type Identity } from '../../../src/auth/federation/connector.js';
import { recordOutcome, takeOutcome } from '../../../src/auth/federation/flow.js';
import { createUpstreamRegistry, type Upstream } from '../../../src/auth/federation/registry.js';
import { createSecretBox } from '../../../src/auth/secret-key.js';
import { decide } from '../../../src/auth/sign-in/factors.js';
import { ConfigError, loadConfig, upstreamSchema } from '../../../src/config.js';
import { insertFederationState, takeFederationState } from '../../../src/store/federation.js';
import { openTestDb, tempFile } from '../helpers.js';

const upstream = (input: Record<string, unknown>): Upstream => {
  const parsed = upstreamSchema.parse({ clientId: 'c', clientSecret: 's', ...input });
  return { ...parsed, clientSecret: 's', source: 'config', displayName: parsed.name ?? parsed.id };
};
const identity = (input: Partial<Identity>): Identity => ({ issuer: 'https://github.com', subject: 'sub-1', emailVerified: false, memberships: [], ...input });

describe('allow rules', () => {
  const github = upstream({ id: 'github', type: 'github', allow: { githubLogins: ['OctoCat'], githubOrgs: ['Family'], emails: ['ada@home.example'] } });
  const google = upstream({ id: 'google', type: 'google', allow: { googleDomains: ['family.example'] } });

  it('admits GitHub logins (any case) and members of allowed organisations, not of their teams alone', () => {
    expect(admitsNewUser(github, identity({ login: 'octocat' }))).toBe(true);
    expect(admitsNewUser(github, identity({ login: 'someone', memberships: ['family'] }))).toBe(true);
    expect(admitsNewUser(github, identity({ login: 'someone', memberships: ['other', 'other/family'] }))).toBe(false);
  });

  it('admits an email only when the upstream verified it', () => {
    expect(admitsNewUser(github, identity({ email: 'ada@home.example', emailVerified: true }))).toBe(true);
    expect(admitsNewUser(github, identity({ email: 'ada@home.example', emailVerified: false }))).toBe(false);
  });

  it('admits a Google Workspace domain by its hd claim, never by the address alone', () => {
    expect(admitsNewUser(google, identity({ domain: 'family.example' }))).toBe(true);
    expect(admitsNewUser(google, identity({ email: 'x@family.example', emailVerified: true }))).toBe(false);
  });

  it('admits nobody without a rule', () => {
    expect(admitsNewUser(upstream({ id: 'plain', type: 'oidc', issuer: 'https://id.example' }), identity({ email: 'a@b.example', emailVerified: true }))).toBe(false);
  });
});

describe('group mapping', () => {
  it('grants the groups of the organisations and teams the person is in, and manages only mapped groups', () => {
    const github = upstream({ id: 'github', type: 'github', groups: { Family: 'family', 'family/admins': 'admins', acme: 'work' } });
    expect(mappedGroups(github, identity({ memberships: ['family', 'family/admins'] }))).toEqual({ managed: ['family', 'admins', 'work'], granted: ['family', 'admins'] });
  });
});

describe('an upstream\'s failure', () => {
  const said = (error: unknown, timeout = 10) => upstreamFailure('GitHub', timeout, error);

  it('reads as what happened, naming the service, with status 502', () => {
    expect(said(Object.assign(new Error('x'), { name: 'AuthorizationResponseError', error: 'access_denied', error_description: 'no thanks' })).message)
      .toBe('GitHub did not let you in (no thanks). Nothing was changed.');
    expect(said(Object.assign(new Error('x'), { name: 'ResponseBodyError', error: 'invalid_grant', error_description: 'code expired' })).message)
      .toBe('GitHub refused the sign-in (invalid_grant: code expired). Nothing was changed.');
    // GitHub's token endpoint says no with HTTP 200 and an error body; openid-client reports the missing token.
    const processing = Object.assign(new Error('"response" body "access_token" property must be a string'), {
      name: 'OperationProcessingError', code: 'OAUTH_INVALID_RESPONSE', cause: { body: { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' } },
    });
    const github200 = Object.assign(new Error('invalid response encountered', { cause: processing }), { name: 'ClientError', code: 'OAUTH_INVALID_RESPONSE' });
    expect(said(github200).message).toBe('GitHub refused the sign-in (bad_verification_code: The code passed is incorrect or expired.). Nothing was changed.');
    expect(said(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED') })).message).toBe('GitHub could not be reached. Nothing was changed.');
    expect(said(new TypeError('fetch failed', { cause: new DOMException('timed out', 'TimeoutError') }), 1).message)
      .toBe('GitHub did not answer within 1 second. Nothing was changed.');
    const garbage = said(new SyntaxError('Unexpected token < in JSON'));
    expect(garbage.message).toBe('GitHub sent an answer Accouch could not use. Nothing was changed.');
    expect([garbage.status, garbage.expose]).toEqual([502, true]);
  });
});

describe('a federated sign-in', () => {
  const withTotp = { hasPassword: true, passkeys: 0, securityKeys: 0, hasTotp: true, recoveryCodes: 10 };

  it('is one factor: enough where the policy asks for any, even for someone with an authenticator app', () => {
    expect(decide({ userId: 'u', factors: [{ factor: 'federated' }] }, withTotp, '1fa')).toEqual({ status: 'done', amr: ['fed'], acr: '1fa' });
  });

  it('needs a second factor where the policy asks for more, and none is possible without one', () => {
    expect(decide({ userId: 'u', factors: [{ factor: 'federated' }] }, withTotp, 'mfa')).toMatchObject({ status: 'more', options: ['totp', 'recovery_code'] });
    expect(decide({ userId: 'u', factors: [{ factor: 'federated' }, { factor: 'totp' }] }, withTotp, 'mfa')).toEqual({ status: 'done', amr: ['fed', 'otp', 'mfa'], acr: 'mfa' });
    const nothing = { hasPassword: false, passkeys: 0, securityKeys: 0, hasTotp: false, recoveryCodes: 0 };
    expect(decide({ userId: 'u', factors: [{ factor: 'federated' }] }, nothing, 'mfa').status).toBe('impossible');
  });

  it('leaves the password rule as it was: a password alone never finishes for someone with TOTP', () => {
    expect(decide({ userId: 'u', factors: [{ factor: 'password' }] }, withTotp, '1fa').status).toBe('more');
  });
});

describe('sign-in state', () => {
  it('is taken once, and its outcome goes only to the sign-in it belongs to', async () => {
    const db = await openTestDb();
    const now = 1_800_000_000;
    await insertFederationState(db, { id: 'st', upstream_id: 'github', purpose: 'login', binding: 'uid-1', user_id: null, verifier: 'v', nonce: 'n', result: null, expires_at: now + 600 });
    expect(await takeFederationState(db, 'st', 'google', now)).toBeUndefined(); // another upstream's callback
    expect((await takeFederationState(db, 'st', 'github', now))?.verifier).toBe('v');
    expect(await takeFederationState(db, 'st', 'github', now)).toBeUndefined();
    expect(await takeOutcome(db, 'st', 'uid-1', now)).toBeUndefined(); // not finished yet
    await recordOutcome(db, 'st', { userId: 'u1', upstream: 'github' });
    expect(await takeOutcome(db, 'st', 'uid-2', now)).toBeUndefined();
    expect(await takeOutcome(db, 'st', 'uid-1', now)).toEqual({ userId: 'u1', upstream: 'github' });
    expect(await takeOutcome(db, 'st', 'uid-1', now)).toBeUndefined();
  });

  it('expires', async () => {
    const db = await openTestDb();
    await insertFederationState(db, { id: 'old', upstream_id: 'github', purpose: 'login', binding: 'b', user_id: null, verifier: 'v', nonce: 'n', result: null, expires_at: 100 });
    expect(await takeFederationState(db, 'old', 'github', 100)).toBeUndefined();
  });
});

describe('linked accounts', () => {
  const github = upstream({ id: 'github', type: 'github' });

  it('refuses to unlink the last way in, and links an identity to one person only', async () => {
    const db = await openTestDb();
    const ada = await createUser(db, { username: 'ada', name: 'Ada' });
    const bob = await createUser(db, { username: 'bob', name: 'Bob', passwordHash: 'x' });
    await linkUpstreamIdentity(db, { userId: ada.id }, github, identity({ subject: '1', login: 'ada-gh' }));
    await expect(linkUpstreamIdentity(db, { userId: bob.id }, github, identity({ subject: '1' }))).rejects.toThrow('already linked to someone else');
    await expect(unlinkUpstreamIdentity(db, { userId: ada.id }, 'github')).rejects.toThrow('This is your last way to sign in');
    expect(await resolveUpstreamSignIn(db, github, identity({ subject: '1' }))).toEqual({ status: 'known', userId: ada.id });
    await linkUpstreamIdentity(db, { userId: bob.id }, github, identity({ subject: '2' }));
    await unlinkUpstreamIdentity(db, { userId: bob.id }, 'github'); // bob still has a password
    expect(await resolveUpstreamSignIn(db, github, identity({ subject: '2', login: 'bob-gh' }))).toMatchObject({ status: 'stranger' });
  });

  it('does not sign in an old link when the upstream now points at another issuer', async () => {
    const db = await openTestDb();
    const ada = await createUser(db, { username: 'ada', name: 'Ada', passwordHash: 'x' });
    await linkUpstreamIdentity(db, { userId: ada.id }, github, identity({ subject: '42' }));
    expect(await resolveUpstreamSignIn(db, github, identity({ subject: '42' }))).toEqual({ status: 'known', userId: ada.id });
    // GitHub Enterprise numbers its users from 1 too: the same subject there is someone else.
    expect(await resolveUpstreamSignIn(db, github, identity({ issuer: 'https://github.example.org', subject: '42' }))).toMatchObject({ status: 'stranger' });
  });

  it('does not create a second account for an address someone here already has', async () => {
    const db = await openTestDb();
    await createUser(db, { username: 'ada', name: 'Ada', email: 'Ada@Home.example', emailVerified: true });
    const open = upstream({ id: 'github', type: 'github', allow: { emails: ['ada@home.example'] } });
    const result = await resolveUpstreamSignIn(db, open, identity({ subject: '7', login: 'ada-gh', email: 'ada@home.example', emailVerified: true }));
    expect(result).toMatchObject({ status: 'stranger', message: expect.stringContaining('already uses ada@home.example') });
  });

  it('never takes admins from the last admin, whatever the mapping says', async () => {
    const db = await openTestDb();
    const owner = await createUser(db, { username: 'owner', name: 'Owner', passwordHash: 'x', groups: ['admins', 'family'] });
    const mapped = upstream({ id: 'github', type: 'github', groups: { 'family/admins': 'admins', family: 'family' } });
    await linkUpstreamIdentity(db, { userId: owner.id }, mapped, identity({ subject: '1' }));
    await resolveUpstreamSignIn(db, mapped, identity({ subject: '1', memberships: [] }));
    expect((await findUserById(db, owner.id))!.groups).toEqual(['admins']);
  });

  it('creates a new user with a free username from the upstream login', async () => {
    const db = await openTestDb();
    await createUser(db, { username: 'octocat', name: 'Someone else' });
    const open = upstream({ id: 'github', type: 'github', allow: { githubLogins: ['octocat'] } });
    const result = await resolveUpstreamSignIn(db, open, identity({ subject: '583231', login: 'OctoCat', name: 'The Octocat' }));
    expect(result.status).toBe('created');
    const again = await resolveUpstreamSignIn(db, open, identity({ subject: '583231', login: 'OctoCat' }));
    expect(again).toEqual({ status: 'known', userId: (result as { userId: string }).userId });
  });
});

describe('upstreams in the configuration', () => {
  const problems = (upstreams: unknown[]) => {
    try {
      loadConfig({ env: {}, file: tempFile('config.yaml', JSON.stringify({ upstreams })) });
      return [];
    } catch (error) {
      return (error as ConfigError).problems;
    }
  };

  it('names every bad key', () => {
    expect(problems([
      { id: 'work', type: 'oidc', clientId: 'c' },
      { id: 'gh', type: 'github', clientId: 'c', clientSecret: 's', issuer: 'https://github.com', allow: { googleDomains: ['x.example'] } },
      { id: 'g', type: 'google', clientId: 'c', clientSecret: 's', issuer: 'http://accounts.example' },
      { id: 'g', type: 'google', clientId: 'c', clientSecret: 's', timeout: 30 },
    ])).toEqual([
      'upstreams.0.clientSecret: give clientSecret or clientSecretFile',
      'upstreams.0.issuer: an oidc upstream needs its issuer URL',
      'upstreams.1.issuer: GitHub is not an OpenID Connect issuer: use baseUrl and apiUrl for GitHub Enterprise Server',
      'upstreams.1.allow.googleDomains: only for google',
      'upstreams.2.issuer: must be an https URL without query or fragment (http only on a loopback address)',
      'upstreams.3.timeout: Too big: expected number to be <=10',
      'upstreams.3.id: duplicate upstream id "g"',
    ]);
  });

  it('reads a client secret from a file', () => {
    const file = tempFile('secret', 'from the file\n');
    const config = loadConfig({ env: {}, file: tempFile('config.yaml', JSON.stringify({ upstreams: [{ id: 'github', type: 'github', clientId: 'c', clientSecretFile: file }] })) });
    expect(config.upstreams[0]!.clientSecret).toBe('from the file');
  });
});

describe('the registry', () => {
  it('keeps a console upstream\'s secret sealed, and refuses ids the configuration file has', async () => {
    const db = await openTestDb();
    const box = createSecretBox(randomBytes(32));
    const registry = createUpstreamRegistry({ db, box, declared: [upstreamSchema.parse({ id: 'github', type: 'github', clientId: 'c', clientSecret: 's' })] });
    await expect(registry.add({ userId: 'owner' }, { id: 'github', type: 'github', clientId: 'c', clientSecret: 'x' })).rejects.toThrow('declared in the configuration file');
    const added = await registry.add({ userId: 'owner' }, { id: 'family', type: 'oidc', issuer: 'https://id.family.example', clientId: 'c', clientSecret: 'the secret' });
    expect(added).toMatchObject({ source: 'console', clientSecret: 'the secret', displayName: 'family' });
    const row = await db.selectFrom('upstreams').selectAll().executeTakeFirstOrThrow();
    expect(row.config).not.toContain('the secret');
    expect((await registry.list()).map((u) => u.id)).toEqual(['github', 'family']);

    // Removed, its links go too: re-added later (perhaps for another issuer), it starts from nobody.
    const bob = await createUser(db, { username: 'bob', name: 'Bob', passwordHash: 'x' });
    await linkUpstreamIdentity(db, { userId: bob.id }, added, identity({ issuer: 'https://id.family.example', subject: 'b' }));
    await registry.remove({ userId: 'owner' }, 'family');
    expect(await db.selectFrom('federated_identities').selectAll().execute()).toEqual([]);
  });
});
