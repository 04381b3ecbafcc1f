// /account/alerts: which alerts go where (push, email), and "Notify me on this device" (the page's script posts
// the browser's push subscription here). The service worker that shows the notifications is static/push-sw.js.
import type Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { prefsOf, saveOwnPrefs } from '../../auth/alerts/prefs.js';
import { addPushDevice, listPushDevices, removePushDevice } from '../../auth/alerts/devices.js';
import { form, html, json, noStore, orShow, parseBody, passthroughObject, seeOther, when } from '../kit.js';
import type { AccountAlertSettings, AccountKit } from './kit.js';

const kindLabels: Record<string, string> = {
  outside: 'A sign-in from outside the home network',
  newBrowser: 'A sign-in from a browser you never used',
  factor: 'A sign-in method added or removed',
  locked: 'Your password locked after failed attempts',
  newApp: 'The first sign-in to an app',
  link: 'A setup, invitation or reset link used',
  notMe: 'Someone in the household said "This wasn\'t me" (owner)',
};

/** The settings form: a checkbox per alert kind and channel (`<kind>.push`, `<kind>.email`), read by auth/alerts/prefs.ts. */
const prefsForm = z.record(z.string(), z.string());
/** The browser's PushSubscription as JSON; auth/alerts/devices.ts checks the endpoint and keys. */
const subscriptionBody = passthroughObject;

export function alertAccountRoutes(router: Router, kit: AccountKit, settings: AccountAlertSettings | undefined): void {
  if (!settings) return;
  const { deps, account, accountPage } = kit;
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
    await saveOwnPrefs(db, account(ctx).user.id, parseBody(ctx, prefsForm));
    seeOther(ctx, `${base}/account/alerts?done=saved`);
  };
  const subscribe = async (ctx: Context) => {
    await addPushDevice(db, account(ctx).user.id, parseBody(ctx, subscriptionBody), ctx.get('user-agent'));
    ctx.status = 201;
    noStore(ctx);
    ctx.body = { saved: true };
  };
  const remove = async (ctx: Context) => {
    await removePushDevice(db, account(ctx).user.id, String(ctx.params.id));
    seeOther(ctx, `${base}/account/alerts?done=removed`);
  };

  router.get('/account/alerts',                         requireAccount, show);
  router.post('/account/alerts',            sameOrigin, requireAccount, form, orShow(save, accountPage));
  router.post('/account/alerts/push',       sameOrigin, requireAccount, json, subscribe);
  router.post('/account/alerts/push/:id/remove', sameOrigin, requireAccount, form, orShow(remove, accountPage));
}
