// PostgreSQL's "cannot serve now": SQLSTATE class 53, insufficient resources (53100 disk_full, 53200
// out_of_memory, 53300 too_many_connections, 53400 configuration_limit_exceeded). The store turns them into the
// same 503 `unavailable` as SQLite's full disk and I/O errors (sqlite-writer.ts), where the pool hands out
// connections, and the request that met one remembers it: an answer rendered by code that catches errors itself
// (oidc-provider's generic server_error) is then replaced by the 503 too (http/settle.ts), as on SQLite.
import { AsyncLocalStorage } from 'node:async_hooks';
import { sql, type Kysely, type PostgresPool, type PostgresPoolClient } from 'kysely';
import type PG from 'pg';
import { AppError } from '../errors.js';
import { storageFailure, type RequestWrites } from './sqlite-writer.js';

const diskFull = '53100';

/** The 503 for a PostgreSQL error of class 53; undefined for any other error. */
export function postgresStorageFailure(error: unknown): AppError | undefined {
  const code = (error as { code?: unknown } | undefined)?.code;
  if (typeof code !== 'string' || !code.startsWith('53')) return undefined;
  if (code === diskFull) return storageFailure(error);
  return new AppError('unavailable', 'The server cannot answer right now: its database is out of resources. Nothing was changed; try again in a moment.', { cause: error, expose: true });
}

const isThenable = (value: unknown): value is Promise<unknown> => typeof (value as { then?: unknown } | null)?.then === 'function';

/** Whether the database can take writes: PostgreSQL makes each write durable before answering it; a standby cannot. */
export async function postgresWritable(db: Kysely<any>): Promise<void> {
  const { rows } = await sql<{ standby: boolean }>`select pg_is_in_recovery() as standby`.execute(db);
  if (rows[0]?.standby) throw new Error('the PostgreSQL server is a standby: it cannot take writes');
}

/**
 * Wraps `pool` for kysely's PostgresDialect so that class-53 errors (at connect or from a query) become the 503,
 * and returns the request scopes that remember them; `writesOf(db)` is what the HTTP layer settles with.
 */
export function createPostgresStorage(pool: PG.Pool): { pool: PostgresPool; writesOf(db: Kysely<any>): RequestWrites } {
  const scopes = new AsyncLocalStorage<{ failure?: AppError }>();
  const mapped = (error: unknown) => {
    const failure = postgresStorageFailure(error);
    if (!failure) return error;
    const scope = scopes.getStore();
    if (scope) scope.failure ??= failure;
    return failure;
  };
  const wrapped = new WeakSet<PG.PoolClient>();
  const dialectPool: PostgresPool = {
    async connect() {
      const client = await pool.connect().catch((error: unknown) => { throw mapped(error); });
      if (!wrapped.has(client)) {
        wrapped.add(client);
        const query = client.query.bind(client) as (...args: unknown[]) => unknown;
        // Kysely calls query(sql, parameters) for a promise, or query(cursor) for a stream (returned as it is).
        client.query = ((...args: unknown[]) => {
          const result = query(...args);
          return isThenable(result) ? result.catch((error: unknown) => { throw mapped(error); }) : result;
        }) as typeof client.query;
      }
      return client as unknown as PostgresPoolClient;
    },
    end: () => pool.end(),
  };
  return {
    pool: dialectPool,
    writesOf: (db) => ({
      run: (work) => scopes.run({}, work),
      async settle() {
        const failure = scopes.getStore()?.failure;
        if (failure) throw failure;
      },
      failure: () => scopes.getStore()?.failure,
      writable: () => postgresWritable(db),
    }),
  };
}
