// Query functions for enrolment links beyond insert and look-up (store/factors.ts): find by short code, claim
// by the first browser, retire the earlier ones, save state and use up in one conditional UPDATE.
import type { Kysely, Transaction } from 'kysely';
import type { Database, LinkTokensTable } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

const numbers = (row: LinkTokensTable): LinkTokensTable => ({
  ...row,
  expires_at: Number(row.expires_at),
  used_at: row.used_at === null ? null : Number(row.used_at),
  created_at: Number(row.created_at),
  claim_hash: row.claim_hash ?? null,
  code_hash: row.code_hash ?? null,
});

/** The link with this token hash or short-code hash, used or expired included. */
export async function findLinkByHash(db: Executor, hash: string): Promise<LinkTokensTable | undefined> {
  const row = await db.selectFrom('link_tokens').selectAll()
    .where((eb) => eb.or([eb('token_hash', '=', hash), eb('code_hash', '=', hash)])).executeTakeFirst();
  return row && numbers(row);
}

export async function findLinkById(db: Executor, id: string): Promise<LinkTokensTable | undefined> {
  const row = await db.selectFrom('link_tokens').selectAll().where('id', '=', id).executeTakeFirst();
  return row && numbers(row);
}

/** Claims an unused, unclaimed link for a browser; true only for the one call that set the claim. */
export async function claimLinkToken(db: Executor, id: string, claimHash: string): Promise<boolean> {
  const result = await db.updateTable('link_tokens').set({ claim_hash: claimHash })
    .where('id', '=', id).where('used_at', 'is', null).where('claim_hash', 'is', null).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/**
 * Uses up every unused link of a purpose (of one user, when given): a new setup link makes the earlier ones dead,
 * a new reset link the user's earlier one. Returns how many.
 */
export async function retireUnusedLinks(db: Executor, purpose: LinkTokensTable['purpose'], userId: string | null, now: number): Promise<number> {
  let query = db.updateTable('link_tokens').set({ used_at: now }).where('purpose', '=', purpose).where('used_at', 'is', null);
  if (userId) query = query.where('user_id', '=', userId);
  const result = await query.executeTakeFirst();
  return Number(result.numUpdatedRows);
}

/** Saves what the link's holder entered, only while the link is unused and still held by `claimHash`. */
export async function updateLinkState(db: Executor, id: string, state: string, claimHash: string | null): Promise<boolean> {
  const result = await db.updateTable('link_tokens').set({ state })
    .where('id', '=', id).where('used_at', 'is', null)
    .where('claim_hash', claimHash === null ? 'is' : '=', claimHash).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Saves state and uses the link up at once; false if another request used it first or it expired. */
export async function useLinkWithState(db: Executor, id: string, state: string, now: number): Promise<boolean> {
  const result = await db.updateTable('link_tokens').set({ used_at: now, state })
    .where('id', '=', id).where('used_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Unused, unexpired links of one purpose with their state (who is mid-setup, pending invitations). */
export async function listOpenLinks(db: Executor, purpose: LinkTokensTable['purpose'], now: number) {
  const rows = await db.selectFrom('link_tokens').selectAll()
    .where('purpose', '=', purpose).where('used_at', 'is', null).where('expires_at', '>', now)
    .orderBy('created_at', 'desc').execute();
  return rows.map(numbers);
}
