// The oidc-provider Adapter contract, written once and run against every store backend (SQLite, and
// PostgreSQL in the unit-postgres project): call adapterContract(name, makeDb) from a backend's test file. makeDb must return a
// fresh, migrated database and arrange its own cleanup (it is called inside each test).
import { errors } from 'oidc-provider';
import { afterEach, describe, expect, test, vi } from 'vitest';
import { createAdapterClass } from '../../../src/oidc/adapter.js';
import type { Db } from '../../../src/store/db.js';
import { purgeExpiredPayloads, upsertPayload } from '../../../src/store/oidc-payloads.js';

const t0 = Date.UTC(2030, 0, 1) / 1000; // epoch seconds

/** Freezes Date (only Date: the database driver's timers keep running) at epoch second `at`. */
const clockAt = (at: number) => {
  vi.useFakeTimers({ toFake: ['Date'] });
  vi.setSystemTime(at * 1000);
};

export function adapterContract(name: string, makeDb: () => Promise<Db>): void {
  describe(`oidc-provider adapter contract: ${name}`, () => {
    afterEach(() => {
      vi.useRealTimers();
    });

    async function setup() {
      const db = await makeDb();
      const Adapter = createAdapterClass(db);
      return { db, adapter: (model: string) => new Adapter(model) };
    }

    test('find returns what upsert stored, per model', async () => {
      const { adapter } = await setup();
      const payload = { jti: 'at-1', kind: 'AccessToken', accountId: 'sub-1', clientId: 'app', grantId: 'g1', scope: 'openid' };
      await adapter('AccessToken').upsert('at-1', payload, 3600);
      expect(await adapter('AccessToken').find('at-1')).toEqual(payload);
      expect(await adapter('RefreshToken').find('at-1')).toBeUndefined();
      expect(await adapter('AccessToken').find('at-2')).toBeUndefined();
    });

    test('upsert of an existing id replaces the payload', async () => {
      const { adapter } = await setup();
      const session = adapter('Session');
      await session.upsert('s1', { jti: 's1', uid: 'u1', accountId: 'alice' }, 3600);
      await session.upsert('s1', { jti: 's1', uid: 'u2', accountId: 'bob' }, 3600);
      expect(await session.find('s1')).toEqual({ jti: 's1', uid: 'u2', accountId: 'bob' });
      expect(await session.findByUid('u1')).toBeUndefined();
      expect(await session.findByUid('u2')).toMatchObject({ accountId: 'bob' });
    });

    test('findByUid finds a session by its uid, within its model only', async () => {
      const { adapter } = await setup();
      await adapter('Session').upsert('s1', { jti: 's1', uid: 'uid-1', accountId: 'alice' }, 3600);
      expect(await adapter('Session').findByUid('uid-1')).toMatchObject({ jti: 's1', accountId: 'alice' });
      expect(await adapter('Session').findByUid('uid-2')).toBeUndefined();
      expect(await adapter('Interaction').findByUid('uid-1')).toBeUndefined();
    });

    test('findByUserCode finds a device code by the code the user typed', async () => {
      const { adapter } = await setup();
      await adapter('DeviceCode').upsert('dc1', { jti: 'dc1', userCode: 'BCDF-GHJK', clientId: 'tv' }, 600);
      expect(await adapter('DeviceCode').findByUserCode('BCDF-GHJK')).toMatchObject({ jti: 'dc1', clientId: 'tv' });
      expect(await adapter('DeviceCode').findByUserCode('BCDF-GHJL')).toBeUndefined();
    });

    test('an expired artefact is gone for find, findByUid and findByUserCode', async () => {
      const { adapter } = await setup();
      clockAt(t0);
      await adapter('Session').upsert('s1', { jti: 's1', uid: 'u1' }, 60);
      await adapter('DeviceCode').upsert('dc1', { jti: 'dc1', userCode: 'BCDF-GHJK' }, 60);
      await adapter('Grant').upsert('g1', { jti: 'g1' }); // no expiresIn: never expires
      vi.setSystemTime((t0 + 59) * 1000);
      expect(await adapter('Session').find('s1')).toBeDefined();
      vi.setSystemTime((t0 + 60) * 1000);
      expect(await adapter('Session').find('s1')).toBeUndefined();
      expect(await adapter('Session').findByUid('u1')).toBeUndefined();
      expect(await adapter('DeviceCode').findByUserCode('BCDF-GHJK')).toBeUndefined();
      vi.setSystemTime((t0 + 10 * 365 * 86400) * 1000);
      expect(await adapter('Grant').find('g1')).toEqual({ jti: 'g1' });
    });

    test('consume marks the artefact consumed (epoch seconds) on the next find', async () => {
      const { adapter } = await setup();
      clockAt(t0);
      const code = adapter('AuthorizationCode');
      await code.upsert('c1', { jti: 'c1', grantId: 'g1' }, 60);
      expect(await code.find('c1')).not.toHaveProperty('consumed');
      vi.setSystemTime((t0 + 5) * 1000);
      await code.consume('c1');
      expect(await code.find('c1')).toEqual({ jti: 'c1', grantId: 'g1', consumed: t0 + 5 });
    });

    test('a second consume throws invalid_grant and revokes everything of that grant', async () => {
      const { adapter } = await setup();
      await adapter('Grant').upsert('g1', { jti: 'g1', accountId: 'alice' }, 3600);
      await adapter('AuthorizationCode').upsert('c1', { jti: 'c1', grantId: 'g1' }, 60);
      await adapter('AccessToken').upsert('at1', { jti: 'at1', grantId: 'g1' }, 3600);
      await adapter('RefreshToken').upsert('rt1', { jti: 'rt1', grantId: 'g1' }, 3600);
      await adapter('Grant').upsert('g2', { jti: 'g2', accountId: 'bob' }, 3600);
      await adapter('AccessToken').upsert('at2', { jti: 'at2', grantId: 'g2' }, 3600);

      await adapter('AuthorizationCode').consume('c1');
      const reuse = adapter('AuthorizationCode').consume('c1');
      await expect(reuse).rejects.toBeInstanceOf(errors.InvalidGrant);
      await expect(reuse).rejects.toMatchObject({ error: 'invalid_grant' });

      expect(await adapter('AuthorizationCode').find('c1')).toBeUndefined();
      expect(await adapter('AccessToken').find('at1')).toBeUndefined();
      expect(await adapter('RefreshToken').find('rt1')).toBeUndefined();
      expect(await adapter('Grant').find('g1')).toBeUndefined();
      // Another user's grant is untouched.
      expect(await adapter('Grant').find('g2')).toBeDefined();
      expect(await adapter('AccessToken').find('at2')).toBeDefined();
    });

    test('of two concurrent consumes of one refresh token exactly one succeeds', async () => {
      const { adapter } = await setup();
      await adapter('RefreshToken').upsert('rt1', { jti: 'rt1', grantId: 'g1' }, 3600);
      const results = await Promise.allSettled([adapter('RefreshToken').consume('rt1'), adapter('RefreshToken').consume('rt1')]);
      expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
      const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      expect(rejected).toHaveLength(1);
      expect(rejected[0]!.reason).toBeInstanceOf(errors.InvalidGrant);
    });

    test('destroy removes one artefact and nothing else', async () => {
      const { adapter } = await setup();
      await adapter('Session').upsert('s1', { jti: 's1' }, 3600);
      await adapter('Session').upsert('s2', { jti: 's2' }, 3600);
      await adapter('Interaction').upsert('s1', { jti: 's1' }, 3600);
      await adapter('Session').destroy('s1');
      expect(await adapter('Session').find('s1')).toBeUndefined();
      expect(await adapter('Session').find('s2')).toBeDefined();
      expect(await adapter('Interaction').find('s1')).toBeDefined();
    });

    test("revokeByGrantId removes only that model's artefacts of that grant", async () => {
      const { adapter } = await setup();
      await adapter('AccessToken').upsert('at1', { jti: 'at1', grantId: 'g1' }, 3600);
      await adapter('AccessToken').upsert('at1b', { jti: 'at1b', grantId: 'g1' }, 3600);
      await adapter('AccessToken').upsert('at2', { jti: 'at2', grantId: 'g2' }, 3600);
      await adapter('RefreshToken').upsert('rt1', { jti: 'rt1', grantId: 'g1' }, 3600);
      await adapter('AccessToken').revokeByGrantId('g1');
      expect(await adapter('AccessToken').find('at1')).toBeUndefined();
      expect(await adapter('AccessToken').find('at1b')).toBeUndefined();
      expect(await adapter('AccessToken').find('at2')).toBeDefined();
      expect(await adapter('RefreshToken').find('rt1')).toBeDefined();
    });

    test('purgeExpiredPayloads deletes only expired rows', async () => {
      const { db } = await setup();
      await upsertPayload(db, 'Session', 'expired', { jti: 'expired' }, t0 - 1);
      await upsertPayload(db, 'Session', 'expires-now', { jti: 'expires-now' }, t0);
      await upsertPayload(db, 'Session', 'live', { jti: 'live' }, t0 + 1);
      await upsertPayload(db, 'Grant', 'forever', { jti: 'forever' }, null);
      expect(await purgeExpiredPayloads(db, t0)).toBe(2);
      const left = await db.selectFrom('oidc_payloads').select('id').orderBy('id').execute();
      expect(left.map((r) => r.id)).toEqual(['forever', 'live']);
    });
  });
}
