// Recovery codes: ten distinct codes in the shown format, each usable once, forgiving about how they are
// typed, stored only as hashes, and invalidated by regenerating.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { generateRecoveryCodes, recoveryStatus, useRecoveryCode } from '../../../src/auth/recovery.js';
import { createSecretBox } from '../../../src/auth/secret-key.js';
import type { Db } from '../../../src/store/db.js';
import { createUser } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const box = createSecretBox(randomBytes(32));

async function withAlice(): Promise<{ db: Db; userId: string }> {
  const db = await openTestDb();
  const { id } = await createUser(db, { username: 'alice', name: 'Alice' });
  return { db, userId: id };
}

describe('recovery codes', () => {
  test('ten distinct codes like xxxxx-xxxxx, without 0, o, 1, i or l', async () => {
    const { db, userId } = await withAlice();
    const codes = await generateRecoveryCodes(db, box, userId);
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    for (const code of codes) expect(code).toMatch(/^[2-9a-hjkmnp-z]{5}-[2-9a-hjkmnp-z]{5}$/);
    expect(await recoveryStatus(db, userId)).toEqual({ total: 10, unused: 10 });
  });

  test('only hashes are stored', async () => {
    const { db, userId } = await withAlice();
    const codes = await generateRecoveryCodes(db, box, userId);
    const stored = (await db.selectFrom('recovery_codes').select('code_hash').execute()).map((r) => r.code_hash);
    expect(stored).toHaveLength(10);
    for (const code of codes) {
      expect(stored).not.toContain(code);
      expect(stored).not.toContain(code.replace('-', ''));
    }
  });

  test('each code works exactly once', async () => {
    const { db, userId } = await withAlice();
    const codes = await generateRecoveryCodes(db, box, userId);
    for (const code of codes) expect(await useRecoveryCode(db, box, userId, code, 1_790_000_000)).toBe(true);
    for (const code of codes) expect(await useRecoveryCode(db, box, userId, code)).toBe(false);
    expect(await recoveryStatus(db, userId)).toEqual({ total: 10, unused: 0 });
  });

  test('regenerating invalidates the old set', async () => {
    const { db, userId } = await withAlice();
    const old = await generateRecoveryCodes(db, box, userId);
    const fresh = await generateRecoveryCodes(db, box, userId);
    expect(fresh.some((c) => old.includes(c))).toBe(false);
    for (const code of old) expect(await useRecoveryCode(db, box, userId, code)).toBe(false);
    expect(await useRecoveryCode(db, box, userId, fresh[0]!)).toBe(true);
    expect(await recoveryStatus(db, userId)).toEqual({ total: 10, unused: 9 });
  });

  test('case, spaces and dashes do not matter when typing a code back', async () => {
    const { db, userId } = await withAlice();
    const [a, b, c] = await generateRecoveryCodes(db, box, userId) as [string, string, string];
    expect(await useRecoveryCode(db, box, userId, a.toUpperCase())).toBe(true);
    expect(await useRecoveryCode(db, box, userId, ` ${b.replace('-', '')} `)).toBe(true);
    expect(await useRecoveryCode(db, box, userId, `${c.slice(0, 3)} ${c.slice(3, 7)}-${c.slice(7)}`)).toBe(true);
  });

  test("codes are per user: one user's code does not work for another", async () => {
    const { db, userId } = await withAlice();
    const { id: bob } = await createUser(db, { username: 'bob', name: 'Bob' });
    const [code] = await generateRecoveryCodes(db, box, userId);
    expect(await useRecoveryCode(db, box, bob, code!)).toBe(false);
    expect(await useRecoveryCode(db, box, userId, code!)).toBe(true);
  });

  test('wrong, malformed and absent codes are false; no codes generated is 0 of 0', async () => {
    const { db, userId } = await withAlice();
    expect(await recoveryStatus(db, userId)).toEqual({ total: 0, unused: 0 });
    await generateRecoveryCodes(db, box, userId);
    for (const input of ['', 'abcde-fghjk', 'short', 'o0o0o-1l1l1', 'x'.repeat(200)]) {
      expect(await useRecoveryCode(db, box, userId, input), input).toBe(false);
    }
    expect(await recoveryStatus(db, userId)).toEqual({ total: 10, unused: 10 });
  });
});
