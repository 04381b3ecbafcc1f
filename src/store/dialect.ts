// The few facts that differ by engine: where an SQLite database lives on disk and how big the database is
// (for /metrics). Which engine it is: db.ts isPostgres.
import { statSync } from 'node:fs';
import { sql, type Kysely } from 'kysely';
import { isPostgres } from './db.js';
import type { Database } from './schema.js';

/** The main database file of an SQLite database ('' for an in-memory one). */
export async function sqliteFileOf(db: Kysely<Database>): Promise<string> {
  const { rows } = await sql<{ file: string }>`select file from pragma_database_list where name = 'main'`.execute(db);
  return rows[0]?.file ?? '';
}

const fileSize = (file: string) => statSync(file, { throwIfNoEntry: false })?.size ?? 0;

/**
 * Bytes the database takes: on SQLite the file plus its write-ahead log (which holds recent commits until a
 * checkpoint), on PostgreSQL pg_database_size of the current database.
 */
export async function databaseSize(db: Kysely<Database>): Promise<number> {
  if (isPostgres(db)) {
    const { rows } = await sql<{ size: string | number }>`select pg_database_size(current_database()) as size`.execute(db);
    return Number(rows[0]?.size ?? 0);
  }
  const file = await sqliteFileOf(db);
  return file ? fileSize(file) + fileSize(`${file}-wal`) : 0;
}
