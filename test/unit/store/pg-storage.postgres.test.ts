// PostgreSQL's "cannot serve now" errors (SQLSTATE class 53) as the store's 503, with the real driver's error
// objects: a trigger raises them on insert (a full disk itself is test/e2e/disk-full-postgres.test.ts). Runs in
// the unit-postgres project.
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { requestWritesOf } from '../../../src/store/db.js';
import { createUser } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

async function failingInserts(condition: string) {
  const db = await openTestDb();
  await sql.raw(`create function refuse() returns trigger language plpgsql as $$ begin raise exception 'refused' using errcode = '${condition}'; end $$`).execute(db);
  await sql.raw('create trigger refuse before insert on users for each row execute function refuse()').execute(db);
  return db;
}

describe('PostgreSQL errors that mean "cannot serve now"', () => {
  test.each([
    ['disk_full', 'its disk is full'],
    ['out_of_memory', 'out of resources'],
    ['too_many_connections', 'out of resources'],
  ])('%s becomes a 503 `unavailable` the request remembers, so its answer is the 503', async (condition, words) => {
    const db = await failingInserts(condition);
    const writes = requestWritesOf(db);
    await writes.run(async () => {
      const error = await createUser(db, { username: 'alice', name: 'Alice' }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: 'unavailable', status: 503, expose: true, message: expect.stringContaining(words) });
      expect(writes.failure()).toBe(error);
      await expect(writes.settle()).rejects.toBe(error);
    });
    // Reads go on, and the connection that met the error serves the next request.
    await writes.run(async () => {
      expect(await db.selectFrom('users').select('id').execute()).toEqual([]);
      expect(writes.failure()).toBeUndefined();
      await writes.settle();
    });
    await db.destroy();
  });

  test('any other error stays what it was, and no request is marked failed', async () => {
    const db = await failingInserts('check_violation');
    const writes = requestWritesOf(db);
    await writes.run(async () => {
      const error = await createUser(db, { username: 'alice', name: 'Alice' }).catch((e: unknown) => e);
      expect(error).not.toBeInstanceOf(AppError);
      expect(error).toMatchObject({ code: '23514' });
      expect(writes.failure()).toBeUndefined();
      await writes.settle();
    });
    await db.destroy();
  });
});
