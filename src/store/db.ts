// Opens the embedded SQLite database with the durability settings Accouch relies on.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

export const databaseFile = (dataDir: string) => join(dataDir, 'accouch.sqlite');

/**
 * kysely prepares every query anew; the same few dozen SQL texts run on every request, so prepared
 * statements are kept by text (better-sqlite3 statements are reusable). Bounded, oldest dropped first.
 */
function withStatementCache(sqlite: SQLite.Database, limit = 500): SQLite.Database {
  const cache = new Map<string, SQLite.Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  return Object.assign(Object.create(sqlite) as SQLite.Database, {
    prepare(source: string) {
      let statement = cache.get(source);
      if (!statement) {
        statement = prepare(source);
        if (cache.size >= limit) cache.delete(cache.keys().next().value!);
        cache.set(source, statement);
      }
      return statement;
    },
    close() {
      cache.clear();
      return sqlite.close();
    },
  });
}

/** Opens (creating if needed) `<dataDir>/accouch.sqlite` in WAL mode with synchronous=FULL. */
export function openDatabase(dataDir: string): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const sqlite = new SQLite(databaseFile(dataDir));
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = FULL');
  sqlite.pragma('foreign_keys = ON');
  sqlite.pragma('busy_timeout = 5000');
  return new Kysely<Database>({ dialect: new SqliteDialect({ database: withStatementCache(sqlite) }) });
}

/** Current time in epoch seconds, the unit of every time column. */
export const epoch = (ms = Date.now()) => Math.floor(ms / 1000);

/** True for a UNIQUE or PRIMARY KEY violation (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
