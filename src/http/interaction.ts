// Our interaction pages for oidc-provider: the lock screen (last user pre-selected), "Other user", the
// second-factor step and consent. The interaction itself is read and finished through the Interactions port
// (oidc/interactions.ts); the next step always comes from auth/sign-in (nextStep, runFactor): this file only
// turns a Step into a page or a redirect. An expired or foreign interaction becomes a friendly "start again" page.
import Router from '@koa/router';
import type { Context } from 'koa';
import { z } from 'zod';
import { findUser } from '../auth/login.js';
import { activeUser, decide, factorsOf } from '../auth/sign-in/factors.js';
import { nextStep } from '../auth/sign-in/next-step.js';
import type { PendingSignIn, SignInRequest, Step } from '../auth/sign-in/types.js';
import type { Logger } from '../log.js';
import type { Interactions, LoadedInteraction } from '../oidc/interactions.js';
import type { Db } from '../store/db.js';
import type { User } from '../store/users.js';
import { listHousehold, parseSearch, present } from '../auth/household.js';
import { field, form, html, noStore, parseBody, seeOther } from './kit.js';
import type { SignInOutcome } from './metrics.js';
import type { Render } from './views.js';

export interface SignInSettings {
  showUserList: boolean;
  networkOf(ctx: Context): { ip: string; network: 'home' | 'outside' };
  /** The "Continue with …" buttons: upstreams by id and the name to show. */
  upstreams(): Promise<Array<{ id: string; displayName: string; type: string }>>;
}

export interface InteractionDeps {
  interactions: Interactions;
  db: Db;
  render: Render;
  log: Logger;
  settings: SignInSettings;
  /** Counts finished and failed sign-ins (metrics); optional. */
  countSignIn?: ((outcome: SignInOutcome) => void) | undefined;
}

export const lastUserCookie = 'accouch.last_user';

const scopeLabels: Record<string, string> = {
  openid: 'Know who you are',
  profile: 'See your name, username and picture',
  email: 'See your email address',
  groups: 'See which groups you belong to',
  network: 'See whether you signed in from home',
  offline_access: 'Stay signed in when you are away',
};

/** "Forget this browser": the person the page showed, and the second press's confirmation. */
const forgetForm = z.object({ user: field, confirm: field });

/** The interaction's page (under the issuer's path), from any of its sub-routes. */
export const interactionPage = (ctx: Context) => ctx.path.slice(0, ctx.path.indexOf(ctx.params.uid!) + ctx.params.uid!.length);

/** What every sign-in step has at hand: the interaction, the plain request and what is proven so far. */
export interface StepContext {
  loaded: LoadedInteraction;
  request: SignInRequest;
  pending: PendingSignIn | undefined;
}

export function createInteractionSteps({ interactions, db, render, log, settings, countSignIn }: InteractionDeps) {
  /** Counts a sign-in outcome by factor and network (never by user). */
  const count = (step: StepContext, result: SignInOutcome['result'], factor: string) => countSignIn?.({ result, factor, network: step.request.network });
  const http = (ctx: Context) => ({ req: ctx.req, res: ctx.res });

  /** Loads the interaction; an expired one renders the start-again page and returns undefined. */
  async function load(ctx: Context): Promise<StepContext | undefined> {
    const loaded = await interactions.load(http(ctx), ctx.params.uid!);
    if (loaded) return { loaded, request: loaded.request, pending: loaded.pending };
    if (ctx.accepts('html', 'json') === 'json') {
      ctx.status = 400;
      noStore(ctx);
      ctx.body = { error: 'This sign-in page has expired. Go back to the app and sign in again.' };
      return undefined;
    }
    html(ctx, render('message', {
      title: 'Start again',
      message: 'This sign-in page has expired or was opened in another browser. Go back to the app and sign in again.',
    }), 400);
    return undefined;
  }

  /**
   * Carries out a Step after a factor: finishes the sign-in, keeps the pending one for the next page, or
   * refuses it with access_denied. Returns the URL to send the browser to.
   */
  async function follow(ctx: Context, step: StepContext, next: Exclude<Step, { kind: 'page' | 'throttled' }>, ts?: number): Promise<string> {
    const factors = (next.kind === 'deny' ? step.pending?.factors ?? [] : next.pending.factors).map((f) => f.factor).join('+') || 'none';
    if (next.kind === 'deny') {
      count(step, 'denied', factors);
      return interactions.deny(http(ctx), next.description);
    }
    if (next.kind === 'more') {
      await interactions.savePending(step.loaded, next.pending);
      return interactionPage(ctx);
    }
    count(step, 'success', factors);
    ctx.state.log?.info({ event: 'login.success', sub: next.user.id, acr: next.acr, network: step.request.network, client: step.request.clientId }, 'signed in');
    ctx.cookies.set(lastUserCookie, next.user.id, { signed: true, httpOnly: true, sameSite: 'lax', maxAge: 400 * 86400_000, overwrite: true });
    return interactions.login(http(ctx), { accountId: next.user.id, amr: next.amr, acr: next.acr, ts: ts ?? Math.floor(Date.now() / 1000) });
  }

  /** The sign-in page for the current state of the interaction. */
  async function renderLogin(ctx: Context, step: StepContext, extra: { error?: string; status?: number; selected?: User; username?: string } = {}) {
    const upstreams = (await settings.upstreams()).map(({ id, displayName, type }) => ({ id, displayName, type }));
    const base = { uid: step.loaded.uid, clientName: step.request.clientName, error: extra.error, network: step.request.network, upstreams };
    if (step.pending) {
      const user = await activeUser(db, step.pending.userId);
      if (user) {
        const decision = decide(step.pending, await factorsOf(db, user), step.request.required.allowed ? step.request.required.acr : 'phr');
        const options = decision.status === 'more' ? decision.options : [];
        return html(ctx, render('second-factor', { ...base, title: 'Confirm it is you', user: present(user), options }), extra.status);
      }
    }
    const selected = extra.selected ?? (await selectedUser(ctx, step));
    if (selected && ctx.query.view !== 'other') {
      const factors = await factorsOf(db, selected);
      // "Forget this browser" only where it means what the page shows: the person this browser remembers.
      const remembered = rememberedUser(ctx) === selected.id;
      return html(ctx, render('lock-screen', { ...base, title: 'Sign in', user: present(selected), factors, remembered }), extra.status);
    }
    // Without the household list there is nothing to search either: `q` is ignored, as any unknown parameter.
    const chooser = settings.showUserList ? await household.chooser(parseSearch(ctx.query.q)) : { people: [] };
    return html(ctx, render('choose-user', { ...base, title: 'Sign in', ...chooser, username: extra.username ?? step.request.loginHint ?? '' }), extra.status);
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
    const hint = step.request.loginHint;
    return settings.showUserList && hint ? household.byUsername(hint) : undefined;
  }

  const rememberedUser = (ctx: Context) => ctx.cookies.get(lastUserCookie, { signed: true }) || undefined;

  /** A user a sign-in page may name: anyone when the household is listed, else only the remembered user. */
  const mayName = (ctx: Context, userId: string | undefined) => Boolean(userId) && (settings.showUserList || userId === rememberedUser(ctx));

  /** Sends the browser on: a 303 for forms, `{ redirect }` for the WebAuthn script. */
  function go(ctx: Context, url: string, asJson = false) {
    if (!asJson) return seeOther(ctx, url);
    noStore(ctx);
    ctx.body = { redirect: url };
  }

  async function showPage(ctx: Context) {
    const step = await load(ctx);
    if (!step) return;
    const { loaded } = step;
    if (loaded.prompt === 'login') {
      const next = await nextStep(db, step.request, undefined);
      if (next.kind === 'deny') return go(ctx, await follow(ctx, step, next));
      return renderLogin(ctx, step);
    }
    // The household's own apps, and apps this person already allowed all of this: no consent page.
    if (loaded.skipConsent || loaded.consentRemembered) return go(ctx, await interactions.consent(http(ctx), loaded));
    const user = loaded.accountId ? await findUser(db, loaded.accountId) : undefined;
    const scopes = loaded.scopes.filter((s) => s in scopeLabels);
    return html(ctx, render('consent', {
      title: 'Allow access', uid: loaded.uid, clientName: step.request.clientName, userName: user?.name, scopes: scopes.map((s) => scopeLabels[s]),
    }));
  }

  /** Refuses a sign-in step from a network this app does not allow (GET already does; POSTs too). */
  async function refuseDenied(ctx: Context, step: StepContext, asJson = false): Promise<boolean> {
    if (step.loaded.prompt !== 'login') return false;
    const next = await nextStep(db, step.request, undefined);
    if (next.kind !== 'deny') return false;
    go(ctx, await follow(ctx, step, next), asJson);
    return true;
  }

    /**
   * "Forget this browser": acts on the person the page showed, and only if this browser remembers them; the
   * first press asks to confirm (a page that works without JavaScript), the second forgets.
   */
  async function forget(ctx: Context) {
    const body = parseBody(ctx, forgetForm);
    const shown = body.user;
    const user = shown && shown === rememberedUser(ctx) ? await activeUser(db, shown) : undefined;
    if (!user) return go(ctx, interactionPage(ctx));
    if (body.confirm !== 'yes') return html(ctx, render('forget-confirm', { title: 'Forget this browser', uid: ctx.params.uid, user: present(user) }));
    ctx.cookies.set(lastUserCookie, null, { signed: true });
    log.info({ event: 'browser.forgotten' }, 'remembered user forgotten');
    go(ctx, `${interactionPage(ctx)}?view=other`);
  }

  return { load, follow, go, renderLogin, showPage, refuseDenied, forget, mayName, household, log, count, interactions, networkOf: settings.networkOf };
}

export type InteractionSteps = ReturnType<typeof createInteractionSteps>;

/** GET page, consent, abort and "Forget this browser". The factor steps live in sign-in-steps.ts. */
export function interactionRoutes(steps: InteractionSteps): Router {
  const router = new Router();

  router.get('/interaction/:uid', (ctx) => steps.showPage(ctx));

  router.post('/interaction/:uid/confirm', form, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    if (step.loaded.prompt !== 'consent') return ctx.redirect(interactionPage(ctx));
    steps.go(ctx, await steps.interactions.consent({ req: ctx.req, res: ctx.res }, step.loaded));
  });

  router.post('/interaction/:uid/abort', form, async (ctx) => {
    const step = await steps.load(ctx);
    if (!step) return;
    steps.log.info({ event: 'interaction.aborted', client: step.request.clientId }, 'user cancelled');
    steps.go(ctx, await steps.interactions.deny({ req: ctx.req, res: ctx.res }, 'the user cancelled the request'));
  });

  router.post('/interaction/:uid/forget', form, (ctx) => steps.forget(ctx));

  return router;
}
