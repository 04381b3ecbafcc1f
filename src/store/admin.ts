// Query functions only the owner console needs: every session of the household, a client's changes and
// artefacts, pending one-time links, and the audit log filtered and paged.
import { sql, type Kysely } from 'kysely';
import type { ClientConfig } from '../config.js';
import { epoch, jsonText } from './db.js';
import type { Database, LinkTokensTable } from './schema.js';

type Db = Kysely<Database>;

const serialize = ({ id: _id, secretFile: _file, ...rest }: ClientConfig) => JSON.stringify(rest);

/** Replaces a CLI-registered client's declaration; false if there is no such client (config clients are not touched). */
export async function updateCliClient(db: Db, config: ClientConfig, now = epoch()): Promise<boolean> {
  const result = await db.updateTable('clients').set({ config: serialize(config), updated_at: now })
    .where('id', '=', config.id).where('source', '=', 'cli').executeTakeFirst();
  return Number(result.numUpdatedRows) === 1;
}

/** Deletes every grant and token issued to a client (payloads carry their clientId); returns how many went. */
export async function deleteClientPayloads(db: Db, clientId: string): Promise<number> {
  const result = await db.deleteFrom('oidc_payloads')
    .where('model', 'in', ['Grant', 'AccessToken', 'RefreshToken', 'AuthorizationCode', 'DeviceCode', 'ClientCredentials'])
    .where(jsonText(db, 'payload', 'clientId'), '=', clientId)
    .executeTakeFirst();
  return Number(result.numDeletedRows);
}

export interface SignedInPayload { id: string; accountId: string; payload: Record<string, unknown>; expiresAt: number | null }

/** Unexpired payloads of one model that belong to some account: every signed-in session, every grant. */
export async function listSignedInPayloads(db: Db, model: string, now = epoch()): Promise<SignedInPayload[]> {
  const rows = await db.selectFrom('oidc_payloads').select(['id', 'account_id', 'payload', 'expires_at'])
    .where('model', '=', model).where('account_id', 'is not', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', now)]))
    .execute();
  return rows.map((r) => ({ id: r.id, accountId: r.account_id!, payload: JSON.parse(r.payload), expiresAt: r.expires_at === null ? null : Number(r.expires_at) }));
}

/** Unused, unexpired links of one purpose (pending invitations, outstanding resets). */
export async function listPendingLinks(db: Db, purpose: LinkTokensTable['purpose'], now = epoch()) {
  const rows = await db.selectFrom('link_tokens').select(['id', 'user_id', 'state', 'expires_at', 'created_at'])
    .where('purpose', '=', purpose).where('used_at', 'is', null).where('expires_at', '>', now)
    .orderBy('created_at', 'desc').execute();
  return rows.map((r) => ({ id: r.id, userId: r.user_id, state: JSON.parse(r.state) as Record<string, unknown>, expiresAt: Number(r.expires_at), createdAt: Number(r.created_at) }));
}

export interface AuditFilter {
  /** Events starting with this text ("client." or "user.invited"). */
  eventPrefix?: string;
  /** Events by this actor, or about this user (detail.user). */
  subject?: string;
  /** Inclusive epoch-second bounds. */
  from?: number;
  to?: number;
}

export interface AuditEntry { id: number; at: number; event: string; actor: string | null; ip: string | null; detail: Record<string, unknown> }

/** One page of the audit log, newest first, and whether there is a next page. */
export async function listAuditPage(db: Db, filter: AuditFilter, page: { offset: number; limit: number }): Promise<{ entries: AuditEntry[]; more: boolean }> {
  let query = db.selectFrom('audit_log').selectAll();
  if (filter.eventPrefix) {
    // LIKE with the wildcards of the prefix escaped: "user_" must not match "users".
    const escaped = filter.eventPrefix.replace(/[\\%_]/g, (c) => `\\${c}`);
    query = query.where(sql<boolean>`event LIKE ${`${escaped}%`} ESCAPE '\\'`);
  }
  if (filter.subject) {
    const subject = filter.subject;
    query = query.where((eb) => eb.or([eb('actor', '=', subject), eb(jsonText(db, 'detail', 'user'), '=', subject)]));
  }
  if (filter.from !== undefined) query = query.where('at', '>=', filter.from);
  if (filter.to !== undefined) query = query.where('at', '<=', filter.to);
  const rows = await query.orderBy('id', 'desc').limit(page.limit + 1).offset(page.offset).execute();
  return {
    entries: rows.slice(0, page.limit).map((r) => ({ id: Number(r.id), at: Number(r.at), event: r.event, actor: r.actor, ip: r.ip, detail: JSON.parse(r.detail) })),
    more: rows.length > page.limit,
  };
}
