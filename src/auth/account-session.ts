// The browser session behind the account and setup pages: oidc-provider's own session (the same cookie, the
// same store), so signing out anywhere signs out here too. Also lists and ends a user's sessions and grants.
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { deletePayload, deletePayloadsByGrant, findPayload, listAccountPayloads } from '../store/oidc-payloads.js';

export interface AccountSession {
  sessionId: string;
  userId: string;
  /** When the user last proved who they are (auth_time). */
  loginTs: number;
  acr: string | undefined;
  amr: string[];
}

/** The session a browser's session cookie names, if it is still valid and signed in. */
export async function findAccountSession(db: Db, sessionId: string | undefined): Promise<AccountSession | undefined> {
  if (!sessionId) return undefined;
  const row = await findPayload(db, 'Session', 'id', sessionId);
  const payload = row?.payload as { accountId?: string; loginTs?: number; acr?: string; amr?: string[] } | undefined;
  if (!payload?.accountId || !payload.loginTs) return undefined;
  return { sessionId, userId: payload.accountId, loginTs: payload.loginTs, acr: payload.acr, amr: payload.amr ?? [] };
}

/** Whether the sign-in is recent enough to change factors (at most `maxAge` seconds old). */
export const isFresh = (session: AccountSession, maxAge = 300, now = epoch()) => now - session.loginTs <= maxAge;

export interface SessionSummary { id: string; loginTs: number; expiresAt: number | null; current: boolean; apps: string[] }

export async function listSessions(db: Db, userId: string, currentId?: string): Promise<SessionSummary[]> {
  const sessions = await listAccountPayloads(db, userId, 'Session');
  return sessions.map((s) => ({
    id: s.id,
    loginTs: Number(s.payload.loginTs ?? 0),
    expiresAt: s.expiresAt,
    current: s.id === currentId,
    apps: Object.keys((s.payload.authorizations as Record<string, unknown> | undefined) ?? {}),
  })).sort((a, b) => b.loginTs - a.loginTs);
}

/** Ends one session of this user (not someone else's). */
export async function endSession(db: Db, userId: string, sessionId: string): Promise<boolean> {
  const session = await findAccountSession(db, sessionId);
  if (!session || session.userId !== userId) return false;
  await deletePayload(db, 'Session', sessionId);
  return true;
}

export interface ConnectedApp { grantId: string; clientId: string; scopes: string[] }

export async function listConnectedApps(db: Db, userId: string): Promise<ConnectedApp[]> {
  const grants = await listAccountPayloads(db, userId, 'Grant');
  return grants.map((g) => ({
    grantId: g.id,
    clientId: String(g.payload.clientId),
    scopes: String((g.payload.openid as { scope?: string } | undefined)?.scope ?? '').split(' ').filter(Boolean),
  }));
}

/** Revokes an app: its grant and every token issued under it. */
export async function revokeConnectedApp(db: Db, userId: string, grantId: string): Promise<boolean> {
  const apps = await listConnectedApps(db, userId);
  if (!apps.some((a) => a.grantId === grantId)) return false;
  await deletePayloadsByGrant(db, grantId);
  await deletePayload(db, 'Grant', grantId);
  return true;
}
