// Account changes a user makes on /account: the freshness rule, the last way in (a password or a passkey),
// profile validation, pictures checked by content, sessions named by handle, and an audit entry per change.
import { describe, expect, test } from 'vitest';
import {
  canRemoveCredential, endOwnSession, hasWayIn, ownSessions, removeOwnCredential, removeOwnPassword, renameOwnCredential, sessionHandle,
  setOwnAvatar, updateOwnProfile,
} from '../../../src/auth/account.js';
import { findAccountSession, isFresh, type AccountSession } from '../../../src/oidc/sessions.js';
import { hashPassword } from '../../../src/auth/password.js';
import { listAudit } from '../../../src/store/audit.js';
import { insertCredential, listCredentials, type StoredCredential } from '../../../src/store/credentials.js';
import type { Db } from '../../../src/store/db.js';
import { findPayload, upsertPayload } from '../../../src/store/oidc-payloads.js';
import { createUser, findUserById } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const session = (loginTs: number): AccountSession => ({ sessionId: 's', userId: 'u', loginTs, acr: '1fa', amr: ['pwd'] });

async function addCredential(db: Db, userId: string, id: string, kind: StoredCredential['kind']) {
  await insertCredential(db, { id, userId, publicKey: 'pk', counter: 0, transports: [], kind, name: id, backedUp: false, createdAt: 1 });
}

async function user(db: Db, password?: string) {
  return createUser(db, { username: 'alice', name: 'Alice', email: 'alice@home.example', emailVerified: true, passwordHash: password ? await hashPassword(password) : null });
}

const events = async (db: Db) => (await listAudit(db)).map((e) => e.event);

describe('freshness', () => {
  test('a sign-in counts as fresh for exactly five minutes', () => {
    expect(isFresh(session(1000), 300, 1000)).toBe(true);
    expect(isFresh(session(1000), 300, 1300)).toBe(true);
    expect(isFresh(session(1000), 300, 1301)).toBe(false);
  });

  test('the session comes from the stored payload, and an unknown or signed-out one is none', async () => {
    const db = await openTestDb();
    await upsertPayload(db, 'Session', 'abc', { accountId: 'u1', loginTs: 500, amr: ['pwd'], acr: '1fa' }, null);
    await upsertPayload(db, 'Session', 'anonymous', { jti: 'anonymous' }, null);
    expect(await findAccountSession(db, 'abc')).toEqual({ sessionId: 'abc', userId: 'u1', loginTs: 500, acr: '1fa', amr: ['pwd'] });
    expect(await findAccountSession(db, 'anonymous')).toBeUndefined();
    expect(await findAccountSession(db, 'missing')).toBeUndefined();
    expect(await findAccountSession(db, undefined)).toBeUndefined();
  });
});

describe('the last way in', () => {
  test('a password or a passkey is a way in; a security key is not', () => {
    expect(hasWayIn({ passwordHash: 'x' }, [])).toBe(true);
    expect(hasWayIn({ passwordHash: null }, [{ kind: 'passkey' }])).toBe(true);
    expect(hasWayIn({ passwordHash: null }, [{ kind: 'security_key' }])).toBe(false);
    const keys = [{ id: 'a', kind: 'passkey' as const }, { id: 'b', kind: 'security_key' as const }];
    expect(canRemoveCredential({ passwordHash: null }, keys, 'a')).toBe(false);
    expect(canRemoveCredential({ passwordHash: null }, keys, 'b')).toBe(true);
    expect(canRemoveCredential({ passwordHash: 'x' }, keys, 'a')).toBe(true);
  });

  test('the only passkey of a passwordless user stays; with a second one, one can go', async () => {
    const db = await openTestDb();
    const { id } = await user(db);
    await addCredential(db, id, 'one', 'passkey');
    await expect(removeOwnCredential(db, { userId: id }, 'one')).rejects.toMatchObject({ code: 'conflict', message: expect.stringContaining('last way to sign in') });
    await addCredential(db, id, 'two', 'passkey');
    await removeOwnCredential(db, { userId: id, ip: '10.0.0.2' }, 'one');
    expect((await listCredentials(db, id)).map((c) => c.id)).toEqual(['two']);
    await expect(removeOwnCredential(db, { userId: id }, 'two')).rejects.toMatchObject({ code: 'conflict' });
    expect(await events(db)).toEqual(['passkey.removed']);
  });

  test("someone else's credential is not found, and stays", async () => {
    const db = await openTestDb();
    const alice = await user(db, 'alice password');
    const bob = await createUser(db, { username: 'bob', name: 'Bob' });
    await addCredential(db, bob.id, 'bobs', 'passkey');
    await expect(removeOwnCredential(db, { userId: alice.id }, 'bobs')).rejects.toMatchObject({ code: 'not_found' });
    await expect(renameOwnCredential(db, { userId: alice.id }, 'bobs', 'mine')).rejects.toMatchObject({ code: 'not_found' });
    expect(await listCredentials(db, bob.id)).toHaveLength(1);
  });

  test('the password goes only when a passkey is left', async () => {
    const db = await openTestDb();
    const { id } = await user(db, 'alice password');
    await addCredential(db, id, 'key', 'security_key');
    await expect(removeOwnPassword(db, { userId: id })).rejects.toMatchObject({ code: 'conflict' });
    expect((await findUserById(db, id))!.passwordHash).toBeTruthy();
    await addCredential(db, id, 'pk', 'passkey');
    await removeOwnPassword(db, { userId: id });
    expect((await findUserById(db, id))!.passwordHash).toBeNull();
    expect(await events(db)).toEqual(['password.removed']);
  });
});

describe('profile', () => {
  test('trims the name, checks the email, and a new email is no longer verified', async () => {
    const db = await openTestDb();
    const { id } = await user(db, 'alice password');
    await expect(updateOwnProfile(db, { userId: id }, { name: '   ', email: '' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(updateOwnProfile(db, { userId: id }, { name: 'A', email: 'nope' })).rejects.toMatchObject({ code: 'bad_request' });
    await expect(updateOwnProfile(db, { userId: id }, { name: 'x'.repeat(81), email: '' })).rejects.toMatchObject({ code: 'bad_request' });
    expect(await updateOwnProfile(db, { userId: id }, { name: 'Alice', email: 'alice@home.example' })).toEqual([]);
    expect(await updateOwnProfile(db, { userId: id }, { name: '  Alice   Liddell ', email: 'al@home.example' })).toEqual(['name', 'email']);
    expect(await findUserById(db, id)).toMatchObject({ name: 'Alice Liddell', email: 'al@home.example', emailVerified: false });
    expect(await events(db)).toEqual(['profile.updated']);
  });

  test('a picture must be an image by its bytes, not its name', async () => {
    const db = await openTestDb();
    const { id } = await user(db);
    await expect(setOwnAvatar(db, { userId: id }, Buffer.from('<svg/>'))).rejects.toMatchObject({ code: 'bad_request' });
    await expect(setOwnAvatar(db, { userId: id }, Buffer.alloc(1024 * 1024 + 1, 0xff))).rejects.toMatchObject({ code: 'bad_request' });
    await setOwnAvatar(db, { userId: id }, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0]));
    expect((await findUserById(db, id))!.avatarEtag).toBeTruthy();
  });
});

describe('sessions', () => {
  test('are named by a handle that is not the session id; only other sessions can be ended here', async () => {
    const db = await openTestDb();
    const { id } = await user(db);
    await upsertPayload(db, 'Session', 'current-id', { accountId: id, loginTs: 100 }, null);
    // The other session signed kubectl in: its grant and refresh token go with it, as from the console.
    await upsertPayload(db, 'Session', 'other-id', { accountId: id, loginTs: 200, authorizations: { kubectl: { grantId: 'grant-1' } } }, null);
    await upsertPayload(db, 'Grant', 'grant-1', { accountId: id, clientId: 'kubectl' }, null);
    await upsertPayload(db, 'RefreshToken', 'refresh-1', { accountId: id, grantId: 'grant-1' }, null);
    const listed = await ownSessions(db, id, 'current-id');
    expect(listed.map((s) => s.handle)).toEqual([sessionHandle('other-id'), sessionHandle('current-id')]);
    expect(JSON.stringify(listed)).not.toContain('other-id');
    await expect(endOwnSession(db, { userId: id }, sessionHandle('current-id'), 'current-id')).rejects.toMatchObject({ code: 'bad_request' });
    expect(await endOwnSession(db, { userId: 'someone-else' }, sessionHandle('other-id'), 'x')).toBe(false);
    expect(await endOwnSession(db, { userId: id }, sessionHandle('other-id'), 'current-id')).toBe(true);
    expect(await findAccountSession(db, 'other-id')).toBeUndefined();
    expect(await findPayload(db, 'Grant', 'id', 'grant-1')).toBeUndefined();
    expect(await findPayload(db, 'RefreshToken', 'id', 'refresh-1')).toBeUndefined();
    expect(await events(db)).toEqual(['session.revoked']);
  });
});
