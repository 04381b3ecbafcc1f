// Tells browsers apart for sign-in alerts: the browser's id cookie (browser-cookie.ts), whose hash and the browser's
// name ("Chrome on Android") go with every audit event recorded during the request.
import { createHash } from 'node:crypto';
import type { Middleware } from 'koa';
import { browserLabel, withBrowser } from '../auth/alerts/devices.js';
import { browserIdOf } from './browser-cookie.js';

export function browserContext(): Middleware {
  return async (ctx, next) => {
    const browser = createHash('sha256').update(browserIdOf(ctx)).digest('base64url').slice(0, 22);
    const agent = ctx.get('user-agent');
    await withBrowser({ browser, ...(agent ? { agent: browserLabel(agent) } : {}) }, next);
  };
}
