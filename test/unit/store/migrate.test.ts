// Migrations applied from an empty database, and idempotence; on SQLite, and on PostgreSQL in unit-postgres.
import { readdirSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { migrateToLatest } from '../../../src/store/migrate.js';
import { openEmptyDb, openTestDb, testEngine } from '../helpers.js';

const migrationFiles = readdirSync(new URL('../../../migrations', import.meta.url))
  .filter((f) => /\.(ts|js|mts|mjs)$/.test(f) && !f.endsWith('.d.ts'))
  .map((f) => f.replace(/\.[^.]+$/, ''))
  .sort();

describe(`migrateToLatest (${testEngine})`, () => {
  test('applies every migration in migrations/ to an empty database, in order', async () => {
    const db = await openEmptyDb();
    expect(migrationFiles.length).toBeGreaterThan(0);
    expect(await migrateToLatest(db)).toEqual(migrationFiles);
  });

  test('creates every table the application uses', async () => {
    const db = await openEmptyDb();
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

  test('a database a newer version migrated is refused, not taken as up to date', async () => {
    const db = await openTestDb();
    await db.insertInto('kysely_migration' as never).values({ name: '2999_01_01_000000_from_the_future', timestamp: new Date().toISOString() } as never).execute();
    await expect(migrateToLatest(db)).rejects.toThrow(/migration .* failed/);
  });
});
