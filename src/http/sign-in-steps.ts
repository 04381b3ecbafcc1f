// The factor steps of the sign-in page: password, passkey or security key (JSON, from webauthn.js), TOTP and
// recovery code. Each failure answers the same way whether or not the user exists; each success moves the
// interaction on through steps.proceed.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { verifyPasswordLogin } from '../auth/login.js';
import { beginAuthentication, finishAuthentication, type WebauthnSettings } from '../auth/passkey.js';
import type { UsedFactor } from '../auth/policy.js';
import { useRecoveryCode } from '../auth/recovery.js';
import type { SecretBox } from '../auth/secret-key.js';
import { activeUser, recordFailedStep, recordRefusedStep } from '../auth/sign-in.js';
import { beginAttempt, finishAttempt, forgiveAttempt, throttleKeys } from '../auth/throttle.js';
import { verifyTotp } from '../auth/totp.js';
import { AppError } from '../errors.js';
import type { Db } from '../store/db.js';
import { interactionPage, type InteractionSteps, type StepContext } from './interaction.js';

export interface SignInStepDeps {
  steps: InteractionSteps;
  db: Db;
  box: SecretBox;
  webauthn: WebauthnSettings;
}

type Mode = 'passkey' | 'second';

const noMatch = 'That username and password do not match.';
// Where a password alone can never finish the sign-in, a right password that the policy refuses and a wrong
// one get this same answer: otherwise the refusal would tell a stranger outside that the password was right.
const noMatchOrNotEnough = 'That did not work. Either the username and password do not match, or a password alone is not enough here: '
  + 'sign in with a passkey, or with a password on an account that has an authenticator app or security key.';

export function signInStepRoutes({ steps, db, box, webauthn }: SignInStepDeps): Router {
  const router = new Router();
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });

  /** Sends the browser on: a redirect for forms, `{ redirect }` for the WebAuthn script. */
  function go(ctx: Context, url: string, asJson = false) {
    if (asJson) {
      ctx.set('cache-control', 'no-store');
      ctx.body = { redirect: url };
      return;
    }
    ctx.status = 303;
    ctx.redirect(url);
  }

  function throttled(ctx: Context, step: StepContext, retryAfter: number, locked: boolean) {
    ctx.set('retry-after', String(retryAfter));
    const error = locked
      ? 'Too many failed attempts: signing in to this account with a password from here is paused for a while. A passkey still works, and the owner can lift the pause from the console.'
      : `Too many attempts. Wait ${retryAfter} seconds and try again.`;
    return steps.renderLogin(ctx, step, { error, status: 429 });
  }

  /** A second factor applies to the pending sign-in only; its failures count against that account. */
  async function secondFactor(ctx: Context, factor: 'totp' | 'recovery_code', check: (userId: string, code: string) => Promise<boolean>) {
    const step = await steps.load(ctx);
    if (!step) return;
    if (!step.pending) return go(ctx, interactionPage(ctx));
    if (await steps.refuseDenied(ctx, step)) return;
    const user = await activeUser(db, step.pending.userId);
    const keys = throttleKeys(user?.username ?? step.pending.userId, step.ip, step.network);
    const begun = await beginAttempt(db, keys);
    if (!begun.allowed) {
      steps.count(step, 'throttled', factor);
      return throttled(ctx, step, begun.retryAfter, begun.locked);
    }
    const code = String((ctx.request.body as Record<string, unknown> | undefined)?.code ?? '').slice(0, 64);
    if (!user || !(await check(user.id, code))) {
      await finishAttempt(db, begun.attempt, false);
      await recordFailedStep(db, { userId: step.pending.userId, factor, network: step.network, ip: step.ip, clientId: step.client?.clientId });
      steps.count(step, 'failure', factor);
      return steps.renderLogin(ctx, step, { error: 'That code did not work. Check it and try again.', status: 401 });
    }
    await finishAttempt(db, begun.attempt, true);
    const pending = { ...step.pending, factors: [...step.pending.factors, { factor } as UsedFactor] };
    go(ctx, await steps.proceed(ctx, step, pending));
  }

  router.post('/interaction/:uid/password', form, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    if (step.interaction.prompt.name !== 'login') return go(ctx, interactionPage(ctx));
    if (await steps.refuseDenied(ctx, step)) return;
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username.slice(0, 256) : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const selected = username ? await steps.household.byUsername(username) : undefined;
    const result = await verifyPasswordLogin(db, { username, password, ip: step.ip, clientId: step.client?.clientId, network: step.network });
    // The lock screen stays on the person who was shown; "Other user" stays on the form.
    const keep = body.from === 'lock' && selected && steps.mayName(ctx, selected.id) ? { selected } : { username };
    const passwordMayDo = step.required.allowed && step.required.acr === '1fa';
    const noGo = () => steps.renderLogin(ctx, { ...step, pending: undefined }, { ...keep, error: passwordMayDo ? noMatch : noMatchOrNotEnough, status: 401 });
    if (!result.ok) {
      ctx.state.log?.info({ event: 'login.failure', reason: result.reason, network: step.network }, 'sign-in failed');
      steps.count(step, result.reason === 'throttled' ? 'throttled' : 'failure', 'password');
      if (result.reason === 'throttled') return throttled(ctx, step, result.retryAfter, result.locked);
      return noGo();
    }
    const pending = { userId: result.user.id, factors: [{ factor: 'password' } as UsedFactor] };
    if (await steps.cannotFinish(step, pending)) {
      // Refused by policy, not a guess: not counted, and answered exactly like a wrong password.
      await forgiveAttempt(db, result.attempt);
      await recordRefusedStep(db, { userId: result.user.id, factor: 'password', network: step.network, ip: step.ip, clientId: step.client?.clientId });
      ctx.state.log?.info({ event: 'login.refused', reason: 'policy', network: step.network }, 'sign-in refused by policy');
      steps.count(step, 'denied', 'password');
      return noGo();
    }
    go(ctx, await steps.proceed(ctx, step, pending));
  });

  router.post('/interaction/:uid/webauthn/options', json, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    const body = (ctx.request.body ?? {}) as { mode?: Mode; user?: string };
    const second = body.mode === 'second';
    // A named user narrows the passkeys offered; only for someone this page may name (no probing ids).
    const named = typeof body.user === 'string' && steps.mayName(ctx, body.user) ? body.user : undefined;
    const userId = second ? step.pending?.userId : named;
    if (second && !userId) throw new AppError('bad_request', 'there is no sign-in to confirm');
    ctx.set('cache-control', 'no-store');
    ctx.body = await beginAuthentication(db, webauthn, {
      binding: step.interaction.uid, userId, userVerification: second ? 'discouraged' : 'required',
    });
  });

  router.post('/interaction/:uid/webauthn', json, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    if (step.interaction.prompt.name !== 'login') {
      ctx.status = 400;
      ctx.body = { error: 'There is no sign-in in progress on this page.' };
      return;
    }
    if (await steps.refuseDenied(ctx, step, true)) return;
    const body = (ctx.request.body ?? {}) as { mode?: Mode; response?: unknown };
    const second = body.mode === 'second';
    const ipKeys = throttleKeys('', step.ip).slice(1);
    const begun = await beginAttempt(db, ipKeys);
    if (!begun.allowed) {
      steps.count(step, 'throttled', second ? 'security_key' : 'passkey');
      ctx.status = 429;
      ctx.set('retry-after', String(begun.retryAfter));
      ctx.body = { error: `Too many attempts. Wait ${begun.retryAfter} seconds and try again.` };
      return;
    }
    let assertion;
    try {
      assertion = await finishAuthentication(db, webauthn, {
        binding: step.interaction.uid, response: body.response as never, userVerification: second ? 'discouraged' : 'required',
      });
      if (second && assertion.userId !== step.pending?.userId) throw new AppError('bad_request', 'not this account');
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      await finishAttempt(db, begun.attempt, false);
      await recordFailedStep(db, { userId: step.pending?.userId, factor: 'webauthn', network: step.network, ip: step.ip, clientId: step.client?.clientId });
      steps.count(step, 'failure', second ? 'security_key' : 'passkey');
      ctx.status = 400;
      ctx.body = { error: 'That passkey or security key could not be verified. Try again.' };
      return;
    }
    await finishAttempt(db, begun.attempt, true);
    // From the lock screen user verification is required, so any key used there is a passkey sign-in.
    const used: UsedFactor = { factor: second ? 'security_key' : 'passkey', userVerified: assertion.userVerified, hardware: !assertion.credential.backedUp };
    const pending = second && step.pending
      ? { ...step.pending, factors: [...step.pending.factors, used] }
      : { userId: assertion.userId, factors: [used] };
    go(ctx, await steps.proceed(ctx, { ...step, pending: undefined }, pending), true);
  });

  router.post('/interaction/:uid/totp', form, (ctx) => secondFactor(ctx, 'totp', (userId, code) => verifyTotp(db, box, userId, code)));
  router.post('/interaction/:uid/recovery', form, (ctx) => secondFactor(ctx, 'recovery_code', (userId, code) => useRecoveryCode(db, box, userId, code)));

  return router;
}
