// Linked accounts on /account: link an upstream identity (GitHub, Google, …) through the upstream's sign-in, or
// unlink it. Both need a sign-in at most five minutes old; unlinking never removes the last way in.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { unlinkUpstreamIdentity } from '../auth/federation/accounts.js';
import { AppError, notFound } from '../errors.js';
import type { AccountKit } from './account.js';

export function linkRoutes(router: Router, kit: AccountKit): void {
  const { deps, form, actor, account, go, showAccount } = kit;
  const { requireAccount, sameOrigin } = kit.auth;
  const fresh = async (ctx: Context, next: () => Promise<unknown>) => {
    if (kit.auth.requireFresh(ctx, `${deps.base}/account#linked-accounts`)) await next();
  };

  const link = async (ctx: Context) => {
    const upstream = await deps.upstreams.find(String(ctx.params.upstream));
    if (!upstream) throw notFound('That sign-in service is not available (any more).');
    const { session, user } = account(ctx);
    await deps.federation.start(ctx, { upstream, purpose: 'link', binding: session.sessionId, userId: user.id });
  };
  const unlink = async (ctx: Context) => {
    await unlinkUpstreamIdentity(deps.db, actor(ctx), String(ctx.params.upstream));
    go(ctx, '', 'unlinked');
  };
  /** A refusal (the last way in, an upstream that cannot be reached) re-renders the account page with the message. */
  const orShow = (change: (ctx: Context) => Promise<void>) => async (ctx: Context) => {
    try {
      await change(ctx);
    } catch (error) {
      if (!(error instanceof AppError) || (error.status >= 500 && error.code !== 'upstream')) throw error;
      await showAccount(ctx, { error: error.message, status: error.status });
    }
  };

  router.post('/account/links/:upstream/link',   sameOrigin, requireAccount, fresh, form, orShow(link));
  router.post('/account/links/:upstream/unlink', sameOrigin, requireAccount, fresh, form, orShow(unlink));
}
