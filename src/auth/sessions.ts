// Ending everything a user is signed in with: browser sessions and every grant (so apps' refresh tokens stop
// working). Used by the console (disable) and by enrolment (a reset).
import type { Db } from '../store/db.js';
import { deletePayload, deletePayloadsByGrant, listAccountPayloads } from '../store/oidc-payloads.js';

/** Ends every session of a user and revokes every grant (so their refresh tokens stop working); returns how many sessions. */
export async function endEverySession(db: Db, userId: string): Promise<number> {
  const [sessions, grants] = await Promise.all([listAccountPayloads(db, userId, 'Session'), listAccountPayloads(db, userId, 'Grant')]);
  for (const grant of grants) {
    await deletePayloadsByGrant(db, grant.id);
    await deletePayload(db, 'Grant', grant.id);
  }
  for (const session of sessions) await deletePayload(db, 'Session', session.id);
  return sessions.length;
}

