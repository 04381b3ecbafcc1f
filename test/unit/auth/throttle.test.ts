// Sign-in throttling counters with an explicit clock: a lock that grows, a window, and a success that clears.
import { describe, expect, test } from 'vitest';
import {
  accountLocks, beginAttempt, forgiveAttempt, lockoutSeconds, maxConsecutiveFailures, purgeThrottles, recordFailure, recordSuccess, secondsUntilAllowed,
  throttleKeys, unlockAccount,
} from '../../../src/auth/throttle.js';
import { listAudit } from '../../../src/store/audit.js';
import { findThrottle } from '../../../src/store/throttle.js';
import { openTestDb } from '../helpers.js';

const t0 = Date.UTC(2030, 0, 1) / 1000;

describe('throttle', () => {
  test('each failure past the free ones locks for longer, up to 15 minutes', async () => {
    const db = await openTestDb();
    const keys = throttleKeys('alice', undefined);
    const waits: number[] = [];
    for (let i = 0; i < 15; i++) {
      await recordFailure(db, keys, t0);
      waits.push(await secondsUntilAllowed(db, keys, t0));
    }
    const locked = waits.filter((w) => w > 0);
    expect(locked.length).toBeGreaterThan(5);
    expect(locked[1]).toBeGreaterThan(locked[0]!);
    expect(locked[2]).toBeGreaterThan(locked[1]!);
    expect(Math.max(...waits)).toBe(15 * 60);
    expect(locked).toEqual([...locked].sort((a, b) => a - b));
  });

  test('a lock ends when its time is up', async () => {
    const db = await openTestDb();
    const keys = throttleKeys('alice', undefined);
    let wait = 0;
    while (wait === 0) {
      await recordFailure(db, keys, t0);
      wait = await secondsUntilAllowed(db, keys, t0);
    }
    expect(await secondsUntilAllowed(db, keys, t0 + wait - 1)).toBe(1);
    expect(await secondsUntilAllowed(db, keys, t0 + wait)).toBe(0);
  });

  test('failures older than the 15-minute window start the count afresh', async () => {
    const db = await openTestDb();
    const keys = throttleKeys('alice', undefined);
    for (let i = 0; i < 4; i++) await recordFailure(db, keys, t0);
    for (let i = 0; i < 4; i++) await recordFailure(db, keys, t0 + 15 * 60 + 1);
    expect(await secondsUntilAllowed(db, keys, t0 + 15 * 60 + 1)).toBe(0);
  });

  test('a success clears the username counter', async () => {
    const db = await openTestDb();
    const keys = throttleKeys('alice', undefined);
    for (let i = 0; i < 4; i++) await recordFailure(db, keys, t0);
    await recordSuccess(db, 'Alice');
    for (let i = 0; i < 4; i++) await recordFailure(db, keys, t0);
    expect(await secondsUntilAllowed(db, keys, t0)).toBe(0);
    // Without the success, the same eight failures lock.
    const other = throttleKeys('bob', undefined);
    for (let i = 0; i < 8; i++) await recordFailure(db, other, t0);
    expect(await secondsUntilAllowed(db, other, t0)).toBeGreaterThan(0);
  });

  test('usernames are throttled case-insensitively', async () => {
    const db = await openTestDb();
    for (let i = 0; i < 8; i++) await recordFailure(db, throttleKeys(i % 2 ? 'ALICE' : ' alice ', undefined), t0);
    expect(await secondsUntilAllowed(db, throttleKeys('Alice', undefined), t0)).toBeGreaterThan(0);
  });
});

describe('nobody outside can lock a member out', () => {
  test('failures from outside count against their own account key: home sign-ins stay open', async () => {
    const db = await openTestDb();
    const outside = throttleKeys('alice', '203.0.113.9', 'outside');
    for (let i = 0; i < 8; i++) await recordFailure(db, outside, t0);
    expect(await secondsUntilAllowed(db, outside, t0)).toBeGreaterThan(0);
    expect(await secondsUntilAllowed(db, throttleKeys('alice', '10.0.0.5', 'home'), t0)).toBe(0);
  });

  test('100 consecutive failures lock for a day, not for good; the audit log shows it; time or the owner lifts it', async () => {
    const db = await openTestDb();
    const keys = throttleKeys('alice', undefined, 'outside');
    // Spread over time so that only the consecutive count (not the 15-minute window) is at work.
    let now = t0;
    for (let i = 0; i < maxConsecutiveFailures; i++) {
      now += await secondsUntilAllowed(db, keys, now);
      await recordFailure(db, keys, now);
    }
    const locks = await accountLocks(db, 'alice', now);
    expect(locks).toEqual([{ network: 'outside', until: now + lockoutSeconds, failures: maxConsecutiveFailures }]);
    expect(await secondsUntilAllowed(db, keys, now + lockoutSeconds - 1)).toBe(1);
    expect(await secondsUntilAllowed(db, keys, now + lockoutSeconds)).toBe(0);
    expect((await listAudit(db)).filter((e) => e.event === 'login.locked')).toEqual([
      expect.objectContaining({ actor: null, detail: { username: 'alice', network: 'outside', until: now + lockoutSeconds } }),
    ]);

    await unlockAccount(db, 'Alice');
    expect(await accountLocks(db, 'alice', now)).toEqual([]);
    expect(await secondsUntilAllowed(db, keys, now)).toBe(0);
  });

  test('the purge forgets an address a day on, but not an account\'s failures in a row: waiting buys no new guesses', async () => {
    const db = await openTestDb();
    const keys = throttleKeys('bob', '203.0.113.9', 'outside');
    let now = t0;
    for (let i = 0; i < maxConsecutiveFailures - 1; i++) {
      now += await secondsUntilAllowed(db, keys, now);
      await recordFailure(db, keys, now);
    }
    now += 2 * 86400;
    await purgeThrottles(db, now);
    expect(await findThrottle(db, 'ip:203.0.113.9')).toBeUndefined();
    expect(await findThrottle(db, keys[0]!)).toMatchObject({ consecutive: maxConsecutiveFailures - 1 });
    // The hundredth guess still locks the account for a day.
    await recordFailure(db, keys, now);
    expect(await accountLocks(db, 'bob', now)).toEqual([{ network: 'outside', until: now + lockoutSeconds, failures: maxConsecutiveFailures }]);

    // A run short of the cap goes after 90 quiet days; a run that reached it stays until a sign-in succeeds.
    const carol = throttleKeys('carol', undefined, 'home');
    await recordFailure(db, carol, now);
    await purgeThrottles(db, now + 89 * 86400);
    expect(await findThrottle(db, carol[0]!)).toMatchObject({ consecutive: 1 });
    await purgeThrottles(db, now + 91 * 86400);
    expect(await findThrottle(db, carol[0]!)).toBeUndefined();
    expect(await findThrottle(db, keys[0]!)).toMatchObject({ consecutive: maxConsecutiveFailures });
  });

  test('a forgiven attempt (right secret, refused by policy) brings no lock closer', async () => {
    const db = await openTestDb();
    const keys = throttleKeys('alice', '203.0.113.9', 'outside');
    for (let i = 0; i < 20; i++) {
      const begun = await beginAttempt(db, keys, t0);
      expect(begun.allowed).toBe(true);
      if (begun.allowed) await forgiveAttempt(db, begun.attempt);
    }
    expect(await secondsUntilAllowed(db, keys, t0)).toBe(0);
  });
});
