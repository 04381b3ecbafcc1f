// Query functions for registered clients, stored as declared (the config schema's shape) and turned into
// oidc-provider metadata only in oidc/clients.ts.
import type { Kysely, Transaction } from 'kysely';
import type { ClientConfig } from '../config.js';
import { conflict } from '../errors.js';
import { epoch, isUniqueViolation } from './db.js';
import { prepared } from './prepared.js';
import type { ClientsTable, Database } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

export interface StoredClient {
  source: ClientsTable['source'];
  config: ClientConfig;
  createdAt: number;
}

const toClient = (row: ClientsTable): StoredClient => ({
  source: row.source,
  config: { ...JSON.parse(row.config), id: row.id },
  createdAt: Number(row.created_at),
});

/**
 * The client built from a row the same as the last one read for its id is that same (frozen) object, so what is
 * built from a client (its oidc-provider metadata and model, oidc/clients.ts) is kept by that object until the
 * stored client changes. Compared by content: under writes every read gives new rows.
 */
const lastBuilt = new Map<string, { row: ClientsTable; client: StoredClient }>();
function toSameClient(row: ClientsTable): StoredClient {
  const last = lastBuilt.get(row.id);
  if (last && last.row.config === row.config && last.row.source === row.source && last.row.created_at === row.created_at) return last.client;
  const client = toClient(row);
  Object.freeze(client.config);
  Object.freeze(client);
  if (lastBuilt.size >= 1000) lastBuilt.clear();
  lastBuilt.set(row.id, { row, client });
  return client;
}

const serialize = ({ id: _id, secretFile: _file, ...rest }: ClientConfig) => JSON.stringify(rest);

// oidc-provider looks the client up on every token, introspection and authorization request.
const clientById = prepared(1, (db, id: string) => db.selectFrom('clients').selectAll().where('id', '=', id), { cacheable: true });

export async function findClient(db: Executor, id: string): Promise<StoredClient | undefined> {
  const [row] = (await clientById(db, id)).rows;
  return row && toSameClient(row);
}

export async function listClients(db: Executor): Promise<StoredClient[]> {
  return (await db.selectFrom('clients').selectAll().orderBy('id').execute()).map(toClient);
}

/** Inserts a client; a duplicate id is a conflict. */
export async function insertClient(db: Executor, source: StoredClient['source'], config: ClientConfig, now = epoch()): Promise<void> {
  try {
    await db.insertInto('clients').values({ id: config.id, source, config: serialize(config), created_at: now, updated_at: now }).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`client "${config.id}" already exists`, error);
    throw error;
  }
}

/** Inserts or replaces a client declared in configuration. */
export async function upsertConfigClient(db: Executor, config: ClientConfig, now = epoch()): Promise<void> {
  await db.insertInto('clients')
    .values({ id: config.id, source: 'config', config: serialize(config), created_at: now, updated_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ source: 'config', config: serialize(config), updated_at: now }))
    .execute();
}

/**
 * Inserts or replaces a client an AccouchClient resource declares; an id held by another source is a conflict
 * (the row is left alone).
 */
export async function upsertClusterClient(db: Executor, config: ClientConfig, now = epoch()): Promise<void> {
  const result = await db.insertInto('clients')
    .values({ id: config.id, source: 'cluster', config: serialize(config), created_at: now, updated_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ config: serialize(config), updated_at: now }).where('clients.source', '=', 'cluster'))
    .executeTakeFirst();
  if (Number(result.numInsertedOrUpdatedRows ?? 0) === 0) throw conflict(`client "${config.id}" already exists and was not made from a cluster resource`);
}

/** Ids of the clients made from cluster resources. */
export async function listClusterClientIds(db: Executor): Promise<string[]> {
  return (await db.selectFrom('clients').select('id').where('source', '=', 'cluster').orderBy('id').execute()).map((r) => r.id);
}

/** Removes a client; returns false when there was none. */
export async function deleteClient(db: Executor, id: string): Promise<boolean> {
  const result = await db.deleteFrom('clients').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Removes configuration-declared clients that are no longer declared; returns their ids. */
export async function deleteConfigClientsExcept(db: Executor, keep: string[]): Promise<string[]> {
  let query = db.deleteFrom('clients').where('source', '=', 'config');
  if (keep.length) query = query.where('id', 'not in', keep);
  return (await query.returning('id').execute()).map((r) => r.id);
}
