// The background half of alerts: fans recorded events out into deliveries, then sends what is due with retries
// (doubling from notify.retrySeconds, at most an hour apart) until it is a day old. A delivery is leased before it
// is sent, so two replicas never send one twice; one that succeeded is deleted, so a restart sends it no more.
// Nothing here runs inside a request: a slow or hanging push service never holds up a sign-in.
import type { Config } from '../../config.js';
import type { Db } from '../../store/db.js';
import { epoch } from '../../store/db.js';
import {
  deleteDelivery, deleteExpiredAlerts, deletePushSubscription, findAlert, findPushSubscription, leaseDelivery, listDueDeliveries, retryDeliveryAt,
  type Delivery,
} from '../../store/alerts.js';
import type { SecretBox } from '../secret-key.js';
import { alertMaxAge, fanOutPending } from './fan-out.js';
import { alertToken } from './link.js';
import { describeAlert, type AlertMessage } from './message.js';

export interface PushTarget { endpoint: string; keys: { p256dh: string; auth: string } }
export interface EmailMessage { subject: string; text: string; html: string }

/** How alerts leave (integrations/alert-channels.ts); each throws to be retried. */
export interface AlertChannels {
  /** 'gone': the push service no longer knows the subscription (404/410), so it is removed. */
  push(target: PushTarget, payload: string): Promise<'sent' | 'gone'>;
  email(to: string, message: EmailMessage): Promise<void>;
  webhook(body: Record<string, unknown>): Promise<void>;
}

/** The few logger methods used here (pino's, handed in by main). */
type LogFn = (fields: Record<string, unknown>, message: string) => void;
export interface AlertLog { info: LogFn; warn: LogFn; error: LogFn }

export interface AlertWorkerDeps {
  db: Db;
  log: AlertLog;
  box: SecretBox;
  issuer: string;
  notify: Config['notify'];
  emailEnabled: boolean;
  accountClientId: string;
  channels: AlertChannels;
}

const escapeHtml = (s: string) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** The email of an alert: plain text plus simple HTML, with the link to the details and "This wasn't me". */
export function alertEmail(message: AlertMessage, link: string): EmailMessage {
  const text = `${message.body}\n\nDetails, and "This wasn't me" if it was not you (valid 7 days, one use):\n${link}\n\n-- Accouch\n`;
  const html = `<!doctype html><html><body><p>${escapeHtml(message.body)}</p><p><a href="${escapeHtml(link)}">Details, and &ldquo;This wasn't me&rdquo;</a> (valid 7 days, one use)</p><p>&mdash; Accouch</p></body></html>`;
  return { subject: `Accouch: ${message.title}`, text, html };
}

export function createAlertWorker(deps: AlertWorkerDeps) {
  const { db, box, notify, channels } = deps;
  const { log } = deps;
  const detailsUrl = (alertId: string) => `${deps.issuer.replace(/\/$/, '')}/alerts?token=${alertToken(box, alertId)}`;

  /** Sends one delivery; true when it is done with (sent, or the subscription is gone). */
  async function send(delivery: Delivery): Promise<boolean> {
    const alert = await findAlert(db, delivery.alert_id);
    if (!alert) return true;
    const message = describeAlert(alert);
    switch (delivery.channel) {
      case 'push': {
        const sub = await findPushSubscription(db, delivery.target);
        if (!sub) return true;
        const payload = JSON.stringify({ title: message.title, body: message.body, url: detailsUrl(alert.id), tag: alert.id, kind: message.kind, at: message.at });
        if ((await channels.push({ endpoint: sub.endpoint, keys: { p256dh: sub.p256dh, auth: sub.auth } }, payload)) === 'gone') {
          await deletePushSubscription(db, sub.id);
          log.info({ event: 'alert.push_gone', subscription: sub.id }, 'the push service no longer knows a subscription: removed');
        }
        return true;
      }
      case 'email':
        await channels.email(delivery.target, alertEmail(message, detailsUrl(alert.id)));
        return true;
      case 'webhook':
        // The household's channel: what happened, never the link (it would let anyone reading it sign a person out).
        await channels.webhook({ kind: message.kind, title: message.title, message: message.body, user: message.username, network: message.network ?? null, app: message.app ?? null, at: message.at });
        return true;
    }
  }

  async function attempt(delivery: Delivery, now: number): Promise<void> {
    if (delivery.created_at < now - alertMaxAge) {
      await deleteDelivery(db, delivery.id);
      log.warn({ event: 'alert.dropped', delivery: delivery.id, channel: delivery.channel, attempts: delivery.attempts }, 'alert not delivered within a day: dropped');
      return;
    }
    // Leased for longer than a send may take: a replica that dies mid-send leaves it to be retried after that.
    if (!(await leaseDelivery(db, delivery, now + notify.timeout + 30))) return;
    try {
      await send(delivery);
      await deleteDelivery(db, delivery.id);
      log.info({ event: 'alert.delivered', delivery: delivery.id, channel: delivery.channel }, 'alert delivered');
    } catch (error) {
      const wait = Math.min(3600, notify.retrySeconds * 2 ** delivery.attempts);
      await retryDeliveryAt(db, delivery.id, epoch() + wait);
      // The error's message only: a library error may carry the request (and its headers) with it.
      log.warn({ event: 'alert.retry', delivery: delivery.id, channel: delivery.channel, attempts: delivery.attempts + 1, retryIn: wait, reason: String((error as Error)?.message ?? error).slice(0, 200) }, 'alert delivery failed: will retry');
    }
  }

  let running: Promise<void> | undefined;
  /** One round: fan out new events, then send what is due (in parallel: one hanging service holds up no other). */
  async function tick(now = epoch()): Promise<void> {
    await fanOutPending(db, { notify, email: deps.emailEnabled, accountClientId: deps.accountClientId },
      (event, error) => log.error({ err: error, audit: event.id }, 'could not make alerts of an event: skipped'), now);
    const due = await listDueDeliveries(db, now);
    await Promise.all(due.map((d) => attempt(d, now)));
    await deleteExpiredAlerts(db, now);
  }

  let timer: NodeJS.Timeout | undefined;
  return {
    tick,
    /** Runs a round every `intervalMs` (a round still running is not started twice). */
    start(intervalMs = 1000) {
      timer = setInterval(() => {
        if (running) return;
        running = tick().catch((error) => log.error({ err: error }, 'alert round failed')).finally(() => { running = undefined; });
      }, intervalMs);
      timer.unref();
    },
    /** Stops starting rounds; resolves when the current one ends. */
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
