// The owner console's rules: CLI apps change and config apps do not, a rotated secret replaces the old one,
// admins cannot lock themselves out, disabling and session revocation take grants with them, and the audit log
// filters and pages (invitation and reset links: enrol.test.ts).
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  addApp, auditPage, createResetLink, inviteUser, liftPasswordLock, listAdminUsers, passwordLocksOf, listHouseholdSessions, parseGroups, removeApp, revokeSession, rotateAppSecret,
  rotateKeys, setAppKeys, setUserDisabled, setUserGroups, updateAppAuthMethod, updateAppRedirects,
} from '../../../src/auth/admin.js';
import { sessionHandle } from '../../../src/auth/account.js';
import { hashPassword, verifyPassword } from '../../../src/auth/password.js';
import { generateRecoveryCodes, recoveryStatus } from '../../../src/auth/recovery.js';
import { createSecretBox } from '../../../src/auth/secret-key.js';
import { maxConsecutiveFailures, recordFailure, throttleKeys } from '../../../src/auth/throttle.js';
import { hasTotp } from '../../../src/auth/totp.js';
import { clientSchema } from '../../../src/config.js';
import { listAudit, recordAudit } from '../../../src/store/audit.js';
import { findClient, upsertConfigClient } from '../../../src/store/clients.js';
import { insertCredential, listCredentials } from '../../../src/store/credentials.js';
import type { Db } from '../../../src/store/db.js';
import { saveTotp } from '../../../src/store/factors.js';
import { findPayload, upsertPayload } from '../../../src/store/oidc-payloads.js';
import { createUser, findUserById } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const box = createSecretBox(randomBytes(32));
const events = async (db: Db) => (await listAudit(db)).map((e) => e.event).reverse();
const web = (id: string) => clientSchema.parse({ id, secret: 'a'.repeat(32), redirectUris: [`https://${id}.home.example/callback`] });

async function owner(db: Db) {
  return createUser(db, { username: 'olive', name: 'Olive', groups: ['admins'], passwordHash: await hashPassword('olive password') });
}

describe('apps', () => {
  test('a CLI app gets new redirect URIs and a new secret; a config app is read-only', async () => {
    const db = await openTestDb();
    const admin = { userId: (await owner(db)).id };
    await addApp(db, admin, web('wiki'), 'generic');
    await upsertConfigClient(db, web('gitea'));
    await expect(addApp(db, admin, web('wiki'), 'generic')).rejects.toMatchObject({ code: 'conflict' });
    await expect(addApp(db, admin, web('accouch'), 'generic')).rejects.toMatchObject({ code: 'conflict' });

    await expect(updateAppRedirects(db, admin, 'wiki', 'not a url')).rejects.toMatchObject({ code: 'bad_request' });
    expect(await updateAppRedirects(db, admin, 'wiki', 'https://a.example/cb\n https://b.example/cb ')).toEqual(['https://a.example/cb', 'https://b.example/cb']);
    expect((await findClient(db, 'wiki'))!.config.redirectUris).toEqual(['https://a.example/cb', 'https://b.example/cb']);

    const secret = await rotateAppSecret(db, admin, 'wiki');
    expect(secret).toMatch(/^[\w-]{43}$/);
    expect((await findClient(db, 'wiki'))!.config.secret).toBe(secret);

    for (const change of [() => updateAppRedirects(db, admin, 'gitea', 'https://x.example/cb'), () => rotateAppSecret(db, admin, 'gitea'), () => removeApp(db, admin, 'gitea')]) {
      await expect(change()).rejects.toMatchObject({ code: 'forbidden' });
    }
    await upsertPayload(db, 'Grant', 'g1', { clientId: 'wiki', accountId: admin.userId }, null);
    await removeApp(db, admin, 'wiki');
    expect(await findClient(db, 'wiki')).toBeUndefined();
    expect(await findPayload(db, 'Grant', 'id', 'g1')).toBeUndefined();
    expect(await events(db)).toEqual(['client.created', 'client.updated', 'client.secret_rotated', 'client.removed']);
  });
});

/** An app's key pair as JWKs: the public one to register, the private one it must never give away. */
function appKey(kid: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { pub: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' }, priv: { ...privateKey.export({ format: 'jwk' }), kid } };
}
const stored = async (db: Db, id: string) => (await findClient(db, id))!.config;

describe('how an app proves itself', () => {
  test('a secret app switches to its own key: the secret goes, the audit log names the keys but holds no key material', async () => {
    const db = await openTestDb();
    const admin = { userId: (await owner(db)).id };
    await addApp(db, admin, { ...web('ci'), clientCredentials: true }, 'generic');
    const key = appKey('ci-1');
    await setAppKeys(db, admin, 'ci', { jwks: `  ${JSON.stringify({ keys: [key.pub] }, null, 2)}\n` });
    const config = await stored(db, 'ci');
    expect(config).toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt', jwks: { keys: [key.pub] } });
    expect(config.secret).toBeUndefined();
    expect(config.jwksUri).toBeUndefined();
    const [entry] = await listAudit(db);
    expect(entry).toMatchObject({ event: 'client.updated', actor: admin.userId, detail: { client: 'ci', tokenEndpointAuthMethod: 'private_key_jwt', keys: 1, kids: ['ci-1'], secretRemoved: true } });
    expect(JSON.stringify(entry!.detail)).not.toContain(key.pub.x as string);
  });

  test('a key app gets new keys: an https address, an http one on loopback, a pasted single JWK; its secret methods are refused', async () => {
    const db = await openTestDb();
    const admin = { userId: (await owner(db)).id };
    await addApp(db, admin, web('signer'), 'generic');
    await setAppKeys(db, admin, 'signer', { jwksUri: ' https://signer.example/jwks ' });
    expect(await stored(db, 'signer')).toMatchObject({ tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'https://signer.example/jwks' });
    await setAppKeys(db, admin, 'signer', { jwksUri: 'http://127.0.0.1:8080/jwks' });
    expect((await stored(db, 'signer')).jwksUri).toBe('http://127.0.0.1:8080/jwks');

    const key = appKey('signer-2');
    await setAppKeys(db, admin, 'signer', { jwks: JSON.stringify(key.pub), jwksUri: '' });
    const config = await stored(db, 'signer');
    expect(config.jwks).toEqual({ keys: [key.pub] });
    expect(config.jwksUri).toBeUndefined();
    expect((await listAudit(db))[0]!.detail).toEqual({ client: 'signer', tokenEndpointAuthMethod: 'private_key_jwt', keys: 1, kids: ['signer-2'] });
    expect((await listAudit(db))[1]!.detail).toEqual({ client: 'signer', tokenEndpointAuthMethod: 'private_key_jwt', jwksUri: 'http://127.0.0.1:8080/jwks' });

    await expect(updateAppAuthMethod(db, admin, 'signer', 'client_secret_post')).rejects.toThrow(/Switch to a secret/);
    expect(await stored(db, 'signer')).toEqual(config);
  });

  test.each([
    ['a private JWK', (k: ReturnType<typeof appKey>) => ({ jwks: JSON.stringify({ keys: [k.priv] }) }), /private key: it stays with the app and was not saved/],
    ['a public and a private JWK', (k: ReturnType<typeof appKey>) => ({ jwks: JSON.stringify({ keys: [k.pub, k.priv] }) }), /private key/],
    ['a cut-off private JWK', (k: ReturnType<typeof appKey>) => { const text = JSON.stringify({ keys: [k.priv] }); return { jwks: text.slice(0, text.indexOf('"d"') + 12) }; }, /private key/],
    ['a PEM private key', () => ({ jwks: generateKeyPairSync('ed25519').privateKey.export({ format: 'pem', type: 'pkcs8' }) as string }), /private key/],
    ['a shared secret (oct JWK)', () => ({ jwks: JSON.stringify({ keys: [{ kty: 'oct', k: 'c2VjcmV0' }] }) }), /private key/],
    ['text that is not JSON', () => ({ jwks: 'keys: []' }), /not JSON/],
    ['an empty set', () => ({ jwks: '{"keys":[]}' }), /jwks\.keys/],
    ['a JWK that is no key', () => ({ jwks: '{"keys":[{"kty":"EC","crv":"P-256","x":"AA"}]}' }), /jwks\.keys\.0: not a public key/],
    ['both an address and keys', (k: ReturnType<typeof appKey>) => ({ jwksUri: 'https://a.example/jwks', jwks: JSON.stringify({ keys: [k.pub] }) }), /not both/],
    ['neither', () => ({ jwksUri: ' ', jwks: '' }), /JWKS URI/],
    ['an http address off loopback', () => ({ jwksUri: 'http://signer.example/jwks' }), /must be https \(http only on a loopback address\)/],
    ['an address that is no URL', () => ({ jwksUri: 'signer.example/jwks' }), /jwksUri/],
  ])('refuses %s and leaves the app as it was', async (_name, input, message) => {
    const db = await openTestDb();
    const admin = { userId: (await owner(db)).id };
    await addApp(db, admin, web('wiki'), 'generic');
    const before = await stored(db, 'wiki');
    await expect(setAppKeys(db, admin, 'wiki', input(appKey('k')))).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(message) });
    expect(await stored(db, 'wiki')).toEqual(before);
    expect(await events(db)).toEqual(['client.created']);
  });

  test('keys are refused for a public app and for an app declared in the configuration', async () => {
    const db = await openTestDb();
    const admin = { userId: (await owner(db)).id };
    await addApp(db, admin, clientSchema.parse({ id: 'spa', public: true, redirectUris: ['https://spa.example/cb'] }), 'generic');
    await upsertConfigClient(db, web('gitea'));
    const jwks = JSON.stringify({ keys: [appKey('k').pub] });
    await expect(setAppKeys(db, admin, 'spa', { jwks })).rejects.toMatchObject({ code: 'bad_request', message: expect.stringMatching(/PKCE/) });
    await expect(setAppKeys(db, admin, 'gitea', { jwks })).rejects.toMatchObject({ code: 'forbidden' });
    await expect(setAppKeys(db, admin, 'nope', { jwks })).rejects.toMatchObject({ code: 'not_found' });
  });

  test('a key app switches back to a secret: a new one, the method chosen, the keys gone', async () => {
    const db = await openTestDb();
    const admin = { userId: (await owner(db)).id };
    await addApp(db, admin, web('ci'), 'generic');
    await setAppKeys(db, admin, 'ci', { jwksUri: 'https://ci.example/jwks' });
    await expect(rotateAppSecret(db, admin, 'ci', 'private_key_jwt')).rejects.toMatchObject({ code: 'bad_request' });
    await expect(rotateAppSecret(db, admin, 'ci', 'none')).rejects.toMatchObject({ code: 'bad_request' });
    expect((await stored(db, 'ci')).jwksUri).toBe('https://ci.example/jwks');

    const secret = await rotateAppSecret(db, admin, 'ci', 'client_secret_post');
    expect(secret).toMatch(/^[\w-]{43}$/);
    const config = await stored(db, 'ci');
    expect(config).toMatchObject({ secret, tokenEndpointAuthMethod: 'client_secret_post' });
    expect(config.jwks ?? config.jwksUri).toBeUndefined();
    expect((await listAudit(db))[0]).toMatchObject({ event: 'client.secret_rotated', detail: { client: 'ci', tokenEndpointAuthMethod: 'client_secret_post' } });

    // Without a method the app keeps the way it sends its secret; from a key, the default (client_secret_basic).
    const again = await rotateAppSecret(db, admin, 'ci');
    expect(await stored(db, 'ci')).toMatchObject({ secret: again, tokenEndpointAuthMethod: 'client_secret_post' });
    expect((await listAudit(db))[0]!.detail).toEqual({ client: 'ci' });
    await setAppKeys(db, admin, 'ci', { jwksUri: 'https://ci.example/jwks' });
    const basic = await rotateAppSecret(db, admin, 'ci');
    expect(await stored(db, 'ci')).toMatchObject({ secret: basic, tokenEndpointAuthMethod: 'client_secret_basic' });
  });

  test('a secret app changes how it sends its secret and keeps it', async () => {
    const db = await openTestDb();
    const admin = { userId: (await owner(db)).id };
    await addApp(db, admin, web('wiki'), 'generic');
    await updateAppAuthMethod(db, admin, 'wiki', 'client_secret_post');
    expect(await stored(db, 'wiki')).toMatchObject({ secret: 'a'.repeat(32), tokenEndpointAuthMethod: 'client_secret_post' });
    for (const method of ['private_key_jwt', 'none', undefined]) {
      await expect(updateAppAuthMethod(db, admin, 'wiki', method)).rejects.toMatchObject({ code: 'bad_request' });
    }
    await updateAppAuthMethod(db, admin, 'wiki', 'client_secret_basic');
    expect(await stored(db, 'wiki')).toMatchObject({ secret: 'a'.repeat(32), tokenEndpointAuthMethod: 'client_secret_basic' });
  });
});

describe('users', () => {
  test('groups are checked, and an admin cannot leave admins or disable themselves', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const bob = await createUser(db, { username: 'bob', name: 'Bob' });
    expect(parseGroups(' family, admins family ')).toEqual(['admins', 'family']);
    expect(() => parseGroups('ok, not/ok')).toThrow(/not a group name/);
    await expect(setUserGroups(db, { userId: me.id }, me.id, 'family')).rejects.toMatchObject({ code: 'bad_request' });
    await expect(setUserDisabled(db, { userId: me.id }, me.id, true)).rejects.toMatchObject({ code: 'bad_request' });
    expect(await setUserGroups(db, { userId: me.id }, bob.id, 'family,kids')).toEqual(['family', 'kids']);
    expect((await findUserById(db, bob.id))!.groups).toEqual(['family', 'kids']);
    expect((await listAudit(db))[0]).toMatchObject({ event: 'user.groups_changed', actor: me.id, detail: { user: bob.id, added: ['family', 'kids'], removed: [] } });
  });

  test('disabling ends every session and grant of the user', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const bob = await createUser(db, { username: 'bob', name: 'Bob' });
    await upsertPayload(db, 'Session', 's1', { accountId: bob.id, loginTs: 10, authorizations: { wiki: { grantId: 'g1' } } }, null);
    await upsertPayload(db, 'Grant', 'g1', { accountId: bob.id, clientId: 'wiki' }, null);
    await upsertPayload(db, 'RefreshToken', 'r1', { accountId: bob.id, grantId: 'g1' }, null);
    await setUserDisabled(db, { userId: me.id }, bob.id, true);
    expect((await findUserById(db, bob.id))!.disabled).toBe(true);
    for (const [model, id] of [['Session', 's1'], ['Grant', 'g1'], ['RefreshToken', 'r1']] as const) expect(await findPayload(db, model, 'id', id)).toBeUndefined();
    await setUserDisabled(db, { userId: me.id }, bob.id, false);
    expect(await events(db)).toEqual(['user.disabled', 'user.enabled']);
  });
});

describe('password sign-in locks', () => {
  test('the owner sees a lock from outside and lifts it before its day is over; both are in the audit log', async () => {
    const db = await openTestDb();
    const admin = { userId: (await owner(db)).id, ip: '10.0.0.2' };
    const paul = await createUser(db, { username: 'paul', name: 'Paul', passwordHash: await hashPassword('paul password') });
    const now = Math.floor(Date.now() / 1000);
    for (let i = 0; i < maxConsecutiveFailures; i++) await recordFailure(db, throttleKeys('paul', undefined, 'outside'), now);
    expect(await passwordLocksOf(db, paul.id, now)).toEqual([expect.objectContaining({ network: 'outside', failures: maxConsecutiveFailures })]);
    await liftPasswordLock(db, admin, paul.id);
    expect(await passwordLocksOf(db, paul.id, now)).toEqual([]);
    expect(await events(db)).toEqual(['login.locked', 'login.unlocked']);
    await expect(liftPasswordLock(db, admin, 'nobody')).rejects.toMatchObject({ code: 'not_found' });
  });
});

describe('sessions', () => {
  test("revoking a session revokes the grants it authorised, and nobody else's", async () => {
    const db = await openTestDb();
    const me = await owner(db);
    await upsertPayload(db, 'Session', 's1', { accountId: 'bob', loginTs: 10, authorizations: { wiki: { grantId: 'g1' } } }, null);
    await upsertPayload(db, 'Session', 's2', { accountId: 'bob', loginTs: 20, authorizations: { wiki: { grantId: 'g2' } } }, null);
    await upsertPayload(db, 'Grant', 'g1', { accountId: 'bob' }, null);
    await upsertPayload(db, 'Grant', 'g2', { accountId: 'bob' }, null);
    await upsertPayload(db, 'RefreshToken', 'r1', { accountId: 'bob', grantId: 'g1' }, null);
    await upsertPayload(db, 'RefreshToken', 'r2', { accountId: 'bob', grantId: 'g2' }, null);
    const listed = await listHouseholdSessions(db);
    expect(listed.map((s) => s.handle)).toEqual([sessionHandle('s2'), sessionHandle('s1')]);
    expect(JSON.stringify(listed)).not.toMatch(/"s1"|"s2"/);
    expect(await revokeSession(db, { userId: me.id }, sessionHandle('s1'))).toBe(true);
    expect(await revokeSession(db, { userId: me.id }, sessionHandle('s1'))).toBe(false);
    expect(await findPayload(db, 'RefreshToken', 'id', 'r1')).toBeUndefined();
    expect(await findPayload(db, 'RefreshToken', 'id', 'r2')).toBeDefined();
    expect(await findPayload(db, 'Session', 'id', 's2')).toBeDefined();
  });
});

describe('keys and the audit log', () => {
  test('a key rotation runs the rotation handed in and is audited', async () => {
    const db = await openTestDb();
    let rotated = 0;
    await rotateKeys(db, { userId: 'me' }, async () => { rotated += 1; });
    expect(rotated).toBe(1);
    expect((await listAudit(db))[0]).toMatchObject({ event: 'keys.rotated', actor: 'me' });
  });

  test('filters by event prefix, user (actor or subject) and UTC days, 50 a page', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const day = Date.parse('2025-03-10T12:00:00Z') / 1000;
    for (let i = 0; i < 60; i += 1) await recordAudit(db, { event: 'login.success', actor: me.id }, day);
    await recordAudit(db, { event: 'user_x', actor: 'cli' }, day);
    await recordAudit(db, { event: 'user.disabled', actor: 'cli', detail: { user: me.id } }, day + 86400);
    const all = await auditPage(db, {});
    expect(all.entries).toHaveLength(50);
    expect(all.more).toBe(true);
    expect((await auditPage(db, { page: '2' })).entries).toHaveLength(12);
    expect((await auditPage(db, { event: 'user.' })).entries.map((e) => e.event)).toEqual(['user.disabled']);
    const mine = await auditPage(db, { user: 'olive', event: 'user' });
    expect(mine.entries.map((e) => [e.event, e.actorName, e.userName])).toEqual([['user.disabled', 'cli', 'olive']]);
    expect((await auditPage(db, { from: '2025-03-11', to: '2025-03-11' })).entries.map((e) => e.event)).toEqual(['user.disabled']);
    expect((await auditPage(db, { from: 'garbage' })).filter.from).toBe('');
  });
});
