// Owner console: Alerts. Which channels this server can use (Web Push always; email with smtp.host; the webhook
// with notify.webhookUrl), and a test message through the mail server, so the owner knows emails arrive.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { badRequest } from '../../errors.js';
import { form, parseBody } from '../kit.js';
import type { AdminKit } from './kit.js';

/** Where the test message goes. */
const testForm = z.object({ to: z.string().trim().optional() });

export function alertAdminRoutes(router: Router, kit: AdminKit): void {
  const { deps, requireAdmin, admin, show } = kit;
  const { sameOrigin } = kit.auth;
  const channels = deps.alertChannels;
  if (!channels) return;

  const page = (ctx: Context, extra: { sentTo?: string; error?: string; to?: string } = {}, status = 200) => show(ctx, 'admin-alerts', 'alerts', {
    email: channels.email, webhook: channels.webhook, to: extra.to ?? admin(ctx).user.email ?? '', sentTo: extra.sentTo, error: extra.error,
  }, status);
  const test = async (ctx: Context) => {
    const to = parseBody(ctx, testForm).to ?? '';
    if (!channels.sendTestEmail) throw badRequest('Email is not set up on this server (smtp.host).');
    try {
      await channels.sendTestEmail(to);
    } catch (error) {
      return page(ctx, { to, error: `The test message was not sent: ${(error as Error).message}` }, 400);
    }
    page(ctx, { to, sentTo: to });
  };

  router.get('/admin/alerts',                       requireAdmin,       (ctx) => page(ctx));
  router.post('/admin/alerts/test-email', sameOrigin, requireAdmin, form, test);
}
