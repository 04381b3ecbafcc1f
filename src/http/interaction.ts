// Our interaction pages for oidc-provider: the lock screen (last user pre-selected), "Other user", the
// second-factor step and consent. Every sign-in step ends in interactionFinished (or interactionResult for
// the WebAuthn script); an expired or foreign interaction becomes a friendly "start again" page.
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import type { Context } from 'koa';
import { errors, type default as Provider } from 'oidc-provider';
import { findUser } from '../auth/login.js';
import { requiredStrength, userAllowedForClient, type Acr, type Strength } from '../auth/policy.js';
import { activeUser, completeSignIn, decide, factorsOf, type Decision, type PendingSignIn } from '../auth/sign-in.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import type { User } from '../store/users.js';
import { listHousehold, present } from '../auth/household.js';
import type { SignInOutcome } from './metrics.js';
import type { Render } from './views.js';

export interface SignInSettings {
  globalPolicy: Record<'home' | 'outside', Strength>;
  showUserList: boolean;
  networkOf(ctx: Context): { ip: string; network: 'home' | 'outside' };
  /** The "Continue with …" buttons: upstreams by id and the name to show. */
  upstreams(): Promise<Array<{ id: string; displayName: string; type: string }>>;
}

export interface InteractionDeps {
  provider: () => Provider;
  db: Db;
  render: Render;
  log: Logger;
  settings: SignInSettings;
  /** Counts finished and failed sign-ins (metrics); optional. */
  countSignIn?: ((outcome: SignInOutcome) => void) | undefined;
}

type Interaction = Awaited<ReturnType<Provider['interactionDetails']>>;
type Client = Awaited<ReturnType<Provider['Client']['find']>>;

export const lastUserCookie = 'accouch.last_user';

const scopeLabels: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name, username and picture',
  email: 'See your email address',
  groups: 'See which groups you belong to',
  network: 'See whether you signed in from home',
  offline_access: 'Stay signed in when you are away',
};

/** The interaction's page (under the issuer's path), from any of its sub-routes. */
export const interactionPage = (ctx: Context) => ctx.path.slice(0, ctx.path.indexOf(ctx.params.uid!) + ctx.params.uid!.length);

export function html(ctx: Context, body: string, status = 200) {
  ctx.status = status;
  ctx.type = 'html';
  ctx.set('cache-control', 'no-store');
  ctx.body = body;
}

/** What every sign-in step needs: the interaction, its client, the network and the strength required. */
export interface StepContext {
  interaction: Interaction;
  client: Client;
  ip: string;
  network: 'home' | 'outside';
  required: { allowed: false } | { allowed: true; acr: Acr };
  pending: PendingSignIn | undefined;
}

export function createInteractionSteps({ provider, db, render, log, settings, countSignIn }: InteractionDeps) {
  /** Counts a sign-in outcome by factor and network (never by user). */
  const count = (step: StepContext, result: SignInOutcome['result'], factor: string) => countSignIn?.({ result, factor, network: step.network });

  /** Loads the interaction; an expired one renders the start-again page and returns undefined. */
  async function load(ctx: Context): Promise<StepContext | undefined> {
    let interaction: Interaction;
    try {
      interaction = await provider().interactionDetails(ctx.req, ctx.res);
      if (interaction.uid !== ctx.params.uid) throw new errors.SessionNotFound('interaction mismatch');
    } catch (error) {
      if (!(error instanceof errors.SessionNotFound || error instanceof errors.InvalidRequest)) throw error;
      if (ctx.accepts('html', 'json') === 'json') {
        ctx.status = 400;
        ctx.set('cache-control', 'no-store');
        ctx.body = { error: 'This sign-in page has expired. Go back to the app and sign in again.' };
        return undefined;
      }
      html(ctx, render('message', {
        title: 'Start again',
        message: 'This sign-in page has expired or was opened in another browser. Go back to the app and sign in again.',
      }), 400);
      return undefined;
    }
    const clientId = String(interaction.params.client_id);
    const client = await provider().Client.find(clientId);
    const { ip, network } = settings.networkOf(ctx);
    const acrValues = typeof interaction.params.acr_values === 'string' ? interaction.params.acr_values.split(' ') : undefined;
    const required = requiredStrength({
      network, globalPolicy: settings.globalPolicy, clientPolicy: client?.['accouch_policy'] as Partial<Record<'home' | 'outside', Strength>> | undefined, acrValues,
    });
    const pending = (interaction.result as { accouch?: PendingSignIn } | undefined)?.accouch;
    return { interaction, client, ip, network, required, pending };
  }

  const clientName = (step: StepContext) => step.client?.clientName ?? step.client?.clientId;

  /** Ends the interaction with an OAuth error the app sees (never invents error codes). */
  async function deny(ctx: Context, description: string) {
    await provider().interactionFinished(ctx.req, ctx.res, { error: 'access_denied', error_description: description }, { mergeWithLastSubmission: false });
  }

  /**
   * Continues a sign-in after a factor: finishes it, stores it for the next step, or refuses it.
   * Returns the URL to send the browser to (JSON callers) after it has been handled.
   */
  async function proceed(ctx: Context, step: StepContext, pending: PendingSignIn): Promise<string> {
    const user = await activeUser(db, pending.userId);
    const required = step.required.allowed ? step.required.acr : 'phr';
    const decision: Decision = user ? decide(pending, await factorsOf(db, user), required) : { status: 'impossible', acr: '1fa' };
    const p = provider();
    const factors = pending.factors.map((f) => f.factor).join('+');
    if (!user || decision.status === 'impossible') {
      count(step, 'denied', factors);
      const description = !user ? 'this account is disabled'
        : step.network === 'outside' ? 'from outside the home network this app needs a stronger sign-in than this account has set up'
          : 'this app needs a stronger sign-in than this account has set up';
      return p.interactionResult(ctx.req, ctx.res, { error: 'access_denied', error_description: description }, { mergeWithLastSubmission: false });
    }
    if (decision.status === 'more') {
      step.interaction.result = { accouch: pending };
      await step.interaction.save(Math.max(1, (step.interaction.exp ?? 0) - Math.floor(Date.now() / 1000)));
      return interactionPage(ctx);
    }
    if (!userAllowedForClient(user, step.client?.['accouch_allowed_groups'] as string[] | undefined)) {
      count(step, 'denied', factors);
      return p.interactionResult(ctx.req, ctx.res, { error: 'access_denied', error_description: 'this account may not use this application' }, { mergeWithLastSubmission: false });
    }
    const ts = await completeSignIn(db, {
      userId: user.id, username: user.username, amr: decision.amr, acr: decision.acr, network: step.network, ip: step.ip, clientId: step.client?.clientId, factors: pending.factors,
    });
    count(step, 'success', factors);
    ctx.state.log?.info({ event: 'login.success', sub: user.id, acr: decision.acr, network: step.network, client: step.client?.clientId }, 'signed in');
    ctx.cookies.set(lastUserCookie, user.id, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 400 * 86400_000, overwrite: true });
    return p.interactionResult(ctx.req, ctx.res, { login: { accountId: user.id, amr: decision.amr, acr: decision.acr, ts, remember: true } }, { mergeWithLastSubmission: false });
  }

  /** Whether this sign-in can never finish here: the user is disabled or lacks the factors the policy needs. */
  async function cannotFinish(step: StepContext, pending: PendingSignIn): Promise<boolean> {
    const user = await activeUser(db, pending.userId);
    return !user || decide(pending, await factorsOf(db, user), step.required.allowed ? step.required.acr : 'phr').status === 'impossible';
  }

  /** The sign-in page for the current state of the interaction. */
  async function renderLogin(ctx: Context, step: StepContext, extra: { error?: string; status?: number; selected?: User; username?: string } = {}) {
    const upstreams = (await settings.upstreams()).map(({ id, displayName, type }) => ({ id, displayName, type }));
    const base = { uid: step.interaction.uid, clientName: clientName(step), error: extra.error, network: step.network, upstreams };
    if (step.pending) {
      const user = await activeUser(db, step.pending.userId);
      if (user) {
        const decision = decide(step.pending, await factorsOf(db, user), step.required.allowed ? step.required.acr : 'phr');
        const options = decision.status === 'more' ? decision.options : [];
        return html(ctx, render('second-factor', { ...base, title: 'Confirm it is you', user: present(user), options }), extra.status);
      }
    }
    const selected = extra.selected ?? (await selectedUser(ctx, step));
    if (selected && ctx.query.view !== 'other') {
      const factors = await factorsOf(db, selected);
      return html(ctx, render('lock-screen', { ...base, title: 'Sign in', user: present(selected), factors }), extra.status);
    }
    const people = settings.showUserList ? await household.list() : [];
    const hint = typeof step.interaction.params.login_hint === 'string' ? step.interaction.params.login_hint : '';
    return html(ctx, render('choose-user', { ...base, title: 'Sign in', people, username: extra.username ?? hint }), extra.status);
  }

  const household = listHousehold(db);

  /**
   * The user to pre-select: chosen on "Other user", remembered by this browser, or hinted by the app. When the
   * household list is hidden, only the remembered user is shown by name: a guessed id or login_hint must not
   * tell a stranger who lives here.
   */
  async function selectedUser(ctx: Context, step: StepContext): Promise<User | undefined> {
    const remembered = rememberedUser(ctx);
    const chosen = typeof ctx.query.user === 'string' && (settings.showUserList || ctx.query.user === remembered) ? ctx.query.user : undefined;
    for (const id of [chosen, remembered]) {
      const user = id ? await activeUser(db, id) : undefined;
      if (user) return user;
    }
    const hint = step.interaction.params.login_hint;
    return settings.showUserList && typeof hint === 'string' && hint ? household.byUsername(hint) : undefined;
  }

  const rememberedUser = (ctx: Context) => ctx.cookies.get(lastUserCookie, { signed: true }) || undefined;

  /** A user a sign-in page may name: anyone when the household is listed, else only the remembered user. */
  const mayName = (ctx: Context, userId: string | undefined) => Boolean(userId) && (settings.showUserList || userId === rememberedUser(ctx));

  async function grantConsent(ctx: Context, interaction: Interaction) {
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

  async function showPage(ctx: Context) {
    const step = await load(ctx);
    if (!step) return;
    const { interaction } = step;
    if (interaction.prompt.name === 'login') {
      if (!step.required.allowed) return deny(ctx, 'this app can only be used from the home network');
      return renderLogin(ctx, step);
    }
    if (step.client?.['accouch_skip_consent']) return grantConsent(ctx, interaction);
    const user = interaction.session?.accountId ? await findUser(db, interaction.session.accountId) : undefined;
    const scopes = String(interaction.params.scope ?? '').split(' ').filter((s) => s in scopeLabels);
    return html(ctx, render('consent', {
      title: 'Allow access', uid: interaction.uid, clientName: clientName(step), userName: user?.name, scopes: scopes.map((s) => scopeLabels[s]),
    }));
  }

  /** Refuses a sign-in step from a network this app does not allow (GET already does; POSTs too). */
  async function refuseDenied(ctx: Context, step: StepContext, asJson = false): Promise<boolean> {
    if (step.required.allowed || step.interaction.prompt.name !== 'login') return false;
    count(step, 'denied', 'none');
    const url = await provider().interactionResult(ctx.req, ctx.res, { error: 'access_denied', error_description: 'this app can only be used from the home network' }, { mergeWithLastSubmission: false });
    if (asJson) ctx.body = { redirect: url };
    else { ctx.status = 303; ctx.redirect(url); }
    return true;
  }

  return { load, proceed, cannotFinish, renderLogin, grantConsent, showPage, deny, refuseDenied, mayName, household, log, count, networkOf: settings.networkOf };
}

export type InteractionSteps = ReturnType<typeof createInteractionSteps>;

/** GET page, consent, abort and "Forget this browser". The factor steps live in sign-in-steps.ts. */
export function interactionRoutes(steps: InteractionSteps): Router {
  const router = new Router();
  const form = bodyParser({ enableTypes: ['form'], formLimit: '16kb' });

  router.get('/interaction/:uid', (ctx) => steps.showPage(ctx));

  router.post('/interaction/:uid/confirm', form, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    if (step.interaction.prompt.name !== 'consent') return ctx.redirect(interactionPage(ctx));
    await steps.grantConsent(ctx, step.interaction);
  });

  router.post('/interaction/:uid/abort', form, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    steps.log.info({ event: 'interaction.aborted', client: step.interaction.params.client_id }, 'user cancelled');
    await steps.deny(ctx, 'the user cancelled the request');
  });

  router.post('/interaction/:uid/forget', form, async (ctx) => {
    ctx.cookies.set(lastUserCookie, null, { signed: true });
    ctx.status = 303;
    ctx.redirect(`${interactionPage(ctx)}?view=other`);
  });

  return router;
}
