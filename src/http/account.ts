// The account page at /account: profile and picture, sign-in methods (their routes are in account-factors.ts),
// active sessions and connected apps. Signed in through oidc-provider's session (account-auth.ts).
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import multer from '@koa/multer';
import type { Context, Middleware } from 'koa';
import type { Interactions } from '../oidc/interactions.js';
import {
  accountClientId, endOwnSession, hasWayIn, ownConnectedApps, ownSessions, removeOwnAvatar, revokeOwnApp, securityOverview, setOwnAvatar, updateOwnProfile,
  type Actor,
} from '../auth/account.js';
import { maxAvatarBytes } from '../auth/avatar.js';
import { present } from '../auth/household.js';
import type { NetworkClassifier } from '../auth/network.js';
import type { WebauthnSettings } from '../auth/passkey.js';
import type { UpstreamRegistry } from '../auth/federation/registry.js';
import type { SecretBox } from '../auth/secret-key.js';
import { AppError, badRequest } from '../errors.js';
import type { Db } from '../store/db.js';
import type { AccountAuth, AccountState } from './account-auth.js';
import { factorRoutes } from './account-factors.js';
import { alertAccountRoutes, type AccountAlertSettings } from './account-alerts.js';
import { linkRoutes } from './account-links.js';
import type { Federation } from './federation.js';
import { html } from './interaction.js';
import type { Render } from './views.js';

export interface AccountDeps {
  issuer: string;
  base: string;
  db: Db;
  render: Render;
  interactions: Interactions;
  box: SecretBox;
  webauthn: WebauthnSettings;
  classifier: NetworkClassifier;
  upstreams: UpstreamRegistry;
  federation: Federation;
  /** Sign-in alerts (/account/alerts), when the server runs them. */
  alerts?: AccountAlertSettings | undefined;
  /** Who is signed in, and the access decision for the account pages (built once in app.ts). */
  accountAuth: AccountAuth;
}

/** What every account handler has at hand. */
export interface AccountKit {
  deps: AccountDeps;
  auth: AccountAuth;
  form: Middleware;
  json: Middleware;
  /** The signed-in user as the audit log records them. */
  actor(ctx: Context): Actor;
  account(ctx: Context): AccountState;
  /** 303 to an account page, optionally with a notice key from {@link notices}. */
  go(ctx: Context, path?: string, done?: keyof typeof notices): void;
  /** The account page with an error instead of a change. */
  showAccount(ctx: Context, extra?: { error?: string; status?: number }): Promise<void>;
  /** Runs a change; a readable refusal (a 4xx AppError, or an upstream's failure) shows the account page with it. */
  orShow(change: (ctx: Context) => Promise<void>): Middleware;
  /** Needs a fresh sign-in; otherwise signs in again and comes back to the account page `page(ctx)`. */
  fresh(page: string | ((ctx: Context) => string)): Middleware;
}

/** Messages shown after a change (by key, so a link cannot put words on the page). */
export const notices = {
  profile: 'Your profile is saved.',
  picture: 'Your picture is updated.',
  'picture-removed': 'Your picture is removed.',
  'passkey-added': 'Passkey added. You can use it to sign in.',
  'security-key-added': 'Security key added. You can use it to confirm your sign-ins.',
  renamed: 'Name saved.',
  'passkey-removed': 'Passkey removed.',
  'security-key-removed': 'Security key removed.',
  'totp-enrolled': 'Authenticator app set up. Sign-ins will ask for a code from it.',
  'totp-removed': 'Authenticator app removed.',
  password: 'Your password is changed.',
  'password-removed': 'Your password is removed. Sign in with your passkey from now on.',
  'session-ended': 'That session is signed out.',
  'app-revoked': 'That app no longer has access. It will ask you to sign in again.',
  linked: 'Account linked. You can use it to sign in.',
  unlinked: 'Account unlinked.',
} as const;

const scopeLabels: Record<string, string> = {
  openid: 'Who you are',
  profile: 'Your name, username and picture',
  email: 'Your email address',
  groups: 'Your groups',
  network: 'Whether you are at home',
  offline_access: 'Stays signed in',
};

const dateFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
/** A time for the page: readable text and the machine-readable value of a <time> element. */
export const when = (ts: number | null) => (ts ? { text: dateFormat.format(ts * 1000), iso: new Date(ts * 1000).toISOString() } : null);

export function accountRoutes(deps: AccountDeps): Router {
  const { db, render, base } = deps;
  const router = new Router();
  const auth = deps.accountAuth;
  const { requireAccount, sameOrigin } = auth;
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });
  const upload = multer({ storage: multer.memoryStorage(), limits: { fileSize: maxAvatarBytes, files: 1, fields: 5, parts: 6 } });

  const account = (ctx: Context) => ctx.state.account as AccountState;
  const actor = (ctx: Context): Actor => ({
    userId: account(ctx).user.id,
    ip: deps.classifier.ofRequest(ctx.req).ip,
  });

  function go(ctx: Context, path = '', done?: keyof typeof notices) {
    ctx.set('cache-control', 'no-store');
    ctx.status = 303;
    ctx.redirect(`${base}/account${path}${done ? `?done=${done}` : ''}`);
  }

  const clientName = (clientId: string) => deps.interactions.clientName(clientId);

  async function showAccount(ctx: Context, extra: { error?: string; status?: number } = {}) {
    const { user, session } = account(ctx);
    const [security, sessions, grants, upstreams] = await Promise.all([
      securityOverview(db, user.id), ownSessions(db, user.id, session.sessionId), ownConnectedApps(db, user.id), deps.upstreams.list(),
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
      notice: extra.error ? undefined : done,
      error: extra.error,
      signOutUrl: `${base}/session/end?client_id=${accountClientId}&post_logout_redirect_uri=${encodeURIComponent(`${deps.issuer.replace(/\/$/, '')}/account`)}`,
    }), extra.status);
  }

  /** Runs a change; a readable refusal (4xx AppError) re-renders the account page with the message. */
  const orShow = (change: (ctx: Context) => Promise<void>) => async (ctx: Context) => {
    try {
      await change(ctx);
    } catch (error) {
      if (!(error instanceof AppError) || (error.status >= 500 && error.code !== 'upstream')) throw error;
      await showAccount(ctx, { error: error.message, status: error.status });
    }
  };
  const fresh = (page: string | ((ctx: Context) => string)): Middleware => async (ctx, next) => {
    if (await auth.requireFresh(ctx, `${base}/account${typeof page === 'string' ? page : page(ctx)}`)) await next();
  };

  /** The uploaded picture's bytes (multipart field `picture`, at most 1 MB). */
  async function readPicture(ctx: Context): Promise<Buffer> {
    try {
      await upload.single('picture')(ctx as never, async () => {});
    } catch (error) {
      if ((error as { code?: string }).code === 'LIMIT_FILE_SIZE') throw badRequest('The picture is larger than 1 MB. Choose a smaller one.');
      throw badRequest('The picture could not be read. Try again.');
    }
    const file = (ctx as { file?: { buffer?: Buffer } }).file;
    if (!file?.buffer?.length) throw badRequest('Choose a picture first.');
    return file.buffer;
  }

  const body = (ctx: Context) => (ctx.request.body ?? {}) as Record<string, unknown>;

  const saveProfile = async (ctx: Context) => {
    await updateOwnProfile(db, actor(ctx), { name: body(ctx).name, email: body(ctx).email });
    go(ctx, '', 'profile');
  };
  const savePicture = async (ctx: Context) => {
    await setOwnAvatar(db, actor(ctx), await readPicture(ctx));
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
  const revokeApp = async (ctx: Context) => {
    if (!(await revokeOwnApp(db, actor(ctx), ctx.params.grant!))) throw badRequest('That app had no access (any more).');
    go(ctx, '', 'app-revoked');
  };

  // Every POST: same origin first, then the session, then the body (an upload is read only once signed in).
  router.get('/account/callback',                                                (ctx) => auth.callback(ctx));
  router.get('/account',                                         requireAccount, (ctx) => showAccount(ctx));
  router.post('/account/profile',                    sameOrigin, requireAccount, form, orShow(saveProfile));
  router.post('/account/picture',                    sameOrigin, requireAccount,       orShow(savePicture));
  router.post('/account/picture/remove',             sameOrigin, requireAccount, form, removePicture);
  router.post('/account/sessions/:handle/end',       sameOrigin, requireAccount, form, orShow(endSession));
  router.post('/account/apps/:grant/revoke',         sameOrigin, requireAccount, form, orShow(revokeApp));

  const kit: AccountKit = { deps, auth, form, json, actor, account, go, showAccount, orShow, fresh };
  factorRoutes(router, kit);
  linkRoutes(router, kit);
  alertAccountRoutes(router, kit, deps.alerts);
  return router;
}
