// Owner console: apps behind a reverse proxy (forward-auth). Lists every app with where it was declared (the
// configuration file, the CLI, here, the cluster); adds one here and shows the Traefik, nginx and Caddy snippets.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { declareForwardAuthApp, listForwardAuthApps, removeForwardAuthApp } from '../../auth/forward-auth/apps.js';
import { badRequest, type AppError } from '../../errors.js';
import { forwardAuthInstructions } from '../../integrations/forward-auth.js';
import { field, form, orShow, parseBody, postedValues } from '../kit.js';
import { consoleRefusals, type AdminKit } from './kit.js';

const sources = { config: 'declared in the configuration file', cli: 'added with the command line', console: 'added here', cluster: 'declared by the cluster' } as const;
const strengths = ['', 'any', 'mfa', 'phr', 'deny'];
/** The "protect an app" form; auth/forward-auth/apps.ts checks the id, hosts, groups and policy. */
const appForm = z.object({ id: field, name: field, urls: field, groups: field, home: field, outside: field });
const list = (value: unknown) => (typeof value === 'string' ? value.split(/[\s,]+/).map((v) => v.trim()).filter(Boolean) : []);

export function forwardAuthAdminRoutes(router: Router, kit: AdminKit): void {
  const { deps, requireAdmin, actor, go, show } = kit;
  const { sameOrigin } = kit.auth;

  const showList = async (ctx: Context, error?: AppError) => {
    const apps = await listForwardAuthApps(deps.db);
    const b = error ? postedValues(ctx, appForm) : {};
    show(ctx, 'admin-forward-auth', 'forward-auth', {
      apps: apps.map(({ source, config }) => ({
        id: config.id, name: config.name ?? config.id, hosts: config.hosts, groups: config.allowedGroups, source, from: sources[source],
        policy: Object.entries(config.policy ?? {}).map(([network, strength]) => `${network}: ${strength}`),
      })),
      strengths, values: { id: b.id ?? '', name: b.name ?? '', urls: b.urls ?? '', groups: b.groups ?? '', home: b.home ?? '', outside: b.outside ?? '' },
      error: error?.message,
    }, error?.status);
  };

  const create = async (ctx: Context) => {
    const b = parseBody(ctx, appForm);
    const hosts = list(b.urls).map((raw) => {
      const url = URL.parse(raw.includes('://') ? raw : `https://${raw}`);
      if (!url || !['http:', 'https:'].includes(url.protocol)) throw badRequest(`"${raw}" is not an address such as https://jellyfin.home.example`);
      return url.host;
    });
    const policy = Object.fromEntries((['home', 'outside'] as const).filter((n) => b[n]).map((n) => [n, b[n]]));
    const app = await declareForwardAuthApp(deps.db, {
      source: 'console', actor: actor(ctx).userId,
      app: {
        id: b.id?.trim() ?? '', hosts, allowedGroups: list(b.groups),
        ...(b.name?.trim() ? { name: b.name.trim() } : {}), ...(Object.keys(policy).length ? { policy } : {}),
      },
    });
    ctx.state.log?.info({ event: 'forward_auth_app.created', app: app.id }, 'forward-auth app added');
    show(ctx, 'admin-forward-auth-added', 'forward-auth', { app: { id: app.id, name: app.name ?? app.id }, instructions: forwardAuthInstructions({ issuer: deps.issuer, app }) });
  };

  const remove = async (ctx: Context) => {
    await removeForwardAuthApp(deps.db, { source: 'console', id: String(ctx.params.id), actor: actor(ctx).userId });
    go(ctx, '/forward-auth', 'forward-auth-removed');
  };

  router.get('/admin/forward-auth',                      requireAdmin,       (ctx) => showList(ctx));
  router.post('/admin/forward-auth',         sameOrigin, requireAdmin, form, orShow(create, showList, consoleRefusals));
  router.post('/admin/forward-auth/:id/remove', sameOrigin, requireAdmin, form, orShow(remove, showList, consoleRefusals));
}
