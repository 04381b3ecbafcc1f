// Query functions for upstream sign-in: upstreams added in the owner console, upstream identities linked to
// household users, and the single-use state of a sign-in in progress at an upstream.
import type { Kysely, Transaction } from 'kysely';
import { conflict } from '../errors.js';
import { epoch, isUniqueViolation } from './db.js';
import type { Database, FederatedIdentitiesTable, FederationStatesTable } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

// ---- upstreams added in the owner console -------------------------------------------------------------------

export interface StoredUpstream { id: string; config: string; createdAt: number; updatedAt: number }

export async function listStoredUpstreams(db: Executor): Promise<StoredUpstream[]> {
  const rows = await db.selectFrom('upstreams').selectAll().orderBy('id').execute();
  return rows.map((r) => ({ id: r.id, config: r.config, createdAt: Number(r.created_at), updatedAt: Number(r.updated_at) }));
}

/** Adds an upstream; a duplicate id is a conflict. */
export async function insertUpstream(db: Executor, id: string, config: string, now = epoch()): Promise<void> {
  try {
    await db.insertInto('upstreams').values({ id, config, created_at: now, updated_at: now }).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`A sign-in service called "${id}" already exists.`, error);
    throw error;
  }
}

export async function deleteUpstream(db: Executor, id: string): Promise<boolean> {
  const result = await db.deleteFrom('upstreams').where('id', '=', id).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

// ---- linked identities ----------------------------------------------------------------------------------------

export interface FederatedIdentity {
  upstreamId: string;
  issuer: string;
  subject: string;
  userId: string;
  login: string | null;
  email: string | null;
  linkedAt: number;
  lastUsedAt: number | null;
}

const toIdentity = (row: FederatedIdentitiesTable): FederatedIdentity => ({
  upstreamId: row.upstream_id, issuer: row.issuer, subject: row.subject, userId: row.user_id, login: row.login, email: row.email,
  linkedAt: Number(row.linked_at), lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
});

export async function findFederatedIdentity(db: Executor, upstreamId: string, issuer: string, subject: string): Promise<FederatedIdentity | undefined> {
  const row = await db.selectFrom('federated_identities').selectAll()
    .where('upstream_id', '=', upstreamId).where('issuer', '=', issuer).where('subject', '=', subject).executeTakeFirst();
  return row && toIdentity(row);
}

export async function listFederatedIdentities(db: Executor, userId: string): Promise<FederatedIdentity[]> {
  const rows = await db.selectFrom('federated_identities').selectAll().where('user_id', '=', userId).orderBy('upstream_id').execute();
  return rows.map(toIdentity);
}

/**
 * Links an upstream identity to a user; an identity already linked (to anyone), or a second account of the same
 * upstream for one user, is a conflict.
 */
export async function insertFederatedIdentity(db: Executor, identity: FederatedIdentity): Promise<void> {
  try {
    await db.insertInto('federated_identities').values({
      upstream_id: identity.upstreamId, issuer: identity.issuer, subject: identity.subject, user_id: identity.userId, login: identity.login,
      email: identity.email, linked_at: identity.linkedAt, last_used_at: identity.lastUsedAt,
    }).execute();
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict('That account is already linked, or you already have an account of this service linked.', error);
    throw error;
  }
}

export async function touchFederatedIdentity(db: Executor, link: Pick<FederatedIdentity, 'upstreamId' | 'issuer' | 'subject'>, now = epoch()): Promise<void> {
  await db.updateTable('federated_identities').set({ last_used_at: now })
    .where('upstream_id', '=', link.upstreamId).where('issuer', '=', link.issuer).where('subject', '=', link.subject).execute();
}

/** Removes every link to an upstream (when the upstream itself is removed); returns how many. */
export async function deleteUpstreamLinks(db: Executor, upstreamId: string): Promise<number> {
  const result = await db.deleteFrom('federated_identities').where('upstream_id', '=', upstreamId).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** The upstreams that have linked accounts. */
export async function listLinkedUpstreamIds(db: Executor): Promise<string[]> {
  const rows = await db.selectFrom('federated_identities').select('upstream_id').distinct().orderBy('upstream_id').execute();
  return rows.map((r) => r.upstream_id);
}

/** Unlinks a user's identity at an upstream; returns false when there was none. */
export async function deleteFederatedIdentity(db: Executor, userId: string, upstreamId: string): Promise<boolean> {
  const result = await db.deleteFrom('federated_identities').where('user_id', '=', userId).where('upstream_id', '=', upstreamId).executeTakeFirst();
  return Number(result.numDeletedRows) > 0;
}

// ---- sign-ins in progress -------------------------------------------------------------------------------------

export type FederationState = FederationStatesTable;

export async function insertFederationState(db: Executor, row: FederationState): Promise<void> {
  await db.insertInto('federation_states').values(row).execute();
}

/** While the code is exchanged: the state is taken, its result not known yet. */
const exchanging = 'exchanging';

/** Takes the state the upstream sent back, once: a second callback with it finds nothing. */
export async function takeFederationState(db: Executor, id: string, upstreamId: string, now = epoch()): Promise<FederationState | undefined> {
  return db.updateTable('federation_states').set({ result: exchanging })
    .where('id', '=', id).where('upstream_id', '=', upstreamId).where('result', 'is', null).where('expires_at', '>', now)
    .returningAll().executeTakeFirst();
}

/** Records how the sign-in at the upstream ended, for the sign-in page to pick up. */
export async function setFederationResult(db: Executor, id: string, result: string): Promise<void> {
  await db.updateTable('federation_states').set({ result, verifier: '', nonce: '' }).where('id', '=', id).execute();
}

/** Hands the result to the sign-in it belongs to, once. */
export async function takeFederationResult(db: Executor, id: string, binding: string, now = epoch()): Promise<FederationState | undefined> {
  return db.deleteFrom('federation_states')
    .where('id', '=', id).where('binding', '=', binding).where('result', 'is not', null).where('result', '!=', exchanging).where('expires_at', '>', now)
    .returningAll().executeTakeFirst();
}

export async function deleteExpiredFederationStates(db: Executor, now: number): Promise<number> {
  const result = await db.deleteFrom('federation_states').where('expires_at', '<=', now).executeTakeFirst();
  return Number(result.numDeletedRows);
}

/** Usernames of the users whose only way in is their link to this upstream (no password, passkey or other link). */
export async function usersOnlyLinkedThrough(db: Executor, upstreamId: string): Promise<string[]> {
  const rows = await db.selectFrom('federated_identities as f')
    .innerJoin('users as u', 'u.id', 'f.user_id')
    .select('u.username')
    .where('f.upstream_id', '=', upstreamId)
    .where('u.password_hash', 'is', null)
    .where((eb) => eb.not(eb.exists(eb.selectFrom('webauthn_credentials as c').select('c.id').whereRef('c.user_id', '=', 'u.id').where('c.kind', '=', 'passkey'))))
    .where((eb) => eb.not(eb.exists(eb.selectFrom('federated_identities as o').select('o.subject').whereRef('o.user_id', '=', 'u.id').where('o.upstream_id', '!=', upstreamId))))
    .orderBy('u.username')
    .execute();
  return rows.map((r) => r.username);
}
