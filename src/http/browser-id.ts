// Tells browsers apart for sign-in alerts: a long-lived random cookie (no other use, no personal data), whose
// hash and the browser's name ("Chrome on Android") go with every audit event recorded during the request.
import { createHash, randomBytes } from 'node:crypto';
import type { Middleware } from 'koa';
import { browserLabel, withBrowser } from '../auth/alerts/devices.js';

const cookieName = 'accouch.browser';
const maxAge = 400 * 86400 * 1000;

/** Whether a Set-Cookie value is the browser's id: an error answer keeps it (http/errors.ts dropHandlerHeaders). */
export const isBrowserCookie = (setCookie: string) => setCookie.startsWith(`${cookieName}=`);

export function browserContext(): Middleware {
  return async (ctx, next) => {
    let id = ctx.cookies.get(cookieName);
    if (!id || !/^[\w-]{22,64}$/.test(id)) {
      id = randomBytes(16).toString('base64url');
      ctx.cookies.set(cookieName, id, { httpOnly: true, sameSite: 'lax', maxAge, secure: ctx.secure, overwrite: true, signed: false });
    }
    const browser = createHash('sha256').update(id).digest('base64url').slice(0, 22);
    const agent = ctx.get('user-agent');
    await withBrowser({ browser, ...(agent ? { agent: browserLabel(agent) } : {}) }, next);
  };
}
