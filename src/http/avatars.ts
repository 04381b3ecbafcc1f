// Profile pictures at /avatars/:id, the URL of the `picture` claim; versioned by ?v=, so cached for long.
import Router from '@koa/router';
import { avatarOf } from '../auth/household.js';
import { AppError } from '../errors.js';
import type { Db } from '../store/db.js';

export function avatarRoutes(db: Db): Router {
  const router = new Router();
  router.get('/avatars/:id', async (ctx) => {
    const avatar = await avatarOf(db, ctx.params.id!);
    if (!avatar) throw new AppError('not_found', 'no such picture');
    ctx.etag = avatar.etag;
    ctx.set('cache-control', 'public, max-age=86400');
    ctx.set('content-security-policy', "default-src 'none'; style-src 'unsafe-inline'; sandbox");
    if (ctx.fresh) {
      ctx.status = 304;
      return;
    }
    ctx.type = avatar.contentType;
    ctx.body = avatar.data;
  });
  return router;
}
