// Turns recorded security events into alerts: which events alert whom (the person, and the owner for the
// household's outside sign-ins, locks and "This wasn't me"), and the deliveries each person's choices ask for.
// Runs in the background on what the audit table holds, so every door that records an event alerts alike.
import { randomBytes } from 'node:crypto';
import type { AlertChannel, AlertKind, Config } from '../../config.js';
import type { Db } from '../../store/db.js';
import { epoch } from '../../store/db.js';
import {
  clearStepUp, countSeen, hasStepUp, insertAlert, insertDeliveries, listGroupMemberIds, listPendingEvents, listPushSubscriptions, markSeen,
  takePendingEvent, type PendingEvent,
} from '../../store/alerts.js';
import { findClient } from '../../store/clients.js';
import { findThrottle } from '../../store/throttle.js';
import { findUserById, findUserByUsername } from '../../store/users.js';
import type { AlertOutboxTable } from '../../store/schema.js';
import { satisfies, type Acr } from '../policy.js';
import { factorsOf } from '../sign-in/factors.js';
import { maxConsecutiveFailures, throttleKeys } from '../throttle.js';
import { alertLinkTtl } from './link.js';
import { prefsOf } from './prefs.js';
import { strongestAcr } from './step-up.js';

/** Events older than this are not worth an alert any more (and neither is their delivery). */
export const alertMaxAge = 86400;

type Executor = Db;

/** What an event is about, before anyone is chosen to hear of it. */
export interface Happening {
  kind: AlertKind;
  subjectId: string;
  /** The owner (group `admins`) hears of it too. */
  household: boolean;
  detail: Record<string, unknown>;
}

const factorEvents: Record<string, string> = {
  'passkey.registered': 'A passkey was added', 'security_key.registered': 'A security key was added',
  'passkey.removed': 'A passkey was removed', 'security_key.removed': 'A security key was removed',
  'totp.enrolled': 'An authenticator app was set up', 'totp.removed': 'The authenticator app was removed',
  'password.changed': 'The password was changed', 'password.removed': 'The password was removed',
  'user.password_changed': 'The password was changed', 'recovery.regenerated': 'New recovery codes were made',
};
const linkEvents: Record<string, string> = {
  'setup.completed': 'The setup link was used', 'user.invite_accepted': 'An invitation was accepted', 'user.reset_completed': 'A reset link was used',
};

const str = (v: unknown) => (typeof v === 'string' && v ? v : undefined);

/** The happenings of one event (most events: none); remembers browsers, apps and locks seen on the way. */
export async function happeningsOf(trx: Executor, e: PendingEvent, accountClientId: string): Promise<Happening[]> {
  const subjectId = str(e.detail.user) ?? (e.actor && e.actor !== 'cli' ? e.actor : undefined);
  const base = { ip: e.ip ?? undefined, agent: str(e.detail.agent), event: e.event };
  if (e.event === 'login.success' && e.actor) {
    const out: Happening[] = [];
    const browser = str(e.detail.browser);
    // A browser is new only for someone who signed in from another one before: not on the very first sign-in.
    const knownBrowsers = browser ? await countSeen(trx, e.actor, 'browser') : 0;
    const newBrowser = browser ? (await markSeen(trx, e.actor, 'browser', browser, e.at)) && knownBrowsers > 0 : false;
    const client = str(e.detail.client);
    const clientName = client ? ((await findClient(trx, client))?.config.name ?? client) : undefined;
    const detail = { ...base, network: e.detail.network, client: client === accountClientId ? undefined : clientName, newBrowser };
    if (e.detail.network === 'outside') out.push({ kind: 'outside', subjectId: e.actor, household: true, detail });
    else if (newBrowser) out.push({ kind: 'newBrowser', subjectId: e.actor, household: false, detail });
    // A first sign-in to an app is its own alert only when no other names it already.
    if (client && client !== accountClientId && (await markSeen(trx, e.actor, 'app', client, e.at)) && !out.length) {
      out.push({ kind: 'newApp', subjectId: e.actor, household: false, detail });
    }
    await settleStepUp(trx, e.actor, e.detail.acr);
    return out;
  }
  if (e.event === 'login.failure' && e.actor) {
    const user = await findUserById(trx, e.actor);
    const network = e.detail.network === 'outside' ? 'outside' : 'home';
    const row = user && (await findThrottle(trx, throttleKeys(user.username, undefined, network)[0]!));
    const locked = row && (Number(row.locked_until) > e.at || Number(row.consecutive) >= maxConsecutiveFailures);
    // One alert per lock: a lock's failures share the window's first failure.
    if (!locked || !(await markSeen(trx, e.actor, 'lock', `${network}:${String(row.first_failure_at)}`, e.at))) return [];
    return [{ kind: 'locked', subjectId: e.actor, household: true, detail: { ...base, network } }];
  }
  if (e.event === 'login.locked') {
    // The day-long lock after 100 failures in a row (auth/throttle.ts), recorded by username.
    const user = typeof e.detail.username === 'string' ? await findUserByUsername(trx, e.detail.username) : undefined;
    if (!user || !(await markSeen(trx, user.id, 'lock', `lockout:${String(e.detail.until)}`, e.at))) return [];
    return [{ kind: 'locked', subjectId: user.id, household: true, detail: { ...base, network: e.detail.network } }];
  }
  if (e.event === 'alert.not_me' && e.actor) return [{ kind: 'notMe', subjectId: e.actor, household: true, detail: { ...base, about: e.detail.kind } }];
  if (subjectId && factorEvents[e.event]) return [{ kind: 'factor', subjectId, household: false, detail: { ...base, what: factorEvents[e.event] } }];
  if (subjectId && linkEvents[e.event]) return [{ kind: 'link', subjectId, household: false, detail: { ...base, what: linkEvents[e.event] } }];
  return [];
}

/** A sign-in at the person's strongest factor ends the step-up that "This wasn't me" asked for. */
async function settleStepUp(trx: Executor, userId: string, acr: unknown): Promise<void> {
  if (!(await hasStepUp(trx, userId))) return;
  const user = await findUserById(trx, userId);
  if (user && satisfies(acr as Acr, strongestAcr(await factorsOf(trx, user)))) await clearStepUp(trx, userId);
}

export interface FanOutSettings {
  notify: Config['notify'];
  /** Whether email can be sent (smtp.host set). */
  email: boolean;
  accountClientId: string;
}

/** Who hears of a happening: the person, and the owner(s) when it is the household's business. */
async function recipientsOf(trx: Executor, h: Happening): Promise<string[]> {
  const people = h.kind === 'notMe' ? [] : [h.subjectId];
  if (h.household) for (const admin of await listGroupMemberIds(trx, 'admins')) if (!people.includes(admin)) people.push(admin);
  return people;
}

/** The alert rows and deliveries of one event, written in one transaction with taking it. */
async function fanOutEvent(db: Db, e: PendingEvent, settings: FanOutSettings, now: number): Promise<number> {
  return db.transaction().execute(async (trx) => {
    if (!(await takePendingEvent(trx, e.id))) return 0;
    if (e.at < now - alertMaxAge) return 0;
    let made = 0;
    for (const h of await happeningsOf(trx, e, settings.accountClientId)) {
      const subject = await findUserById(trx, h.subjectId);
      if (!subject) continue;
      let first: string | undefined;
      for (const recipientId of await recipientsOf(trx, h)) {
        const recipient = recipientId === subject.id ? subject : await findUserById(trx, recipientId);
        if (!recipient) continue;
        const id = randomBytes(12).toString('base64url');
        first ??= id;
        const detail = { ...h.detail, username: subject.username, name: subject.name, forSomeoneElse: recipient.id !== subject.id };
        await insertAlert(trx, { id, recipient_id: recipient.id, subject_id: subject.id, kind: h.kind, audit_id: e.id, at: e.at, detail: JSON.stringify(detail), expires_at: e.at + alertLinkTtl, used_at: null });
        const channels: AlertChannel[] = (await prefsOf(trx, recipient.id, settings.notify))[h.kind];
        const delivery = (channel: AlertOutboxTable['channel'], target: string): AlertOutboxTable => ({
          id: randomBytes(12).toString('base64url'), alert_id: id, channel, target, attempts: 0, next_at: now, created_at: now,
        });
        const rows: AlertOutboxTable[] = [];
        if (channels.includes('push')) for (const sub of await listPushSubscriptions(trx, recipient.id)) rows.push(delivery('push', sub.id));
        if (channels.includes('email') && settings.email && recipient.email) rows.push(delivery('email', recipient.email));
        await insertDeliveries(trx, rows);
        made += 1;
      }
      // The household's webhook hears of each happening once, whoever else does.
      if (first && settings.notify.webhookUrl && settings.notify.webhookEvents.includes(h.kind)) {
        await insertDeliveries(trx, [{ id: randomBytes(12).toString('base64url'), alert_id: first, channel: 'webhook', target: '', attempts: 0, next_at: now, created_at: now }]);
      }
    }
    return made;
  });
}

/**
 * Fans out every pending event, oldest first; returns how many alerts were made. An event that cannot be fanned
 * out is reported and set aside, so it cannot hold up the ones after it.
 */
export async function fanOutPending(db: Db, settings: FanOutSettings, onError: (event: PendingEvent, error: unknown) => void, now = epoch()): Promise<number> {
  let made = 0;
  for (;;) {
    const events = await listPendingEvents(db);
    for (const e of events) {
      try {
        made += await fanOutEvent(db, e, settings, now);
      } catch (error) {
        onError(e, error);
        await takePendingEvent(db, e.id);
      }
    }
    if (events.length < 50) return made;
  }
}
