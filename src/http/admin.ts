// The owner console at /admin, for members of `admins`: the overview and apps (add from a preset, redirect URIs,
// secret, removal) here; users and sessions in admin-users.ts; sign-in services in admin-upstreams.ts; signing
// keys and the audit log in admin-system.ts.
// Signed in like the account pages (account-auth.ts); a secret or key rotation needs a sign-in at most five minutes old.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import type { Actor } from '../auth/account.js';
import {
  addApp, adminGroup, auditPage, countOpenInvitations, findApp, listAdminUsers, listApps, listHouseholdSessions, newClientSecret, removeApp, rotateAppSecret,
  updateAppAuthMethod, updateAppRedirects,
} from '../auth/admin.js';
import { AppError, badRequest } from '../errors.js';
import { listPresets, presetClient, presetInstructions, type PresetName } from '../integrations/presets.js';
import type { AccountState } from './account-auth.js';
import { when } from './account-kit.js';
import { adminNotices, type AdminDeps, type AdminKit, type Section } from './admin-kit.js';

export { adminNotices, type AdminDeps, type AdminKit, type Section } from './admin-kit.js';
import { alertAdminRoutes } from './admin-alerts.js';
import { auditRow, systemRoutes } from './admin-system.js';
import { upstreamRoutes } from './admin-upstreams.js';
import { forwardAuthAdminRoutes } from './admin-forward-auth.js';
import { userRoutes } from './admin-users.js';
import { html } from './interaction.js';

export function adminRoutes(deps: AdminDeps): Router {
  const { db, render, base, issuer } = deps;
  const router = new Router();
  const auth = deps.accountAuth;
  const { sameOrigin } = auth;
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  const admin = (ctx: Context) => ctx.state.account as AccountState;
  const actor = (ctx: Context): Actor => ({
    userId: admin(ctx).user.id,
    ip: deps.classifier.ofRequest(ctx.req).ip,
  });
  const body = (ctx: Context) => (ctx.request.body ?? {}) as Record<string, unknown>;

  /** Signed in strongly enough for this network and in `admins`; otherwise the sign-in (and back here), or a 403 page. */
  const requireAdmin = auth.gate({
    allowedGroups: [adminGroup],
    home: `${base}/admin`,
    forbidden: (ctx, account) => html(ctx, render('account-message', {
      title: 'Not for this account',
      message: `The owner console is for members of the admins group. You are signed in as ${account.user.username}.`,
      link: `${base}/account`, linkText: 'Go to your account',
    }), 403),
  });

  const fresh = (page: string | ((ctx: Context) => string)): Middleware => async (ctx, next) => {
    if (await auth.requireFresh(ctx, `${base}/admin${typeof page === 'string' ? page : page(ctx)}`)) await next();
  };

  function go(ctx: Context, path: string, done?: keyof typeof adminNotices) {
    ctx.set('cache-control', 'no-store');
    ctx.status = 303;
    ctx.redirect(`${base}/admin${path}${done ? `?done=${done}` : ''}`);
  }

  function show(ctx: Context, view: string, section: Section, data: Record<string, unknown>, status = 200) {
    const done = typeof ctx.query.done === 'string' && ctx.query.done in adminNotices ? adminNotices[ctx.query.done as keyof typeof adminNotices] : undefined;
    html(ctx, render(view, { title: 'Owner console', section, notice: data.error ? undefined : done, me: admin(ctx).user.id, ...data }), status);
  }

  const orShow = (change: (ctx: Context) => Promise<void>, page: (ctx: Context, error: AppError) => Promise<void>): Middleware => async (ctx) => {
    try {
      await change(ctx);
    } catch (error) {
      if (!(error instanceof AppError) || error.status >= 500 || error.code === 'not_found') throw error;
      await page(ctx, error);
    }
  };

  const kit: AdminKit = { deps, auth, form, requireAdmin, fresh, actor, admin, body, go, show, orShow };

  // ---- overview --------------------------------------------------------------------------------------------
  const overview = async (ctx: Context) => {
    const [apps, users, sessions, recent, invited] = await Promise.all([listApps(db), listAdminUsers(db), listHouseholdSessions(db), auditPage(db, {}), countOpenInvitations(db)]);
    show(ctx, 'admin', 'overview', {
      counts: {
        apps: apps.length, users: users.filter((u) => u.status === 'active').length,
        invited, sessions: sessions.length,
      },
      recent: recent.entries.slice(0, 10).map(auditRow),
    });
  };

  // ---- apps ------------------------------------------------------------------------------------------------
  const presets = listPresets();
  const showApps = async (ctx: Context) => {
    const apps = await listApps(db);
    show(ctx, 'admin-apps', 'apps', { apps: apps.map((a) => ({ ...a, created: when(a.createdAt) })) });
  };

  const showNewApp = async (ctx: Context, error?: AppError) => {
    const b = error ? body(ctx) : {};
    const preset = typeof b.preset === 'string' ? b.preset : typeof ctx.query.preset === 'string' ? ctx.query.preset : presets[0]?.name;
    show(ctx, 'admin-app-new', 'apps', {
      presets, preset, url: b.url ?? '', name: b.name ?? '', id: b.id ?? '', error: error?.message,
    }, error?.status);
  };

  const createApp = async (ctx: Context) => {
    const b = body(ctx);
    const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);
    const preset = presets.find((p) => p.name === b.preset)?.name as PresetName | undefined;
    if (!preset) throw badRequest('Choose what kind of app it is.');
    // The preset checks the address (kubectl needs none) and the id (a generic app needs one).
    const client = presetClient(preset, { url: text(b.url) ?? '', name: text(b.name), id: text(b.id), secret: newClientSecret() });
    const created = await addApp(db, actor(ctx), client, preset);
    const secret = created.config.public ? undefined : created.config.secret;
    show(ctx, 'admin-app-added', 'apps', {
      app: created, secret, preset: presets.find((p) => p.name === preset),
      instructions: presetInstructions(preset, { issuer, client: created.config, secret }),
    });
  };

  const showApp = async (ctx: Context, error?: AppError) => {
    const app = await findApp(db, ctx.params.id!);
    const b = error ? body(ctx) : {};
    show(ctx, 'admin-app', 'apps', {
      app: { ...app, created: when(app.createdAt) },
      redirectUris: typeof b.redirectUris === 'string' ? b.redirectUris : app.config.redirectUris.join('\n'),
      error: error?.message,
    }, error?.status);
  };
  const appPage = (ctx: Context) => `/apps/${encodeURIComponent(ctx.params.id!)}`;

  const saveRedirects = async (ctx: Context) => {
    await updateAppRedirects(db, actor(ctx), ctx.params.id!, body(ctx).redirectUris);
    go(ctx, appPage(ctx), 'redirects-saved');
  };
  const saveAuthMethod = async (ctx: Context) => {
    await updateAppAuthMethod(db, actor(ctx), ctx.params.id!, body(ctx).tokenEndpointAuthMethod);
    go(ctx, appPage(ctx), 'auth-method-saved');
  };
  const rotateSecret = async (ctx: Context) => {
    const secret = await rotateAppSecret(db, actor(ctx), ctx.params.id!);
    const app = await findApp(db, ctx.params.id!);
    show(ctx, 'admin-app-secret', 'apps', { app, secret });
  };
  const remove = async (ctx: Context) => {
    await removeApp(db, actor(ctx), ctx.params.id!);
    go(ctx, '/apps', 'app-removed');
  };

  // Every POST: same origin first, then the session and the admins group, then freshness, then the body.
  router.get('/admin',                                           requireAdmin,                    overview);
  router.get('/admin/apps',                                      requireAdmin,                    showApps);
  router.get('/admin/apps/new',                                  requireAdmin,                    (ctx) => showNewApp(ctx));
  router.post('/admin/apps',                         sameOrigin, requireAdmin,              form, orShow(createApp, showNewApp));
  router.get('/admin/apps/:id',                                  requireAdmin,                    (ctx) => showApp(ctx));
  router.post('/admin/apps/:id/redirects',           sameOrigin, requireAdmin,              form, orShow(saveRedirects, showApp));
  router.post('/admin/apps/:id/auth-method',       sameOrigin, requireAdmin,              form, orShow(saveAuthMethod, showApp));
  router.post('/admin/apps/:id/secret',              sameOrigin, requireAdmin, fresh(appPage), form, orShow(rotateSecret, showApp));
  router.post('/admin/apps/:id/remove',              sameOrigin, requireAdmin,              form, orShow(remove, showApp));

  userRoutes(router, kit);
  upstreamRoutes(router, kit);
  forwardAuthAdminRoutes(router, kit);
  systemRoutes(router, kit);
  alertAdminRoutes(router, kit);
  return router;
}
