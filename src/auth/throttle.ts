// Sign-in throttling per account and per client address, in the database so it survives restarts and is
// shared by replicas. Every attempt is counted before the secret is checked (atomically, so a burst of
// parallel requests cannot all slip through) and taken back when it succeeds. A few attempts are free,
// then each attempt holds a lock that doubles; 100 consecutive failures (NIST SP 800-63B 5.2.2) lock the
// account's password sign-in for a day, audited, lifted by time, a completed sign-in or the owner (console or
// CLI). Failures from outside the home network count against their own account key: a stranger who knows a
// username can slow sign-ins from outside, never lock the member out at home (nor their passkey, which is
// throttled by address only). Unknown usernames are throttled exactly like real ones, so throttling reveals nothing.
import { recordAudit } from '../store/audit.js';
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { clearThrottle, countAttempt, extendLock, findThrottle, purgeThrottleRows, takeLock, uncountAttempt } from '../store/throttle.js';
import type { Network } from './network.js';

const freeFailures = 5;
const window = 15 * 60;
const maxLock = 15 * 60;
export const maxConsecutiveFailures = 100;
/** How long 100 consecutive failures lock an account's password sign-in (from the network they came from). */
export const lockoutSeconds = 24 * 3600;

const accountPrefix = { home: 'user:', outside: 'user-outside:' } as const;
const isAccount = (key: string) => key.startsWith(accountPrefix.home) || key.startsWith(accountPrefix.outside);
// An address key tolerates a household's worth of typos across several users.
const freeFor = (key: string) => (isAccount(key) ? freeFailures : freeFailures * 4);
const lockFor = (attempt: number, free: number) => Math.min(maxLock, 30 * 2 ** Math.max(0, attempt - free));

const addressPrefix = 'ip:';

/** IPv6 clients are throttled by /64, the block a household gets, not by one of its many addresses. */
function addressKey(ip: string): string {
  if (!ip.includes(':')) return `${addressPrefix}${ip}`;
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...left, ...Array(Math.max(0, 8 - left.length - right.length)).fill('0'), ...right] : left;
  return `${addressPrefix}${groups.slice(0, 4).map((g) => g.replace(/^0+(?=.)/, '')).join(':')}::/64`;
}

const normalize = (username: string) => username.trim().toLowerCase();

/** The account key (per network: see the file comment) and the address key of an attempt. */
export const throttleKeys = (username: string, ip: string | undefined, network: Network = 'home') =>
  [`${accountPrefix[network]}${normalize(username)}`, ...(ip ? [addressKey(ip)] : [])];

/** Both account keys of a username (a success or the owner clears them together). */
const accountKeys = (username: string) => [accountPrefix.home, accountPrefix.outside].map((prefix) => `${prefix}${normalize(username)}`);

export type ThrottleState = { allowed: true } | { allowed: false; retryAfter: number; locked: boolean };

/** Whether another attempt is allowed now for every key (without counting one). */
export async function checkThrottle(db: Db, keys: string[], now = epoch()): Promise<ThrottleState> {
  let retryAfter = 0;
  for (const key of keys) {
    const row = await findThrottle(db, key);
    if (!row) continue;
    if (isAccount(key) && row.consecutive >= maxConsecutiveFailures && row.locked_until > now) {
      return { allowed: false, retryAfter: row.locked_until - now, locked: true };
    }
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
export interface Attempt { keys: string[]; counts: Map<string, number>; consecutive: Map<string, number>; locks: Set<string> }

/** Counts an attempt before the secret is checked; refuses it when the keys are locked or over quota. */
export async function beginAttempt(db: Db, keys: string[], now = epoch()): Promise<({ allowed: true; attempt: Attempt }) | Exclude<ThrottleState, { allowed: true }>> {
  const state = await checkThrottle(db, keys, now);
  if (!state.allowed) return state;
  const attempt: Attempt = { keys, counts: new Map(), consecutive: new Map(), locks: new Set() };
  for (const key of keys) {
    const row = await countAttempt(db, key, now, window);
    attempt.counts.set(key, row.failures);
    attempt.consecutive.set(key, row.consecutive);
    const free = freeFor(key);
    // Past the free attempts, only the attempt that takes the (pessimistic) lock goes on.
    const refused = row.failures > free && !(await takeLock(db, key, now + lockFor(row.failures, free), now));
    if (refused) {
      await undo(db, attempt, key);
      const after = await checkThrottle(db, keys, now);
      return after.allowed ? { allowed: false, retryAfter: 30, locked: false } : after;
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
      if (isAccount(key) && (attempt.consecutive.get(key) ?? 0) >= maxConsecutiveFailures) await lockOut(db, key, now);
    }
  }
}

/** The long lock after 100 consecutive failures: a day, in the audit log each time it is taken. */
async function lockOut(db: Db, key: string, now: number) {
  await extendLock(db, key, now + lockoutSeconds);
  const [prefix, username] = key.startsWith(accountPrefix.outside) ? ['outside', key.slice(accountPrefix.outside.length)] : ['home', key.slice(accountPrefix.home.length)];
  await recordAudit(db, { event: 'login.locked', actor: null, detail: { username, network: prefix, until: now + lockoutSeconds } }, now);
}

/**
 * Gives an attempt back entirely (account and address): the secret was right but the policy refused the
 * sign-in, which is not a guess (and must not bring a lock closer).
 */
export async function forgiveAttempt(db: Db, attempt: Attempt): Promise<void> {
  for (const key of attempt.keys) await uncountAttempt(db, key, attempt.locks.has(key));
}

/** Counts a failure without a prior beginAttempt (tests, and steps that only learn of failure later). */
export async function recordFailure(db: Db, keys: string[], now = epoch()): Promise<void> {
  for (const key of keys) {
    const row = await countAttempt(db, key, now, window);
    if (row.failures >= freeFor(key)) await extendLock(db, key, now + lockFor(row.failures, freeFor(key)));
    if (isAccount(key) && row.consecutive >= maxConsecutiveFailures) await lockOut(db, key, now);
  }
}

/** A successful sign-in clears the account's counters from every network (not the address's). */
export async function recordSuccess(db: Db, username: string): Promise<void> {
  for (const key of accountKeys(username)) await clearThrottle(db, key);
}

/** Lifts a lock, e.g. after the owner reset the account or lifted it from the console. */
export const unlockAccount = recordSuccess;

/** Until when the account's password sign-in is locked after too many failures, per network (epoch seconds). */
export async function accountLocks(db: Db, username: string, now = epoch()): Promise<Array<{ network: Network; until: number; failures: number }>> {
  const locks: Array<{ network: Network; until: number; failures: number }> = [];
  for (const network of ['home', 'outside'] as const) {
    const row = await findThrottle(db, `${accountPrefix[network]}${normalize(username)}`);
    if (row && row.locked_until > now) locks.push({ network, until: row.locked_until, failures: row.consecutive });
  }
  return locks;
}

/**
 * The periodic purge (main.ts): an address's counts go a day after its window, as does an account row that counts
 * no failures in a row. An account's run of failures in a row is what caps guessing at 100 (maxConsecutiveFailures,
 * never reset by time alone), so it stays 90 days, and a run that reached the cap stays until a sign-in succeeds.
 */
export async function purgeThrottles(db: Db, now = epoch()): Promise<void> {
  await purgeThrottleRows(db, { before: now - 86400, runsBefore: now - 90 * 86400, keepRun: maxConsecutiveFailures, addressPrefix });
}
