// The one error middleware: exposed 4xx keep their message, anything else is logged and shown as a generic 500.
// HTML or JSON by what the client accepts; never a stack trace. Input that body parsers and the like refuse
// (malformed JSON, prototype keys, too large, aborted) is the client's fault: a 4xx, logged at info, no stack.
import type { ServerResponse } from 'node:http';
import type { Middleware } from 'koa';
import { AppError } from '../errors.js';
import type { Logger } from '../log.js';
import { isBrowserCookie } from './browser-cookie.js';
import type { Render } from './views.js';

interface Raised {
  status?: number;
  statusCode?: number;
  expose?: boolean;
  type?: string;
  code?: string;
  name?: string;
  message?: string;
}

/** A 4xx that a library raised (raw-body, co-body, multer, koa's ctx.throw), in words a person can act on. */
export function clientErrorOf(error: unknown): { status: number; message: string } | undefined {
  if (error instanceof AppError || typeof error !== 'object' || error === null) return undefined;
  const e = error as Raised;
  const status = e.status ?? e.statusCode;
  if (e.name === 'MulterError') {
    return e.code?.startsWith('LIMIT_') && /SIZE|COUNT/.test(e.code)
      ? { status: 413, message: 'The upload is too large.' }
      : { status: 400, message: 'The upload could not be read.' };
  }
  if (e.type === 'entity.too.large' || status === 413) return { status: 413, message: 'The request body is too large.' };
  if (error instanceof SyntaxError && status === 400) {
    return /prototype/i.test(e.message ?? '')
      ? { status: 400, message: 'The request body contains a forbidden key (__proto__, constructor or prototype).' }
      : { status: 400, message: 'The request body is not valid JSON.' };
  }
  if (e.type === 'request.aborted' || e.code === 'ECONNRESET') return { status: 400, message: 'The request was cut short.' };
  if (typeof status === 'number' && status >= 400 && status < 500) {
    return { status, message: e.expose && e.message ? e.message : 'The request could not be read.' };
  }
  return undefined;
}

/** What the error middleware answers for an error a request met, and logs it (`log`: the request's logger). */
export function errorAnswer(error: unknown, accepts: 'html' | 'json', render: Render, log: Logger | undefined): { status: number; type: string; body: string } {
  const appError = error instanceof AppError ? error : undefined;
  const client = clientErrorOf(error);
  const status = appError?.status ?? client?.status ?? 500;
  const message = client?.message
    ?? (appError?.expose ?? status < 500 ? (error as Error).message : 'Something went wrong on our side. Try again in a moment.');
  if (client) log?.info({ event: 'http.rejected', status, reason: (error as Error).message }, 'request refused');
  else if (appError?.code === 'unavailable') log?.error({ event: 'storage.unavailable', err: error }, 'the database cannot serve this request: the answer is a 503');
  else if (status >= 500) log?.error({ err: error }, 'request failed');
  if (accepts === 'json') {
    return { status, type: 'application/json; charset=utf-8', body: JSON.stringify({ error: appError?.code ?? (status >= 500 ? 'internal' : 'bad_request'), message }) };
  }
  return {
    status,
    type: 'text/html; charset=utf-8',
    body: render('error', { title: status >= 500 ? 'Something went wrong' : 'That did not work', description: message }),
  };
}

type Headers = ReturnType<ServerResponse['getHeaders']>;

/** The headers an answer carries so far (arrays copied: a cookie library adds to its array in place). */
export function headersNow(res: ServerResponse): Headers {
  const now = res.getHeaders();
  for (const name in now) if (Array.isArray(now[name])) now[name] = [...now[name]];
  return now;
}

/** Headers a handler set that say how the resource may be shared, which its error answer shares too (CORS). */
const sharing = (name: string) => name === 'vary' || name.startsWith('access-control-');

/**
 * Takes back what the handlers set on an answer they could not finish (a cookie for a sign-in that was not saved, a
 * redirect, their own caching): the answer has the headers it had at `before` again (the request id, the security
 * headers), plus the browser's own id cookie, which names the browser whatever the request's fate
 * (browser-cookie.ts), and the CORS headers, without which a browser app would see a network error, not the answer.
 */
export function dropHandlerHeaders(res: ServerResponse, before: Headers): void {
  for (const name of new Set([...Object.keys(before), ...res.getHeaderNames()])) {
    if (sharing(name)) continue;
    const kept = before[name];
    if (name === 'set-cookie') {
      const cookies = [...[kept ?? []].flat(), ...[res.getHeader(name) ?? []].flat().map(String).filter(isBrowserCookie)].map(String);
      if (cookies.length) res.setHeader(name, [...new Set(cookies)]);
      else res.removeHeader(name);
    } else if (kept !== undefined) {
      res.setHeader(name, kept);
    } else {
      res.removeHeader(name);
    }
  }
}

export function handleErrors(render: Render): Middleware {
  return async (ctx, next) => {
    const before = headersNow(ctx.res);
    try {
      await next();
    } catch (error) {
      const { status, type, body } = errorAnswer(error, ctx.accepts('html', 'json') === 'json' ? 'json' : 'html', render, ctx.state.log as Logger | undefined);
      if (!ctx.headerSent) dropHandlerHeaders(ctx.res, before);
      ctx.status = status;
      ctx.set('cache-control', 'no-store');
      ctx.type = type;
      ctx.body = body;
    }
  };
}
