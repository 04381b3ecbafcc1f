// One commit per request at most: a request's writes are acknowledged as soon as they are executed, and its answer
// leaves only once they are on disk. Koa's own answers settle after the middleware chain; answers written straight
// to the response (oidc-provider's interactionFinished, its callback) settle in the response's end().
import type { Middleware } from 'koa';
import type { Logger } from '../log.js';
import type { RequestWrites } from '../store/sqlite-writer.js';

/** What a request whose writes the disk refused answers instead: a 503 page or JSON saying so. */
export type UnavailableAnswer = (accepts: 'html' | 'json', message: string) => { type: string; body: string };

export function settleWrites(writes: RequestWrites, answer: UnavailableAnswer): Middleware {
  return (ctx, next) => writes.run(async () => {
    const { res } = ctx;
    const end = res.end.bind(res) as (...args: unknown[]) => typeof res;
    res.end = ((...args: unknown[]) => {
      // The error middleware has already turned a failed write into its 503.
      if (res.statusCode === 503 && writes.failure()) return end(...args);
      writes.settle().then(() => end(...args), (error: Error) => {
        (ctx.state.log as Logger | undefined)?.error({ event: 'storage.unavailable', err: error }, 'a write failed: the answer is a 503');
        // The status line is out already (an answer that streams): cut it short rather than let it look complete.
        if (res.headersSent) return void res.destroy(error);
        for (const name of res.getHeaderNames()) res.removeHeader(name);
        const { type, body } = answer(ctx.accepts('html', 'json') === 'json' ? 'json' : 'html', error.message);
        res.statusCode = 503;
        res.setHeader('content-type', type);
        res.setHeader('cache-control', 'no-store');
        end(body);
      });
      return res;
    }) as typeof res.end;
    await next();
    // Settled here too, so that a failure reaches the error middleware while koa can still answer.
    if (ctx.respond !== false) await writes.settle();
  });
}
