// Applies the forward-only migrations in migrations/ (compiled next to dist/src in production).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, type Kysely } from 'kysely';
import { internal } from '../errors.js';

const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

/** Names of the migrations this version knows, oldest first. */
export async function knownMigrations(): Promise<string[]> {
  return Object.keys(await new FileMigrationProvider({ fs, path, migrationFolder }).getMigrations()).sort();
}

/** Runs every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  const migrator = new Migrator({ db, provider: new FileMigrationProvider({ fs, path, migrationFolder }) });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw internal(`migration ${failed} failed`, error);
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
