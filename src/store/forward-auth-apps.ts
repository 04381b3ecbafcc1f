// Query functions for apps protected by forward-auth: the app as declared (config shape) and the hosts it owns.
import type { Kysely, Transaction } from 'kysely';
import type { ForwardAuthAppConfig } from '../config.js';
import { conflict } from '../errors.js';
import { epoch, isUniqueViolation } from './db.js';
import type { Database, ForwardAuthAppsTable } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

export type ForwardAuthSource = ForwardAuthAppsTable['source'];

export interface StoredForwardAuthApp {
  source: ForwardAuthSource;
  config: ForwardAuthAppConfig;
  createdAt: number;
}

const toApp = (row: ForwardAuthAppsTable): StoredForwardAuthApp => ({
  source: row.source,
  config: { ...JSON.parse(row.config), id: row.id },
  createdAt: Number(row.created_at),
});

const serialize = ({ id: _id, ...rest }: ForwardAuthAppConfig) => JSON.stringify(rest);

export async function findForwardAuthApp(db: Executor, id: string): Promise<StoredForwardAuthApp | undefined> {
  const row = await db.selectFrom('forward_auth_apps').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toApp(row);
}

export async function listForwardAuthApps(db: Executor): Promise<StoredForwardAuthApp[]> {
  return (await db.selectFrom('forward_auth_apps').selectAll().orderBy('id').execute()).map(toApp);
}

/** The app that owns a host, if any. */
export async function findForwardAuthAppIdByHost(db: Executor, host: string): Promise<string | undefined> {
  const row = await db.selectFrom('forward_auth_hosts').select('app_id').where('host', '=', host).executeTakeFirst();
  return row?.app_id;
}

/**
 * Writes an app and its hosts (insert, or replace an app of the same id). A host owned by another app is a
 * conflict. Call inside a transaction: the app row and its hosts change together.
 */
export async function saveForwardAuthApp(trx: Executor, source: ForwardAuthSource, config: ForwardAuthAppConfig, now = epoch()): Promise<void> {
  await trx.insertInto('forward_auth_apps')
    .values({ id: config.id, source, config: serialize(config), created_at: now, updated_at: now })
    .onConflict((oc) => oc.column('id').doUpdateSet({ source, config: serialize(config), updated_at: now }))
    .execute();
  await trx.deleteFrom('forward_auth_hosts').where('app_id', '=', config.id).execute();
  try {
    await trx.insertInto('forward_auth_hosts').values(config.hosts.map((host) => ({ host, app_id: config.id }))).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`a host of "${config.id}" already belongs to another forward-auth app`, error);
    throw error;
  }
}

/** Removes an app (its hosts go with it); false when there was none. */
export async function deleteForwardAuthApp(db: Executor, id: string): Promise<boolean> {
  await db.deleteFrom('forward_auth_hosts').where('app_id', '=', id).execute();
  const result = await db.deleteFrom('forward_auth_apps').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

/** Removes apps of one source that are no longer declared there; returns their ids. */
export async function deleteForwardAuthAppsExcept(db: Executor, source: ForwardAuthSource, keep: string[]): Promise<string[]> {
  let query = db.selectFrom('forward_auth_apps').select('id').where('source', '=', source);
  if (keep.length) query = query.where('id', 'not in', keep);
  const gone = (await query.execute()).map((r) => r.id);
  for (const id of gone) await deleteForwardAuthApp(db, id);
  return gone;
}
