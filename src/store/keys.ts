// Query functions for signing keys (private JWKs) and other generated secrets such as cookie keys.
import type { Kysely } from 'kysely';
import { epoch, lockTableForWrite } from './db.js';
import type { Database, SigningKeysTable } from './schema.js';

export interface SigningKey {
  kid: string;
  alg: string;
  privateJwk: Record<string, unknown>;
  state: SigningKeysTable['state'];
  createdAt: number;
  retiredAt: number | null;
}

const toKey = (row: SigningKeysTable): SigningKey => ({
  kid: row.kid,
  alg: row.alg,
  privateJwk: JSON.parse(row.private_jwk),
  state: row.state,
  createdAt: Number(row.created_at),
  retiredAt: row.retired_at === null ? null : Number(row.retired_at),
});

/** Every stored key, active ones first, newest first within a state. */
export async function listSigningKeys(db: Kysely<Database>): Promise<SigningKey[]> {
  const rows = await db.selectFrom('signing_keys').selectAll().orderBy('state', 'asc').orderBy('created_at', 'desc').orderBy('kid').execute();
  return rows.map(toKey);
}

/** Retires the active keys and inserts the new ones, atomically: two rotations at once leave one active set. */
export async function replaceActiveKeys(db: Kysely<Database>, keys: Array<Pick<SigningKey, 'kid' | 'alg' | 'privateJwk'>>, now = epoch()): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockTableForWrite(trx, 'signing_keys');
    await trx.updateTable('signing_keys').set({ state: 'retired', retired_at: now }).where('state', '=', 'active').execute();
    await trx.insertInto('signing_keys').values(keys.map((k) => ({
      kid: k.kid, alg: k.alg, private_jwk: JSON.stringify(k.privateJwk), state: 'active' as const, created_at: now, retired_at: null,
    }))).execute();
  });
}

/** Inserts the first keys unless another process got there first; returns whether it inserted. */
export async function insertFirstKeys(db: Kysely<Database>, keys: Array<Pick<SigningKey, 'kid' | 'alg' | 'privateJwk'>>, now = epoch()): Promise<boolean> {
  return db.transaction().execute(async (trx) => {
    // Two replicas starting on an empty database: the second waits here, then sees the first one's keys.
    await lockTableForWrite(trx, 'signing_keys');
    const existing = await trx.selectFrom('signing_keys').select('kid').where('state', '=', 'active').executeTakeFirst();
    if (existing) return false;
    await trx.insertInto('signing_keys').values(keys.map((k) => ({
      kid: k.kid, alg: k.alg, private_jwk: JSON.stringify(k.privateJwk), state: 'active' as const, created_at: now, retired_at: null,
    }))).execute();
    return true;
  });
}

/** Deletes retired keys retired before `cutoff`. */
export async function deleteRetiredKeys(db: Kysely<Database>, cutoff: number): Promise<string[]> {
  const rows = await db.deleteFrom('signing_keys').where('state', '=', 'retired').where('retired_at', '<', cutoff).returning('kid').execute();
  return rows.map((r) => r.kid);
}

/** A cheap fingerprint of the key table, so a running server notices a rotation made by the CLI. */
export async function keysVersion(db: Kysely<Database>): Promise<string> {
  const row = await db.selectFrom('signing_keys')
    .select((eb) => [eb.fn.countAll<number>().as('n'), eb.fn.max('created_at').as('c'), eb.fn.max('retired_at').as('r')])
    .executeTakeFirstOrThrow();
  return `${row.n}:${row.c}:${row.r}`;
}

export async function findSecret(db: Kysely<Database>, name: string): Promise<string | undefined> {
  return (await db.selectFrom('secrets').select('value').where('name', '=', name).executeTakeFirst())?.value;
}

/** Stores a secret unless one exists; returns the stored value either way (first writer wins). */
export async function ensureSecret(db: Kysely<Database>, name: string, value: string, now = epoch()): Promise<string> {
  await db.insertInto('secrets').values({ name, value, created_at: now }).onConflict((oc) => oc.column('name').doNothing()).execute();
  return (await findSecret(db, name))!;
}
