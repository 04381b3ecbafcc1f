// The audit table: security events (sign-ins, client and key changes) kept for the owner.
import type { Kysely } from 'kysely';
import { epoch } from './db.js';
import type { Database } from './schema.js';

export interface AuditEvent {
  event: string;
  actor?: string | null;
  ip?: string | null;
  detail?: Record<string, unknown>;
}

export async function recordAudit(db: Kysely<Database>, e: AuditEvent, now = epoch()): Promise<void> {
  await db.insertInto('audit_log').values({
    at: now, event: e.event, actor: e.actor ?? null, ip: e.ip ?? null, detail: JSON.stringify(e.detail ?? {}),
  }).execute();
}

export async function listAudit(db: Kysely<Database>, limit = 100) {
  const rows = await db.selectFrom('audit_log').selectAll().orderBy('id', 'desc').limit(limit).execute();
  return rows.map((r) => ({ ...r, at: Number(r.at), detail: JSON.parse(r.detail) as Record<string, unknown> }));
}
