// Sign-in throttling per account and per client address, in the database so it survives restarts and is
// shared by replicas: a few free failures, then a lock that doubles, and after 100 consecutive failures
// the account stays locked until the owner resets it (NIST SP 800-63B 5.2.2). Unknown usernames are
// throttled exactly like real ones, so throttling reveals nothing.
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { clearThrottle, findThrottle, saveThrottle } from '../store/throttle.js';

const freeFailures = 5;
const window = 15 * 60;
const maxLock = 15 * 60;
export const maxConsecutiveFailures = 100;

export const throttleKeys = (username: string, ip: string | undefined) =>
  [`user:${username.trim().toLowerCase()}`, ...(ip ? [`ip:${ip}`] : [])];

export type ThrottleState = { allowed: true } | { allowed: false; retryAfter: number; locked: boolean };

/** Whether another attempt is allowed now for every key. */
export async function checkThrottle(db: Db, keys: string[], now = epoch()): Promise<ThrottleState> {
  let retryAfter = 0;
  for (const key of keys) {
    const row = await findThrottle(db, key);
    if (!row) continue;
    if (key.startsWith('user:') && row.consecutive >= maxConsecutiveFailures) return { allowed: false, retryAfter: maxLock, locked: true };
    if (row.locked_until > now) retryAfter = Math.max(retryAfter, row.locked_until - now);
  }
  return retryAfter > 0 ? { allowed: false, retryAfter, locked: false } : { allowed: true };
}

/** Seconds until another attempt is allowed for any of the keys (0: allowed now). */
export async function secondsUntilAllowed(db: Db, keys: string[], now = epoch()): Promise<number> {
  const state = await checkThrottle(db, keys, now);
  return state.allowed ? 0 : state.retryAfter;
}

/** Counts a failure; from the fifth in a window each failure locks for 30 s, doubling, at most 15 min. */
export async function recordFailure(db: Db, keys: string[], now = epoch()): Promise<void> {
  for (const key of keys) {
    // The address key tolerates a household's worth of typos across several users.
    const free = key.startsWith('ip:') ? freeFailures * 4 : freeFailures;
    const row = await findThrottle(db, key);
    const fresh = !row || now - row.first_failure_at > window;
    const failures = fresh ? 1 : row.failures + 1;
    const lock = failures >= free ? Math.min(maxLock, 30 * 2 ** (failures - free)) : 0;
    await saveThrottle(db, {
      key,
      failures,
      first_failure_at: fresh ? now : row.first_failure_at,
      locked_until: lock ? now + lock : 0,
      consecutive: (row?.consecutive ?? 0) + 1,
    });
  }
}

/** A successful sign-in clears the account's counters (not the address's). */
export async function recordSuccess(db: Db, username: string): Promise<void> {
  await clearThrottle(db, throttleKeys(username, undefined)[0]!);
}

/** Lifts a lock, e.g. after the owner reset the account. */
export const unlockAccount = recordSuccess;
