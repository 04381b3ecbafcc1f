// Our interaction pages (login, consent) for oidc-provider: every POST ends in interactionFinished, and an
// expired or foreign interaction becomes a friendly "start again" page.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { errors, type default as Provider } from 'oidc-provider';
import { findUser, verifyPasswordLogin } from '../auth/login.js';
import { passwordAmr, userAllowedForClient } from '../auth/policy.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { Render } from './views.js';

export interface InteractionDeps {
  provider: () => Provider;
  db: Db;
  render: Render;
  log: Logger;
}

const scopeLabels: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name, username and picture',
  email: 'See your email address',
  groups: 'See which groups you belong to',
  offline_access: 'Stay signed in when you are away',
};

function html(ctx: Context, body: string, status = 200) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('cache-control', 'no-store');
  ctx.body = body;
}

export function interactionRoutes({ provider, db, render, log }: InteractionDeps): Router {
  const router = new Router();
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  /** Loads the interaction; an expired one renders the start-again page and returns undefined. */
  async function details(ctx: Context) {
    try {
      const found = await provider().interactionDetails(ctx.req, ctx.res);
      if (found.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch');
      return found;
    } catch (error) {
      if (!(error instanceof errors.SessionNotFound || error instanceof errors.InvalidRequest)) throw error;
      html(ctx, render('message', {
        title: 'Start again',
        message: 'This sign-in page has expired or was opened in another browser. Go back to the app and sign in again.',
      }), 400);
      return undefined;
    }
  }

  async function clientOf(clientId: unknown) {
    return typeof clientId === 'string' ? provider().Client.find(clientId) : undefined;
  }

  function loginPage(ctx: Context, uid: string, client: { clientName?: string; clientId: string } | undefined, extra: Record<string, unknown> = {}) {
    return render('login', { title: 'Sign in', uid, clientName: client?.clientName ?? client?.clientId, ...extra });
  }

  router.get('/interaction/:uid', async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    const client = await clientOf(interaction.params.client_id);
    if (interaction.prompt.name === 'login') {
      const hint = typeof interaction.params.login_hint === 'string' ? interaction.params.login_hint : '';
      return html(ctx, loginPage(ctx, interaction.uid, client, { username: hint }));
    }
    if (client?.['accouch_skip_consent']) return grantConsent(ctx, interaction);
    const user = interaction.session?.accountId ? await findUser(db, interaction.session.accountId) : undefined;
    const scopes = String(interaction.params.scope ?? '').split(' ').filter((s) => s in scopeLabels);
    return html(ctx, render('consent', {
      title: 'Allow access',
      uid: interaction.uid,
      clientName: client?.clientName ?? client?.clientId,
      userName: user?.name,
      scopes: scopes.map((s) => scopeLabels[s]),
    }));
  });

  router.post('/interaction/:uid/login', form, async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    if (interaction.prompt.name !== 'login') return ctx.redirect(`${ctx.path.replace(/\/login$/, '')}`);
    const body = ctx.request.body as Record<string, unknown>;
    const username = typeof body.username === 'string' ? body.username.slice(0, 256) : '';
    const password = typeof body.password === 'string' ? body.password : '';
    const clientId = String(interaction.params.client_id);
    const client = await clientOf(clientId);

    const result = await verifyPasswordLogin(db, { username, password, ip: ctx.ip, clientId });
    if (!result.ok) {
      const message = result.reason === 'throttled'
        ? `Too many attempts. Wait ${result.retryAfter} seconds and try again.`
        : 'That username and password do not match.';
      if (result.reason === 'throttled') ctx.set('retry-after', String(result.retryAfter));
      ctx.state.log?.info({ event: 'login.failure', reason: result.reason, client: clientId }, 'sign-in failed');
      return html(ctx, loginPage(ctx, interaction.uid, client, { username, error: message }), result.reason === 'throttled' ? 429 : 401);
    }
    ctx.state.log?.info({ event: 'login.success', sub: result.user.id, client: clientId }, 'signed in');
    if (!userAllowedForClient(result.user, client?.['accouch_allowed_groups'] as string[] | undefined)) {
      return provider().interactionFinished(ctx.req, ctx.res, {
        error: 'access_denied',
        error_description: 'this account may not use this application',
      }, { mergeWithLastSubmission: false });
    }
    await provider().interactionFinished(ctx.req, ctx.res, {
      login: { accountId: result.user.id, amr: passwordAmr, remember: true },
    }, { mergeWithLastSubmission: false });
  });

  async function grantConsent(ctx: Context, interaction: Awaited<ReturnType<Provider['interactionDetails']>>) {
    const { prompt: { details: missing }, params, session, grantId } = interaction;
    if (!session) throw new errors.SessionNotFound('no session');
    const p = provider();
    const grant = grantId ? await p.Grant.find(grantId) : new p.Grant({ accountId: session.accountId, clientId: String(params.client_id) });
    if (!grant) throw new errors.SessionNotFound('grant expired');
    if (Array.isArray(missing.missingOIDCScope)) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    if (Array.isArray(missing.missingOIDCClaims)) grant.addOIDCClaims(missing.missingOIDCClaims);
    if (missing.missingResourceScopes && typeof missing.missingResourceScopes === 'object') {
      for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes as Record<string, string[]>)) {
        grant.addResourceScope(indicator, scopes.join(' '));
      }
    }
    const savedId = await grant.save();
    await p.interactionFinished(ctx.req, ctx.res, { consent: grantId ? {} : { grantId: savedId } }, { mergeWithLastSubmission: true });
  }

  router.post('/interaction/:uid/confirm', form, async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    if (interaction.prompt.name !== 'consent') return ctx.redirect(ctx.path.replace(/\/confirm$/, ''));
    await grantConsent(ctx, interaction);
  });

  router.post('/interaction/:uid/abort', form, async (ctx) => {
    const interaction = await details(ctx);
    if (!interaction) return;
    log.info({ event: 'consent.denied', client: interaction.params.client_id }, 'user declined');
    await provider().interactionFinished(ctx.req, ctx.res, {
      error: 'access_denied',
      error_description: 'the user declined the request',
    }, { mergeWithLastSubmission: false });
  });

  return router;
}
