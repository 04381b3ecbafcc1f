// Owner console: sign-in services ("Continue with GitHub"). Lists the ones from the configuration file and the
// ones added here; the setup helper shows exactly what to paste into GitHub's "New OAuth App" form or Google's
// console (homepage, callback URL, links to those forms) and takes the client id and secret it gives back.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import type { Upstream } from '../../auth/federation/registry.js';
import { googleIssuer } from '../../auth/federation/registry.js';
import type { AppError } from '../../errors.js';
import { callbackUrl } from '../federation.js';
import { field, form, orShow, parseBody, postedValues } from '../kit.js';
import { consoleRefusals, type AdminKit } from './kit.js';

const types = {
  github: { title: 'GitHub', description: 'github.com or GitHub Enterprise Server' },
  google: { title: 'Google', description: 'Google accounts and Google Workspace' },
  oidc: { title: 'Another OpenID Connect provider', description: 'Authentik, Keycloak, Kanidm, GitLab, Microsoft Entra…' },
} as const;
type UpstreamType = keyof typeof types;

/** The setup helper's form; the registry (auth/federation/registry.ts) checks the upstream it makes. */
const upstreamForm = z.object({
  type: field, id: field, name: field, clientId: field, clientSecret: field, issuer: field, baseUrl: field, apiUrl: field,
  emails: field, githubLogins: field, githubOrgs: field, googleDomains: field, groups: field,
});

/** Splits a textarea or comma-separated field into its values. */
const list = (value: unknown) => (typeof value === 'string' ? value.split(/[\s,]+/).map((v) => v.trim()).filter(Boolean) : []);
const text = (value: unknown) => (typeof value === 'string' && value.trim() ? value.trim() : undefined);

/** "organisation = group" or "organisation/team = group", one per line. */
function groupMap(value: unknown): Record<string, string> {
  const map: Record<string, string> = {};
  for (const line of typeof value === 'string' ? value.split('\n') : []) {
    const [from, to] = line.split('=').map((part) => part.trim());
    if (from && to) map[from] = to;
  }
  return map;
}

export function upstreamRoutes(router: Router, kit: AdminKit): void {
  const { deps, requireAdmin, fresh, actor, go, show } = kit;
  const { issuer } = deps;
  const { sameOrigin } = kit.auth;
  const origin = new URL(issuer).origin;

  const summary = (u: Upstream) => ({
    id: u.id, name: u.displayName, type: types[u.type].title, source: u.source, callback: callbackUrl(issuer, u.id),
    allows: [...u.allow.emails, ...u.allow.githubLogins, ...u.allow.githubOrgs.map((o) => `members of ${o}`), ...u.allow.googleDomains.map((d) => `@${d}`)],
  });

  const showList = async (ctx: Context, error?: AppError) => {
    const upstreams = await deps.upstreams.list();
    show(ctx, 'admin-upstreams', 'upstreams', { upstreams: upstreams.map(summary), types, error: error?.message }, error?.status);
  };

  /** The setup helper for one type and id: what to paste at the upstream, then the form for what it gives back. */
  const showNew = async (ctx: Context, error?: AppError) => {
    const b = error ? postedValues(ctx, upstreamForm) : {};
    const type = (Object.keys(types).includes(String(b.type ?? ctx.query.type)) ? String(b.type ?? ctx.query.type) : 'github') as UpstreamType;
    const requested = text(b.id) ?? text(ctx.query.id);
    const id = requested && /^[a-z0-9][a-z0-9-]{0,31}$/.test(requested) ? requested : type;
    const baseUrl = text(b.baseUrl) ?? '';
    // Only an address that could be an upstream becomes a link on the page (no javascript: from a posted form).
    const githubBase = URL.parse(baseUrl)?.protocol === 'https:' ? baseUrl : 'https://github.com';
    const githubForm = `${githubBase.replace(/\/+$/, '')}/settings/applications/new`;
    show(ctx, 'admin-upstream-new', 'upstreams', {
      type, id, typeInfo: types[type], types, homepage: issuer, origin, callback: callbackUrl(issuer, id), githubForm,
      googleForm: 'https://console.cloud.google.com/apis/credentials', googleConsent: 'https://console.cloud.google.com/apis/credentials/consent',
      values: {
        name: b.name ?? '', clientId: b.clientId ?? '', issuer: b.issuer ?? '', baseUrl, apiUrl: b.apiUrl ?? '',
        emails: b.emails ?? '', githubLogins: b.githubLogins ?? '', githubOrgs: b.githubOrgs ?? '', googleDomains: b.googleDomains ?? '', groups: b.groups ?? '',
      },
      error: error?.message,
    }, error?.status);
  };

  const create = async (ctx: Context) => {
    const b = parseBody(ctx, upstreamForm);
    const type = String(b.type) as UpstreamType;
    const input: Record<string, unknown> = {
      id: text(b.id), type, name: text(b.name), clientId: text(b.clientId), clientSecret: text(b.clientSecret),
      allow: {
        emails: list(b.emails),
        ...(type === 'github' ? { githubLogins: list(b.githubLogins), githubOrgs: list(b.githubOrgs) } : {}),
        ...(type === 'google' ? { googleDomains: list(b.googleDomains) } : {}),
      },
      ...(type === 'github' ? { baseUrl: text(b.baseUrl), apiUrl: text(b.apiUrl), groups: groupMap(b.groups) } : {}),
      ...(type === 'oidc' || (type === 'google' && text(b.issuer) && text(b.issuer) !== googleIssuer) ? { issuer: text(b.issuer) } : {}),
    };
    const added = await deps.upstreams.add(actor(ctx), input);
    ctx.state.log?.info({ event: 'upstream.added', upstream: added.id, type: added.type }, 'sign-in service added');
    go(ctx, '/upstreams', 'upstream-added');
  };

  const remove = async (ctx: Context) => {
    await deps.upstreams.remove(actor(ctx), String(ctx.params.id));
    go(ctx, '/upstreams', 'upstream-removed');
  };

  // Every POST: same origin first, then the session and the admins group, then freshness (a new sign-in service
  // is a new way into every app), then the body.
  router.get('/admin/upstreams',                             requireAdmin,                           (ctx) => showList(ctx));
  router.get('/admin/upstreams/new',                         requireAdmin,                           (ctx) => showNew(ctx));
  router.post('/admin/upstreams',                sameOrigin, requireAdmin, fresh('/upstreams'), form, orShow(create, showNew, consoleRefusals));
  router.post('/admin/upstreams/:id/remove',     sameOrigin, requireAdmin, fresh('/upstreams'), form, orShow(remove, showList, consoleRefusals));
}
