// Sign-in throttling per account and per client address, in the database so it survives restarts and is
// shared by replicas. Every attempt is counted before the secret is checked (atomically, so a burst of
// parallel requests cannot all slip through) and taken back when it succeeds. A few attempts are free,
// then each attempt holds a lock that doubles; after 100 consecutive failures the account stays locked
// until the owner resets it (NIST SP 800-63B 5.2.2). Unknown usernames are throttled exactly like real
// ones, so throttling reveals nothing.
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { clearThrottle, countAttempt, extendLock, findThrottle, takeLock, uncountAttempt } from '../store/throttle.js';

const freeFailures = 5;
const window = 15 * 60;
const maxLock = 15 * 60;
export const maxConsecutiveFailures = 100;

const isAccount = (key: string) => key.startsWith('user:');
// An address key tolerates a household's worth of typos across several users.
const freeFor = (key: string) => (isAccount(key) ? freeFailures : freeFailures * 4);
const lockFor = (attempt: number, free: number) => Math.min(maxLock, 30 * 2 ** Math.max(0, attempt - free));

/** IPv6 clients are throttled by /64, the block a household gets, not by one of its many addresses. */
function addressKey(ip: string): string {
  if (!ip.includes(':')) return `ip:${ip}`;
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `ip:${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

export const throttleKeys = (username: string, ip: string | undefined) =>
  [`user:${username.trim().toLowerCase()}`, ...(ip ? [addressKey(ip)] : [])];

export type ThrottleState = { allowed: true } | { allowed: false; retryAfter: number; locked: boolean };

/** Whether another attempt is allowed now for every key (without counting one). */
export async function checkThrottle(db: Db, keys: string[], now = epoch()): Promise<ThrottleState> {
  let retryAfter = 0;
  for (const key of keys) {
    const row = await findThrottle(db, key);
    if (!row) continue;
    if (isAccount(key) && row.consecutive >= maxConsecutiveFailures) return { allowed: false, retryAfter: maxLock, locked: true };
    if (row.locked_until > now) retryAfter = Math.max(retryAfter, row.locked_until - now);
  }
  return retryAfter > 0 ? { allowed: false, retryAfter, locked: false } : { allowed: true };
}

/** Seconds until another attempt is allowed for any of the keys (0: allowed now). */
export async function secondsUntilAllowed(db: Db, keys: string[], now = epoch()): Promise<number> {
  const state = await checkThrottle(db, keys, now);
  return state.allowed ? 0 : state.retryAfter;
}

/** An attempt in progress: the count it got per key and the locks it holds. */
export interface Attempt { keys: string[]; counts: Map<string, number>; locks: Set<string> }

/** Counts an attempt before the secret is checked; refuses it when the keys are locked or over quota. */
export async function beginAttempt(db: Db, keys: string[], now = epoch()): Promise<({ allowed: true; attempt: Attempt }) | Exclude<ThrottleState, { allowed: true }>> {
  const state = await checkThrottle(db, keys, now);
  if (!state.allowed) return state;
  const attempt: Attempt = { keys, counts: new Map(), locks: new Set() };
  for (const key of keys) {
    const row = await countAttempt(db, key, now, window);
    attempt.counts.set(key, row.failures);
    const locked = isAccount(key) && row.consecutive > maxConsecutiveFailures;
    const free = freeFor(key);
    // Past the free attempts, only the attempt that takes the (pessimistic) lock goes on.
    const refused = locked || (row.failures > free && !(await takeLock(db, key, now + lockFor(row.failures, free), now)));
    if (refused) {
      await undo(db, attempt, key);
      const after = await checkThrottle(db, keys, now);
      return after.allowed ? { allowed: false, retryAfter: 30, locked } : { ...after, locked: after.locked || locked };
    }
    if (row.failures > free) attempt.locks.add(key);
  }
  return { allowed: true, attempt };
}

async function undo(db: Db, attempt: Attempt, upTo: string) {
  for (const key of attempt.keys) {
    await uncountAttempt(db, key, attempt.locks.has(key));
    if (key === upTo) return;
  }
}

/** Ends an attempt: a success clears the account's count and gives the address its attempt back. */
export async function finishAttempt(db: Db, attempt: Attempt, succeeded: boolean, now = epoch()): Promise<void> {
  for (const key of attempt.keys) {
    if (succeeded) {
      if (isAccount(key)) await clearThrottle(db, key);
      else await uncountAttempt(db, key, attempt.locks.has(key));
    } else {
      const count = attempt.counts.get(key) ?? 0;
      if (count >= freeFor(key)) await extendLock(db, key, now + lockFor(count, freeFor(key)));
    }
  }
}

/** Counts a failure without a prior beginAttempt (tests, and steps that only learn of failure later). */
export async function recordFailure(db: Db, keys: string[], now = epoch()): Promise<void> {
  for (const key of keys) {
    const row = await countAttempt(db, key, now, window);
    if (row.failures >= freeFor(key)) await extendLock(db, key, now + lockFor(row.failures, freeFor(key)));
  }
}

/** A successful sign-in clears the account's counters (not the address's). */
export async function recordSuccess(db: Db, username: string): Promise<void> {
  await clearThrottle(db, throttleKeys(username, undefined)[0]!);
}

/** Lifts a lock, e.g. after the owner reset the account. */
export const unlockAccount = recordSuccess;
