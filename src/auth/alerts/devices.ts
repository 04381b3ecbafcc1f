// A person's browsers for alerts: their names, and the push subscriptions of those that asked to be notified.
import { randomBytes } from 'node:crypto';
import type { Db } from '../../store/db.js';
import { epoch } from '../../store/db.js';
import { withAuditContext, type AuditContext } from '../../store/audit.js';
import { deletePushSubscription, listPushSubscriptions, savePushSubscription } from '../../store/alerts.js';
import { badRequest } from '../../errors.js';

/** A browser as a person would name it, from its User-Agent: "Chrome on Android". */
export function browserLabel(userAgent: string): string {
  const browser = /Edg\//.test(userAgent) ? 'Edge' : /Firefox\//.test(userAgent) ? 'Firefox' : /Chrom(e|ium)\//.test(userAgent) ? 'Chrome' : /Safari\//.test(userAgent) ? 'Safari' : 'A browser';
  const system = /Android/.test(userAgent) ? 'Android' : /iPhone|iPad/.test(userAgent) ? 'iOS' : /Mac OS X/.test(userAgent) ? 'macOS' : /Windows/.test(userAgent) ? 'Windows' : /Linux/.test(userAgent) ? 'Linux' : '';
  return system ? `${browser} on ${system}` : browser;
}

/** Runs a request so that the security events it records name its browser. */
export const withBrowser = <T>(context: AuditContext, fn: () => T): T => withAuditContext(context, fn);

const b64url = (value: unknown, min: number, max: number) => typeof value === 'string' && /^[A-Za-z0-9_-]+=*$/.test(value) && value.length >= min && value.length <= max;

/** Saves the subscription a browser's PushManager gave (its toJSON()); 400 for anything else. */
export async function addPushDevice(db: Db, userId: string, body: unknown, userAgent: string, now = epoch()): Promise<void> {
  const sub = (body ?? {}) as { endpoint?: unknown; keys?: { p256dh?: unknown; auth?: unknown } };
  const endpoint = typeof sub.endpoint === 'string' && sub.endpoint.length <= 2048 && URL.canParse(sub.endpoint) ? new URL(sub.endpoint) : undefined;
  // RFC 8291: p256dh is an uncompressed P-256 point (65 bytes), auth a 16-byte secret, both base64url.
  if (!endpoint || endpoint.protocol !== 'https:' || !b64url(sub.keys?.p256dh, 86, 90) || !b64url(sub.keys?.auth, 22, 24)) {
    throw badRequest('Not a push subscription: expected an https endpoint and its p256dh and auth keys.');
  }
  await savePushSubscription(db, {
    id: randomBytes(12).toString('base64url'), user_id: userId, endpoint: endpoint.href, p256dh: String(sub.keys!.p256dh), auth: String(sub.keys!.auth),
    label: browserLabel(userAgent), created_at: now,
  });
}

export const listPushDevices = (db: Db, userId: string) => listPushSubscriptions(db, userId);
export const removePushDevice = (db: Db, userId: string, id: string) => deletePushSubscription(db, id, userId);
