// What only PostgreSQL needs checking: numbers come back as numbers (as from SQLite), replicas migrating one
// database at once, and audit ids from an identity column. Runs in the unit-postgres project.
import { readdirSync } from 'node:fs';
import { describe, expect, onTestFinished, test } from 'vitest';
import { listAudit, recordAudit } from '../../../src/store/audit.js';
import { openDatabase } from '../../../src/store/db.js';
import { keysVersion, listSigningKeys, replaceActiveKeys } from '../../../src/store/keys.js';
import { migrateToLatest } from '../../../src/store/migrate.js';
import { countAttempt } from '../../../src/store/throttle.js';
import { countUsers, createUser } from '../../../src/store/users.js';
import { createDatabase } from '../../postgres/databases.js';
import { openTestDb } from '../helpers.js';

describe('PostgreSQL store', () => {
  test('bigint columns and counts come back as JS numbers, beyond 32 bits too', async () => {
    const db = await openTestDb();
    const late = 5_000_000_000; // the year 2128, past int4
    await replaceActiveKeys(db, [{ kid: 'k1', alg: 'RS256', privateJwk: { kid: 'k1' } }], late);
    const [key] = await listSigningKeys(db);
    expect(key!.createdAt).toBe(late);
    expect(await keysVersion(db)).toBe(`1:${late}:null`);
    await createUser(db, { username: 'alice', name: 'Alice' });
    expect(await countUsers(db)).toBe(1);
    const row = await db.selectFrom('users').select(['created_at', 'disabled']).executeTakeFirstOrThrow();
    expect(typeof row.created_at).toBe('number');
    expect(row.disabled).toBe(0);
    expect(await countAttempt(db, 'user:alice', late, 900)).toMatchObject({ failures: 1, first_failure_at: late, consecutive: 1 });
  });

  test('replicas starting together on an empty database migrate it once', async () => {
    const database = await createDatabase();
    const replicas = [1, 2, 3].map(() => openDatabase({ dataDir: '', databaseUrl: database.url }));
    onTestFinished(async () => {
      await Promise.all(replicas.map((db) => db.destroy()));
      await database.drop();
    });
    const applied = await Promise.all(replicas.map((db) => migrateToLatest(db)));
    const migrations = readdirSync(new URL('../../../migrations', import.meta.url)).filter((f) => f.endsWith('.ts')).map((f) => f.replace(/\.ts$/, '')).sort();
    expect(applied.flat().sort()).toEqual(migrations);
    expect(await replicas[0]!.selectFrom('kysely_migration' as never).selectAll().execute()).toHaveLength(migrations.length);
  });

  test('audit entries get increasing ids from the identity column', async () => {
    const db = await openTestDb();
    await recordAudit(db, { event: 'first' }, 1);
    await recordAudit(db, { event: 'second' }, 2);
    const entries = await listAudit(db);
    expect(entries.map((e) => e.event)).toEqual(['second', 'first']);
    expect(entries[0]!.id).toBeGreaterThan(entries[1]!.id);
  });
});
