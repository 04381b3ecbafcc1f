// The account page at /account: profile and picture, sign-in methods (their routes are in factors.ts), active
// sessions and connected apps. Signed in through oidc-provider's session (../account-auth.ts).
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import {
  accountClientId, endOwnSession, forgetOwnConsent, ownConsents, hasWayIn, ownConnectedApps, ownSessions, removeOwnAvatar, revokeOwnApp, securityOverview, setOwnAvatar, updateOwnProfile,
  type Actor,
} from '../../auth/account.js';
import { maxAvatarBytes } from '../../auth/avatar.js';
import { present } from '../../auth/household.js';
import { badRequest, type AppError } from '../../errors.js';
import type { AccountState } from '../account-auth.js';
import { field, form, html, orShow, parseBody, readPicture, seeOther, when } from '../kit.js';
import { alertAccountRoutes } from './alerts.js';
import { deviceLinkRoutes } from './device.js';
import { factorRoutes } from './factors.js';
import { notices, type AccountDeps, type AccountKit } from './kit.js';
import { linkRoutes } from './links.js';

export { notices, type AccountDeps, type AccountKit } from './kit.js';
import { isAdmin } from '../../auth/admin.js';

const scopeLabels: Record<string, string> = {
  openid: 'Who you are',
  profile: 'Your name, username and picture',
  email: 'Your email address',
  groups: 'Your groups',
  network: 'Whether you are at home',
  offline_access: 'Stays signed in',
};

/** The profile form; auth/profile.ts checks the values (and says what is wrong with them). */
const profileForm = z.object({ name: field, email: field });

export function accountRoutes(deps: AccountDeps): Router {
  const { db, render, base } = deps;
  const router = new Router();
  const auth = deps.accountAuth;
  const { requireAccount, sameOrigin } = auth;

  const account = (ctx: Context) => ctx.state.account as AccountState;
  const actor = (ctx: Context): Actor => ({
    userId: account(ctx).user.id,
    ip: deps.classifier.ofRequest(ctx.req).ip,
  });

  function go(ctx: Context, path = '', done?: keyof typeof notices) {
    seeOther(ctx, `${base}/account${path}${done ? `?done=${done}` : ''}`);
  }

  const clientName = (clientId: string) => deps.interactions.clientName(clientId);

  async function showAccount(ctx: Context, extra: { error?: string; status?: number } = {}) {
    const { user, session } = account(ctx);
    const [security, sessions, grants, upstreams, consents] = await Promise.all([
      securityOverview(db, user.id), ownSessions(db, user.id, session.sessionId), ownConnectedApps(db, user.id), deps.upstreams.list(), ownConsents(db, user.id),
    ]);
    const names = new Map<string, string>();
    const nameOf = async (id: string) => names.get(id) ?? names.set(id, await clientName(id)).get(id)!;
    const credential = (c: (typeof security.credentials)[number]) => ({ id: c.id, name: c.name, created: when(c.createdAt), lastUsed: when(c.lastUsedAt) });
    const done = typeof ctx.query.done === 'string' && ctx.query.done in notices ? notices[ctx.query.done as keyof typeof notices] : undefined;
    html(ctx, render('account', {
      title: 'Your account',
      person: present(user),
      user: { username: user.username, name: user.name, email: user.email, emailVerified: user.emailVerified },
      hasPassword: Boolean(user.passwordHash),
      isAdmin: isAdmin(user),
      passkeys: security.credentials.filter((c) => c.kind === 'passkey').map(credential),
      securityKeys: security.credentials.filter((c) => c.kind === 'security_key').map(credential),
      totp: security.totp,
      recovery: security.recovery,
      // Every upstream, linked or not, and links to upstreams removed since (so they can still be unlinked).
      links: [
        ...upstreams.map((u) => ({ upstream: u.id, name: u.displayName, link: security.links.find((l) => l.upstreamId === u.id) })),
        ...security.links.filter((l) => !upstreams.some((u) => u.id === l.upstreamId)).map((l) => ({ upstream: l.upstreamId, name: l.upstreamId, link: l })),
      ].map(({ upstream, name, link }) => ({
        upstream, name, linked: Boolean(link), account: link ? (link.login ?? link.email ?? 'linked') : undefined, linkedAt: link ? when(link.linkedAt) : null,
        // The same rule the unlink itself enforces (auth/account.ts hasWayIn), minus this link.
        removable: Boolean(link) && hasWayIn(user, security.credentials, security.links.length - 1),
      })),
      canRemovePassword: hasWayIn({ passwordHash: null }, security.credentials, security.links.length),
      sessions: await Promise.all(sessions.map(async (s) => ({
        handle: s.handle, current: s.current, signedIn: when(s.loginTs),
        // Apps with access still: a revoked app's name stays in the session record until it signs in again.
        apps: await Promise.all(s.apps.filter((id) => id !== accountClientId && grants.some((g) => g.clientId === id)).map(nameOf)),
      }))),
      apps: await Promise.all(grants.filter((g) => g.clientId !== accountClientId).map(async (g) => ({
        grantId: g.grantId, name: await nameOf(g.clientId), scopes: g.scopes.map((s) => scopeLabels[s] ?? s),
      }))),
      consents: await Promise.all(consents.map(async (c) => ({
        clientId: c.clientId, name: await nameOf(c.clientId), scopes: c.scopes.filter((s) => s !== 'openid').map((s) => scopeLabels[s] ?? s),
      }))),
      notice: extra.error ? undefined : done,
      error: extra.error,
      signOutUrl: `${base}/session/end?client_id=${accountClientId}&post_logout_redirect_uri=${encodeURIComponent(`${deps.issuer.replace(/\/$/, '')}/account`)}`,
    }), extra.status);
  }

  /** A readable refusal (a 4xx, or an upstream's failure) re-renders the account page with the message. */
  const accountPage = (ctx: Context, error: AppError) => showAccount(ctx, { error: error.message, status: error.status });
  const fresh = (page: string | ((ctx: Context) => string)): Middleware => async (ctx, next) => {
    if (await auth.requireFresh(ctx, `${base}/account${typeof page === 'string' ? page : page(ctx)}`)) await next();
  };

  /** The uploaded picture's bytes (multipart field `picture`, at most 1 MB). */
  async function pictureOf(ctx: Context): Promise<Buffer> {
    const picture = await readPicture(ctx, 'picture', { maxBytes: maxAvatarBytes, fields: 5, unreadable: 'The picture could not be read. Try again.' });
    if (!picture) throw badRequest('Choose a picture first.');
    return picture;
  }

  const saveProfile = async (ctx: Context) => {
    const { name, email } = parseBody(ctx, profileForm);
    await updateOwnProfile(db, actor(ctx), { name, email });
    go(ctx, '', 'profile');
  };
  const savePicture = async (ctx: Context) => {
    await setOwnAvatar(db, actor(ctx), await pictureOf(ctx));
    go(ctx, '', 'picture');
  };
  const removePicture = async (ctx: Context) => {
    await removeOwnAvatar(db, actor(ctx));
    go(ctx, '', 'picture-removed');
  };
  const endSession = async (ctx: Context) => {
    if (!(await endOwnSession(db, actor(ctx), ctx.params.handle!, account(ctx).session.sessionId))) throw badRequest('That session has already ended.');
    go(ctx, '', 'session-ended');
  };
  const forgetConsent = async (ctx: Context) => {
    if (!(await forgetOwnConsent(db, actor(ctx), ctx.params.client!))) throw badRequest('Nothing was remembered for that app (any more).');
    go(ctx, '', 'consent-forgotten');
  };
  const revokeApp = async (ctx: Context) => {
    if (!(await revokeOwnApp(db, actor(ctx), ctx.params.grant!))) throw badRequest('That app had no access (any more).');
    go(ctx, '', 'app-revoked');
  };

  // Every POST: same origin first, then the session, then the body (an upload is read only once signed in).
  router.get('/account/callback',                                                (ctx) => auth.callback(ctx));
  router.get('/account',                                         requireAccount, (ctx) => showAccount(ctx));
  router.post('/account/profile',                    sameOrigin, requireAccount, form, orShow(saveProfile, accountPage));
  router.post('/account/picture',                    sameOrigin, requireAccount,       orShow(savePicture, accountPage));
  router.post('/account/picture/remove',             sameOrigin, requireAccount, form, removePicture);
  router.post('/account/sessions/:handle/end',       sameOrigin, requireAccount, form, orShow(endSession, accountPage));
  router.post('/account/apps/:grant/revoke',         sameOrigin, requireAccount, form, orShow(revokeApp, accountPage));
  router.post('/account/consents/:client/forget',    sameOrigin, requireAccount, form, orShow(forgetConsent, accountPage));

  const kit: AccountKit = { deps, auth, actor, account, go, showAccount, accountPage, fresh };
  factorRoutes(router, kit);
  linkRoutes(router, kit);
  deviceLinkRoutes(router, kit);
  alertAccountRoutes(router, kit, deps.alerts);
  return router;
}
