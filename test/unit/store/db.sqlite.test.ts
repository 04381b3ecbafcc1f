// The durability PRAGMAs openDatabase sets on the embedded SQLite database.
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { openEmptyDb, openTestDb } from '../helpers.js';

describe('openDatabase', () => {
  const pragma = async (name: string) => {
    const db = await openEmptyDb();
    const { rows } = await sql.raw<Record<string, unknown>>(`PRAGMA ${name}`).execute(db);
    return Object.values(rows[0]!)[0];
  };

  test('uses WAL journaling', async () => {
    expect(await pragma('journal_mode')).toBe('wal');
  });

  test('uses synchronous=FULL (2), not the WAL default NORMAL', async () => {
    expect(await pragma('synchronous')).toBe(2);
  });

  test('enforces foreign keys', async () => {
    expect(await pragma('foreign_keys')).toBe(1);
    const db = await openTestDb();
    await expect(db.insertInto('user_groups').values({ user_id: 'no-such-user', group_name: 'admins' }).execute())
      .rejects.toMatchObject({ code: 'SQLITE_CONSTRAINT_FOREIGNKEY' });
  });

  test('waits for a busy database instead of failing at once', async () => {
    expect(await pragma('busy_timeout')).toBeGreaterThan(0);
  });
});
