// Opens the database the configuration names: the embedded SQLite file (with the durability settings Accouch
// relies on), or PostgreSQL when databaseUrl is set (several replicas share one database).
import { chmodSync, closeSync, mkdirSync, openSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { Kysely, PostgresAdapter, PostgresDialect, sql, type RawBuilder } from 'kysely';
import type PG from 'pg';
import type { Config } from '../config.js';
import type { Database } from './schema.js';
import { createPostgresStorage, postgresWritable } from './pg-storage.js';
import { createWriterDialect, type DirectQuery, type RequestWrites } from './sqlite-writer.js';

export type Db = Kysely<Database>;

/** What openDatabase needs from the configuration. */
export type DatabaseConfig = Pick<Config, 'dataDir' | 'databaseUrl'>;

export const databaseFile = (dataDir: string) => join(dataDir, 'accouch.sqlite');

const requestWrites = new WeakMap<Kysely<any>, RequestWrites>();
const directQueries = new WeakMap<Kysely<any>, DirectQuery>();

/** The embedded database's way to run a compiled statement past kysely's executor; undefined elsewhere (PostgreSQL, a transaction). */
export const directQueryOf = (db: Kysely<any>): DirectQuery | undefined => directQueries.get(db);

/**
 * How requests on `db` make their writes durable before they answer (see sqlite-writer.ts). PostgreSQL makes each
 * write durable before answering it: nothing to settle; it cannot write while it is a standby in recovery.
 */
export function requestWritesOf(db: Kysely<any>): RequestWrites {
  return requestWrites.get(db) ?? {
    run: (work) => work(),
    settle: async () => undefined,
    failure: () => undefined,
    writable: () => postgresWritable(db),
  };
}

/**
 * Opens (creating if needed) `<dataDir>/accouch.sqlite` in WAL mode with synchronous=FULL: reads on this thread,
 * writes on the writer thread (sqlite-writer.ts), so the event loop never waits for an fsync.
 */
function openSqlite(dataDir: string, writer: { maxHoldMs?: number }): Db {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Password hashes and private keys: readable by this user only, whatever the umask or an existing dir's mode
  // (the -wal and -shm files take the database file's mode).
  const file = databaseFile(dataDir);
  closeSync(openSync(file, 'a', 0o600));
  chmodSync(file, 0o600);
  // WAL is a property of the file: set here once, so the read connection and the writer agree from the start.
  const sqlite = new SQLite(file, { timeout: 5000 });
  try {
    sqlite.pragma('journal_mode = WAL');
  } finally {
    sqlite.close();
  }
  const { dialect, writes, query } = createWriterDialect(file, writer);
  const db = new Kysely<Database>({ dialect });
  requestWrites.set(db, writes);
  // The first statement goes through kysely, which starts the driver (and will close it on destroy()); then past it.
  let started: Promise<unknown> | undefined;
  directQueries.set(db, async (compiled) => {
    if (!started) {
      await (started ??= sql`select 1`.execute(db));
      directQueries.set(db, query);
    }
    return query(compiled);
  });
  return db;
}

const int8 = 20;

/**
 * A pool on the PostgreSQL server of `url`. bigint (int8) columns and count() come back as JS numbers, as they
 * do from SQLite: every such value is epoch seconds, a counter or a row count, far below 2^53. Loaded on
 * demand, so SQLite installs and CLI starts never load the driver.
 */
function openPostgres(url: string, onPoolError: (error: Error) => void): Db {
  const pg = createRequire(import.meta.url)('pg') as typeof PG;
  const pool = new pg.Pool({
    connectionString: url,
    // A server that does not answer fails the query (and /readyz) instead of hanging it.
    connectionTimeoutMillis: 10_000,
    types: {
      getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
        oid === int8 && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
    },
  });
  // An idle connection that breaks (server restart, network) is dropped by the pool and replaced on the next
  // query; without a listener the 'error' event would end the process.
  pool.on('error', onPoolError);
  // A full disk and other "cannot serve now" errors become a 503, as on SQLite (pg-storage.ts).
  const storage = createPostgresStorage(pool);
  const db = new Kysely<Database>({ dialect: new PostgresDialect({ pool: storage.pool }) });
  requestWrites.set(db, storage.writesOf(db));
  return db;
}

/**
 * Opens the configured database: PostgreSQL when `databaseUrl` is set, else `<dataDir>/accouch.sqlite`.
 * `onPoolError` hears about PostgreSQL connections that broke while idle; `writer.maxHoldMs` is how long a request
 * may hold the embedded database's group commit (sqlite-writer.ts, default 25 ms).
 */
export function openDatabase(config: DatabaseConfig, options: { onPoolError?: (error: Error) => void; writer?: { maxHoldMs?: number } } = {}): Db {
  if (config.databaseUrl) return openPostgres(config.databaseUrl, options.onPoolError ?? (() => undefined));
  return openSqlite(config.dataDir, options.writer ?? {});
}

/** Where the data lives, for logs: the SQLite file, or the PostgreSQL URL without its password. */
export function describeDatabase(config: DatabaseConfig): string {
  if (!config.databaseUrl) return databaseFile(config.dataDir);
  const url = URL.parse(config.databaseUrl);
  if (!url) return 'postgres (unparsable URL)';
  url.password = '';
  for (const key of [...url.searchParams.keys()]) if (/pass|secret|key/i.test(key)) url.searchParams.set(key, '***');
  return url.toString();
}

/** True when the store runs on PostgreSQL, for the few queries whose SQL differs between the engines. */
export const isPostgres = (db: Kysely<any>) => db.getExecutor().adapter instanceof PostgresAdapter;

/** A text field of a JSON text column: json_extract on SQLite, ->> on PostgreSQL (where the column is text, not jsonb). */
export function jsonText(db: Kysely<any>, column: string, field: string): RawBuilder<string | null> {
  return isPostgres(db)
    ? sql<string | null>`(${sql.ref(column)}::jsonb ->> ${sql.lit(field)})`
    : sql<string | null>`json_extract(${sql.ref(column)}, ${sql.lit(`$.${field}`)})`;
}

/**
 * Serialises check-then-write transactions on one table across replicas: the lock is held until the transaction
 * ends; readers are not blocked. PostgreSQL only: SQLite allows one writer at a time, and a transaction whose
 * read went stale by another process's write fails (SQLITE_BUSY) rather than writing on stale data.
 */
export async function lockTableForWrite(trx: Kysely<any>, table: string): Promise<void> {
  if (isPostgres(trx)) await sql`lock table ${sql.table(table)} in share row exclusive mode`.execute(trx);
}

/** Current time in epoch seconds, the unit of every time column. */
export const epoch = (ms = Date.now()) => Math.floor(ms / 1000);

/** True for a UNIQUE or PRIMARY KEY violation (SQLite or PostgreSQL). */
export function isUniqueViolation(error: unknown): boolean {
  const code = (error as { code?: string })?.code;
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === 'SQLITE_CONSTRAINT_PRIMARYKEY' || code === '23505';
}
