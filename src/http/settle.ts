// One commit per request at most: a request's writes are acknowledged as soon as they are executed, and its answer
// leaves only once they are on disk. Koa's own answers settle after the middleware chain; answers written straight
// to the response (oidc-provider's interactionFinished, its callback) settle in the response's end().
import type { ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import type { Logger } from '../log.js';
import type { RequestWrites } from '../store/sqlite-writer.js';

/** What a request whose writes the disk refused answers instead: a 503 page or JSON saying so. */
export type UnavailableAnswer = (accepts: 'html' | 'json', message: string) => { type: string; body: string };

/**
 * Holds the end of `res` until the current request's writes are on disk (inside writes.run); when the disk refused
 * one, the answer becomes a 503 (`unavailable`, chosen when it is needed) and `log` says why.
 */
export function holdUntilSettled(writes: RequestWrites, res: ServerResponse, unavailable: (message: string) => { type: string; body: string }, log: () => Logger | undefined): void {
  const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
  res.end = ((...args: unknown[]) => {
    // The error middleware has already turned a failed write into its 503.
    if (res.statusCode === 503 && writes.failure()) return end(...args);
    writes.settle().then(() => end(...args), (error: Error) => {
      log()?.error({ event: 'storage.unavailable', err: error }, 'a write failed: the answer is a 503');
      // The status line is out already (an answer that streams): cut it short rather than let it look complete.
      if (res.headersSent) return void res.destroy(error);
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      const { type, body } = unavailable(error.message);
      res.statusCode = 503;
      res.setHeader('content-type', type);
      res.setHeader('cache-control', 'no-store');
      end(body);
    });
    return res;
  }) as typeof res.end;
}

export function settleWrites(writes: RequestWrites, answer: UnavailableAnswer): Middleware {
  return (ctx, next) => writes.run(async () => {
    holdUntilSettled(writes, ctx.res, (message) => answer(ctx.accepts('html', 'json') === 'json' ? 'json' : 'html', message), () => ctx.state.log as Logger | undefined);
    await next();
    // Settled here too, so that a failure reaches the error middleware while koa can still answer.
    if (ctx.respond !== false) await writes.settle();
  });
}
