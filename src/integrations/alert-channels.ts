// How alerts leave Accouch: Web Push (RFC 8030 with RFC 8291 encryption and RFC 8292 VAPID, by `web-push`),
// email over SMTP (`nodemailer`), and a JSON webhook. Each send throws on failure so the outbox retries it.
// Both libraries load on first use (nodemailer only when a mail server is set): together they cost every
// server start about 20 MB of memory and a third of its time, and most households get few alerts.
import { generateKeyPairSync } from 'node:crypto';
import type { Config } from '../config.js';

export interface VapidKeys { publicKey: string; privateKey: string }

/**
 * A new VAPID key pair (P-256), base64url, as browsers take the public half (`applicationServerKey`): the
 * uncompressed point (65 bytes) and the 32-byte private scalar, the form web-push reads.
 */
export function generateVapidKeys(): VapidKeys {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const { x, y, d } = privateKey.export({ format: 'jwk' });
  const bytes = (b64: string | undefined) => Buffer.from(b64!, 'base64url');
  return { publicKey: Buffer.concat([Buffer.from([4]), bytes(x), bytes(y)]).toString('base64url'), privateKey: bytes(d).toString('base64url') };
}

export interface ChannelSettings {
  issuer: string;
  notify: Config['notify'];
  smtp: Config['smtp'];
  vapid: VapidKeys;
}

/** The From address: smtp.from, or accouch@ the issuer's host. */
const senderOf = (settings: ChannelSettings) => settings.smtp.from ?? `Accouch <accouch@${new URL(settings.issuer).hostname}>`;

export async function createMailer(settings: ChannelSettings) {
  const { smtp, notify } = settings;
  if (!smtp.host) return undefined;
  const { default: nodemailer } = await import('nodemailer');
  const transport = nodemailer.createTransport({
    host: smtp.host,
    port: smtp.port,
    secure: smtp.security === 'tls',
    requireTLS: smtp.security === 'starttls',
    ignoreTLS: smtp.security === 'none',
    auth: smtp.user ? { user: smtp.user, pass: smtp.password ?? '' } : undefined,
    connectionTimeout: notify.timeout * 1000,
    greetingTimeout: notify.timeout * 1000,
    socketTimeout: notify.timeout * 1000,
    logger: false,
  });
  return {
    async send(to: string, message: { subject: string; text: string; html: string }): Promise<void> {
      await transport.sendMail({ from: senderOf(settings), to, subject: message.subject, text: message.text, html: message.html });
    },
    close: () => transport.close(),
  };
}

export type Mailer = NonNullable<Awaited<ReturnType<typeof createMailer>>>;

export function createAlertChannels(settings: ChannelSettings, mailer: Mailer | undefined) {
  const { notify, vapid } = settings;
  const vapidDetails = { subject: notify.pushContact ?? `mailto:accouch@${new URL(settings.issuer).hostname}`, publicKey: vapid.publicKey, privateKey: vapid.privateKey };
  let webpush: typeof import('web-push') | undefined;
  return {
    async push(target: { endpoint: string; keys: { p256dh: string; auth: string } }, payload: string): Promise<'sent' | 'gone'> {
      webpush ??= (await import('web-push')).default;
      try {
        await webpush.sendNotification(target, payload, { vapidDetails, TTL: 86400, urgency: 'high', timeout: notify.timeout * 1000, contentEncoding: 'aes128gcm' });
        return 'sent';
      } catch (error) {
        const status = (error as { statusCode?: number }).statusCode;
        if (status === 404 || status === 410) return 'gone';
        // WebPushError carries the endpoint and headers (our VAPID token): only the status goes on.
        throw new Error(status ? `push service answered ${status}` : `push service unreachable: ${(error as Error).message}`);
      }
    },
    async email(to: string, message: { subject: string; text: string; html: string }): Promise<void> {
      if (!mailer) throw new Error('email is not configured (smtp.host)');
      await mailer.send(to, message);
    },
    async webhook(body: Record<string, unknown>): Promise<void> {
      if (!notify.webhookUrl) return;
      const res = await fetch(notify.webhookUrl, {
        method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), redirect: 'error', signal: AbortSignal.timeout(notify.timeout * 1000),
      });
      await res.body?.cancel();
      if (!res.ok) throw new Error(`webhook answered ${res.status}`);
    },
  };
}

/** The owner's test message (CLI `test-email`, the console's Alerts page): proves the mail server takes ours. */
export async function sendTestEmail(mailer: Mailer, issuer: string, to: string): Promise<void> {
  if (!/^[^\s@]+@[^\s@]+$/.test(to)) throw new Error(`${to} is not an email address`);
  await mailer.send(to, {
    subject: 'Accouch: test message',
    text: `This is a test message from Accouch at ${issuer}. Sign-in alerts by email will arrive like this one.\n`,
    html: '<!doctype html><html><body><p>This is a test message from Accouch. Sign-in alerts by email will arrive like this one.</p></body></html>',
  });
}
