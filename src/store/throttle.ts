// Query functions for sign-in throttling counters, kept in the database so every replica sees them.
import type { Kysely } from 'kysely';
import type { Database, LoginThrottleTable } from './schema.js';

export async function findThrottle(db: Kysely<Database>, key: string): Promise<LoginThrottleTable | undefined> {
  const row = await db.selectFrom('login_throttle').selectAll().where('key', '=', key).executeTakeFirst();
  return row && { ...row, first_failure_at: Number(row.first_failure_at), locked_until: Number(row.locked_until) };
}

export async function saveThrottle(db: Kysely<Database>, row: LoginThrottleTable): Promise<void> {
  const { key, ...rest } = row;
  await db.insertInto('login_throttle').values(row).onConflict((oc) => oc.column('key').doUpdateSet(rest)).execute();
}

export async function clearThrottle(db: Kysely<Database>, key: string): Promise<void> {
  await db.deleteFrom('login_throttle').where('key', '=', key).execute();
}

export async function purgeThrottles(db: Kysely<Database>, before: number): Promise<void> {
  await db.deleteFrom('login_throttle').where('locked_until', '<', before).where('first_failure_at', '<', before).execute();
}
