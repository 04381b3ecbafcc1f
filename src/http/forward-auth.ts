// Forward-auth for reverse proxies: Traefik `forwardAuth` and Caddy `forward_auth` (X-Forwarded-*) and nginx
// `auth_request` (X-Original-URL) ask here before every request to a protected app; browsers without a session go
// through /forward-auth/start (sign in at Accouch, as any app would) and come back with a cookie for the app.
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Access } from '../auth/forward-auth/access.js';
import type { ForwardAuth, Identity } from '../auth/forward-auth/check.js';
import { parseReturnUrl, targetFromForwarded, targetFromOriginal, type Target } from '../auth/forward-auth/target.js';
import type { NetworkClassifier } from '../auth/network.js';
import { AppError } from '../errors.js';
import { finishSignIn, startSignIn, type FirstPartySignIn } from './first-party-sign-in.js';
import { html, seeOther } from './kit.js';
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

/** How a proxy names the request it asks about: X-Forwarded-* (Traefik, Caddy) or X-Original-URL (nginx). */
export type Mode = 'forwarded' | 'nginx';
type App = Awaited<ReturnType<ForwardAuth['appForHost']>> & {};

const one = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);

/** A page navigation, as opposed to fetch()/XHR or a non-HTML client, which get a bare 401 instead of a redirect. */
function isNavigation(headers: IncomingHttpHeaders, method: string): boolean {
  if (method !== 'GET' && method !== 'HEAD') return false;
  if (one(headers['x-requested-with'])?.toLowerCase() === 'xmlhttprequest') return false;
  const mode = one(headers['sec-fetch-mode']);
  if (mode && mode !== 'navigate') return false;
  return /\btext\/html\b/.test(one(headers.accept) ?? '');
}

const appName = (app: App) => app.name ?? app.id;

interface Refusal { status: number; title: string; message: string }

/** The page for a request that is refused outright (not a sign-in question). */
function refusalOf(access: Access, app: App, identity: Identity | undefined): Refusal {
  if (access.kind === 'deny') {
    return { status: 403, title: 'Not available from here', message: `${appName(app)} can only be used from the home network.` };
  }
  if (access.kind === 'forbidden') {
    return { status: 403, title: 'Not for your account', message: `${identity?.user.name ?? 'Your account'} is not allowed to use ${appName(app)}. Ask whoever runs Accouch at home to add you to its group.` };
  }
  return { status: 403, title: 'A stronger sign-in is needed', message: `${appName(app)} needs a stronger sign-in than the one just made (for example a passkey, or a password with a second factor).` };
}

/** The proxies' check paths (under the issuer's path) and how each proxy names the request it asks about. */
export const forwardAuthCheckPaths = new Map<string, Mode>([['/forward-auth/traefik', 'forwarded'], ['/forward-auth/caddy', 'forwarded'], ['/forward-auth/nginx', 'nginx']]);

/**
 * The check a proxy asks for before every request to a protected app, on the bare request and response: it is on
 * the path of every page, image and script the household loads from those apps, and is answered before koa
 * (http/app.ts), which would cost it as much again. `forwardedHost`: the X-Forwarded-Host that came.
 */
export function createForwardAuthCheck(deps: Pick<ForwardAuthRouteDeps, 'forwardAuth' | 'classifier' | 'render' | 'issuer'>) {
  const { forwardAuth, classifier, render } = deps;
  const root = deps.issuer.replace(/\/$/, '');

  return async function check(req: IncomingMessage, res: ServerResponse, mode: Mode, forwardedHost: string | string[] | undefined): Promise<void> {
    const send = (status: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.statusCode = status;
      res.setHeader('content-type', type);
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(body);
    };
    const page = ({ status, title, message }: Refusal) => send(status, render('message', { title, message }), 'text/html; charset=utf-8');
    res.setHeader('cache-control', 'no-store');
    // Only a proxy we trust may tell us which request it is asking about.
    if (!classifier.isTrustedProxy(req.socket.remoteAddress ?? '')) {
      return send(403, 'forward-auth answers only the proxies listed in network.trustedProxies\n');
    }
    let target: Target;
    const h = req.headers;
    try {
      target = mode === 'nginx'
        ? targetFromOriginal({ url: one(h['x-original-url']), method: one(h['x-original-method']) })
        : targetFromForwarded({ proto: one(h['x-forwarded-proto']), host: one(forwardedHost), uri: one(h['x-forwarded-uri']), method: one(h['x-forwarded-method']) });
    } catch (error) {
      if (!(error instanceof AppError)) throw error;
      // nginx turns anything but 2xx, 401 and 403 from auth_request into a 500 of its own.
      return send(mode === 'nginx' ? 403 : error.status, `${error.message}\n`);
    }
    const result = await forwardAuth.check({
      target, network: classifier.ofRequest(req).network, cookieHeader: one(h.cookie) || undefined, authorization: one(h.authorization) || undefined,
    });
    const browser = isNavigation(h, target.method);
    const startUrl = (returnUrl: string) => `${root}/forward-auth/start?${new URLSearchParams({ rd: returnUrl })}`;
    // nginx's auth_request passes on only a 401's headers (the snippet reads Location and Set-Cookie from it).
    const redirect = (location: string, setCookie?: string) => {
      if (setCookie) res.setHeader('set-cookie', setCookie);
      res.setHeader('location', location);
      send(mode === 'nginx' ? 401 : 302, '');
    };
    switch (result.kind) {
      case 'undeclared':
        return send(403, `${target.url.host} is not declared as a forward-auth app in Accouch (accouch app add forward-auth --url ...)\n`);
      case 'allow':
        for (const [name, value] of Object.entries(result.headers)) res.setHeader(name, value);
        return send(200, '');
      case 'cookie':
        return redirect(result.location, result.setCookie);
      case 'bad-code':
        // Used, expired or foreign: start over from the app's front page (the session, if any, is handed over again).
        return browser
          ? redirect(startUrl(`${target.url.origin}/`))
          : page({ status: 400, title: 'Sign-in link not valid', message: 'This sign-in link was used already or has expired.' });
      case 'sign-in':
      case 'step-up':
        if (browser) return redirect(startUrl(target.url.href));
        res.setHeader('www-authenticate', result.kind === 'step-up'
          ? `Bearer realm="Accouch", error="insufficient_user_authentication", acr_values="${result.acr}"`
          : 'Bearer realm="Accouch"');
        return send(401, 'sign in first\n');
      case 'deny':
      case 'forbidden':
        // nginx cannot show our page from a 403: send the browser to the start page, which explains the refusal.
        if (browser && mode === 'nginx') return redirect(startUrl(target.url.href));
        return page(refusalOf(result, result.app, result.identity));
    }
  };
}

/** The browsers' way in: /forward-auth/start (sign in at Accouch) and /forward-auth/callback (back to the app). */
export function forwardAuthRoutes(deps: ForwardAuthRouteDeps): Router {
  const { forwardAuth, classifier, render, base, clientId } = deps;
  const root = deps.issuer.replace(/\/$/, '');
  const router = new Router();

  const refusal = (ctx: Context, status: number, title: string, message: string) => html(ctx, render('message', { title, message }), status);
  const refuse = (ctx: Context, access: Access, app: App, identity: Identity | undefined) => {
    const { status, title, message } = refusalOf(access, app, identity);
    refusal(ctx, status, title, message);
  };

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
