// Export and import of every table as JSON lines, through kysely only, so data moves between SQLite and
// PostgreSQL: a header line (format, migrations, row counts), one line per row in batches, an end line.
import { sql, type Kysely } from 'kysely';
import { badRequest, conflict } from '../errors.js';
import { isPostgres } from './db.js';
import type { Database } from './schema.js';

/** Every table, parents before children (foreign keys), with the key that orders its rows. */
export const transferTables = [
  { table: 'users', key: ['id'] },
  { table: 'user_groups', key: ['user_id', 'group_name'] },
  { table: 'clients', key: ['id'] },
  { table: 'oidc_payloads', key: ['model', 'id'] },
  { table: 'signing_keys', key: ['kid'] },
  { table: 'secrets', key: ['name'] },
  { table: 'login_throttle', key: ['key'] },
  { table: 'audit_log', key: ['id'] },
  { table: 'webauthn_credentials', key: ['id'] },
  { table: 'webauthn_challenges', key: ['id'] },
  { table: 'totp_secrets', key: ['user_id'] },
  { table: 'recovery_codes', key: ['user_id', 'code_hash'] },
  { table: 'avatars', key: ['user_id'] },
  { table: 'link_tokens', key: ['id'] },
  { table: 'sign_ins', key: ['account_id', 'auth_time'] },
  { table: 'upstreams', key: ['id'] },
  { table: 'federated_identities', key: ['upstream_id', 'subject'] },
  { table: 'federation_states', key: ['id'] },
  { table: 'remembered_consents', key: ['user_id', 'client_id'] },
  { table: 'alerts', key: ['id'] },
  { table: 'alert_outbox', key: ['id'] },
  { table: 'push_subscriptions', key: ['id'] },
  { table: 'alert_prefs', key: ['user_id'] },
  { table: 'alert_seen', key: ['user_id', 'kind', 'value'] },
  { table: 'step_up', key: ['user_id'] },
  { table: 'forward_auth_apps', key: ['id'] },
  { table: 'forward_auth_hosts', key: ['host'] },
] as const satisfies ReadonlyArray<{ table: keyof Database; key: readonly string[] }>;

type TableName = (typeof transferTables)[number]['table'];
type Unlisted = Exclude<keyof Database, TableName>;
/** Fails to compile, naming the table, when schema.ts gains a table not listed above: no table is left behind. */
export const everyTableListed: [Unlisted] extends [never] ? true : Unlisted = true;

export const exportFormat = 'accouch-export';
export const exportVersion = 1;

export interface ExportHeader {
  format: typeof exportFormat;
  version: number;
  exportedAt: number;
  /** Applied migrations of the source: the target must have exactly these. */
  migrations: string[];
  counts: Record<string, number>;
  /** What the caller adds (the secret key): carried, not interpreted, by the store. */
  extras: Record<string, unknown>;
}

export type Progress = (table: string, done: number, total: number) => void;

const batchSize = 500;

/** JSON has no bytes: binary values travel as `{ "$base64": "..." }`. */
const encodeValue = (value: unknown) => (value instanceof Uint8Array ? { $base64: Buffer.from(value).toString('base64') } : value);
const decodeValue = (value: unknown) => {
  if (value && typeof value === 'object' && !Array.isArray(value)) {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$base64') return Buffer.from(String((value as { $base64: unknown }).$base64), 'base64');
  }
  return value;
};

/** Applied migrations, oldest first. */
export async function appliedMigrations(db: Kysely<Database>): Promise<string[]> {
  const { rows } = await sql<{ name: string }>`select name from kysely_migration order by name`.execute(db);
  return rows.map((r) => r.name);
}

/**
 * Writes the whole database as JSON lines through `write` (which may wait for the destination), from one
 * snapshot (a repeatable-read transaction; on SQLite a read transaction), in batches of rows.
 */
export async function exportDatabase(db: Kysely<Database>, write: (line: string) => Promise<void>, extras: Record<string, unknown>, progress?: Progress): Promise<ExportHeader> {
  return db.transaction().setIsolationLevel('repeatable read').execute(async (trx) => {
    const any = trx as unknown as Kysely<any>;
    const counts: Record<string, number> = {};
    for (const { table } of transferTables) {
      const row = await any.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
      counts[table] = Number(row.n);
    }
    const header: ExportHeader = {
      format: exportFormat, version: exportVersion, exportedAt: Math.floor(Date.now() / 1000),
      migrations: await appliedMigrations(trx), counts, extras,
    };
    await write(JSON.stringify(header));
    for (const { table, key } of transferTables) {
      let done = 0;
      progress?.(table, 0, counts[table]!);
      for (;;) {
        let query = any.selectFrom(table).selectAll();
        for (const column of key) query = query.orderBy(column);
        const rows = await query.limit(batchSize).offset(done).execute();
        for (const row of rows) {
          await write(JSON.stringify({ table, row: Object.fromEntries(Object.entries(row).map(([k, v]) => [k, encodeValue(v)])) }));
        }
        done += rows.length;
        progress?.(table, done, counts[table]!);
        if (rows.length < batchSize) break;
      }
    }
    await write(JSON.stringify({ end: true }));
    return header;
  });
}

/** Rows in all tables, to tell an empty database from one in use. */
export async function countAllRows(db: Kysely<Database>): Promise<number> {
  let total = 0;
  for (const { table } of transferTables) {
    const row = await (db as unknown as Kysely<any>).selectFrom(table).select((eb) => eb.fn.countAll().as('n')).executeTakeFirstOrThrow();
    total += Number(row.n);
  }
  return total;
}

/**
 * Reads an export (JSON lines) into `db`, which must be migrated exactly as far as the source was and be empty,
 * unless `replace` (then everything in it is deleted first). All in one transaction: a truncated or damaged
 * file changes nothing. Returns the header.
 */
export async function importDatabase(
  db: Kysely<Database>,
  lines: AsyncIterable<string>,
  options: { replace: boolean; progress?: Progress | undefined; beforeRows?: (extras: Record<string, unknown>) => void },
): Promise<ExportHeader> {
  const iterator = lines[Symbol.asyncIterator]();
  let lineNo = 0;
  const next = async (): Promise<unknown> => {
    for (;;) {
      const { value, done } = await iterator.next();
      if (done) return undefined;
      lineNo += 1;
      if (!value.trim()) continue;
      try {
        return JSON.parse(value);
      } catch {
        throw badRequest(`line ${lineNo}: not JSON`);
      }
    }
  };
  const header = (await next()) as ExportHeader | undefined;
  if (!header || header.format !== exportFormat) throw badRequest('not an Accouch export (no accouch-export header on the first line)');
  if (header.version !== exportVersion) throw badRequest(`export format version ${header.version} is not supported (this Accouch reads version ${exportVersion})`);
  const target = await appliedMigrations(db);
  if (JSON.stringify(target) !== JSON.stringify(header.migrations)) {
    throw badRequest(`the export was made by another Accouch version (migrations ${header.migrations.at(-1) ?? 'none'}, this database ${target.at(-1) ?? 'none'}): export and import with the same version`);
  }
  const columns = new Map<string, Set<string>>();
  for (const info of await db.introspection.getTables()) columns.set(info.name, new Set(info.columns.map((c) => c.name)));
  const order = transferTables.map((t) => t.table as string);
  options.beforeRows?.(header.extras ?? {});

  await db.transaction().execute(async (trx) => {
    const any = trx as unknown as Kysely<any>;
    if (await countAllRows(trx)) {
      if (!options.replace) throw conflict('the database is not empty: import into a new data dir or database, or pass --replace to delete everything in it first');
      for (const table of [...order].reverse()) await any.deleteFrom(table).execute();
    }
    const seen: Record<string, number> = {};
    let batch: Array<Record<string, unknown>> = [];
    let current: string | undefined;
    const flush = async () => {
      if (current && batch.length) await any.insertInto(current).values(batch).execute();
      if (current) options.progress?.(current, seen[current] ?? 0, header.counts[current] ?? 0);
      batch = [];
    };
    let ended = false;
    for (let record = await next(); record !== undefined; record = await next()) {
      const { table, row, end } = record as { table?: string; row?: Record<string, unknown>; end?: boolean };
      if (end === true) {
        ended = true;
        break;
      }
      if (!table || !order.includes(table) || !row || typeof row !== 'object') throw badRequest(`line ${lineNo}: not a row of a known table`);
      const known = columns.get(table)!;
      const unknown = Object.keys(row).filter((c) => !known.has(c));
      if (unknown.length) throw badRequest(`line ${lineNo}: ${table} has no column ${unknown.join(', ')}`);
      if (table !== current) {
        await flush();
        if (current && order.indexOf(table) < order.indexOf(current)) throw badRequest(`line ${lineNo}: ${table} rows after ${current} rows`);
        current = table;
      }
      batch.push(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, decodeValue(v)])));
      seen[table] = (seen[table] ?? 0) + 1;
      // Stay well under the bound parameters a statement may have (SQLite: 32766, PostgreSQL: 65535).
      if (batch.length * known.size >= 4000) await flush();
    }
    await flush();
    if (!ended) throw badRequest('the export is truncated (no end line): nothing was imported');
    for (const table of order) {
      if ((seen[table] ?? 0) !== (header.counts[table] ?? 0)) {
        throw badRequest(`the export is inconsistent: ${table} has ${seen[table] ?? 0} rows, the header says ${header.counts[table] ?? 0}; nothing was imported`);
      }
    }
    if (isPostgres(trx)) {
      // Rows came with their ids: move the sequence past them, or the next audit event would collide.
      await sql`select setval(pg_get_serial_sequence('audit_log', 'id'), coalesce((select max(id) from audit_log), 0) + 1, false)`.execute(trx);
    }
  });
  return header;
}
