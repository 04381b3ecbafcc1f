// What every route file shares, so each stays thin: an HTML answer, the 303 after a change, no-store, one body
// parser per content type (built once here), zod at the edge (a refusal is a 400 that says which field and why),
// and the one rule for a change that fails: a readable refusal is shown on the page, anything else is rethrown.
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import { z } from 'zod';
import { AppError, badRequest, type ErrorCode } from '../errors.js';

/** Nothing a page or redirect answers may be cached: they carry who is signed in and single-use state. */
export function noStore(ctx: Context): void {
  ctx.set('cache-control', 'no-store');
}

/** A rendered page, never cached. */
export function html(ctx: Context, body: string, status = 200): void {
  ctx.status = status;
  ctx.type = 'html';
  noStore(ctx);
  ctx.body = body;
}

/** 303 See Other (the answer to a POST: the browser GETs `url`), never cached. */
export function seeOther(ctx: Context, url: string): void {
  noStore(ctx);
  ctx.status = 303;
  ctx.redirect(url);
}

/** Reads an `application/x-www-form-urlencoded` body (at most 16 kB); other types are left unread. */
export const form: Middleware = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });
/** Reads a JSON body (at most 64 kB; `__proto__` and `constructor.prototype` keys are a 400, see errors.ts). */
export const json: Middleware = bodyParser({ enableTypes: ['json'], jsonLimit: '64kb' });

/**
 * Reads a multipart form with one picture (field `file`, at most `maxBytes`) into memory: ctx.file, and the other
 * fields in ctx.request.body. multer loads on the first upload, not with every server start (about 10 MB).
 * Too large a picture is a 400 that says so; anything else unreadable, a 400 with `unreadable`.
 */
export async function readPicture(ctx: Context, file: string, { maxBytes, fields, unreadable }: { maxBytes: number; fields: number; unreadable: string }): Promise<Buffer | undefined> {
  const { default: multer } = await import('@koa/multer');
  try {
    await multer({ storage: multer.memoryStorage(), limits: { fileSize: maxBytes, files: 1, fields, parts: fields + 1 } }).single(file)(ctx as never, async () => {});
  } catch (error) {
    if ((error as { code?: string }).code === 'LIMIT_FILE_SIZE') throw badRequest(`The picture is larger than ${maxBytes / 1024 / 1024} MB. Choose a smaller one.`);
    throw badRequest(unreadable);
  }
  const buffer = (ctx as { file?: { buffer?: Buffer } }).file?.buffer;
  return buffer?.length ? buffer : undefined;
}

/** A form field as the old pages read it: text, or absent. */
export const field = z.string().optional();
/** A form field trimmed, and absent when nothing but spaces was typed. */
export const trimmed = z.string().trim().optional().transform((value) => value || undefined);
/** A body part that a library checks further (a WebAuthn response for @simplewebauthn): any JSON object. */
export const passthroughObject = z.looseObject({});

const fieldName = (path: readonly PropertyKey[] | undefined) => (path?.length ? `"${path.map(String).join('.')}"` : 'The request body');

/** Zod's issues in words a person (or the developer of a script) can act on: which field, and what it must be. */
const readable: z.core.$ZodErrorMap = (issue) => {
  const name = fieldName(issue.path);
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return `${name} is missing.`;
      if (!issue.path?.length) return 'The request body must be a form or a JSON object.';
      return `${name} must be ${issue.expected === 'string' ? 'text' : issue.expected === 'object' ? 'an object' : `a ${issue.expected}`}.`;
    case 'too_big':
      return issue.origin === 'string' ? `${name} is too long (at most ${String(issue.maximum)} characters).` : `${name} is too large.`;
    case 'too_small':
      return issue.origin === 'string' ? `${name} is too short (at least ${String(issue.minimum)} characters).` : `${name} is too small.`;
    case 'invalid_value':
      return `${name} must be one of: ${issue.values.map(String).join(', ')}.`;
    default:
      return `${name} is not valid.`;
  }
};

/** Why a value does not pass `schema`, as the 400 AppError an edge answers with; undefined when it passes. */
function check<S extends z.ZodType>(schema: S, value: unknown): { ok: true; value: z.output<S> } | { ok: false; error: AppError } {
  const result = schema.safeParse(value, { error: readable });
  if (result.success) return { ok: true, value: result.data };
  return { ok: false, error: badRequest(result.error.issues[0]?.message ?? 'The request could not be read.') };
}

/**
 * The request body (read by {@link form} or {@link json}; no body reads as `{}`) checked against `schema`: the
 * typed value, or a 400 AppError naming the field and what it must be. Only the schema's keys come out, so a
 * `__proto__` or `constructor` key never reaches the code behind it.
 */
export function parseBody<S extends z.ZodType>(ctx: Context, schema: S): z.output<S> {
  const checked = check(schema, ctx.request.body ?? {});
  if (!checked.ok) throw checked.error;
  return checked.value;
}

/** The posted values to fill a form in again after a refusal: what parses, or nothing. */
export function postedValues<S extends z.ZodType>(ctx: Context, schema: S): Partial<z.output<S>> {
  const checked = check(schema, ctx.request.body ?? {});
  return checked.ok ? (checked.value as Partial<z.output<S>>) : {};
}

export interface ShowOptions {
  /** 4xx codes that still go to the error middleware: a page that is not there is a 404 page, not the form. */
  rethrow?: readonly ErrorCode[];
}

/**
 * Runs a change; a readable refusal (an exposed 4xx AppError, or an upstream's failure, whose message names the
 * service) shows `page` with it instead. Anything else, and any refusal to a client that asked for JSON, goes
 * on to the error middleware (http/errors.ts).
 */
export function orShow(
  change: (ctx: Context) => Promise<void> | void,
  page: (ctx: Context, error: AppError) => Promise<void> | void,
  options: ShowOptions = {},
): (ctx: Context) => Promise<void> {
  return async (ctx) => {
    try {
      await change(ctx);
    } catch (error) {
      if (!shownOnPage(ctx, error, options)) throw error;
      await page(ctx, error);
    }
  };
}

function shownOnPage(ctx: Context, error: unknown, options: ShowOptions): error is AppError {
  if (!(error instanceof AppError) || !error.expose) return false;
  if (error.status >= 500 && error.code !== 'upstream') return false;
  if (options.rethrow?.includes(error.code)) return false;
  return ctx.accepts('html', 'json') !== 'json';
}

const dateFormat = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short' });
/** A time for a page: readable text and the machine-readable value of a <time> element. */
export const when = (ts: number | null) => (ts ? { text: dateFormat.format(ts * 1000), iso: new Date(ts * 1000).toISOString() } : null);
