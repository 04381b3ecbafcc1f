// Hot queries compiled once (store/prepared.ts): the same rows and effects as the kysely query built per call, on
// this run's engine, with arguments used more than once, constants the builder fixed, and nulls.
import { describe, expect, test } from 'vitest';
import { prepared } from '../../../src/store/prepared.js';
import { findPayload, upsertPayload, consumePayload } from '../../../src/store/oidc-payloads.js';
import { openTestDb, testEngine } from '../helpers.js';

describe(`prepared queries (${testEngine})`, () => {
  test('builds once, then fills each call\'s values in the placeholders\' places', async () => {
    const db = await openTestDb();
    let builds = 0;
    const upsert = prepared(3, (db, model: string, id: string, payload: string) => {
      builds += 1;
      return db.insertInto('oidc_payloads').values({ model, id, payload, consumed_at: null, expires_at: null })
        .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet({ payload }));
    });
    const find = prepared(2, (db, model: string, id: string) => db.selectFrom('oidc_payloads').select(['id', 'payload', 'consumed_at']).where('model', '=', model).where('id', '=', id));
    await upsert(db, 'Session', 'a', '{"n":1}');
    await upsert(db, 'Session', 'b', '{"n":2}');
    await upsert(db, 'Session', 'a', '{"n":3}');
    expect(builds).toBe(1);
    expect((await find(db, 'Session', 'a')).rows).toEqual([{ id: 'a', payload: '{"n":3}', consumed_at: null }]);
    expect((await find(db, 'Session', 'b')).rows).toEqual([{ id: 'b', payload: '{"n":2}', consumed_at: null }]);
    expect((await find(db, 'Grant', 'a')).rows).toEqual([]);
  });

  test('works inside a transaction, and counts the rows an update changed', async () => {
    const db = await openTestDb();
    await upsertPayload(db, 'AuthorizationCode', 'c1', { grantId: 'g1', accountId: 'u1' }, null);
    await db.transaction().execute(async (trx) => {
      expect(await consumePayload(trx, 'AuthorizationCode', 'c1', 100)).toBe(true);
      expect(await consumePayload(trx, 'AuthorizationCode', 'c1', 101)).toBe(false);
    });
    expect(await findPayload(db, 'AuthorizationCode', 'id', 'c1')).toEqual({ payload: { grantId: 'g1', accountId: 'u1' }, consumedAt: 100, grantId: 'g1' });
  });

  test('an expired payload is not found; a null expiry never expires', async () => {
    const db = await openTestDb();
    await upsertPayload(db, 'AccessToken', 'old', { uid: 'x' }, 1000);
    await upsertPayload(db, 'AccessToken', 'forever', { uid: 'y' }, null);
    expect(await findPayload(db, 'AccessToken', 'id', 'old', 999)).toBeDefined();
    expect(await findPayload(db, 'AccessToken', 'id', 'old', 1000)).toBeUndefined();
    expect(await findPayload(db, 'AccessToken', 'uid', 'y', 5_000_000_000)).toBeDefined();
  });

  test('refuses a builder that does not use every argument as a value', async () => {
    const db = await openTestDb();
    const ignoresOne = prepared(2, (db, model: string, _id: string) => db.selectFrom('oidc_payloads').select('id').where('model', '=', model));
    await expect(ignoresOne(db, 'Session', 'a')).rejects.toThrow(/uses 1 of its 2 arguments/);
  });
});
