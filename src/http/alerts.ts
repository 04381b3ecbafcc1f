// The page every alert links to: what happened, and "This wasn't me". Looking changes nothing; the button (a
// POST) signs the person out everywhere. No sign-in needed: the signed, single-use link is the key.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { describeAlert } from '../auth/alerts/message.js';
import { confirmNotMe, openAlertLink } from '../auth/alerts/not-me.js';
import type { NetworkClassifier } from '../auth/network.js';
import type { SecretBox } from '../auth/secret-key.js';
import type { Db } from '../store/db.js';
import { field, form, html, parseBody, when } from './kit.js';
import type { Render } from './views.js';

/** "This wasn't me": the signed token the page put in the form. */
const notMeForm = z.object({ token: field });

export interface AlertPageDeps { db: Db; box: SecretBox; render: Render; base: string; classifier: NetworkClassifier }

export function alertRoutes(deps: AlertPageDeps): Router {
  const { db, box, render, base } = deps;
  const router = new Router();
  const gone = (ctx: Context) => html(ctx, render('message', {
    title: 'This link does not work', message: 'It is wrong, more than 7 days old, or its alert was deleted. Nothing was changed. If you think someone else signed in, ask the owner to sign that person out.',
  }), 404);

  const show = async (ctx: Context) => {
    const link = await openAlertLink(db, box, ctx.query.token);
    if (link.status === 'invalid') return gone(ctx);
    const message = describeAlert(link.alert);
    html(ctx, render('alert', {
      title: message.title, message, at: when(link.alert.at), used: link.status === 'used',
      action: `${base}/alerts`, token: String(ctx.query.token),
    }));
  };
  const confirm = async (ctx: Context) => {
    const { token } = parseBody(ctx, notMeForm);
    const result = await confirmNotMe(db, box, token, deps.classifier.ofRequest(ctx.req).ip);
    if (!result.done) {
      const link = await openAlertLink(db, box, token);
      if (link.status === 'invalid') return gone(ctx);
      return html(ctx, render('message', { title: 'Already done', message: 'This link was used already: it works once. Nothing more was changed.' }), 409);
    }
    html(ctx, render('message', {
      title: 'Signed out everywhere',
      message: `Every session of this account is signed out (${result.sessionsEnded}) and its apps must sign in again. The next sign-in needs the strongest sign-in method the account has. The owner is told.`,
    }));
  };

  // The token rides in the query string (GET) and the form (POST), never the path: request logs show paths.
  router.get('/alerts', show);
  router.post('/alerts', form, confirm);
  return router;
}
