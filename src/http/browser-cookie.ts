// The browser's own id: a long-lived random cookie that only names the browser (no personal data; it proves nothing
// by itself). Sign-in alerts tell browsers apart by its hash (browser-id.ts); an enrolment link is claimed by the
// first browser that submits it (enrol.ts). One cookie, set here only.
import { randomBytes } from 'node:crypto';
import type { Context } from 'koa';

const cookieName = 'accouch.browser';
const maxAge = 400 * 86400 * 1000;

/** Whether a Set-Cookie value is the browser's id: an error answer keeps it (http/errors.ts dropHandlerHeaders). */
export const isBrowserCookie = (setCookie: string) => setCookie.startsWith(`${cookieName}=`);

/** This browser's id: from its cookie, or a new one set now (a browser without one, or with a malformed one). */
export function browserIdOf(ctx: Context): string {
  const known = ctx.state.browserId as string | undefined;
  if (known) return known;
  let id = ctx.cookies.get(cookieName);
  if (!id || !/^[\w-]{22,64}$/.test(id)) {
    id = randomBytes(16).toString('base64url');
    ctx.cookies.set(cookieName, id, { httpOnly: true, sameSite: 'lax', maxAge, secure: ctx.secure, overwrite: true, signed: false });
  }
  ctx.state.browserId = id;
  return id;
}
