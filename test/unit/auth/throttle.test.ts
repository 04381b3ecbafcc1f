// Sign-in throttling counters with an explicit clock: a lock that grows, a window, and a success that clears.
import { describe, expect, test } from 'vitest';
import { recordFailure, recordSuccess, secondsUntilAllowed, throttleKeys } from '../../../src/auth/throttle.js';
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
