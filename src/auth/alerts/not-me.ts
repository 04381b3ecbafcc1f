// "This wasn't me": the link of an alert, shown as a page (looking changes nothing), then confirmed: the person
// is signed out everywhere, their apps lose their refresh tokens, their next sign-in needs their strongest
// factor, and the owner is told (the audit event alerts them). Works without being signed in: the link is the key.
import type { Db } from '../../store/db.js';
import { epoch } from '../../store/db.js';
import { findAlert, setStepUp, useAlert } from '../../store/alerts.js';
import { recordAudit } from '../../store/audit.js';
import type { AlertsTable } from '../../store/schema.js';
import { endEverySession } from '../admin.js';
import type { SecretBox } from '../secret-key.js';
import { alertIdOf } from './link.js';

export type AlertLink =
  | { status: 'valid' | 'used'; alert: AlertsTable }
  | { status: 'invalid' };

/** The alert a link names, and whether "This wasn't me" can still be confirmed with it. */
export async function openAlertLink(db: Db, box: SecretBox, token: unknown, now = epoch()): Promise<AlertLink> {
  const id = alertIdOf(box, token);
  const alert = id ? await findAlert(db, id) : undefined;
  if (!alert || alert.expires_at <= now) return { status: 'invalid' };
  return { status: alert.used_at === null ? 'valid' : 'used', alert };
}

/** Confirms "This wasn't me"; false when the link is invalid, expired or was used already. */
export async function confirmNotMe(db: Db, box: SecretBox, token: unknown, ip: string | undefined, now = epoch()): Promise<{ done: false } | { done: true; sessionsEnded: number }> {
  const link = await openAlertLink(db, box, token, now);
  if (link.status !== 'valid' || !(await useAlert(db, link.alert.id, now))) return { done: false };
  const { alert } = link;
  await setStepUp(db, alert.subject_id, now);
  // The one revocation every door uses (the owner console's disable, a reset): sessions, grants, refresh tokens.
  const sessionsEnded = await endEverySession(db, alert.subject_id);
  await recordAudit(db, { event: 'alert.not_me', actor: alert.subject_id, ip: ip ?? null, detail: { alert: alert.id, kind: alert.kind, reportedBy: alert.recipient_id, sessionsEnded } }, now);
  return { done: true, sessionsEnded };
}
