// The audit table: security events (sign-ins, client and key changes) kept for the owner. Each event is flagged
// for the alert fan-out in the same insert, so no door that records an event can forget to alert.
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kysely } from 'kysely';
import { epoch } from './db.js';
import type { Database } from './schema.js';

export interface AuditEvent {
  event: string;
  actor?: string | null;
  ip?: string | null;
  detail?: Record<string, unknown>;
}

/** What the HTTP layer knows about the browser behind a request: added to every event recorded for it. */
export interface AuditContext {
  /** An opaque id of the browser (a hash of its long-lived cookie). */
  browser?: string;
  /** The browser as a person names it ("Chrome on Android"). */
  agent?: string;
}

const requestContext = new AsyncLocalStorage<AuditContext>();

/** Runs `fn` (a request) so that the events it records name its browser. */
export const withAuditContext = <T>(context: AuditContext, fn: () => T): T => requestContext.run(context, fn);

export async function recordAudit(db: Kysely<Database>, e: AuditEvent, now = epoch()): Promise<void> {
  const context = requestContext.getStore();
  const detail = context ? { ...e.detail, ...context } : (e.detail ?? {});
  await db.insertInto('audit_log').values({
    at: now, event: e.event, actor: e.actor ?? null, ip: e.ip ?? null, detail: JSON.stringify(detail), alert_pending: 1,
  }).execute();
}

export async function listAudit(db: Kysely<Database>, limit = 100) {
  const rows = await db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => ({ ...r, at: Number(r.at), detail: JSON.parse(r.detail) as Record<string, unknown> }));
}
