// One commit per request at most: a request's writes are acknowledged as soon as they are executed, and its answer
// leaves only once they are on disk. Koa's own answers settle after the middleware chain; answers written straight
// to the response (oidc-provider's, on the engine's lane and after interactionFinished, and the proxies' forward-auth
// check) settle in the response's end().
import type { ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import type { Logger } from '../log.js';
import type { RequestWrites } from '../store/sqlite-writer.js';
import { dropHandlerHeaders, headersNow } from './errors.js';

/** What a request whose writes the disk refused answers instead: a 503 page or JSON saying so. */
export type UnavailableAnswer = (accepts: 'html' | 'json', message: string) => { type: string; body: string };

/**
 * Holds `res.end` until the current request's writes are on disk (call it inside `writes.run`); if they could not be
 * made durable the answer becomes a 503 saying so, in the form `accepts` asks for, with the headers of `before`
 * (headersNow), and `log` hears why.
 */
export function endOnceSettled(
  res: ServerResponse, writes: RequestWrites, answer: UnavailableAnswer, accepts: () => 'html' | 'json', log: () => Logger | undefined,
  before = headersNow(res),
): void {
  // What every answer carries (the request id, the security headers) stays on the 503; the handler's own go, but
  // for the browser's id and CORS (dropHandlerHeaders).
  // Answers within koa that settle after the chain get its error middleware's 503 instead (settleWrites).
  const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
  res.end = ((...args: unknown[]) => {
    // The error middleware has already turned a failed write into its 503.
    if (res.statusCode === 503 && writes.failure()) return end(...args);
    writes.settle().then(() => end(...args), (error: Error) => {
      log()?.error({ event: 'storage.unavailable', err: error }, 'a write failed: the answer is a 503');
      // The status line is out already (an answer that streams): cut it short rather than let it look complete.
      if (res.headersSent) return void res.destroy(error);
      dropHandlerHeaders(res, before);
      const { type, body } = answer(accepts(), error.message);
      res.statusCode = 503;
      res.setHeader('content-type', type);
      res.setHeader('cache-control', 'no-store');
      end(body);
    }).catch((again: unknown) => {
      // The 503 itself could not be made: nothing more to say than cutting the answer short.
      log()?.error({ err: again }, 'the answer to a failed write failed');
      res.destroy();
    });
    return res;
  }) as typeof res.end;
}

export function settleWrites(writes: RequestWrites, answer: UnavailableAnswer): Middleware {
  return (ctx, next) => writes.run(async () => {
    endOnceSettled(ctx.res, writes, answer, () => (ctx.accepts('html', 'json') === 'json' ? 'json' : 'html'), () => ctx.state.log as Logger | undefined);
    await next();
    // Settled here too, so that a failure reaches the error middleware while koa can still answer.
    if (ctx.respond !== false) await writes.settle();
  });
}
