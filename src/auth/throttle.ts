// Sign-in throttling per username and per client address: a few free failures, then an exponential lock.
// The same rule applies to usernames that do not exist, so throttling reveals nothing.
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { clearThrottle, findThrottle, saveThrottle } from '../store/throttle.js';

const freeFailures = 5;
const window = 15 * 60;
const maxLock = 15 * 60;

export const throttleKeys = (username: string, ip: string | undefined) =>
  [`user:${username.trim().toLowerCase()}`, ...(ip ? [`ip:${ip}`] : [])];

/** Seconds until another attempt is allowed for any of the keys (0: allowed now). */
export async function secondsUntilAllowed(db: Db, keys: string[], now = epoch()): Promise<number> {
  let wait = 0;
  for (const key of keys) {
    const row = await findThrottle(db, key);
    if (row && row.locked_until > now) wait = Math.max(wait, row.locked_until - now);
  }
  return wait;
}

/** Counts a failure; from the fifth on each failure locks for 30 s, doubling, at most 15 min. */
export async function recordFailure(db: Db, keys: string[], now = epoch()): Promise<void> {
  // The IP key tolerates a household's worth of typos across several users.
  for (const key of keys) {
    const free = key.startsWith('ip:') ? freeFailures * 4 : freeFailures;
    const row = await findThrottle(db, key);
    const fresh = !row || now - row.first_failure_at > window;
    const failures = fresh ? 1 : row.failures + 1;
    const lock = failures >= free ? Math.min(maxLock, 30 * 2 ** (failures - free)) : 0;
    await saveThrottle(db, { key, failures, first_failure_at: fresh ? now : row.first_failure_at, locked_until: lock ? now + lock : 0 });
  }
}

export async function recordSuccess(db: Db, username: string): Promise<void> {
  await clearThrottle(db, throttleKeys(username, undefined)[0]!);
}
