// Every factor of a sign-in has one shape: throttle → verify → audit → nextStep. Password, TOTP, recovery
// code, passkey, security key and upstream sign-ins all run through runFactor, so they are throttled and
// audited in one place and the next step is always nextStep's.
import type { Db } from '../../store/db.js';
import { findUserByUsername } from '../../store/users.js';
import { verifyPassword } from '../password.js';
import type { Factor, UsedFactor } from '../policy.js';
import { beginAttempt, finishAttempt, forgiveAttempt, throttleKeys } from '../throttle.js';
import { completeSignIn, recordFailedStep, recordRefusedStep } from './factors.js';
import { nextStep } from './next-step.js';
import type { PendingSignIn, SignInRequest, Step } from './types.js';

/** What a factor's check found: who it proved and how, or why not. `reused`: a right code used before. */
export type FactorVerdict =
  | { ok: true; userId: string; used: UsedFactor }
  | { ok: false; reason: 'invalid' | 'reused'; userId?: string | null | undefined };

/** One factor to check: what it is (for the audit log), its throttle keys, and the check itself. */
export interface FactorCheck {
  factor: Factor | 'webauthn';
  /** Account key (per network) and address key; WebAuthn and upstream sign-ins: the address only. */
  keys: string[];
  verify(): Promise<FactorVerdict>;
}

export type FactorOutcome =
  | { kind: 'throttled'; retryAfter: number; locked: boolean }
  | { kind: 'failed'; reason: 'invalid' | 'reused' }
  /** The factor was right; `step` is what comes next (`login` carries the auth_time recorded). */
  | { kind: 'next'; step: Exclude<Step, { kind: 'page' | 'throttled' }>; ts?: number };

const isAccountKey = (key: string) => !key.startsWith('ip:');

/**
 * Runs one factor of the sign-in `pending` (undefined: a first factor). A failure counts against every key;
 * a right secret gives the address its attempt back, while the account's stays counted until the sign-in
 * completes (so guessing a second factor between right passwords still locks). A right secret whose sign-in
 * cannot finish (policy, groups, disabled) is no guess: it is given back entirely and audited as refused.
 */
export async function runFactor(db: Db, request: SignInRequest, pending: PendingSignIn | undefined, check: FactorCheck): Promise<FactorOutcome> {
  const begun = await beginAttempt(db, check.keys);
  if (!begun.allowed) return { kind: 'throttled', retryAfter: begun.retryAfter, locked: begun.locked };
  const verdict = await check.verify();
  const audit = { network: request.network, ip: request.ip, clientId: request.clientId };
  if (!verdict.ok) {
    await finishAttempt(db, begun.attempt, false);
    await recordFailedStep(db, { ...audit, userId: verdict.userId ?? pending?.userId ?? null, factor: check.factor });
    return { kind: 'failed', reason: verdict.reason };
  }
  const factors = pending && pending.userId === verdict.userId ? [...pending.factors, verdict.used] : [verdict.used];
  const step = await nextStep(db, request, { userId: verdict.userId, factors });
  if (step.kind === 'deny') {
    await forgiveAttempt(db, begun.attempt);
    await recordRefusedStep(db, { ...audit, userId: verdict.userId, factor: check.factor, reason: step.reason });
    return { kind: 'next', step };
  }
  await finishAttempt(db, { ...begun.attempt, keys: begun.attempt.keys.filter((k) => !isAccountKey(k)) }, true);
  if (step.kind !== 'login') return { kind: 'next', step: step as Exclude<Step, { kind: 'page' | 'throttled' }> };
  const ts = await completeSignIn(db, {
    userId: step.user.id, username: step.user.username, amr: step.amr, acr: step.acr, network: request.network, ip: request.ip,
    clientId: request.clientId, factors: step.pending.factors,
  });
  return { kind: 'next', step, ts };
}

/** The password factor: the same cost and answer whether the user is unknown, disabled or mistyped. */
export function passwordFactor(db: Db, request: Pick<SignInRequest, 'ip' | 'network'>, input: { username: string; password: string }): FactorCheck {
  return {
    factor: 'password',
    keys: throttleKeys(input.username, request.ip, request.network),
    async verify() {
      const user = input.username ? await findUserByUsername(db, input.username) : undefined;
      const valid = await verifyPassword(input.password, user?.passwordHash);
      if (!user || !valid || user.disabled) return { ok: false, reason: 'invalid', userId: user?.id ?? null };
      return { ok: true, userId: user.id, used: { factor: 'password' } };
    },
  };
}
