// The link every alert carries: `<alert id>.<MAC>`, signed with the secret key so a guessed id is useless; the
// alert row makes it single use and expire (7 days).
import { timingSafeEqual } from 'node:crypto';
import type { SecretBox } from '../secret-key.js';

export const alertLinkTtl = 7 * 86400;

export const alertToken = (box: SecretBox, alertId: string) => `${alertId}.${box.mac('alert', alertId)}`;

/** The alert id a token names, when its signature is right. */
export function alertIdOf(box: SecretBox, token: unknown): string | undefined {
  if (typeof token !== 'string' || token.length > 200) return undefined;
  const [id, mac, extra] = token.split('.');
  if (!id || !mac || extra !== undefined) return undefined;
  const [given, expected] = [Buffer.from(mac), Buffer.from(box.mac('alert', id))];
  return given.length === expected.length && timingSafeEqual(given, expected) ? id : undefined;
}
