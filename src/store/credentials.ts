// Query functions for WebAuthn credentials (passkeys, security keys) and their server-side challenges.
import type { Kysely, Transaction } from 'kysely';
import type { Database, WebauthnChallengesTable, WebauthnCredentialsTable } from './schema.js';

type Executor = Kysely<Database> | Transaction<Database>;

export interface StoredCredential {
  id: string;
  userId: string;
  publicKey: string;
  counter: number;
  transports: string[];
  kind: WebauthnCredentialsTable['kind'];
  name: string;
  backedUp: boolean;
  createdAt: number;
  lastUsedAt: number | null;
}

const toCredential = (row: WebauthnCredentialsTable): StoredCredential => ({
  id: row.id,
  userId: row.user_id,
  publicKey: row.public_key,
  counter: Number(row.counter),
  transports: JSON.parse(row.transports),
  kind: row.kind,
  name: row.name,
  backedUp: row.backed_up === 1,
  createdAt: Number(row.created_at),
  lastUsedAt: row.last_used_at === null ? null : Number(row.last_used_at),
});

export async function insertCredential(db: Executor, c: Omit<StoredCredential, 'lastUsedAt'>): Promise<void> {
  await db.insertInto('webauthn_credentials').values({
    id: c.id, user_id: c.userId, public_key: c.publicKey, counter: c.counter, transports: JSON.stringify(c.transports),
    kind: c.kind, name: c.name, backed_up: c.backedUp ? 1 : 0, created_at: c.createdAt, last_used_at: null,
  }).execute();
}

export async function findCredential(db: Executor, id: string): Promise<StoredCredential | undefined> {
  const row = await db.selectFrom('webauthn_credentials').selectAll().where('id', '=', id).executeTakeFirst();
  return row && toCredential(row);
}

export async function listCredentials(db: Executor, userId: string): Promise<StoredCredential[]> {
  const rows = await db.selectFrom('webauthn_credentials').selectAll().where('user_id', '=', userId).orderBy('created_at').execute();
  return rows.map(toCredential);
}

/** Stores a use: the signature counter only moves forward; a passkey may have started syncing since. */
export async function recordCredentialUse(db: Executor, id: string, counter: number, backedUp: boolean, now: number): Promise<void> {
  await db.updateTable('webauthn_credentials').set({ last_used_at: now, backed_up: backedUp ? 1 : 0 }).where('id', '=', id).execute();
  await db.updateTable('webauthn_credentials').set({ counter }).where('id', '=', id).where('counter', '<', counter).execute();
}

export async function renameCredential(db: Executor, userId: string, id: string, name: string): Promise<boolean> {
  const result = await db.updateTable('webauthn_credentials').set({ name }).where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

export async function deleteCredential(db: Executor, userId: string, id: string): Promise<boolean> {
  const result = await db.deleteFrom('webauthn_credentials').where('id', '=', id).where('user_id', '=', userId).executeTakeFirst();
  return Number(result.numDeletedRows) === 1;
}

/** Stores a challenge; a newer challenge for the same ceremony and binding replaces the older one. */
export async function saveChallenge(db: Executor, row: WebauthnChallengesTable): Promise<void> {
  const { id, ...rest } = row;
  await db.insertInto('webauthn_challenges').values(row).onConflict((oc) => oc.column('id').doUpdateSet(rest)).execute();
}

/** Deletes and returns a challenge: whatever happens next, it cannot be used twice. */
export async function takeChallenge(db: Executor, id: string): Promise<WebauthnChallengesTable | undefined> {
  const row = await db.deleteFrom('webauthn_challenges').where('id', '=', id).returningAll().executeTakeFirst();
  return row && { ...row, expires_at: Number(row.expires_at) };
}

export async function purgeChallenges(db: Executor, now: number): Promise<void> {
  await db.deleteFrom('webauthn_challenges').where('expires_at', '<=', now).execute();
}
