// Query functions behind the oidc-provider adapter: one table keyed by (model, id).
import type { Kysely } from 'kysely';
import { epoch } from './db.js';
import { prepared } from './prepared.js';
import type { Database } from './schema.js';

export interface PayloadRow {
  payload: Record<string, unknown>;
  consumedAt: number | null;
  grantId: string | null;
}

type Values = [model: string, id: string, payload: string, grantId: string | null, userCode: string | null, uid: string | null, accountId: string | null, expiresAt: number | null];

// Every oidc-provider save, find and consume: the hottest statements there are.
const upsert = prepared(8, (db, ...[model, id, payload, grant_id, user_code, uid, account_id, expires_at]: Values) => {
  const values = { payload, grant_id, user_code, uid, account_id, expires_at };
  return db.insertInto('oidc_payloads').values({ model, id, consumed_at: null, ...values })
    .onConflict((oc) => oc.columns(['model', 'id']).doUpdateSet(values));
}, { resultUnused: true });

const listedByAccount = new Set(['Session', 'Grant']);

export async function upsertPayload(
  db: Kysely<Database>,
  model: string,
  id: string,
  payload: Record<string, unknown>,
  expiresAt: number | null,
): Promise<void> {
  const text = (value: unknown) => (typeof value === 'string' ? value : null);
  // Sessions and grants are listed by account; a token is found by its id or its grant, so it keeps its row out of
  // the account index (tokens are most of the writes).
  const accountId = listedByAccount.has(model) ? text(payload.accountId) : null;
  await upsert(db, model, id, JSON.stringify(payload), text(payload.grantId), text(payload.userCode), text(payload.uid), accountId, expiresAt);
}

type Column = 'id' | 'uid' | 'user_code';

const findBy = (column: Column) => prepared(3, (db, model: string, value: string, now: number) => db.selectFrom('oidc_payloads')
  .select(['payload', 'consumed_at', 'grant_id'])
  .where('model', '=', model)
  .where(column, '=', value)
  .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)])), { cacheable: true });
const finders = { id: findBy('id'), uid: findBy('uid'), user_code: findBy('user_code') };

/** Finds an unexpired payload by id, uid or user code. */
export async function findPayload(db: Kysely<Database>, model: string, column: Column, value: string, now = epoch()): Promise<PayloadRow | undefined> {
  const [row] = (await finders[column](db, model, value, now)).rows;
  return row && { payload: JSON.parse(row.payload), consumedAt: row.consumed_at === null ? null : Number(row.consumed_at), grantId: row.grant_id };
}

const consume = prepared(3, (db, now: number, model: string, id: string) => db.updateTable('oidc_payloads').set({ consumed_at: now })
  .where('model', '=', model).where('id', '=', id).where('consumed_at', 'is', null));

/** Marks a payload consumed; false when it was already consumed (or is gone). */
export async function consumePayload(db: Kysely<Database>, model: string, id: string, now = epoch()): Promise<boolean> {
  return Number((await consume(db, now, model, id)).numAffectedRows) === 1;
}

export async function grantIdOf(db: Kysely<Database>, model: string, id: string): Promise<string | null> {
  const row = await db.selectFrom('oidc_payloads').select('grant_id').where('model', '=', model).where('id', '=', id).executeTakeFirst();
  return row?.grant_id ?? null;
}

export async function deletePayload(db: Kysely<Database>, model: string, id: string): Promise<void> {
  await db.deleteFrom('oidc_payloads').where('model', '=', model).where('id', '=', id).execute();
}

/** Deletes the artefacts of a grant: of one model, or of every model. */
export async function deletePayloadsByGrant(db: Kysely<Database>, grantId: string, model?: string): Promise<void> {
  let query = db.deleteFrom('oidc_payloads').where('grant_id', '=', grantId);
  if (model) query = query.where('model', '=', model);
  await query.execute();
}

/** Deletes expired payloads; returns how many went. */
export async function purgeExpiredPayloads(db: Kysely<Database>, now = epoch()): Promise<number> {
  const result = await db.deleteFrom('oidc_payloads').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}

export interface AccountPayload {
  id: string;
  payload: Record<string, unknown>;
  expiresAt: number | null;
}

/** Unexpired payloads of one model that belong to an account: its sessions or its grants (no other model records one). */
export async function listAccountPayloads(db: Kysely<Database>, accountId: string, model: string, now = epoch()): Promise<AccountPayload[]> {
  const rows = await db.selectFrom('oidc_payloads').select(['id', 'payload', 'expires_at'])
    .where('account_id', '=', accountId).where('model', '=', model)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  return rows.map((r) => ({ id: r.id, payload: JSON.parse(r.payload), expiresAt: r.expires_at === null ? null : Number(r.expires_at) }));
}
