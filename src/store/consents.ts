// Query functions for remembered consent: the scopes each person allowed each app, across sign-outs.
import type { Kysely, Transaction } from 'kysely';
import type { Database } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

export interface RememberedConsent { clientId: string; scopes: string[]; updatedAt: number }

const split = (scopes: string) => scopes.split(' ').filter(Boolean);

/** Adds `scopes` to what the user allowed the client (never takes any away). */
export async function rememberConsent(db: Executor, userId: string, clientId: string, scopes: readonly string[], now: number): Promise<void> {
  const before = await findConsent(db, userId, clientId);
  const all = [...new Set([...(before?.scopes ?? []), ...scopes])].sort().join(' ');
  await db.insertInto('remembered_consents').values({ user_id: userId, client_id: clientId, scopes: all, updated_at: now })
    .onConflict((oc) => oc.columns(['user_id', 'client_id']).doUpdateSet({ scopes: all, updated_at: now }))
    .execute();
}

export async function findConsent(db: Executor, userId: string, clientId: string): Promise<RememberedConsent | undefined> {
  const row = await db.selectFrom('remembered_consents').selectAll().where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst();
  return row && { clientId: row.client_id, scopes: split(row.scopes), updatedAt: Number(row.updated_at) };
}

export async function listConsents(db: Executor, userId: string): Promise<RememberedConsent[]> {
  const rows = await db.selectFrom('remembered_consents').selectAll().where('user_id', '=', userId).orderBy('client_id').execute();
  return rows.map((row) => ({ clientId: row.client_id, scopes: split(row.scopes), updatedAt: Number(row.updated_at) }));
}

/** Forgets what the user allowed the client; true if there was something. */
export async function forgetConsent(db: Executor, userId: string, clientId: string): Promise<boolean> {
  const result = await db.deleteFrom('remembered_consents').where('user_id', '=', userId).where('client_id', '=', clientId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}
