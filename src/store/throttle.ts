// Query functions for sign-in throttling counters, kept in the database so every replica sees them.
// Counting is one atomic statement, so concurrent attempts cannot all read the same count.
import { sql, type Kysely } from 'kysely';
import type { Database, LoginThrottleTable } from './schema.js';

const toRow = (row: LoginThrottleTable): LoginThrottleTable => ({
  ...row,
  failures: Number(row.failures),
  consecutive: Number(row.consecutive),
  first_failure_at: Number(row.first_failure_at),
  locked_until: Number(row.locked_until),
});

export async function findThrottle(db: Kysely<Database>, key: string): Promise<LoginThrottleTable | undefined> {
  const row = await db.selectFrom('login_throttle').selectAll().where('key', '=', key).executeTakeFirst();
  return row && toRow(row);
}

/** Counts one more attempt (a new window restarts the count); returns the row after counting. */
export async function countAttempt(db: Kysely<Database>, key: string, now: number, window: number): Promise<LoginThrottleTable> {
  const stale = sql<boolean>`${now} - login_throttle.first_failure_at > ${window}`;
  const row = await db.insertInto('login_throttle')
    .values({ key, failures: 1, first_failure_at: now, locked_until: 0, consecutive: 1 })
    .onConflict((oc) => oc.column('key').doUpdateSet({
      failures: sql`CASE WHEN ${stale} THEN 1 ELSE login_throttle.failures + 1 END`,
      first_failure_at: sql`CASE WHEN ${stale} THEN ${now} ELSE login_throttle.first_failure_at END`,
      consecutive: sql`login_throttle.consecutive + 1`,
    }))
    .returningAll()
    .executeTakeFirstOrThrow();
  return toRow(row);
}

/** Takes the lock until `until` unless another attempt holds one; true when this attempt got it. */
export async function takeLock(db: Kysely<Database>, key: string, until: number, now: number): Promise<boolean> {
  const result = await db.updateTable('login_throttle').set({ locked_until: until }).where('key', '=', key).where('locked_until', '<=', now).executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Extends a lock to at least `until`. */
export async function extendLock(db: Kysely<Database>, key: string, until: number): Promise<void> {
  await db.updateTable('login_throttle').set({ locked_until: until }).where('key', '=', key).where('locked_until', '<', until).execute();
}

/** Takes back one counted attempt (it succeeded), and the lock it may have taken. */
export async function uncountAttempt(db: Kysely<Database>, key: string, releaseLock: boolean): Promise<void> {
  await db.updateTable('login_throttle').set({
    failures: sql`CASE WHEN failures > 0 THEN failures - 1 ELSE 0 END`,
    consecutive: sql`CASE WHEN consecutive > 0 THEN consecutive - 1 ELSE 0 END`,
    ...(releaseLock ? { locked_until: 0 } : {}),
  }).where('key', '=', key).execute();
}

export async function clearThrottle(db: Kysely<Database>, key: string): Promise<void> {
  await db.deleteFrom('login_throttle').where('key', '=', key).execute();
}

/**
 * Deletes the rows that hold no lock and whose window began before `before`, but keeps an account's run of failures
 * in a row (`consecutive`, rows whose key does not start with `addressPrefix`) until `runsBefore`, and keeps a run
 * of `keepRun` or more for good (auth/throttle.ts purgeThrottles says which).
 */
export async function purgeThrottleRows(
  db: Kysely<Database>, { before, runsBefore, keepRun, addressPrefix }: { before: number; runsBefore: number; keepRun: number; addressPrefix: string },
): Promise<void> {
  await db.deleteFrom('login_throttle')
    .where('locked_until', '<', before).where('first_failure_at', '<', before).where('consecutive', '<', keepRun)
    .where((eb) => eb.or([eb('key', 'like', `${addressPrefix}%`), eb('consecutive', '=', 0), eb('first_failure_at', '<', runsBefore)]))
    .execute();
}
