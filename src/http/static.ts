// Serves the few files under views/static (CSS, the small browser script) from memory with an ETag.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import type { Middleware } from 'koa';

const types: Record<string, string> = { '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.mjs': 'text/javascript; charset=utf-8', '.svg': 'image/svg+xml', '.ico': 'image/x-icon' };

/** Serves every file of `dir`, plus `extra` files (name → path) such as a library's browser bundle. */
export function serveStatic(dir: string, prefix: string, extra: Record<string, string> = {}): Middleware {
  const files = new Map<string, { body: Buffer; type: string; etag: string }>();
  const sources = [...readdirSync(dir).map((name) => [name, join(dir, name)] as const), ...Object.entries(extra)];
  for (const [name, path] of sources) {
    const body = readFileSync(path);
    files.set(`${prefix}/${name}`, { body, type: types[extname(name)] ?? 'application/octet-stream', etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 16)}"` });
  }
  return async (ctx, next) => {
    const file = ctx.method === 'GET' || ctx.method === 'HEAD' ? files.get(ctx.path) : undefined;
    if (!file) return next();
    ctx.set('cache-control', 'public, max-age=3600');
    ctx.etag = file.etag;
    ctx.type = file.type;
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.body = file.body;
  };
}
