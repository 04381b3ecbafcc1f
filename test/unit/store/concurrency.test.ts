// What several replicas (or request handlers) doing the same thing at the same moment must leave behind: one
// active key set, every failed attempt counted once, one lock holder, the last way in kept. On SQLite one connection serialises them; on PostgreSQL (unit-postgres)
// the pool runs them on separate connections, as two replicas would.
import { describe, expect, test } from 'vitest';
import { removeOwnCredential, removeOwnPassword } from '../../../src/auth/account.js';
import { hashPassword } from '../../../src/auth/password.js';
import { ensureSigningKeys, rotateSigningKeys } from '../../../src/oidc/keys.js';
import { insertCredential, listCredentials } from '../../../src/store/credentials.js';
import type { Db } from '../../../src/store/db.js';
import { listSigningKeys } from '../../../src/store/keys.js';
import { countAttempt, findThrottle, takeLock } from '../../../src/store/throttle.js';
import { createUser, findUserById } from '../../../src/store/users.js';
import { openTestDb, testEngine } from '../helpers.js';

/** Opens a few pooled connections first, so the racers below really run side by side on PostgreSQL. */
const warm = (db: Db) => Promise.all(Array.from({ length: 4 }, () => db.transaction().execute((trx) => listSigningKeys(trx))));

describe(`at the same time (${testEngine})`, () => {
  test('replicas starting together on an empty database generate one key set', async () => {
    const db = await openTestDb();
    const generated = await Promise.all(Array.from({ length: 4 }, () => ensureSigningKeys(db)));
    expect(generated.filter(Boolean)).toHaveLength(1);
    const keys = await listSigningKeys(db);
    expect(keys.map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
  });

  test('two rotations leave exactly one active key per algorithm, the rest retired', async () => {
    const db = await openTestDb();
    await ensureSigningKeys(db);
    await Promise.all([rotateSigningKeys(db), rotateSigningKeys(db), rotateSigningKeys(db)]);
    const keys = await listSigningKeys(db);
    expect(keys.filter((k) => k.state === 'active').map((k) => k.alg).sort()).toEqual(['ES256', 'EdDSA', 'RS256']);
    expect(keys.filter((k) => k.state === 'retired')).toHaveLength(9);
  });

  test('a burst of attempts on one username counts each once, and one of them takes the lock', async () => {
    const db = await openTestDb();
    await warm(db);
    const rows = await Promise.all(Array.from({ length: 12 }, () => countAttempt(db, 'user:alice', 1000, 900)));
    expect(rows.map((r) => r.failures).sort((x, y) => x - y)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(await findThrottle(db, 'user:alice')).toMatchObject({ failures: 12, consecutive: 12 });
    const locks = await Promise.all(Array.from({ length: 6 }, () => takeLock(db, 'user:alice', 1030, 1000)));
    expect(locks.filter(Boolean)).toHaveLength(1);
  });

  test('removing both passkeys at once leaves one: the last way in stays', async () => {
    const db = await openTestDb();
    const user = await createUser(db, { username: 'alice', name: 'Alice' });
    for (const id of ['phone', 'laptop']) {
      await insertCredential(db, { id, userId: user.id, publicKey: 'pk', counter: 0, transports: [], kind: 'passkey', name: id, backedUp: false, createdAt: 1 });
    }
    await warm(db);
    const results = await Promise.allSettled(['phone', 'laptop'].map((id) => removeOwnCredential(db, { userId: user.id }, id)));
    expect(results.map((r) => r.status).sort()).toEqual(['fulfilled', 'rejected']);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({ reason: { code: 'conflict' } });
    expect(await listCredentials(db, user.id)).toHaveLength(1);
  });

  test('removing the password and the only passkey at once leaves one of them', async () => {
    const db = await openTestDb();
    const user = await createUser(db, { username: 'bob', name: 'Bob', passwordHash: await hashPassword('bob password!') });
    await insertCredential(db, { id: 'key', userId: user.id, publicKey: 'pk', counter: 0, transports: [], kind: 'passkey', name: 'key', backedUp: false, createdAt: 1 });
    await warm(db);
    const results = await Promise.allSettled([removeOwnPassword(db, { userId: user.id }), removeOwnCredential(db, { userId: user.id }, 'key')]);
    expect(results.filter((r) => r.status === 'rejected')).toHaveLength(1);
    const left = { password: Boolean((await findUserById(db, user.id))!.passwordHash), passkeys: (await listCredentials(db, user.id)).length };
    expect(left.password || left.passkeys === 1).toBe(true);
  });
});
