// How a one-time link is handed to another device: the URL, a QR code of it (PNG data URL, so a phone's camera or
// a test can read it) and the short code to type at /join. Used by the owner console and the account page.
import type { IssuedLink } from '../auth/enrol.js';
import { enrolPath } from './enrol.js';
import type { EnrolPurpose } from '../auth/enrol.js';

export interface SharedLink { url: string; qr: string; code: string; joinUrl: string; expiresAt: number }

export async function shareLink(issuer: string, purpose: EnrolPurpose, link: IssuedLink): Promise<SharedLink> {
  const root = issuer.replace(/\/$/, '');
  const url = `${root}${enrolPath(purpose)}?token=${encodeURIComponent(link.token)}`;
  const { toDataURL } = await import('qrcode');
  const qr = await toDataURL(url, { errorCorrectionLevel: 'M', margin: 2, scale: 6 });
  return { url, qr, code: link.code, joinUrl: `${root}/join`, expiresAt: link.expiresAt };
}
