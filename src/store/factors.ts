// Query functions for second factors and one-time links: TOTP secrets (sealed) with their last accepted time
// step, recovery code hashes, and setup/invite/reset link tokens. Every "use once" is a single conditional UPDATE.
import type { Kysely, Transaction } from 'kysely';
import { conflict } from '../errors.js';
import { isUniqueViolation } from './db.js';
import { lockUser } from './users.js';
import type { Database, LinkTokensTable } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

/** A user's TOTP enrolment; `secret` is sealed by the caller (auth/secret-key.ts), never plain. */
export interface StoredTotp {
  secret: string;
  /** The last time step a code was accepted for; codes at or before it are replays. */
  lastStep: number;
  createdAt: number;
}

/** A user's TOTP enrolment, if any. */
export async function findTotp(db: Executor, userId: string): Promise<StoredTotp | undefined> {
  const row = await db.selectFrom('totp_secrets').selectAll().where('user_id', '=', userId).executeTakeFirst();
  return row && { secret: row.secret, lastStep: Number(row.last_step), createdAt: Number(row.created_at) };
}

/** Stores (or replaces) a user's sealed TOTP secret; `lastStep` is the step of the code that confirmed it. */
export async function saveTotp(db: Executor, userId: string, sealedSecret: string, now: number, lastStep = 0): Promise<void> {
  await db.insertInto('totp_secrets')
    .values({ user_id: userId, secret: sealedSecret, last_step: lastStep, created_at: now })
    .onConflict((oc) => oc.column('user_id').doUpdateSet({ secret: sealedSecret, last_step: lastStep, created_at: now }))
    .execute();
}

/** Removes a user's TOTP; true if there was one. */
export async function deleteTotp(db: Executor, userId: string): Promise<boolean> {
  const result = await db.deleteFrom('totp_secrets').where('user_id', '=', userId).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/**
 * Records `step` as the last accepted time step, only if it is later than the stored one: true if this call
 * moved it. Of two requests presenting the same code, exactly one gets true (replay protection).
 */
export async function advanceTotpStep(db: Executor, userId: string, step: number): Promise<boolean> {
  const result = await db.updateTable('totp_secrets').set({ last_step: step })
    .where('user_id', '=', userId).where('last_step', '<', step).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Replaces a user's recovery codes with `hashes` (all unused), in one transaction. */
export async function replaceRecoveryCodes(db: Executor, userId: string, hashes: string[]): Promise<void> {
  const replace = async (trx: Executor) => {
    await lockUser(trx, userId);
    await trx.deleteFrom('recovery_codes').where('user_id', '=', userId).execute();
    if (hashes.length) {
      await trx.insertInto('recovery_codes').values(hashes.map((code_hash) => ({ user_id: userId, code_hash, used_at: null }))).execute();
    }
  };
  if (db.isTransaction) await replace(db);
  else await db.transaction().execute(replace);
}

/** Marks an unused recovery code used: true if this call used it. */
export async function consumeRecoveryCode(db: Executor, userId: string, hash: string, now: number): Promise<boolean> {
  const result = await db.updateTable('recovery_codes').set({ used_at: now })
    .where('user_id', '=', userId).where('code_hash', '=', hash).where('used_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Whether the user has this recovery code and it was already used. */
export async function isUsedRecoveryCode(db: Executor, userId: string, hash: string): Promise<boolean> {
  const row = await db.selectFrom('recovery_codes').select('used_at')
    .where('user_id', '=', userId).where('code_hash', '=', hash).where('used_at', 'is not', null).executeTakeFirst();
  return row !== undefined;
}

/** How many recovery codes a user has, and how many of them are still unused. */
export async function countRecoveryCodes(db: Executor, userId: string): Promise<{ total: number; unused: number }> {
  const row = await db.selectFrom('recovery_codes')
    .select((eb) => [eb.fn.countAll<number>().as('total'), eb.fn.count<number>('used_at').as('used')])
    .where('user_id', '=', userId).executeTakeFirstOrThrow();
  return { total: Number(row.total), unused: Number(row.total) - Number(row.used) };
}

/** A setup, invite or reset link; only the hash of its token is stored. */
export type LinkToken = LinkTokensTable;

/** Stores a new link; a duplicate id or token hash is AppError('conflict'). */
export async function insertLinkToken(db: Executor, row: LinkToken): Promise<void> {
  try {
    await db.insertInto('link_tokens').values(row).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict('link token already exists', error);
    throw error;
  }
}

/** The link with this token hash, used or expired included: the caller decides what those mean. */
export async function findLinkToken(db: Executor, tokenHash: string): Promise<LinkToken | undefined> {
  const row = await db.selectFrom('link_tokens').selectAll().where('token_hash', '=', tokenHash).executeTakeFirst();
  return row && {
    ...row,
    expires_at: Number(row.expires_at),
    used_at: row.used_at === null ? null : Number(row.used_at),
    created_at: Number(row.created_at),
  };
}

/** Saves what the link's holder has entered so far (JSON); false if the link is gone or already used. */
export async function updateLinkTokenState(db: Executor, id: string, state: string): Promise<boolean> {
  const result = await db.updateTable('link_tokens').set({ state })
    .where('id', '=', id).where('used_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Uses a link: true only for the one call that finds it unused and unexpired at `now`. */
export async function consumeLinkToken(db: Executor, id: string, now: number): Promise<boolean> {
  const result = await db.updateTable('link_tokens').set({ used_at: now })
    .where('id', '=', id).where('used_at', 'is', null).where('expires_at', '>', now).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/** Deletes links that expired at or before `now` (used or not); returns how many. */
export async function deleteExpiredLinkTokens(db: Executor, now: number): Promise<number> {
  const result = await db.deleteFrom('link_tokens').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** How many users can sign in at all: a password, a WebAuthn credential or a linked upstream account. */
export async function countUsersWithAWayIn(db: Executor): Promise<number> {
  const row = await db.selectFrom('users')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where((eb) => eb.or([
      eb('password_hash', 'is not', null),
      eb.exists(eb.selectFrom('webauthn_credentials').select('id').whereRef('webauthn_credentials.user_id', '=', 'users.id')),
      eb.exists(eb.selectFrom('federated_identities').select('subject').whereRef('federated_identities.user_id', '=', 'users.id')),
    ]))
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
