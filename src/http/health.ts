// Liveness (/healthz: the process answers) and readiness (/readyz: the database answers and can take writes).
import Router from '@koa/router';
import { sql } from 'kysely';
import type { Db } from '../store/db.js';

export function healthRoutes(db: Db, writable: () => Promise<void> = async () => undefined): Router {
  const router = new Router();
  router.get('/healthz', (ctx) => {
    ctx.set('cache-control', 'no-store');
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    ctx.set('cache-control', 'no-store');
    try {
      await sql`select 1`.execute(db);
      await writable();
      ctx.body = { status: 'ready' };
    } catch (error) {
      ctx.state.log?.error({ event: 'storage.unavailable', reason: (error as Error).message }, 'not ready: the database cannot take writes');
      ctx.status = 503;
      ctx.body = { status: 'unavailable' };
    }
  });
  return router;
}
