// "Add a passkey on another device" on the account page: after a fresh sign-in, a ten-minute single-use link (QR
// code and short code) with which the other device creates its own passkey for this account (auth/enrol.ts).
import type Router from '@koa/router';
import type { Context } from 'koa';
import { issueEnrolLink } from '../../auth/enrol.js';
import { form, html, orShow, when } from '../kit.js';
import { shareLink } from '../link-share.js';
import type { AccountKit } from './kit.js';

export function deviceLinkRoutes(router: Router, kit: AccountKit): void {
  const { deps, actor, account, fresh, accountPage } = kit;
  const { db, box, render, issuer } = deps;
  const { requireAccount, sameOrigin } = kit.auth;

  const create = async (ctx: Context) => {
    const me = actor(ctx);
    const issued = await issueEnrolLink(db, box, { purpose: 'device', userId: account(ctx).user.id, actor: me.userId, ip: me.ip });
    const link = await shareLink(issuer, 'device', issued);
    html(ctx, render('account-device-link', { title: 'Add a passkey on another device', link, expires: when(link.expiresAt) }));
  };

  router.post('/account/passkeys/other-device', sameOrigin, requireAccount, fresh(''), form, orShow(create, accountPage));
}
