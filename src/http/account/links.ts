// Linked accounts on /account: link an upstream identity (GitHub, Google, …) through the upstream's sign-in, or
// unlink it. Both need a sign-in at most five minutes old; unlinking never removes the last way in.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { unlinkUpstreamIdentity } from '../../auth/federation/accounts.js';
import { notFound } from '../../errors.js';
import { form, orShow } from '../kit.js';
import type { AccountKit } from './kit.js';

export function linkRoutes(router: Router, kit: AccountKit): void {
  const { deps, actor, account, go, accountPage, fresh } = kit;
  const { requireAccount, sameOrigin } = kit.auth;

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

  router.post('/account/links/:upstream/link',   sameOrigin, requireAccount, fresh('#linked-accounts'), form, orShow(link, accountPage));
  router.post('/account/links/:upstream/unlink', sameOrigin, requireAccount, fresh('#linked-accounts'), form, orShow(unlink, accountPage));
}
