// Factor and link-token queries: the single-use updates succeed once, replacement is all-or-nothing, and
// deleting a user takes their factors along.
import { describe, expect, test } from 'vitest';
import type { Db } from '../../../src/store/db.js';
import {
  advanceTotpStep, consumeLinkToken, consumeRecoveryCode, countRecoveryCodes, deleteExpiredLinkTokens, findLinkToken,
  findTotp, insertLinkToken, replaceRecoveryCodes, saveTotp, updateLinkTokenState, type LinkToken,
} from '../../../src/store/factors.js';
import { createUser } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const now = 1_790_000_000;

async function withAlice(): Promise<{ db: Db; userId: string }> {
  const db = await openTestDb();
  const { id } = await createUser(db, { username: 'alice', name: 'Alice' });
  return { db, userId: id };
}

const link = (over: Partial<LinkToken> = {}): LinkToken => ({
  id: 'link-1', token_hash: 'hash-1', purpose: 'invite', user_id: null, state: '{}',
  expires_at: now + 3600, used_at: null, created_at: now, claim_hash: null, code_hash: null, ...over,
});

describe('TOTP rows', () => {
  test('saveTotp replaces, and advanceTotpStep only moves forward', async () => {
    const { db, userId } = await withAlice();
    await saveTotp(db, userId, 'sealed-1', now, 5);
    await saveTotp(db, userId, 'sealed-2', now + 1, 7);
    expect(await findTotp(db, userId)).toEqual({ secret: 'sealed-2', lastStep: 7, createdAt: now + 1 });
    expect(await advanceTotpStep(db, userId, 7)).toBe(false);
    expect(await advanceTotpStep(db, userId, 6)).toBe(false);
    expect(await advanceTotpStep(db, userId, 8)).toBe(true);
    expect((await findTotp(db, userId))?.lastStep).toBe(8);
    expect(await advanceTotpStep(db, 'nobody', 100)).toBe(false);
  });

  test("deleting a user deletes their TOTP and recovery codes", async () => {
    const { db, userId } = await withAlice();
    await saveTotp(db, userId, 'sealed', now);
    await replaceRecoveryCodes(db, userId, ['a', 'b']);
    await db.deleteFrom('users').where('id', '=', userId).execute();
    expect(await findTotp(db, userId)).toBeUndefined();
    expect(await countRecoveryCodes(db, userId)).toEqual({ total: 0, unused: 0 });
  });
});

describe('recovery code rows', () => {
  test('replace drops the old set; consume works once per code', async () => {
    const { db, userId } = await withAlice();
    await replaceRecoveryCodes(db, userId, ['a', 'b']);
    await replaceRecoveryCodes(db, userId, ['c', 'd', 'e']);
    expect(await consumeRecoveryCode(db, userId, 'a', now)).toBe(false);
    expect(await consumeRecoveryCode(db, userId, 'c', now)).toBe(true);
    expect(await consumeRecoveryCode(db, userId, 'c', now)).toBe(false);
    expect(await countRecoveryCodes(db, userId)).toEqual({ total: 3, unused: 2 });
  });

  test('inside a caller transaction it uses that transaction, and a failure keeps the old set', async () => {
    const { db, userId } = await withAlice();
    await replaceRecoveryCodes(db, userId, ['a']);
    await db.transaction().execute((trx) => replaceRecoveryCodes(trx, userId, ['b', 'c']));
    expect(await countRecoveryCodes(db, userId)).toEqual({ total: 2, unused: 2 });
    // A duplicate hash violates the primary key after the delete ran: the delete must be rolled back too.
    await expect(replaceRecoveryCodes(db, userId, ['x', 'x'])).rejects.toThrow();
    expect(await consumeRecoveryCode(db, userId, 'b', now)).toBe(true);
  });
});

describe('link tokens', () => {
  test('insert, find by hash, update state, consume once', async () => {
    const { db, userId } = await withAlice();
    await insertLinkToken(db, link({ user_id: userId, purpose: 'reset' }));
    expect(await findLinkToken(db, 'hash-1')).toEqual(link({ user_id: userId, purpose: 'reset' }));
    expect(await findLinkToken(db, 'other')).toBeUndefined();
    expect(await updateLinkTokenState(db, 'link-1', '{"password":true}')).toBe(true);
    expect(await consumeLinkToken(db, 'link-1', now + 10)).toBe(true);
    expect(await consumeLinkToken(db, 'link-1', now + 11)).toBe(false);
    expect(await updateLinkTokenState(db, 'link-1', '{}')).toBe(false);
    expect(await findLinkToken(db, 'hash-1')).toMatchObject({ state: '{"password":true}', used_at: now + 10 });
  });

  test('a duplicate token hash is a conflict', async () => {
    const { db } = await withAlice();
    await insertLinkToken(db, link());
    await expect(insertLinkToken(db, link({ id: 'link-2' }))).rejects.toMatchObject({ code: 'conflict' });
  });

  test('an expired link cannot be consumed, and expired links are deleted', async () => {
    const { db } = await withAlice();
    await insertLinkToken(db, link({ id: 'old', token_hash: 'h-old', expires_at: now }));
    await insertLinkToken(db, link({ id: 'new', token_hash: 'h-new', expires_at: now + 60 }));
    expect(await consumeLinkToken(db, 'old', now)).toBe(false);
    expect(await deleteExpiredLinkTokens(db, now)).toBe(1);
    expect(await findLinkToken(db, 'h-old')).toBeUndefined();
    expect(await findLinkToken(db, 'h-new')).toBeDefined();
  });
});
