// Shared unit-test fixtures: a temporary directory and a fresh, fully migrated database per test, both removed
// when the test finishes. The database is SQLite, or PostgreSQL in the unit-postgres project
// (ACCOUCH_TEST_DATABASE=postgres, a private server from test/postgres/global-setup.ts).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { openDatabase, type Db } from '../../src/store/db.js';
import { migrateToLatest } from '../../src/store/migrate.js';
import { createDatabase, migratedTemplate } from '../postgres/databases.js';

/** The engine this run's store tests use: 'SQLite', or 'PostgreSQL' in the unit-postgres project. */
export const testEngine = process.env.ACCOUCH_TEST_DATABASE === 'postgres' ? 'PostgreSQL' : 'SQLite';

/** A new empty directory, deleted after the current test. */
export function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'accouch-unit-'));
  onTestFinished(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes `content` to a file in a fresh temp directory and returns its path. */
export function tempFile(name: string, content: string): string {
  const file = join(tempDir(), name);
  writeFileSync(file, content);
  return file;
}

async function openPostgresTestDb(template?: string): Promise<Db> {
  const database = await createDatabase(template);
  const db = openDatabase({ dataDir: '', databaseUrl: database.url });
  onTestFinished(async () => {
    await db.destroy();
    await database.drop();
  });
  return db;
}

/** Opens a database of this run's engine without migrating it; closed and deleted after the current test. */
export async function openEmptyDb(): Promise<Db> {
  if (testEngine === 'PostgreSQL') return openPostgresTestDb();
  const dir = mkdtempSync(join(tmpdir(), 'accouch-db-'));
  const db = openDatabase({ dataDir: dir });
  onTestFinished(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return db;
}

/** A fresh database with every migration applied. */
export async function openTestDb(): Promise<Db> {
  if (testEngine === 'PostgreSQL') return openPostgresTestDb(migratedTemplate);
  const db = await openEmptyDb();
  await migrateToLatest(db);
  return db;
}
