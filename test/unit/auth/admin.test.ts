// The owner console's rules: CLI apps change and config apps do not, a rotated secret replaces the old one,
// admins cannot lock themselves out, disabling and session revocation take grants with them, invitation and reset
// links enrol a way in (a reset removes every old factor), and the audit log filters and pages.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  addApp, auditPage, createResetLink, inviteUser, liftPasswordLock, listAdminUsers, passwordLocksOf, listHouseholdSessions, parseGroups, removeApp, revokeSession, rotateAppSecret,
  rotateKeys, setUserDisabled, setUserGroups, updateAppRedirects,
} from '../../../src/auth/admin.js';
import { sessionHandle } from '../../../src/auth/account.js';
import { findEnrolLink, finishEnrol, offerEnrolTotp, passkeySaved, saveInvitee, savePassword } from '../../../src/auth/invite.js';
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

describe('invitation and reset links', () => {
  test('an invitee becomes a user in the invited groups, enabled once they have a password', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const { token } = await inviteUser(db, box, { userId: me.id }, 'family');
    expect(await findEnrolLink(db, box, 'reset', token)).toBeUndefined();
    let link = (await findEnrolLink(db, box, 'invite', token))!;
    await expect(saveInvitee(db, link, { username: 'olive', name: 'X', method: 'password' })).rejects.toMatchObject({ code: 'conflict' });
    const kim = await saveInvitee(db, link, { username: 'kim', name: 'Kim', email: 'kim@home.example', method: 'password' });
    expect(kim).toMatchObject({ groups: ['family'], disabled: true, emailVerified: false });
    expect((await listAdminUsers(db)).find((u) => u.user.id === kim.id)?.status).toBe('invited');

    link = (await findEnrolLink(db, box, 'invite', token))!;
    expect(await finishEnrol(db, link, 'invite')).toBeUndefined(); // no way in yet
    expect(await savePassword(db, box, link, 'invite', 'kim password', '')).toBe(true);
    link = (await findEnrolLink(db, box, 'invite', token))!;
    expect(await finishEnrol(db, link, 'invite')).toBe(kim.id);
    const saved = (await findUserById(db, kim.id))!;
    expect(saved.disabled).toBe(false);
    expect(await verifyPassword('kim password', saved.passwordHash)).toBe(true);
    expect(await findEnrolLink(db, box, 'invite', token)).toBeUndefined(); // used up
    expect(await events(db)).toEqual(['user.invited', 'user.invite_accepted']);
  });

  test('a reset removes every old factor, session and grant once the new way in is saved', async () => {
    const db = await openTestDb();
    const me = await owner(db);
    const bob = await createUser(db, { username: 'bob', name: 'Bob', passwordHash: await hashPassword('old bob password') });
    for (const [id, kind] of [['pk', 'passkey'], ['sk', 'security_key']] as const) {
      await insertCredential(db, { id, userId: bob.id, publicKey: 'x', counter: 0, transports: [], kind, name: id, backedUp: false, createdAt: 1 });
    }
    await saveTotp(db, bob.id, box.encrypt('JBSWY3DPEHPK3PXPJBSWY3DP'), 1);
    await generateRecoveryCodes(db, box, bob.id);
    await upsertPayload(db, 'Session', 's1', { accountId: bob.id, loginTs: 10 }, null);
    await upsertPayload(db, 'Grant', 'g1', { accountId: bob.id }, null);

    const first = await createResetLink(db, box, { userId: me.id }, bob.id);
    const { token } = await createResetLink(db, box, { userId: me.id }, bob.id);
    expect(await findEnrolLink(db, box, 'reset', first.token)).toBeUndefined(); // the newer link replaces it
    let link = (await findEnrolLink(db, box, 'reset', token))!;
    expect(link.state.userId).toBe(bob.id);
    // Opening the link changes nothing yet.
    expect(await listCredentials(db, bob.id)).toHaveLength(2);

    await insertCredential(db, { id: 'new', userId: bob.id, publicKey: 'y', counter: 0, transports: [], kind: 'passkey', name: 'new', backedUp: false, createdAt: 2 });
    await offerEnrolTotp(db, box, link, 'JBSWY3DPEHPK3PXPJBSWY3DP');
    await passkeySaved(db, link, 'reset', 'new');
    expect((await listCredentials(db, bob.id)).map((c) => c.id)).toEqual(['new']);
    const after = (await findUserById(db, bob.id))!;
    expect(after.passwordHash).toBeNull();
    expect(await hasTotp(db, bob.id)).toBe(false);
    expect(await recoveryStatus(db, bob.id)).toEqual({ total: 0, unused: 0 });
    expect(await findPayload(db, 'Session', 'id', 's1')).toBeUndefined();
    expect(await findPayload(db, 'Grant', 'id', 'g1')).toBeUndefined();
    link = (await findEnrolLink(db, box, 'reset', token))!;
    expect(await finishEnrol(db, link, 'reset')).toBe(bob.id);
    expect(await events(db)).toEqual(['user.reset_link_created', 'user.reset_link_created', 'user.factors_reset', 'user.reset_completed']);
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
