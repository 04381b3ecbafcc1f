// Shared unit-test fixtures: a temporary directory and a fresh, fully migrated SQLite database per test,
// both removed when the test finishes.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { onTestFinished } from 'vitest';
import { openDatabase, type Db } from '../../src/store/db.js';
import { migrateToLatest } from '../../src/store/migrate.js';

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

/** Opens a database in a fresh temp dir without migrating it; closed and deleted after the current test. */
export function openEmptyDb(): Db {
  const dir = mkdtempSync(join(tmpdir(), 'accouch-db-'));
  const db = openDatabase(dir);
  onTestFinished(async () => {
    await db.destroy();
    rmSync(dir, { recursive: true, force: true });
  });
  return db;
}

/** A fresh database with every migration applied. */
export async function openTestDb(): Promise<Db> {
  const db = openEmptyDb();
  await migrateToLatest(db);
  return db;
}
