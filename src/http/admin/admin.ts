// The owner console at /admin, for members of `admins`: the overview and apps (add from a preset, redirect URIs,
// secret or the app's own keys, removal) here; users and sessions in users.ts; sign-in services in upstreams.ts;
// signing keys and the audit log in system.ts. Signed in like the account pages (../account-auth.ts); a secret, an
// app's keys or a key rotation need a sign-in at most five minutes old.
import Router from '@koa/router';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import type { Actor } from '../../auth/account.js';
import {
  addApp, adminGroup, auditPage, countOpenInvitations, findApp, listAdminUsers, listApps, listHouseholdSessions, newClientSecret, removeApp, rotateAppSecret,
  setAppKeys, updateAppAuthMethod, updateAppRedirects,
} from '../../auth/admin.js';
import { holdsPrivateKey } from '../../auth/app-keys.js';
import { badRequest, type AppError } from '../../errors.js';
import { listPresets, presetClient, presetInstructions, type PresetName } from '../../integrations/presets.js';
import type { AccountState } from '../account-auth.js';
import { field, form, html, orShow, parseBody, postedValues, seeOther, trimmed, when } from '../kit.js';
import { alertAdminRoutes } from './alerts.js';
import { forwardAuthAdminRoutes } from './forward-auth.js';
import { adminNotices, consoleRefusals, type AdminDeps, type AdminKit, type Section } from './kit.js';
import { auditRow, systemRoutes } from './system.js';
import { upstreamRoutes } from './upstreams.js';
import { userRoutes } from './users.js';

export { adminNotices, type AdminDeps, type AdminKit, type Section } from './kit.js';

// The app forms, checked at the edge; auth/admin.ts and the presets check the values.
const newAppForm = z.object({ preset: field, url: trimmed, name: trimmed, id: trimmed });
const redirectsForm = z.object({ redirectUris: field });
const authMethodForm = z.object({ tokenEndpointAuthMethod: field });
const keysForm = z.object({ jwksUri: field, jwks: field });
const secretForm = z.object({ tokenEndpointAuthMethod: trimmed });

export function adminRoutes(deps: AdminDeps): Router {
  const { db, render, base, issuer } = deps;
  const router = new Router();
  const auth = deps.accountAuth;
  const { sameOrigin } = auth;

  const admin = (ctx: Context) => ctx.state.account as AccountState;
  const actor = (ctx: Context): Actor => ({
    userId: admin(ctx).user.id,
    ip: deps.classifier.ofRequest(ctx.req).ip,
  });

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
    seeOther(ctx, `${base}/admin${path}${done ? `?done=${done}` : ''}`);
  }

  function show(ctx: Context, view: string, section: Section, data: Record<string, unknown>, status = 200) {
    const done = typeof ctx.query.done === 'string' && ctx.query.done in adminNotices ? adminNotices[ctx.query.done as keyof typeof adminNotices] : undefined;
    html(ctx, render(view, { title: 'Owner console', section, notice: data.error ? undefined : done, me: admin(ctx).user.id, ...data }), status);
  }

  const kit: AdminKit = { deps, auth, requireAdmin, fresh, actor, admin, go, show };

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
    const b = error ? postedValues(ctx, newAppForm) : {};
    const preset = b.preset ?? (typeof ctx.query.preset === 'string' ? ctx.query.preset : presets[0]?.name);
    show(ctx, 'admin-app-new', 'apps', {
      presets, preset, url: b.url ?? '', name: b.name ?? '', id: b.id ?? '', error: error?.message,
    }, error?.status);
  };

  const createApp = async (ctx: Context) => {
    const b = parseBody(ctx, newAppForm);
    const preset = presets.find((p) => p.name === b.preset)?.name as PresetName | undefined;
    if (!preset) throw badRequest('Choose what kind of app it is.');
    // The preset checks the address (kubectl needs none) and the id (a generic app needs one).
    const client = presetClient(preset, { url: b.url ?? '', name: b.name, id: b.id, secret: newClientSecret() });
    const created = await addApp(db, actor(ctx), client, preset);
    const secret = created.config.public ? undefined : created.config.secret;
    show(ctx, 'admin-app-added', 'apps', {
      app: created, secret, preset: presets.find((p) => p.name === preset),
      instructions: presetInstructions(preset, { issuer, client: created.config, secret }),
    });
  };

  const showApp = async (ctx: Context, error?: AppError) => {
    const app = await findApp(db, ctx.params.id!);
    const b = error ? postedValues(ctx, redirectsForm) : {};
    // The keys form starts empty (one of its two fields is given) and after a refusal shows what was posted, but
    // never a pasted private key.
    const posted = error ? postedValues(ctx, keysForm) : {};
    show(ctx, 'admin-app', 'apps', {
      app: { ...app, created: when(app.createdAt) },
      redirectUris: b.redirectUris ?? app.config.redirectUris.join('\n'),
      keys: { jwksUri: posted.jwksUri ?? '', jwks: posted.jwks && !holdsPrivateKey(posted.jwks) ? posted.jwks : '' },
      jwks: app.config.jwks ? JSON.stringify(app.config.jwks, null, 2) : undefined,
      error: error?.message,
    }, error?.status);
  };
  const appPage = (ctx: Context) => `/apps/${encodeURIComponent(ctx.params.id!)}`;

  const saveRedirects = async (ctx: Context) => {
    await updateAppRedirects(db, actor(ctx), ctx.params.id!, parseBody(ctx, redirectsForm).redirectUris);
    go(ctx, appPage(ctx), 'redirects-saved');
  };
  const saveAuthMethod = async (ctx: Context) => {
    await updateAppAuthMethod(db, actor(ctx), ctx.params.id!, parseBody(ctx, authMethodForm).tokenEndpointAuthMethod);
    go(ctx, appPage(ctx), 'auth-method-saved');
  };
  const saveKeys = async (ctx: Context) => {
    await setAppKeys(db, actor(ctx), ctx.params.id!, parseBody(ctx, keysForm));
    go(ctx, appPage(ctx), 'keys-saved');
  };
  // Also the way back from the app's own key to a secret (in the form, or the one the app used before).
  const rotateSecret = async (ctx: Context) => {
    const secret = await rotateAppSecret(db, actor(ctx), ctx.params.id!, parseBody(ctx, secretForm).tokenEndpointAuthMethod);
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
  router.post('/admin/apps',                         sameOrigin, requireAdmin,              form, orShow(createApp, showNewApp, consoleRefusals));
  router.get('/admin/apps/:id',                                  requireAdmin,                    (ctx) => showApp(ctx));
  router.post('/admin/apps/:id/redirects',           sameOrigin, requireAdmin,              form, orShow(saveRedirects, showApp, consoleRefusals));
  router.post('/admin/apps/:id/auth-method',       sameOrigin, requireAdmin,              form, orShow(saveAuthMethod, showApp, consoleRefusals));
  router.post('/admin/apps/:id/keys',                sameOrigin, requireAdmin, fresh(appPage), form, orShow(saveKeys, showApp, consoleRefusals));
  router.post('/admin/apps/:id/secret',              sameOrigin, requireAdmin, fresh(appPage), form, orShow(rotateSecret, showApp, consoleRefusals));
  router.post('/admin/apps/:id/remove',              sameOrigin, requireAdmin,              form, orShow(remove, showApp, consoleRefusals));

  userRoutes(router, kit);
  upstreamRoutes(router, kit);
  forwardAuthAdminRoutes(router, kit);
  systemRoutes(router, kit);
  alertAdminRoutes(router, kit);
  return router;
}
