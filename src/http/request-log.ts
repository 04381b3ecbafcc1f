// A request id on every request (the caller's X-Request-Id when it is sane) and one access line when the answer
// has gone out, for koa's requests and for the answers sent before koa (http/app.ts: the engine's endpoints and the
// proxies' forward-auth check) alike. Both are paid on every request, JWKS and token calls included, so both are
// cheap: the id is this process's random prefix and a counter (no random bytes per request).
import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import type { Logger } from '../log.js';

export interface RequestLog {
  /**
   * Names the request (its id goes out as X-Request-Id) and writes its access line once the answer has gone out.
   * `path` is the request's path as it came (the path only: query strings carry codes and state).
   */
  begin(req: IncomingMessage, res: ServerResponse, path: string): string;
  /** begin() for koa, plus ctx.state.log: a child logger with the request id. */
  middleware: Middleware;
}

/** Fields added to a request's access line, by its response object: what a handler would otherwise say in a line of its own. */
export interface AccessLineNotes {
  /** Adds names and values, never a secret (the access log skips redaction), to the line of the request answered on `res`. */
  add(res: object, fields: Record<string, string | number | undefined>): void;
  of(res: object): Record<string, string | number | undefined> | undefined;
}

export function createAccessLineNotes(): AccessLineNotes {
  const notes = new WeakMap<object, Record<string, string | number | undefined>>();
  return {
    add: (res, fields) => void notes.set(res, { ...notes.get(res), ...fields }),
    of: (res) => notes.get(res),
  };
}

const saneId = /^[\w.-]{1,64}$/;

/**
 * `log`: what handlers log through (ctx.state.log); `accessLog`: where the one line per request goes; `notes`: what
 * handlers outside koa's reach (oidc-provider's events) add to that line.
 */
export function createRequestLog(log: Logger, accessLog: Logger, notes?: AccessLineNotes): RequestLog {
  const prefix = `${randomBytes(6).toString('base64url')}-`;
  let counter = 0;

  const begin = (req: IncomingMessage, res: ServerResponse, path: string) => {
    const incoming = req.headers['x-request-id'];
    const reqId = typeof incoming === 'string' && saneId.test(incoming) ? incoming : prefix + (++counter).toString(36);
    res.setHeader('x-request-id', reqId);
    const started = performance.now();
    res.once('finish', () => {
      accessLog.info({ reqId, method: req.method, path, status: res.statusCode, ms: Math.round(performance.now() - started), ...notes?.of(res) }, 'request');
    });
    return reqId;
  };

  return {
    begin,
    middleware: (ctx, next) => {
      const reqId = begin(ctx.req, ctx.res, ctx.path);
      // Made at once (a pino child costs ~0.3 µs): a getter defined per request has V8 keep its getter pair in the old
      // generation, and with it the closure and what that holds, until a full collection (scripts/oidc-context-property.mjs).
      ctx.state.log = log.child({ reqId });
      return next();
    },
  };
}
