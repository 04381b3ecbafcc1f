// Migrations applied from an empty database, idempotence, and the durability PRAGMAs openDatabase sets.
import { readdirSync } from 'node:fs';
import { sql } from 'kysely';
import { describe, expect, test } from 'vitest';
import { migrateToLatest } from '../../../src/store/migrate.js';
import { openEmptyDb, openTestDb } from '../helpers.js';

const migrationFiles = readdirSync(new URL('../../../migrations', import.meta.url))
  .filter((f) => /\.(ts|js|mts|mjs)$/.test(f) && !f.endsWith('.d.ts'))
  .map((f) => f.replace(/\.[^.]+$/, ''))
  .sort();

describe('migrateToLatest', () => {
  test('applies every migration in migrations/ to an empty database, in order', async () => {
    const db = openEmptyDb();
    expect(migrationFiles.length).toBeGreaterThan(0);
    expect(await migrateToLatest(db)).toEqual(migrationFiles);
  });

  test('creates every table the application uses', async () => {
    const db = openEmptyDb();
    await migrateToLatest(db);
    const tables = (await db.introspection.getTables({ withInternalKyselyTables: true })).map((t) => t.name);
    expect(tables).toEqual(expect.arrayContaining([
      'users', 'user_groups', 'clients', 'oidc_payloads', 'signing_keys', 'secrets', 'login_throttle', 'audit_log',
      'kysely_migration',
    ]));
  });

  test('a second run applies nothing and keeps the data', async () => {
    const db = await openTestDb();
    await db.insertInto('secrets').values({ name: 'probe', value: 'kept', created_at: 1 }).execute();
    expect(await migrateToLatest(db)).toEqual([]);
    const applied = await db.selectFrom('kysely_migration' as never).selectAll().execute();
    expect(applied).toHaveLength(migrationFiles.length);
    expect(await db.selectFrom('secrets').select('value').where('name', '=', 'probe').executeTakeFirst()).toEqual({ value: 'kept' });
  });
});

describe('openDatabase', () => {
  const pragma = async (name: string) => {
    const db = openEmptyDb();
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
