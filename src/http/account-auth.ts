// Who is on the account pages: oidc-provider's own session cookie names the session. Without one, the browser
// signs in through the first-party `accouch` client and comes back through /account/callback; factor changes
// need a sign-in at most five minutes old (prompt=login otherwise). POSTs must come from our own pages.
// Every request is let in by the one access decision (auth/sign-in/access.ts) for the network it comes from:
// a session too weak there signs in again at the strength needed, a closed network gets a refusal page.
import type { Context, Middleware, Next } from 'koa';
import { currentSession, sessionCookie, type AccountSession } from '../auth/account.js';
import type { NetworkClassifier } from '../auth/network.js';
import type { Acr, Strength } from '../auth/policy.js';
import { activeUser } from '../auth/sign-in/factors.js';
import { decideAccess, type Access } from '../auth/sign-in/access.js';
import { AppError } from '../errors.js';
import type { Db } from '../store/db.js';
import type { User } from '../store/users.js';
import { html, seeOther } from './kit.js';
import { finishSignIn, startSignIn, type FirstPartySignIn } from './first-party-sign-in.js';
import type { Render } from './views.js';

/** How old a sign-in may be for changing passkeys, authenticator app, password or recovery codes. */
export const freshSignInMaxAge = 300;

export interface AccountState { session: AccountSession; user: User }

export interface AccountAuthDeps {
  db: Db;
  render: Render;
  issuer: string;
  base: string;
  clientId: string;
  classifier: NetworkClassifier;
  globalPolicy: Record<'home' | 'outside', Strength>;
}

/** Who a gated page lets in beyond the policy: members of these groups only (the console: admins). */
export interface GateOptions {
  allowedGroups?: readonly string[];
  /** Where a refused POST goes back to after signing in (default: the account page). */
  home?: string;
  /** The page for a signed-in user outside `allowedGroups`. */
  forbidden?: (ctx: Context, account: AccountState) => void;
}

export function createAccountAuth({ db, render, issuer, base, clientId, classifier, globalPolicy }: AccountAuthDeps) {
  const issuerUrl = new URL(issuer);
  const root = issuer.replace(/\/$/, '');
  const accountPath = `${base}/account`;
  const flow: FirstPartySignIn = {
    cookie: 'accouch.account_signin', root, clientId, redirectUri: `${root}/account/callback`,
    cookieOptions: (ctx) => ({ signed: true, httpOnly: true, sameSite: 'lax', path: accountPath, secure: ctx.secure, overwrite: true }),
  };

  /** Only our own account and console pages are places to come back to (no open redirect). */
  function safeReturnTo(value: unknown): string {
    if (typeof value !== 'string' || !value.startsWith('/') || value.startsWith('//') || value.includes('\\')) return accountPath;
    const url = new URL(value, issuerUrl.origin);
    // The owner console (/admin) signs in through the same client and comes back to its own page.
    const inside = [accountPath, `${base}/admin`].some((path) => url.pathname === path || url.pathname.startsWith(`${path}/`));
    if (url.origin !== issuerUrl.origin || !inside || url.pathname === `${accountPath}/callback`) return accountPath;
    return url.pathname + url.search;
  }

  /** Sends the browser to sign in (again, with `reauth`) and back to `returnTo` afterwards. */
  function signIn(ctx: Context, returnTo: string, options: { reauth?: boolean; loginHint?: string; acr?: Acr } = {}) {
    startSignIn(ctx, flow, { returnTo: safeReturnTo(returnTo) }, {
      ...(options.reauth ? { prompt: 'login' } : {}),
      ...(options.loginHint ? { login_hint: options.loginHint } : {}),
      // The strength this network needs, said explicitly so the provider cannot hand back the same weak session.
      ...(options.acr ? { acr_values: options.acr } : {}),
    });
  }

  /** The signed-in session and its user; undefined if this browser is not signed in (or the user is disabled). */
  async function current(ctx: Context): Promise<AccountState | undefined> {
    const session = await currentSession(db, ctx.cookies.get(sessionCookie, { signed: true }));
    const user = session && (await activeUser(db, session.userId));
    return session && user ? { session, user } : undefined;
  }

  const wantsJson = (ctx: Context) => ctx.accepts('html', 'json') === 'json';

  /** The access decision for this request's network and this browser's session (maxAge: for factor changes). */
  async function access(ctx: Context, options: { allowedGroups?: readonly string[] | undefined; maxAge?: number } = {}): Promise<{ access: Access; account: AccountState | undefined }> {
    const account = await current(ctx);
    const decision = decideAccess(account && { user: account.user, acr: account.session.acr, amr: account.session.amr, authTime: account.session.loginTs }, {
      network: classifier.ofRequest(ctx.req).network, globalPolicy, app: { allowedGroups: options.allowedGroups }, maxAge: options.maxAge,
    });
    return { access: decision, account };
  }

  /** The answer to a request that may not go on: sign in (again), or a refusal page. */
  function refuse(ctx: Context, access: Exclude<Access, { decision: 'allow' }>, account: AccountState | undefined, returnTo: string, gate: GateOptions = {}) {
    if (access.decision === 'deny') {
      if (wantsJson(ctx)) throw new AppError('forbidden', 'This page can only be used from the home network.');
      return html(ctx, render('account-message', {
        title: 'Not from here', message: 'Your account and the owner console can only be used from the home network.',
      }), 403);
    }
    if (access.decision === 'forbidden') {
      if (wantsJson(ctx) || !gate.forbidden || !account) throw new AppError('forbidden', 'This account may not use this page.');
      return gate.forbidden(ctx, account);
    }
    if (wantsJson(ctx)) {
      if (access.reason === 'signed-out') throw new AppError('unauthorized', 'You are signed out. Reload the page and sign in again.');
      throw new AppError('forbidden', 'Confirm it is you first: reload the page and sign in again.');
    }
    const username = account?.user.username;
    return signIn(ctx, returnTo, {
      ...(username ? { loginHint: username } : {}),
      ...(access.reason === 'too-old' ? { reauth: true } : {}),
      ...(access.reason === 'too-weak' ? { acr: access.acr } : {}),
    });
  }

  /**
   * Lets a request in when the access decision allows it, with the session in ctx.state.account. Otherwise a
   * page is sent to sign in and back; a POST goes back to `home` (its change is not made); a JSON call gets a
   * readable error; a network the policy closes gets a refusal page.
   */
  const gate = (options: GateOptions = {}): Middleware => async (ctx, next) => {
    const { access: decision, account } = await access(ctx, options);
    if (decision.decision !== 'allow') return refuse(ctx, decision, account, ctx.method === 'GET' ? ctx.originalUrl : (options.home ?? accountPath), options);
    ctx.state.account = account;
    return next();
  };

  const requireAccount = gate();

  /**
   * True if the sign-in is recent enough for a factor change; otherwise sends the browser to sign in again
   * and back to `returnTo` (the page the change is made on), and returns false.
   */
  async function requireFresh(ctx: Context, returnTo: string): Promise<boolean> {
    const { access: decision, account } = await access(ctx, { maxAge: freshSignInMaxAge });
    if (decision.decision === 'allow') return true;
    refuse(ctx, decision, account, returnTo);
    return false;
  }

  /**
   * Cross-site request forgery guard on top of SameSite=Lax cookies, which still let sibling sites (other apps
   * on the same domain) through: a POST must come from the issuer's origin. Our pages send no Referer
   * (referrer policy no-referrer), so browsers send `Origin: null` for their form posts; such a post must then
   * be marked same-origin by Sec-Fetch-Site, which a page cannot forge.
   */
  const sameOrigin: Middleware = async (ctx: Context, next: Next) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      const origin = ctx.get('origin');
      const site = ctx.get('sec-fetch-site');
      const badSite = site !== '' && site !== 'same-origin';
      const badOrigin = origin !== '' && origin !== issuerUrl.origin && !(origin === 'null' && site === 'same-origin');
      if (badSite || badOrigin) throw new AppError('forbidden', 'This form was sent from another site. Open your account page and try again.');
    }
    return next();
  };

  /** GET /account/callback: the end of the sign-in started by {@link signIn}. The code is not needed: the session is. */
  async function callback(ctx: Context) {
    const saved = finishSignIn(ctx, flow);
    const back = { title: 'Sign-in not completed', link: accountPath, linkText: 'Go to your account' };
    const error = typeof ctx.query.error === 'string' ? ctx.query.error : undefined;
    if (error) {
      const description = typeof ctx.query.error_description === 'string' ? ctx.query.error_description.slice(0, 300) : undefined;
      const message = error === 'access_denied' ? 'The sign-in was cancelled or refused.' : 'The sign-in did not finish.';
      return html(ctx, render('account-message', { ...back, message, detail: description, linkText: 'Try again' }), 400);
    }
    if (!saved) {
      return html(ctx, render('account-message', {
        ...back, message: 'This sign-in has expired or was started in another browser or tab. Start again from your account page.',
      }), 400);
    }
    seeOther(ctx, safeReturnTo(saved.returnTo));
  }

  return { current, access, gate, requireAccount, requireFresh, sameOrigin, callback, signIn, accountPath };
}

export type AccountAuth = ReturnType<typeof createAccountAuth>;
