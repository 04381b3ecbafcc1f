// /account/alerts: which alerts go where (push, email), and "Notify me on this device" (the page's script posts
// the browser's push subscription here). The service worker that shows the notifications is static/push-sw.js.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { prefsOf, saveOwnPrefs } from '../auth/alerts/prefs.js';
import { addPushDevice, listPushDevices, removePushDevice } from '../auth/alerts/devices.js';
import { when, type AccountAlertSettings, type AccountKit } from './account-kit.js';
import { html } from './interaction.js';


const kindLabels: Record<string, string> = {
  outside: 'A sign-in from outside the home network',
  newBrowser: 'A sign-in from a browser you never used',
  factor: 'A sign-in method added or removed',
  locked: 'Your password locked after failed attempts',
  newApp: 'The first sign-in to an app',
  link: 'A setup, invitation or reset link used',
  notMe: 'Someone in the household said "This wasn\'t me" (owner)',
};

export function alertAccountRoutes(router: Router, kit: AccountKit, settings: AccountAlertSettings | undefined): void {
  if (!settings) return;
  const { deps, form, json, account, orShow } = kit;
  const { requireAccount, sameOrigin } = kit.auth;
  const { db, render, base } = deps;

  const show = async (ctx: Context) => {
    const { user } = account(ctx);
    const [prefs, devices] = await Promise.all([prefsOf(db, user.id, settings.notify), listPushDevices(db, user.id)]);
    html(ctx, render('account-alerts', {
      title: 'Alerts',
      kinds: Object.entries(kindLabels).filter(([kind]) => kind !== 'notMe' || user.groups.includes('admins'))
        .map(([kind, label]) => ({ kind, label, push: prefs[kind as keyof typeof prefs].includes('push'), email: prefs[kind as keyof typeof prefs].includes('email') })),
      devices: devices.map((d) => ({ id: d.id, label: d.label, added: when(d.created_at) })),
      vapidPublicKey: settings.vapidPublicKey,
      email: user.email, emailEnabled: settings.emailEnabled,
      saved: ctx.query.done === 'saved', removed: ctx.query.done === 'removed',
    }));
  };
  const save = async (ctx: Context) => {
    await saveOwnPrefs(db, account(ctx).user.id, (ctx.request.body ?? {}) as Record<string, unknown>);
    ctx.status = 303;
    ctx.redirect(`${base}/account/alerts?done=saved`);
  };
  const subscribe = async (ctx: Context) => {
    await addPushDevice(db, account(ctx).user.id, ctx.request.body, ctx.get('user-agent'));
    ctx.status = 201;
    ctx.set('cache-control', 'no-store');
    ctx.body = { saved: true };
  };
  const remove = async (ctx: Context) => {
    await removePushDevice(db, account(ctx).user.id, String(ctx.params.id));
    ctx.status = 303;
    ctx.redirect(`${base}/account/alerts?done=removed`);
  };

  router.get('/account/alerts',                         requireAccount, show);
  router.post('/account/alerts',            sameOrigin, requireAccount, form, orShow(save));
  router.post('/account/alerts/push',       sameOrigin, requireAccount, json, subscribe);
  router.post('/account/alerts/push/:id/remove', sameOrigin, requireAccount, form, orShow(remove));
}
