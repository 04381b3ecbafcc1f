// Query functions for the context of each sign-in (network, methods, strength), keyed like oidc-provider's
// auth_time, so tokens minted from a session can carry the network it was signed in from.
import type { Kysely } from 'kysely';
import { prepared } from './prepared.js';
import type { Database, SignInsTable } from './schema.js';

// Read for every id_token and userinfo answer (the network claim): compiled once.
const signInQuery = prepared(2, (db, accountId: string, authTime: number) => db.selectFrom('sign_ins').selectAll().where('account_id', '=', accountId).where('auth_time', '=', authTime));

export async function recordSignIn(db: Kysely<Database>, row: { accountId: string; authTime: number; network: SignInsTable['network']; amr: string[]; acr: string }): Promise<void> {
  const values = { network: row.network, amr: JSON.stringify(row.amr), acr: row.acr };
  await db.insertInto('sign_ins').values({ account_id: row.accountId, auth_time: row.authTime, ...values })
    .onConflict((oc) => oc.columns(['account_id', 'auth_time']).doUpdateSet(values)).execute();
}

export async function findSignIn(db: Kysely<Database>, accountId: string, authTime: number) {
  const [row] = (await signInQuery(db, accountId, authTime)).rows;
  return row && { network: row.network, amr: JSON.parse(row.amr) as string[], acr: row.acr };
}

export async function purgeSignIns(db: Kysely<Database>, before: number): Promise<void> {
  await db.deleteFrom('sign_ins').where('auth_time', '<', before).execute();
}
