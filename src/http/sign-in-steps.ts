// The factor steps of the sign-in page: password, passkey or security key (JSON, from webauthn.js), TOTP and
// recovery code. Each builds its FactorCheck and hands it to runFactor (auth/sign-in/flow.ts: throttle →
// verify → audit → nextStep); this file only turns the outcome into a page, a redirect or JSON. Failures never
// say whether the user exists.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { beginAuthentication, finishAuthentication, type WebauthnSettings } from '../auth/passkey.js';
import { checkRecoveryCode } from '../auth/recovery.js';
import type { SecretBox } from '../auth/secret-key.js';
import { activeUser } from '../auth/sign-in/factors.js';
import { passwordFactor, runFactor, type FactorCheck, type FactorOutcome } from '../auth/sign-in/flow.js';
import { throttleKeys } from '../auth/throttle.js';
import { checkTotp } from '../auth/totp.js';
import { AppError } from '../errors.js';
import type { Db } from '../store/db.js';
import { interactionPage, type InteractionSteps, type StepContext } from './interaction.js';
import { field, form, json, noStore, parseBody, passthroughObject } from './kit.js';

export interface SignInStepDeps {
  steps: InteractionSteps;
  db: Db;
  box: SecretBox;
  webauthn: WebauthnSettings;
}

// The bodies each step reads, checked at the edge. Lengths are cut, not refused, as the pages always did.
const passwordForm = z.object({ username: field.transform((v) => v?.slice(0, 256) ?? ''), password: field.transform((v) => v ?? ''), from: field });
const codeForm = z.object({ code: field.transform((v) => (v ?? '').slice(0, 64)) });
/** 'second' confirms a pending sign-in (a security key); otherwise a passkey sign-in from the lock screen. */
const mode = z.enum(['passkey', 'second']).optional();
const optionsBody = z.object({ mode, user: field });
const assertionBody = z.object({ mode, response: passthroughObject });

const noMatch = 'That username and password do not match.';
// Where a password alone can never finish the sign-in, a right password that the policy refuses and a wrong
// one get this same answer: otherwise the refusal would tell a stranger outside that the password was right.
const noMatchOrNotEnough = 'That did not work. Either the username and password do not match, or a password alone is not enough here: '
  + 'sign in with a passkey, or with a password on an account that has an authenticator app or security key.';
const codeMessages = {
  invalid: 'That code did not work. Check it and try again.',
  reused: 'That code was already used. Wait for the next code from your authenticator app, or use another recovery code.',
} as const;

const throttledMessage = (retryAfter: number, locked: boolean) => (locked
  ? 'Too many failed attempts: signing in to this account with a password from here is paused for a while. A passkey still works, and the owner can lift the pause from the console.'
  : `Too many attempts. Wait ${retryAfter} seconds and try again.`);

export function signInStepRoutes({ steps, db, box, webauthn }: SignInStepDeps): Router {
  const router = new Router();

  function throttled(ctx: Context, step: StepContext, outcome: Extract<FactorOutcome, { kind: 'throttled' }>) {
    ctx.set('retry-after', String(outcome.retryAfter));
    return steps.renderLogin(ctx, step, { error: throttledMessage(outcome.retryAfter, outcome.locked), status: 429 });
  }

  /** A second factor applies to the pending sign-in only; its failures count against that account. */
  async function secondFactor(ctx: Context, factor: 'totp' | 'recovery_code', check: (userId: string, code: string) => Promise<'ok' | 'reused' | 'invalid'>) {
    const step = await steps.load(ctx);
    if (!step) return;
    const pending = step.pending;
    if (!pending) return steps.go(ctx, interactionPage(ctx));
    if (await steps.refuseDenied(ctx, step)) return;
    const user = await activeUser(db, pending.userId);
    const { code } = parseBody(ctx, codeForm);
    const outcome = await runFactor(db, step.request, pending, {
      factor,
      keys: throttleKeys(user?.username ?? pending.userId, step.request.ip, step.request.network),
      async verify() {
        const verdict = user ? await check(user.id, code) : 'invalid';
        return verdict === 'ok' ? { ok: true, userId: pending.userId, used: { factor } } : { ok: false, reason: verdict, userId: pending.userId };
      },
    });
    if (outcome.kind === 'throttled') {
      steps.count(step, 'throttled', factor);
      return throttled(ctx, step, outcome);
    }
    if (outcome.kind === 'failed') {
      steps.count(step, 'failure', factor);
      return steps.renderLogin(ctx, step, { error: codeMessages[outcome.reason], status: 401 });
    }
    steps.go(ctx, await steps.follow(ctx, step, outcome.step, outcome.ts));
  }

  router.post('/interaction/:uid/password', form, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    if (step.loaded.prompt !== 'login') return steps.go(ctx, interactionPage(ctx));
    if (await steps.refuseDenied(ctx, step)) return;
    const body = parseBody(ctx, passwordForm);
    const { username, password } = body;
    const selected = username ? await steps.household.byUsername(username) : undefined;
    const outcome = await runFactor(db, step.request, undefined, passwordFactor(db, step.request, { username, password }));
    // The lock screen stays on the person who was shown; "Other user" stays on the form.
    const keep = body.from === 'lock' && selected && steps.mayName(ctx, selected.id) ? { selected } : { username };
    const { required } = step.request;
    const passwordMayDo = required.allowed && required.acr === '1fa';
    const noGo = () => steps.renderLogin(ctx, { ...step, pending: undefined }, { ...keep, error: passwordMayDo ? noMatch : noMatchOrNotEnough, status: 401 });
    if (outcome.kind === 'throttled') {
      steps.count(step, 'throttled', 'password');
      return throttled(ctx, step, outcome);
    }
    if (outcome.kind === 'failed') {
      ctx.state.log?.info({ event: 'login.failure', network: step.request.network }, 'sign-in failed');
      steps.count(step, 'failure', 'password');
      return noGo();
    }
    if (outcome.step.kind === 'deny' && outcome.step.reason === 'too-weak') {
      // Refused by policy, not a guess (runFactor did not count it): answered exactly like a wrong password.
      ctx.state.log?.info({ event: 'login.refused', reason: 'policy', network: step.request.network }, 'sign-in refused by policy');
      steps.count(step, 'denied', 'password');
      return noGo();
    }
    steps.go(ctx, await steps.follow(ctx, step, outcome.step, outcome.ts));
  });

  router.post('/interaction/:uid/webauthn/options', json, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    const body = parseBody(ctx, optionsBody);
    const second = body.mode === 'second';
    // A named user narrows the passkeys offered; only for someone this page may name (no probing ids).
    const named = body.user !== undefined && steps.mayName(ctx, body.user) ? body.user : undefined;
    const userId = second ? step.pending?.userId : named;
    if (second && !userId) throw new AppError('bad_request', 'there is no sign-in to confirm');
    noStore(ctx);
    ctx.body = await beginAuthentication(db, webauthn, {
      binding: step.loaded.uid, userId, userVerification: second ? 'discouraged' : 'required',
    });
  });

  router.post('/interaction/:uid/webauthn', json, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    if (step.loaded.prompt !== 'login') {
      ctx.status = 400;
      ctx.body = { error: 'There is no sign-in in progress on this page.' };
      return;
    }
    if (await steps.refuseDenied(ctx, step, true)) return;
    const body = parseBody(ctx, assertionBody);
    const second = body.mode === 'second';
    const factor = second ? 'security_key' : 'passkey';
    const check: FactorCheck = {
      factor: 'webauthn',
      keys: throttleKeys('', step.request.ip).slice(1),
      async verify() {
        try {
          const assertion = await finishAuthentication(db, webauthn, {
            binding: step.loaded.uid, response: body.response as never, userVerification: second ? 'discouraged' : 'required',
          });
          if (second && assertion.userId !== step.pending?.userId) return { ok: false, reason: 'invalid', userId: step.pending?.userId };
          // From the lock screen user verification is required, so any key used there is a passkey sign-in.
          return { ok: true, userId: assertion.userId, used: { factor, userVerified: assertion.userVerified, hardware: !assertion.credential.backedUp } };
        } catch (error) {
          if (!(error instanceof AppError)) throw error;
          return { ok: false, reason: 'invalid', userId: step.pending?.userId };
        }
      },
    };
    const outcome = await runFactor(db, step.request, second ? step.pending : undefined, check);
    if (outcome.kind === 'throttled') {
      steps.count(step, 'throttled', factor);
      ctx.status = 429;
      ctx.set('retry-after', String(outcome.retryAfter));
      ctx.body = { error: `Too many attempts. Wait ${outcome.retryAfter} seconds and try again.` };
      return;
    }
    if (outcome.kind === 'failed') {
      steps.count(step, 'failure', factor);
      ctx.status = 400;
      ctx.body = { error: 'That passkey or security key could not be verified. Try again.' };
      return;
    }
    steps.go(ctx, await steps.follow(ctx, step, outcome.step, outcome.ts), true);
  });

  router.post('/interaction/:uid/totp', form, (ctx) => secondFactor(ctx, 'totp', (userId, code) => checkTotp(db, box, userId, code)));
  router.post('/interaction/:uid/recovery', form, (ctx) => secondFactor(ctx, 'recovery_code', (userId, code) => checkRecoveryCode(db, box, userId, code)));

  return router;
}
