// "Continue with GitHub" (or Google, or any OpenID Connect issuer): the button on the sign-in page, the callback
// the upstream sends the browser back to, and the hop back into the sign-in (whose cookie is scoped to its own
// path). Linking from the account page ends at the same callback. Every failure is a page with a way back.
import Router from '@koa/router';
import type { Context } from 'koa';
import { resolveUpstreamSignIn, linkUpstreamIdentity } from '../auth/federation/accounts.js';
import { beginUpstreamSignIn, finishUpstreamSignIn, federationStateTtl, recordOutcome, takeOutcome, type FederationOutcome } from '../auth/federation/flow.js';
import type { Upstream, UpstreamRegistry } from '../auth/federation/registry.js';
import { runFactor } from '../auth/sign-in/flow.js';
import { throttleKeys } from '../auth/throttle.js';
import { AppError } from '../errors.js';
import type { Db } from '../store/db.js';
import type { AccountAuth } from './account-auth.js';
import { interactionPage, type InteractionSteps } from './interaction.js';
import { form, html, seeOther } from './kit.js';
import type { Render } from './views.js';

export interface FederationDeps {
  issuer: string;
  base: string;
  db: Db;
  render: Render;
  steps: InteractionSteps;
  upstreams: UpstreamRegistry;
  accountAuth: AccountAuth;
}

/** Holds the state of the upstream sign-in this browser started: a callback without it was not started here. */
const bindingCookie = 'accouch.federation';

/** The URL an upstream sends the browser back to; the owner registers it at the upstream. */
export const callbackUrl = (issuer: string, upstreamId: string) => `${issuer.replace(/\/$/, '')}/federation/${upstreamId}/callback`;

export function createFederation({ issuer, base, db, render, steps, upstreams, accountAuth }: FederationDeps) {
  const cookieOptions = (ctx: Context) => ({ signed: true, httpOnly: true, sameSite: 'lax' as const, path: `${base}/federation`, secure: ctx.secure, overwrite: true });

  function problem(ctx: Context, status: number, page: { title: string; message: string; link: string; linkText: string }) {
    html(ctx, render('account-message', page), status);
  }

  /** Sends the browser to the upstream, remembering the state in this browser. */
  async function start(ctx: Context, input: Omit<Parameters<typeof beginUpstreamSignIn>[2], 'callbackUrl'>) {
    const { state, url } = await beginUpstreamSignIn(upstreams, db, { ...input, callbackUrl: callbackUrl(issuer, input.upstream.id) });
    ctx.cookies.set(bindingCookie, state, { ...cookieOptions(ctx), maxAge: federationStateTtl * 1000 });
    seeOther(ctx, url.href);
  }

  const upstreamOf = async (ctx: Context): Promise<Upstream | undefined> => upstreams.find(String(ctx.params.upstream));

  /** POST /interaction/:uid/federation/:upstream — the "Continue with …" button. */
  async function continueWith(ctx: Context) {
    const step = await steps.load(ctx);
    if (!step) return;
    const back = interactionPage(ctx);
    if (step.loaded.prompt !== 'login') return void ctx.redirect(back);
    if (await steps.refuseDenied(ctx, step)) return;
    const upstream = await upstreamOf(ctx);
    if (!upstream) return steps.renderLogin(ctx, step, { error: 'That sign-in service is not available (any more).', status: 404 });
    try {
      await start(ctx, { upstream, purpose: 'login', binding: step.loaded.uid });
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'upstream') throw error;
      ctx.state.log?.warn({ event: 'federation.failed', upstream: upstream.id, err: error.cause }, 'upstream sign-in could not start');
      problem(ctx, 502, { title: `Could not sign in with ${upstream.displayName}`, message: error.message, link: back, linkText: 'Sign in another way' });
    }
  }

  /** GET /federation/:upstream/callback — the upstream sends the browser back here. */
  async function callback(ctx: Context) {
    const upstream = await upstreamOf(ctx);
    const home = { link: `${base}/account`, linkText: 'Go to your account' };
    if (!upstream) return problem(ctx, 404, { title: 'Unknown sign-in service', message: 'This sign-in service is not set up here (any more).', ...home });
    const remembered = ctx.cookies.get(bindingCookie, { signed: true });
    ctx.cookies.set(bindingCookie, null, cookieOptions(ctx));
    const query = ctx.querystring ? `?${ctx.querystring}` : '';
    const currentUrl = new URL(`${callbackUrl(issuer, upstream.id)}${query}`);
    const expiredPage = {
      title: 'Start again',
      message: 'This sign-in has expired, was already used, or was started in another browser. Go back to the app (or your account page) and start again.',
      ...home,
    };
    if (!remembered || remembered !== currentUrl.searchParams.get('state')) return problem(ctx, 400, expiredPage);
    let finished: Awaited<ReturnType<typeof finishUpstreamSignIn>>;
    try {
      finished = await finishUpstreamSignIn(upstreams, db, { upstream, currentUrl });
    } catch (error) {
      if (error instanceof AppError && error.code === 'expired') return problem(ctx, 400, expiredPage);
      throw error;
    }
    const { row, identity, failure } = finished;
    if (failure) ctx.state.log?.warn({ event: 'federation.failed', upstream: upstream.id, purpose: row.purpose, err: failure.cause }, failure.message);
    if (row.purpose === 'link') return finishLink(ctx, upstream, row.binding, row.user_id, identity, failure);

    let outcome: FederationOutcome;
    if (failure || !identity) {
      outcome = { title: `Could not sign in with ${upstream.displayName}`, error: failure?.message ?? 'The sign-in did not finish.' };
    } else {
      const ip = steps.networkOf(ctx).ip;
      const log = (reason: string) => ctx.state.log?.info({ event: 'federation.picture', upstream: upstream.id }, reason);
      try {
        const resolved = await resolveUpstreamSignIn(db, upstream, identity, { ip, log });
        outcome = resolved.status === 'stranger'
          ? { title: `This ${upstream.displayName} account is not linked`, error: resolved.message }
          : { userId: resolved.userId, upstream: upstream.id };
        if (resolved.status === 'created') ctx.state.log?.info({ event: 'user.created', upstream: upstream.id, sub: resolved.userId }, 'household user created on first upstream sign-in');
      } catch (error) {
        // Still a page with a way back to the other ways in, and the state is used up either way.
        if (!(error instanceof AppError) || error.status >= 500) throw error;
        outcome = { title: `Could not sign in with ${upstream.displayName}`, error: error.message };
      }
    }
    await recordOutcome(db, row.id, outcome);
    seeOther(ctx, `${base}/interaction/${encodeURIComponent(row.binding)}/federation?state=${encodeURIComponent(row.id)}`);
  }

  async function finishLink(ctx: Context, upstream: Upstream, sessionId: string, userId: string | null, identity: Parameters<typeof linkUpstreamIdentity>[3] | undefined, failure?: AppError) {
    const back = { link: `${base}/account#linked-accounts`, linkText: 'Back to your account' };
    // The same decision as every account page: a session too weak for this network links nothing.
    const { access, account } = await accountAuth.access(ctx);
    if (access.decision !== 'allow' || !account || account.session.sessionId !== sessionId || account.user.id !== userId) {
      return problem(ctx, 400, { title: 'Start again', message: 'You are no longer signed in as the person who started linking. Nothing was linked.', ...back });
    }
    if (failure || !identity) {
      return problem(ctx, 502, { title: `Could not link ${upstream.displayName}`, message: failure?.message ?? 'Nothing was linked.', ...back });
    }
    try {
      await linkUpstreamIdentity(db, { userId: account.user.id, ip: steps.networkOf(ctx).ip }, upstream, identity);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500) throw error;
      return problem(ctx, error.status, { title: `Could not link ${upstream.displayName}`, message: error.message, ...back });
    }
    seeOther(ctx, `${base}/account?done=linked#linked-accounts`);
  }

  /** GET /interaction/:uid/federation?state= — back in the sign-in, with the upstream's outcome. */
  async function resume(ctx: Context) {
    const step = await steps.load(ctx);
    if (!step) return;
    const back = interactionPage(ctx);
    if (await steps.refuseDenied(ctx, step)) return;
    const outcome = typeof ctx.query.state === 'string' ? await takeOutcome(db, ctx.query.state, step.loaded.uid) : undefined;
    if (!outcome || step.loaded.prompt !== 'login') return void ctx.redirect(back);
    // An upstream sign-in is one factor like the others: throttled by address, audited, then nextStep.
    const result = await runFactor(db, step.request, undefined, {
      factor: 'federated',
      keys: throttleKeys('', step.request.ip).slice(1),
      verify: async () => ('error' in outcome ? { ok: false, reason: 'invalid' } : { ok: true, userId: outcome.userId, used: { factor: 'federated', upstream: outcome.upstream } }),
    });
    if (result.kind === 'throttled') {
      steps.count(step, 'throttled', 'federated');
      return problem(ctx, 429, { title: 'Too many attempts', message: `Wait ${result.retryAfter} seconds and try again.`, link: back, linkText: 'Back to the sign-in' });
    }
    if (result.kind === 'failed' || 'error' in outcome) {
      steps.count(step, 'failure', 'federated');
      const failed = 'error' in outcome ? outcome : { title: 'Sign-in not completed', error: 'The sign-in did not finish.' };
      return problem(ctx, 403, { title: failed.title, message: failed.error, link: back, linkText: 'Sign in another way' });
    }
    steps.go(ctx, await steps.follow(ctx, step, result.step, result.ts));
  }

  return { start, continueWith, callback, resume };
}

export type Federation = ReturnType<typeof createFederation>;

/** The sign-in side: the button, the callback and the way back into the sign-in. */
export function federationRoutes(federation: Federation): Router {
  const router = new Router();
  router.post('/interaction/:uid/federation/:upstream', form, (ctx) => federation.continueWith(ctx));
  router.get('/interaction/:uid/federation',                  (ctx) => federation.resume(ctx));
  router.get('/federation/:upstream/callback',                (ctx) => federation.callback(ctx));
  return router;
}
