// The one error middleware: exposed 4xx keep their message, anything else is logged and shown as a generic 500.
// HTML or JSON by what the client accepts; never a stack trace.
import type { Middleware } from 'koa';
import { AppError } from '../errors.js';
import type { Render } from './views.js';

export function handleErrors(render: Render): Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (error) {
      const appError = error instanceof AppError ? error : undefined;
      const status = appError?.status ?? ((error as { status?: number; expose?: boolean }).expose ? (error as { status: number }).status : 500);
      const message = status < 500 && (appError?.expose ?? true) ? (error as Error).message : 'Something went wrong on our side. Try again in a moment.';
      if (status >= 500) ctx.state.log?.error({ err: error }, 'request failed');
      ctx.status = status;
      ctx.set('cache-control', 'no-store');
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.body = { error: appError?.code ?? (status >= 500 ? 'internal' : 'bad_request'), message };
      } else {
        ctx.type = 'html';
        ctx.body = render('error', { title: status >= 500 ? 'Something went wrong' : 'That did not work', description: message });
      }
    }
  };
}
