// Password sign-in through runFactor (auth/sign-in/flow.ts): one answer for unknown, disabled and mistyped
// users, throttling, and the audit trail. Alice has an authenticator app, so a right password is a first step.
import { randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { hashPassword } from '../../../src/auth/password.js';
import { createSecretBox } from '../../../src/auth/secret-key.js';
import { passwordFactor, runFactor } from '../../../src/auth/sign-in/flow.js';
import type { SignInRequest } from '../../../src/auth/sign-in/types.js';
import { recordSuccess } from '../../../src/auth/throttle.js';
import { listAudit } from '../../../src/store/audit.js';
import type { Db } from '../../../src/store/db.js';
import { saveTotp } from '../../../src/store/factors.js';
import { createUser } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const password = 'correct horse battery staple';
const box = createSecretBox(randomBytes(32));

async function withAlice(): Promise<{ db: Db; aliceId: string }> {
  const db = await openTestDb();
  const alice = await createUser(db, { username: 'alice', name: 'Alice', passwordHash: await hashPassword(password) });
  await saveTotp(db, alice.id, box.encrypt('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP'), 0);
  return { db, aliceId: alice.id };
}

type PasswordLoginResult = { ok: true; user: { id: string; username: string } } | { ok: false; reason: 'invalid' | 'reused' | 'refused' } | { ok: false; reason: 'throttled'; retryAfter: number; locked: boolean };

/** The password step as the sign-in page runs it, reduced to ok / invalid / throttled. */
async function verifyPasswordLogin(db: Db, input: { username: string; password: string; ip?: string; clientId?: string }): Promise<PasswordLoginResult> {
  const request: SignInRequest = {
    id: 'uid', clientId: input.clientId ?? 'app', clientName: 'App', network: 'home', ip: input.ip ?? '', required: { allowed: true, acr: '1fa' }, app: {}, loginHint: undefined,
  };
  const outcome = await runFactor(db, request, undefined, passwordFactor(db, request, input));
  if (outcome.kind === 'throttled') return { ok: false, reason: 'throttled', retryAfter: outcome.retryAfter, locked: outcome.locked };
  if (outcome.kind === 'failed') return { ok: false, reason: outcome.reason };
  if (outcome.step.kind === 'more' || outcome.step.kind === 'login') return { ok: true, user: outcome.step.user };
  return { ok: false, reason: 'refused' };
}

const attempts = async (db: Db, username: string, n: number) => {
  const results: PasswordLoginResult[] = [];
  for (let i = 0; i < n; i++) results.push(await verifyPasswordLogin(db, { username, password: 'wrong password!' }));
  return results.map((r) => (r.ok ? 'ok' : r.reason));
};

describe('verifyPasswordLogin', () => {
  test('the right password passes the first step, which is not yet a sign-in for the audit log', async () => {
    const { db, aliceId } = await withAlice();
    const result = await verifyPasswordLogin(db, { username: 'Alice', password, ip: '192.0.2.1', clientId: 'grafana' });
    expect(result).toMatchObject({ ok: true, user: { id: aliceId, username: 'alice' } });
    // login.success is written when the whole sign-in completes (a second factor may still follow).
    expect(await listAudit(db)).toEqual([]);
  });

  test('unknown user, wrong password and disabled user get the same answer', async () => {
    const { db, aliceId } = await withAlice();
    const carol = await createUser(db, { username: 'carol', name: 'Carol', passwordHash: await hashPassword(password) });
    await db.updateTable('users').set({ disabled: 1 }).where('id', '=', carol.id).execute();
    const invalid = { ok: false, reason: 'invalid' };
    expect(await verifyPasswordLogin(db, { username: 'mallory', password })).toEqual(invalid);
    expect(await verifyPasswordLogin(db, { username: 'alice', password: 'not the password' })).toEqual(invalid);
    expect(await verifyPasswordLogin(db, { username: 'carol', password })).toEqual(invalid);
    expect(await verifyPasswordLogin(db, { username: '', password })).toEqual(invalid);
    const audit = await listAudit(db);
    expect(audit.map((a) => a.event)).toEqual(['login.failure', 'login.failure', 'login.failure', 'login.failure']);
    expect(audit.map((a) => a.actor).reverse()).toEqual([null, aliceId, carol.id, null]);
  });

  test('an unknown username is throttled exactly like an existing one (no enumeration)', async () => {
    const { db } = await withAlice();
    expect(await attempts(db, 'ghost', 8)).toEqual(await attempts(db, 'alice', 8));
  });

  test.each(['alice', 'ghost'])('after 5 failures for %s the 6th attempt within the window is throttled', async (username) => {
    const { db } = await withAlice();
    expect(await attempts(db, username, 5)).toEqual(Array(5).fill('invalid'));
    const sixth = await verifyPasswordLogin(db, { username, password });
    expect(sixth).toMatchObject({ ok: false, reason: 'throttled' });
  });

  test('once locked, even the right password is refused until the lock ends', async () => {
    const { db } = await withAlice();
    const results = await attempts(db, 'alice', 8);
    expect(results).toContain('throttled');
    const result = await verifyPasswordLogin(db, { username: 'alice', password });
    expect(result).toMatchObject({ ok: false, reason: 'throttled', retryAfter: expect.any(Number) });
    if (!result.ok && result.reason === 'throttled') expect(result.retryAfter).toBeGreaterThan(0);
  });

  test('a right password alone does not clear the count: guessing a second factor between passwords still locks', async () => {
    const { db } = await withAlice();
    await attempts(db, 'alice', 3);
    expect(await verifyPasswordLogin(db, { username: 'alice', password })).toMatchObject({ ok: true });
    // 3 failures + the password attempt itself: the fifth attempt fails and locks.
    expect(await attempts(db, 'alice', 2)).toEqual(['invalid', 'throttled']);
  });

  test('a completed sign-in clears the count', async () => {
    const { db } = await withAlice();
    await attempts(db, 'alice', 4);
    expect(await verifyPasswordLogin(db, { username: 'alice', password })).toMatchObject({ ok: true });
    await recordSuccess(db, 'alice');
    expect(await attempts(db, 'alice', 4)).toEqual(Array(4).fill('invalid'));
  });

  test('a burst of parallel guesses gets at most the free attempts checked', async () => {
    const { db } = await withAlice();
    const results = await Promise.all(Array.from({ length: 20 }, () => verifyPasswordLogin(db, { username: 'alice', password: 'wrong guess!' })));
    const checked = results.filter((r) => !r.ok && r.reason === 'invalid').length;
    expect(checked).toBeLessThanOrEqual(6);
    expect(results.filter((r) => !r.ok && r.reason === 'throttled').length).toBeGreaterThanOrEqual(14);
  });
});
