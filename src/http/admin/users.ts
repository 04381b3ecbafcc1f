// Owner console: the household's users (invite by link, groups, disable and enable, a reset link for lost
// factors) and every signed-in session (revoke). A reset link needs a sign-in at most five minutes old.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import {
  createResetLink, findAdminUser, inviteTtl, inviteUser, liftPasswordLock, listAdminUsers, listApps, listHouseholdSessions, passwordLocksOf, revokeSession,
  setUserDisabled, setUserGroups,
} from '../../auth/admin.js';
import { sessionHandle } from '../../auth/account.js';
import { present } from '../../auth/household.js';
import { badRequest, type AppError } from '../../errors.js';
import { field, form, orShow, parseBody, postedValues, when } from '../kit.js';
import { shareLink, type SharedLink } from '../link-share.js';
import { consoleRefusals, type AdminKit } from './kit.js';

/** The invitation's and a user's groups, comma-separated; auth/admin.ts checks the names. */
const groupsForm = z.object({ groups: field });

const statusWords = { active: 'Active', disabled: 'Disabled' } as const;

export function userRoutes(router: Router, kit: AdminKit): void {
  const { deps, requireAdmin, fresh, actor, admin, go, show } = kit;
  const { db, box, base } = deps;
  const { sameOrigin } = kit.auth;
  const root = deps.issuer.replace(/\/$/, '');

  // ---- users -----------------------------------------------------------------------------------------------
  const showUsers = async (ctx: Context, error?: AppError) => {
    const users = await listAdminUsers(db);
    show(ctx, 'admin-users', 'users', {
      users: users.map(({ user, status }) => ({
        id: user.id, person: present(user), username: user.username, name: user.name, email: user.email, groups: user.groups, status, statusText: statusWords[status],
      })),
      groups: (error && postedValues(ctx, groupsForm).groups) ?? '',
      inviteDays: inviteTtl / 86400,
      error: error?.message,
    }, error?.status);
  };

  /** The page that shows a one-time link to pass on (invitation or reset): URL, QR code and short code. */
  const showLink = (ctx: Context, data: { title: string; lead: string; link: SharedLink; back: string; backText: string }) =>
    show(ctx, 'admin-link', 'users', { ...data, expires: when(data.link.expiresAt) });

  const invite = async (ctx: Context) => {
    const issued = await inviteUser(db, box, actor(ctx), parseBody(ctx, groupsForm).groups);
    const { groups } = issued;
    showLink(ctx, {
      title: 'Invitation link',
      lead: `Let the person you invite scan the code with their phone, or send them the link. It works once${groups.length ? `, and puts them in ${groups.join(', ')}` : ''}. They choose their username and how they sign in.`,
      link: await shareLink(root, 'invite', issued), back: `${base}/admin/users`, backText: 'Back to users',
    });
  };

  const showUser = async (ctx: Context, error?: AppError) => {
    const { user, status } = await findAdminUser(db, ctx.params.id!);
    const locks = await passwordLocksOf(db, user.id);
    const b = error ? postedValues(ctx, groupsForm) : {};
    show(ctx, 'admin-user', 'users', {
      person: present(user),
      user: { id: user.id, username: user.username, name: user.name, email: user.email, created: when(user.createdAt) },
      status, statusText: statusWords[status],
      groups: b.groups ?? user.groups.join(', '),
      self: user.id === admin(ctx).user.id,
      locks: locks.map((l) => ({ where: l.network === 'home' ? 'at home' : 'from outside the home network', until: when(l.until), failures: l.failures })),
      error: error?.message,
    }, error?.status);
  };
  const userPage = (ctx: Context) => `/users/${encodeURIComponent(ctx.params.id!)}`;

  const saveGroups = async (ctx: Context) => {
    await setUserGroups(db, actor(ctx), ctx.params.id!, parseBody(ctx, groupsForm).groups);
    go(ctx, userPage(ctx), 'groups-saved');
  };
  const disable = async (ctx: Context) => {
    await setUserDisabled(db, actor(ctx), ctx.params.id!, true);
    go(ctx, userPage(ctx), 'disabled');
  };
  const enable = async (ctx: Context) => {
    await setUserDisabled(db, actor(ctx), ctx.params.id!, false);
    go(ctx, userPage(ctx), 'enabled');
  };
  const unlock = async (ctx: Context) => {
    await liftPasswordLock(db, actor(ctx), ctx.params.id!);
    go(ctx, userPage(ctx), 'unlocked');
  };
  const reset = async (ctx: Context) => {
    const issued = await createResetLink(db, box, actor(ctx), ctx.params.id!);
    const { user } = issued;
    showLink(ctx, {
      title: `Reset link for ${user.name}`,
      lead: `Send this link to ${user.name} only. It works once, for 24 hours. Opening it lets them create a new passkey or password; when they do, their old passkeys, security keys, password, authenticator app and recovery codes stop working and they are signed out everywhere.`,
      link: await shareLink(root, 'reset', issued), back: `${base}/admin${userPage(ctx)}`, backText: `Back to ${user.name}`,
    });
  };

  // ---- sessions --------------------------------------------------------------------------------------------
  const currentHandle = (ctx: Context) => sessionHandle(admin(ctx).session.sessionId);
  const showSessions = async (ctx: Context, error?: AppError) => {
    const [sessions, users, apps] = await Promise.all([listHouseholdSessions(db), listAdminUsers(db), listApps(db)]);
    const people = new Map(users.map(({ user }) => [user.id, user]));
    const names = new Map(apps.map((a) => [a.id, a.name]));
    show(ctx, 'admin-sessions', 'sessions', {
      sessions: sessions.map((s) => {
        const user = people.get(s.userId);
        return {
          handle: s.handle, signedIn: when(s.loginTs), current: s.handle === currentHandle(ctx),
          person: user ? present(user) : undefined, name: user?.name ?? s.userId, username: user?.username ?? '',
          // Accouch's own pages are not an app the person chose.
          apps: s.apps.filter((id) => names.has(id)).map((id) => names.get(id)!),
        };
      }),
      error: error?.message,
    }, error?.status);
  };
  const revoke = async (ctx: Context) => {
    if (ctx.params.handle === currentHandle(ctx)) throw badRequest('This is your own session: to end it, sign out from your account page.');
    if (!(await revokeSession(db, actor(ctx), ctx.params.handle!))) throw badRequest('That session has already ended.');
    go(ctx, '/sessions', 'session-revoked');
  };

  router.get('/admin/users',                                     requireAdmin,                     (ctx) => showUsers(ctx));
  router.post('/admin/users/invite',                 sameOrigin, requireAdmin,               form, orShow(invite, showUsers, consoleRefusals));
  router.get('/admin/users/:id',                                 requireAdmin,                     (ctx) => showUser(ctx));
  router.post('/admin/users/:id/groups',             sameOrigin, requireAdmin,               form, orShow(saveGroups, showUser, consoleRefusals));
  router.post('/admin/users/:id/disable',            sameOrigin, requireAdmin,               form, orShow(disable, showUser, consoleRefusals));
  router.post('/admin/users/:id/enable',             sameOrigin, requireAdmin,               form, orShow(enable, showUser, consoleRefusals));
  router.post('/admin/users/:id/unlock',             sameOrigin, requireAdmin,               form, orShow(unlock, showUser, consoleRefusals));
  router.post('/admin/users/:id/reset',              sameOrigin, requireAdmin, fresh(userPage), form, orShow(reset, showUser, consoleRefusals));
  router.get('/admin/sessions',                                  requireAdmin,                     (ctx) => showSessions(ctx));
  router.post('/admin/sessions/:handle/revoke',      sameOrigin, requireAdmin,               form, orShow(revoke, showSessions, consoleRefusals));
}
