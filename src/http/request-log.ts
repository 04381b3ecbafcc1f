// A request id on every request (the caller's X-Request-Id when it is sane) and one access line when the answer
// has gone out. Both are paid on every request, JWKS and token calls included, so both are cheap: the id is this
// process's random prefix and a counter (no random bytes per request), and the request's child logger is made
// only when a handler logs something.
import { randomBytes } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from '../log.js';

/** `log`: what handlers log through (ctx.state.log); `accessLog`: where the one line per request goes. */
export function requestLog(log: Logger, accessLog: Logger): Middleware {
  const prefix = `${randomBytes(6).toString('base64url')}-`;
  let counter = 0;
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const reqId = incoming && /^[\w.-]{1,64}$/.test(incoming) ? incoming : prefix + (++counter).toString(36);
    let child: Logger | undefined;
    Object.defineProperty(ctx.state, 'log', { get: () => (child ??= log.child({ reqId })), enumerable: true, configurable: true });
    ctx.set('x-request-id', reqId);
    const started = performance.now();
    ctx.res.once('finish', () => {
      // The path only: query strings carry codes and state.
      accessLog.info({ reqId, method: ctx.method, path: ctx.path, status: ctx.res.statusCode, ms: Math.round(performance.now() - started) }, 'request');
    });
    await next();
  };
}
