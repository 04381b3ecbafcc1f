// The one module that knows oidc-provider's Session and Grant payload shapes: a browser's session, a user's
// sessions and connected apps, every session of the household, and revoking a grant (with every token issued
// under it) or a session. The account page, the console, reset links and the CLI use these, never the payloads.
import type { Acr } from '../auth/policy.js';
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { listSignedInPayloads } from '../store/admin.js';
import { deletePayload, deletePayloadsByGrant, findPayload, listAccountPayloads } from '../store/oidc-payloads.js';

/** oidc-provider's session cookie (its `cookies.names.session` default), signed with the provider's keys. */
export const sessionCookie = '_session';

export interface AccountSession {
  sessionId: string;
  userId: string;
  /** When the user last proved who they are (auth_time). */
  loginTs: number;
  acr: string | undefined;
  amr: string[];
}

interface SessionPayload { accountId?: string; loginTs?: number; acr?: string; amr?: string[]; authorizations?: Record<string, { grantId?: string }> }
interface GrantPayload { clientId?: string; openid?: { scope?: string } }

/** The session a browser's session cookie names, if it is still valid and signed in. */
export async function findAccountSession(db: Db, sessionId: string | undefined): Promise<AccountSession | undefined> {
  if (!sessionId) return undefined;
  const row = await findPayload(db, 'Session', 'id', sessionId);
  const payload = row?.payload as SessionPayload | undefined;
  if (!payload?.accountId || !payload.loginTs) return undefined;
  return { sessionId, userId: payload.accountId, loginTs: payload.loginTs, acr: payload.acr, amr: payload.amr ?? [] };
}

/** A signed-in browser session as a door outside oidc-provider (forward-auth) sees it. */
export interface BrowserSession { uid: string; accountId: string; acr: Acr | undefined; authTime: number; expiresAt: number }

/** The signed-in session with this uid (what tokens and forward-auth cookies name) or id (the session cookie). */
export async function findBrowserSession(db: Db, by: 'uid' | 'id', value: string): Promise<BrowserSession | undefined> {
  const payload = (await findPayload(db, 'Session', by, value))?.payload as (SessionPayload & { uid?: unknown; exp?: unknown }) | undefined;
  if (!payload || typeof payload.uid !== 'string' || typeof payload.accountId !== 'string' || !payload.loginTs || typeof payload.exp !== 'number') return undefined;
  const acr = typeof payload.acr === 'string' ? (payload.acr as Acr) : undefined;
  return { uid: payload.uid, accountId: payload.accountId, acr, authTime: Number(payload.loginTs), expiresAt: payload.exp };
}

/** Who an opaque access token belongs to and the session it came from; undefined when unknown or expired. */
export async function findAccessTokenOwner(db: Db, token: string, now = epoch()): Promise<{ accountId: string; sessionUid: string | undefined; expiresWithSession: boolean } | undefined> {
  const payload = (await findPayload(db, 'AccessToken', 'id', token, now))?.payload as { accountId?: unknown; sessionUid?: unknown; expiresWithSession?: unknown; exp?: unknown } | undefined;
  if (!payload || typeof payload.accountId !== 'string' || (typeof payload.exp === 'number' && payload.exp <= now)) return undefined;
  return { accountId: payload.accountId, sessionUid: typeof payload.sessionUid === 'string' ? payload.sessionUid : undefined, expiresWithSession: Boolean(payload.expiresWithSession) };
}

/** Whether the sign-in is recent enough to change factors (at most `maxAge` seconds old). */
export const isFresh = (session: AccountSession, maxAge = 300, now = epoch()) => now - session.loginTs <= maxAge;

export interface SessionSummary { id: string; userId: string; loginTs: number; expiresAt: number | null; current: boolean; apps: string[]; grants: string[] }

const summarize = (s: { id: string; payload: Record<string, unknown>; expiresAt: number | null }, userId: string, currentId?: string): SessionSummary => {
  const payload = s.payload as SessionPayload;
  const authorizations = payload.authorizations ?? {};
  return {
    id: s.id, userId, loginTs: Number(payload.loginTs ?? 0), expiresAt: s.expiresAt, current: s.id === currentId,
    apps: Object.keys(authorizations),
    grants: Object.values(authorizations).map((a) => a.grantId).filter((g): g is string => typeof g === 'string'),
  };
};

/** A user's signed-in sessions, newest sign-in first. */
export async function sessionsOf(db: Db, userId: string, currentId?: string): Promise<SessionSummary[]> {
  const sessions = await listAccountPayloads(db, userId, 'Session');
  return sessions.map((s) => summarize(s, userId, currentId)).sort((a, b) => b.loginTs - a.loginTs);
}

/** Every signed-in session of the household, newest sign-in first. */
export async function householdSessions(db: Db): Promise<SessionSummary[]> {
  const sessions = (await listSignedInPayloads(db, 'Session')).map((s) => summarize(s, s.accountId)).filter((s) => s.loginTs > 0);
  return sessions.sort((a, b) => b.loginTs - a.loginTs);
}

/**
 * Ends one session of this user (not someone else's) as the console ends one: with the grants it authorised, so
 * that an app's refresh tokens (kubectl's, an offline_access app's) stop working too (revokeSessionAndGrants).
 */
export async function endSession(db: Db, userId: string, session: Pick<SessionSummary, 'id' | 'grants'>): Promise<boolean> {
  const found = await findAccountSession(db, session.id);
  if (!found || found.userId !== userId) return false;
  await revokeSessionAndGrants(db, session);
  return true;
}

export interface ConnectedApp { grantId: string; clientId: string; scopes: string[] }

/** The apps a user granted access to (one grant each), with the scopes granted. */
export async function appsOf(db: Db, userId: string): Promise<ConnectedApp[]> {
  const grants = await listAccountPayloads(db, userId, 'Grant');
  return grants.map((g) => {
    const payload = g.payload as GrantPayload;
    return { grantId: g.id, clientId: String(payload.clientId), scopes: String(payload.openid?.scope ?? '').split(' ').filter(Boolean) };
  });
}

/** Revokes a grant: the grant and every token issued under it (refresh, access, codes). */
export async function revokeGrant(db: Db, grantId: string): Promise<void> {
  await deletePayloadsByGrant(db, grantId);
  await deletePayload(db, 'Grant', grantId);
}

/** Revokes an app of this user (not someone else's grant). */
export async function revokeConnectedApp(db: Db, userId: string, grantId: string): Promise<boolean> {
  if (!(await appsOf(db, userId)).some((a) => a.grantId === grantId)) return false;
  await revokeGrant(db, grantId);
  return true;
}

/** Ends a session and revokes the grants it authorised: the apps' refresh tokens stop working too. */
export async function revokeSessionAndGrants(db: Db, session: Pick<SessionSummary, 'id' | 'grants'>): Promise<void> {
  for (const grantId of session.grants) await revokeGrant(db, grantId);
  await deletePayload(db, 'Session', session.id);
}

/** Ends every session of a user and revokes every grant (so their refresh tokens stop working); returns how many sessions. */
export async function endEverySession(db: Db, userId: string): Promise<number> {
  const [sessions, grants] = await Promise.all([listAccountPayloads(db, userId, 'Session'), listAccountPayloads(db, userId, 'Grant')]);
  for (const grant of grants) await revokeGrant(db, grant.id);
  for (const session of sessions) await deletePayload(db, 'Session', session.id);
  return sessions.length;
}
