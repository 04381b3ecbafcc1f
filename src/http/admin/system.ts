// Owner console: signing keys (list, rotate: needs a sign-in at most five minutes old) and the audit log,
// filtered by event prefix, user and dates, 50 entries a page.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { auditPage, auditPageSize, listKeys, rotateKeys } from '../../auth/admin.js';
import { form, when } from '../kit.js';
import type { AdminKit } from './kit.js';

type AuditEntry = Awaited<ReturnType<typeof auditPage>>['entries'][number];

/** One audit entry as the console shows it: usernames instead of ids, the detail as `key=value` pairs. */
export function auditRow(entry: AuditEntry) {
  const value = (key: string, v: unknown) => (key === 'user' && entry.userName ? entry.userName : Array.isArray(v) ? v.join(', ') : typeof v === 'object' ? JSON.stringify(v) : String(v));
  return {
    at: when(entry.at),
    event: entry.event,
    actor: entry.actorName,
    ip: entry.ip ?? '',
    detail: Object.entries(entry.detail).filter(([, v]) => v !== undefined && v !== null && v !== '' && !(Array.isArray(v) && !v.length)).map(([k, v]) => `${k}=${value(k, v)}`).join(' '),
  };
}

/** Common prefixes offered in the filter (any prefix works). */
const eventPrefixes = ['client.', 'user.', 'session.', 'keys.', 'login.', 'passkey.', 'password.', 'totp.', 'recovery.', 'setup.', 'federation.', 'upstream.'];

export function systemRoutes(router: Router, kit: AdminKit): void {
  const { deps, requireAdmin, fresh, actor, show } = kit;
  const { db, base } = deps;
  const { sameOrigin } = kit.auth;

  // ---- signing keys ----------------------------------------------------------------------------------------
  const showKeys = async (ctx: Context, extra: { rotated?: string[] } = {}) => {
    const keys = await listKeys(db);
    show(ctx, 'admin-keys', 'keys', {
      keys: keys.map((k) => ({ ...k, created: when(k.createdAt), retired: when(k.retiredAt), fresh: extra.rotated?.includes(k.kid) ?? false })),
      rotated: Boolean(extra.rotated),
    });
  };
  const rotate = async (ctx: Context) => {
    const kids = await rotateKeys(db, actor(ctx), deps.rotateKeys);
    await showKeys(ctx, { rotated: kids });
  };

  // ---- audit log -------------------------------------------------------------------------------------------
  const showAudit = async (ctx: Context) => {
    const result = await auditPage(db, ctx.query);
    const link = (page: number) => {
      const params = new URLSearchParams(Object.entries(result.filter).filter(([, v]) => v));
      if (page > 1) params.set('page', String(page));
      const query = params.toString();
      return `${base}/admin/audit${query ? `?${query}` : ''}`;
    };
    show(ctx, 'admin-audit', 'audit', {
      filter: result.filter,
      prefixes: eventPrefixes,
      entries: result.entries.map(auditRow),
      page: result.page,
      pageSize: auditPageSize,
      previous: result.page > 1 ? link(result.page - 1) : undefined,
      next: result.more ? link(result.page + 1) : undefined,
      filtered: Object.values(result.filter).some(Boolean),
    });
  };

  router.get('/admin/keys',                          requireAdmin,                 (ctx) => showKeys(ctx));
  router.post('/admin/keys/rotate',      sameOrigin, requireAdmin, fresh('/keys'), form, rotate);
  router.get('/admin/audit',                         requireAdmin,                 showAudit);
}
