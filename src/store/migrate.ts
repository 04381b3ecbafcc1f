// Applies the forward-only migrations in migrations/ (compiled next to dist/src in production).
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { FileMigrationProvider, Migrator, type Kysely } from 'kysely';
import { internal } from '../errors.js';

const migrationFolder = fileURLToPath(new URL('../../migrations', import.meta.url));

/**
 * Names of the migrations this version knows, oldest first: the files in the folder, named by the rule kysely's
 * FileMigrationProvider names them, without importing them.
 */
export async function knownMigrations(): Promise<string[]> {
  const files = await fs.readdir(migrationFolder);
  return files.filter((f) => /\.(js|mjs|ts|mts)$/.test(f) && !/\.d\.m?ts$/.test(f)).map((f) => f.slice(0, f.lastIndexOf('.'))).sort();
}

/**
 * Whether the database has applied exactly the migrations this version knows: then a start need not import them,
 * nor let kysely's Migrator introspect the schema and take its lock (~50 ms of every warm start). Anything else (a
 * new database, a pending migration, a database from a newer version) goes to the Migrator, which decides.
 */
async function upToDate(db: Kysely<any>): Promise<boolean> {
  const known = await knownMigrations();
  let applied: string[];
  try {
    applied = (await db.selectFrom('kysely_migration').select('name').execute()).map((r) => r.name as string);
  } catch {
    // No migration table yet (a new database): the Migrator creates it.
    return false;
  }
  const done = new Set(applied);
  return done.size === known.length && known.every((name) => done.has(name));
}

/** Runs every pending migration; throws with the failing migration's name. */
export async function migrateToLatest(db: Kysely<any>): Promise<string[]> {
  if (await upToDate(db)) return [];
  const migrator = new Migrator({ db, provider: new FileMigrationProvider({ fs, path, migrationFolder }) });
  const { error, results = [] } = await migrator.migrateToLatest();
  if (error) {
    const failed = results.find((r) => r.status === 'Error')?.migrationName ?? 'unknown';
    throw internal(`migration ${failed} failed`, error);
  }
  return results.filter((r) => r.status === 'Success').map((r) => r.migrationName);
}
