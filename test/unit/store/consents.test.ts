// Remembered consent: scopes only ever added, listed per person, forgotten per app, gone with the user.
import { describe, expect, test } from 'vitest';
import { findConsent, forgetConsent, listConsents, rememberConsent } from '../../../src/store/consents.js';
import { createUser, deleteUser } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

describe('remembered consent', () => {
  test('adds scopes, lists per person, forgets per app', async () => {
    const db = await openTestDb();
    const rita = await createUser(db, { username: 'rita', name: 'Rita' });
    await rememberConsent(db, rita.id, 'notes', ['openid', 'email'], 100);
    await rememberConsent(db, rita.id, 'notes', ['profile', 'openid'], 200);
    await rememberConsent(db, rita.id, 'wiki', ['openid'], 300);
    expect(await findConsent(db, rita.id, 'notes')).toEqual({ clientId: 'notes', scopes: ['email', 'openid', 'profile'], updatedAt: 200 });
    expect((await listConsents(db, rita.id)).map((c) => c.clientId)).toEqual(['notes', 'wiki']);
    expect(await forgetConsent(db, rita.id, 'notes')).toBe(true);
    expect(await forgetConsent(db, rita.id, 'notes')).toBe(false);
    expect(await findConsent(db, rita.id, 'notes')).toBeUndefined();
    await deleteUser(db, rita.id);
    expect(await db.selectFrom('remembered_consents').selectAll().execute()).toEqual([]);
  });
});
