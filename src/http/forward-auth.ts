// Forward-auth for reverse proxies: Traefik `forwardAuth` and Caddy `forward_auth` (X-Forwarded-*) and nginx
// `auth_request` (X-Original-URL) ask here before every request to a protected app; browsers without a session go
// through /forward-auth/start (sign in at Accouch, as any app would) and come back with a cookie for the app.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Access } from '../auth/forward-auth/access.js';
import type { ForwardAuth, Identity } from '../auth/forward-auth/check.js';
import { parseReturnUrl, targetFromForwarded, targetFromOriginal, type Target } from '../auth/forward-auth/target.js';
import type { NetworkClassifier } from '../auth/network.js';
import { AppError } from '../errors.js';
import { finishSignIn, startSignIn, type FirstPartySignIn } from './first-party-sign-in.js';
import { html, noStore, seeOther } from './kit.js';
import type { Render } from './views.js';

/** oidc-provider's session cookie (its `cookies.names.session` default), signed with the same keys as ours. */
const sessionCookie = '_session';

export interface ForwardAuthRouteDeps {
  forwardAuth: ForwardAuth;
  classifier: NetworkClassifier;
  render: Render;
  issuer: string;
  base: string;
  /** The client the browser signs in through (config.ts forwardAuthClientId). */
  clientId: string;
}

type Mode = 'forwarded' | 'nginx';
type App = Awaited<ReturnType<ForwardAuth['appForHost']>> & {};

/** A page navigation, as opposed to fetch()/XHR or a non-HTML client, which get a bare 401 instead of a redirect. */
function isNavigation(ctx: Context, method: string): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (ctx.get('x-requested-with').toLowerCase() === 'xmlhttprequest') return false;
  const mode = ctx.get('sec-fetch-mode');
  if (mode && mode !== 'navigate') return false;
  return /\btext\/html\b/.test(ctx.get('accept'));
}

export function forwardAuthRoutes(deps: ForwardAuthRouteDeps): Router {
  const { forwardAuth, classifier, render, base, clientId } = deps;
  const root = deps.issuer.replace(/\/$/, '');
  const router = new Router();
  const startUrl = (returnUrl: string) => `${root}/forward-auth/start?${new URLSearchParams({ rd: returnUrl })}`;

  const refusal = (ctx: Context, status: number, title: string, message: string) => html(ctx, render('message', { title, message }), status);
  const appName = (app: App) => app.name ?? app.id;

  /** The page for a request that is refused outright (not a sign-in question). */
  function refuse(ctx: Context, access: Access, app: App, identity: Identity | undefined) {
    if (access.kind === 'deny') {
      return refusal(ctx, 403, 'Not available from here', `${appName(app)} can only be used from the home network.`);
    }
    if (access.kind === 'forbidden') {
      return refusal(ctx, 403, 'Not for your account', `${identity?.user.name ?? 'Your account'} is not allowed to use ${appName(app)}. Ask whoever runs Accouch at home to add you to its group.`);
    }
    return refusal(ctx, 403, 'A stronger sign-in is needed', `${appName(app)} needs a stronger sign-in than the one just made (for example a passkey, or a password with a second factor).`);
  }

  async function check(ctx: Context, mode: Mode) {
    noStore(ctx);
    // Only a proxy we trust may tell us which request it is asking about.
    if (!classifier.isTrustedProxy(ctx.req.socket.remoteAddress ?? '')) {
      ctx.status = 403;
      ctx.body = 'forward-auth answers only the proxies listed in network.trustedProxies\n';
      return;
    }
    let target: Target;
    const h = ctx.req.headers;
    const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
    try {
      target = mode === 'nginx'
        ? targetFromOriginal({ url: one(h['x-original-url']), method: one(h['x-original-method']) })
        : targetFromForwarded({ proto: one(h['x-forwarded-proto']), host: ctx.state.forwardedHost as string | undefined, uri: one(h['x-forwarded-uri']), method: one(h['x-forwarded-method']) });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      // nginx turns anything but 2xx, 401 and 403 from auth_request into a 500 of its own.
      ctx.status = mode === 'nginx' ? 403 : error.status;
      ctx.body = `${error.message}\n`;
      return;
    }
    const result = await forwardAuth.check({
      target, network: classifier.ofRequest(ctx.req).network, cookieHeader: ctx.get('cookie') || undefined, authorization: ctx.get('authorization') || undefined,
    });
    const browser = isNavigation(ctx, target.method);
    // nginx's auth_request passes on only a 401's headers (the snippet reads Location and Set-Cookie from it).
    const redirect = (location: string, setCookie?: string) => {
      if (setCookie) ctx.set('set-cookie', setCookie);
      ctx.set('location', location);
      ctx.status = mode === 'nginx' ? 401 : 302;
    };
    switch (result.kind) {
      case 'undeclared':
        ctx.status = 403;
        ctx.body = `${target.url.host} is not declared as a forward-auth app in Accouch (accouch app add forward-auth --url ...)\n`;
        return;
      case 'allow':
        for (const [name, value] of Object.entries(result.headers)) ctx.set(name, value);
        ctx.status = 200;
        ctx.body = '';
        return;
      case 'cookie':
        return redirect(result.location, result.setCookie);
      case 'bad-code':
        // Used, expired or foreign: start over from the app's front page (the session, if any, is handed over again).
        return browser ? redirect(startUrl(`${target.url.origin}/`)) : refusal(ctx, 400, 'Sign-in link not valid', 'This sign-in link was used already or has expired.');
      case 'sign-in':
      case 'step-up':
        if (browser) return redirect(startUrl(target.url.href));
        ctx.status = 401;
        ctx.set('www-authenticate', result.kind === 'step-up'
          ? `Bearer realm="Accouch", error="insufficient_user_authentication", acr_values="${result.acr}"`
          : 'Bearer realm="Accouch"');
        ctx.body = 'sign in first\n';
        return;
      case 'deny':
      case 'forbidden':
        // nginx cannot show our page from a 403: send the browser to the start page, which explains the refusal.
        if (browser && mode === 'nginx') return redirect(startUrl(target.url.href));
        return refuse(ctx, result, result.app, result.identity);
    }
  }

  const flow: FirstPartySignIn = {
    cookie: 'accouch.forward_auth', root, clientId, redirectUri: `${root}/forward-auth/callback`,
    cookieOptions: (ctx) => ({ signed: true, httpOnly: true, sameSite: 'lax', path: `${base}/forward-auth`, secure: ctx.secure, overwrite: true }),
  };

  /** Signs the browser in at Accouch through the forward-auth client, asking for at least `acr`, then back to callback. */
  function signIn(ctx: Context, returnUrl: URL, acr: string) {
    startSignIn(ctx, flow, { rd: returnUrl.href }, { acr_values: acr });
  }

  /** At Accouch (issuer host): let the signed-in browser through to the app, or explain why not. */
  async function proceed(ctx: Context, returnUrl: URL, app: App, afterSignIn: boolean) {
    const session = await forwardAuth.browserSession(ctx.cookies.get(sessionCookie, { signed: true }));
    const access = forwardAuth.decide(app, session, classifier.ofRequest(ctx.req).network);
    if (access.kind === 'allow') {
      const handoff = await forwardAuth.handOff(session!, returnUrl);
      if (handoff.setCookie) ctx.append('set-cookie', handoff.setCookie);
      return seeOther(ctx, handoff.location);
    }
    if ((access.kind === 'sign-in' || access.kind === 'step-up') && !afterSignIn) return signIn(ctx, returnUrl, access.acr);
    return refuse(ctx, access, app, session);
  }

  async function appOf(raw: unknown): Promise<{ returnUrl: URL; app: App } | undefined> {
    const returnUrl = parseReturnUrl(raw);
    const app = returnUrl && await forwardAuth.appForHost(returnUrl.host);
    return returnUrl && app ? { returnUrl, app } : undefined;
  }

  const notAnApp = (ctx: Context) => refusal(ctx, 400, 'Unknown address', 'That address is not an app protected by Accouch.');

  router.all('/forward-auth/traefik', (ctx) => check(ctx, 'forwarded'));
  router.all('/forward-auth/caddy', (ctx) => check(ctx, 'forwarded'));
  router.all('/forward-auth/nginx', (ctx) => check(ctx, 'nginx'));

  router.get('/forward-auth/start', async (ctx) => {
    const found = await appOf(ctx.query.rd);
    if (!found) return notAnApp(ctx);
    return proceed(ctx, found.returnUrl, found.app, false);
  });

  router.get('/forward-auth/callback', async (ctx) => {
    const saved = finishSignIn(ctx, flow);
    if (!saved) {
      return refusal(ctx, 400, 'Sign-in not completed', 'This sign-in has expired or was started in another browser or tab. Open the app again.');
    }
    const found = await appOf(saved.rd);
    if (!found) return notAnApp(ctx);
    if (typeof ctx.query.error === 'string') {
      const description = typeof ctx.query.error_description === 'string' ? ctx.query.error_description.slice(0, 300) : '';
      return refusal(ctx, ctx.query.error === 'access_denied' ? 403 : 400, 'Sign-in not completed', `The sign-in to ${found.app.name ?? found.app.id} was cancelled or refused. ${description}`.trim());
    }
    return proceed(ctx, found.returnUrl, found.app, true);
  });

  return router;
}
