// Kept for code written against it before oidc/sessions.ts took over the Session and Grant shapes (forward-auth
// is built in parallel on this name): new code imports oidc/sessions.ts. Remove once nothing imports it.
export {
  appsOf as listConnectedApps, endSession, findAccountSession, isFresh, revokeConnectedApp, sessionsOf as listSessions,
  type AccountSession, type ConnectedApp, type SessionSummary,
} from '../oidc/sessions.js';
