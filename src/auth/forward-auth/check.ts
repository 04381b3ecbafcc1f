// The forward-auth service: who a proxied request comes from (the forward-auth cookie, or a bearer access token),
// whether it may pass (access.ts), and how a browser gets the cookie after signing in at Accouch. The per-request
// check reads through a cache of a few seconds and writes nothing; sign-out is seen when the cache entry ages out.
import { createHash, randomBytes } from 'node:crypto';
import type { ForwardAuthAppConfig } from '../../config.js';
import type { Db } from '../../store/db.js';
import { consumePayload, findPayload, upsertPayload } from '../../store/oidc-payloads.js';
import { findAccessTokenOwner, findBrowserSession, type BrowserSession } from '../../oidc/sessions.js';
import { findUserById, type User } from '../../store/users.js';
import type { Network } from '../network.js';
import type { Acr, Strength } from '../policy.js';
import { forwardAuthAccess, type Access } from './access.js';
import type { ForwardAuthDirectory } from './apps.js';
import { once } from '../once.js';
import { cookieValues, forwardAuthCookie, inScope, setCookieHeader, sharedCookieDomain, signCookie, verifyCookie } from './cookie.js';
import type { Target } from './target.js';

/** The path on an app's own host where a browser brings its single-use code back (through the proxy). */
export const callbackPath = '/.accouch-auth/callback';
const codeTtl = 60;
const codeModel = 'ForwardAuthCode';

export interface ForwardAuthDeps {
  db: Db;
  directory: ForwardAuthDirectory;
  issuer: string;
  cookieKeys: readonly string[];
  globalPolicy: Record<Network, Strength>;
  /** How long a session or user read stays cached: the longest a sign-out takes to reach every app. */
  cacheMs?: number;
  now?: () => number;
}

/** A signed-in person as forward-auth sees them. */
export interface Identity {
  user: User;
  acr: Acr | undefined;
  /** When the user last proved who they are (epoch seconds). */
  authTime: number;
}

type SessionInfo = BrowserSession;
/** What a single-use code stands for until the app's host trades it for a cookie (our own model, not oidc-provider's). */
interface SavedCode { sessionUid: string; host: string; returnUrl: string; expiresAt: number }

export type CheckResult =
  | { kind: 'undeclared' }
  | { kind: 'allow'; app: ForwardAuthAppConfig; headers: Record<string, string> }
  | ({ app: ForwardAuthAppConfig; identity: Identity | undefined } & Exclude<Access, { kind: 'allow' }>)
  /** The browser came back to the app's host with a code: set the cookie there and go on to the page. */
  | { kind: 'cookie'; setCookie: string; location: string }
  | { kind: 'bad-code' };

/** After signing in at Accouch: where to send the browser, and the shared-domain cookie to set on the way. */
export interface Handoff { location: string; setCookie?: string }

const sha256 = (value: string) => createHash('sha256').update(value).digest('base64url');

/** Header values as raw UTF-8 bytes (what proxies pass on), without control characters. */
const headerValue = (value: string) => Buffer.from(value.replace(/[\u0000-\u001f\u007f]/g, ' '), 'utf8').toString('latin1');

export function createForwardAuth(deps: ForwardAuthDeps) {
  const { db, directory, cookieKeys, globalPolicy } = deps;
  const cacheMs = deps.cacheMs ?? 2000;
  const now = deps.now ?? (() => Date.now());
  const sharedDomain = once(() => sharedCookieDomain(new URL(deps.issuer).host));
  const cache = new Map<string, { until: number; value: unknown }>();

  /** Reads through the cache; a miss and a "none" are both kept, so a flood of bad cookies costs one read each. */
  async function cached<T>(key: string, read: () => Promise<T>): Promise<T> {
    const hit = cache.get(key);
    if (hit && hit.until > now()) return hit.value as T;
    const value = await read();
    if (cache.size >= 10_000) cache.clear();
    cache.set(key, { until: now() + cacheMs, value });
    return value;
  }

  const sessionByUid = (uid: string) => cached(`s:${uid}`, async (): Promise<SessionInfo | undefined> => {
    return findBrowserSession(db, 'uid', uid);
  });
  const activeUser = (id: string) => cached(`u:${id}`, async () => {
    const user = await findUserById(db, id);
    return user && !user.disabled ? user : undefined;
  });

  async function identityOf(session: SessionInfo | undefined): Promise<Identity | undefined> {
    if (!session) return undefined;
    const user = await activeUser(session.accountId);
    return user && { user, acr: session.acr, authTime: session.authTime };
  }

  /**
   * The first forward-auth cookie in the header that is ours, valid for this host, and whose session still exists.
   * A cookie already seen on this host skips the signature and the reads until its cache entry ages out.
   */
  async function fromCookies(cookieHeader: string | undefined, host: string): Promise<Identity | undefined> {
    for (const value of cookieValues(cookieHeader, forwardAuthCookie)) {
      const identity = await cached(`c:${host}\n${value}`, async () => {
        const claims = verifyCookie(value, cookieKeys, host, Math.floor(now() / 1000));
        return claims && identityOf(await sessionByUid(claims.sessionUid));
      });
      if (identity) return identity;
    }
    return undefined;
  }

  /**
   * An Accouch access token (opaque, from any client). It carries no acr of its own: it counts with the strength
   * of the browser session it came from while that exists, otherwise as one factor.
   */
  const fromBearer = (token: string) => cached(`t:${sha256(token)}`, async (): Promise<Identity | undefined> => {
    if (token.length > 512) return undefined;
    const owner = await findAccessTokenOwner(db, token, Math.floor(now() / 1000));
    if (!owner) return undefined;
    const session = owner.sessionUid ? await sessionByUid(owner.sessionUid) : undefined;
    if (owner.expiresWithSession && !session) return undefined;
    const user = await activeUser(owner.accountId);
    if (!user) return undefined;
    const own = session && session.accountId === user.id ? session : undefined;
    return { user, acr: own ? own.acr : '1fa', authTime: own?.authTime ?? 0 };
  });

  function headersFor(app: ForwardAuthAppConfig, user: User): Record<string, string> {
    return {
      [app.headers.user]: headerValue(user.username),
      [app.headers.groups]: headerValue(user.groups.join(',')),
      [app.headers.name]: headerValue(user.name),
      [app.headers.email]: headerValue(user.email ?? ''),
    };
  }

  function decide(app: ForwardAuthAppConfig, identity: Identity | undefined, network: Network): Access {
    return forwardAuthAccess({ session: identity, network, app, globalPolicy });
  }

  /** The check a proxy asks for, once per request to a protected app. */
  async function check(input: { target: Target; network: Network; cookieHeader: string | undefined; authorization: string | undefined }): Promise<CheckResult> {
    const { url } = input.target;
    const app = await directory.appForHost(url.host);
    if (!app) return { kind: 'undeclared' };
    if (url.pathname === callbackPath) return redeem(url);
    const bearer = /^Bearer ([\w.~+/-]+=*)$/i.exec(input.authorization ?? '')?.[1];
    const identity = bearer ? await fromBearer(bearer) : await fromCookies(input.cookieHeader, url.host);
    const access = decide(app, identity, input.network);
    if (access.kind === 'allow') return { kind: 'allow', app, headers: headersFor(app, identity!.user) };
    return { ...access, app, identity };
  }

  /** The browser's Accouch session, by the session id in oidc-provider's own cookie (on the issuer's host). */
  async function browserSession(sessionId: string | undefined): Promise<(SessionInfo & Identity) | undefined> {
    if (!sessionId || sessionId.length > 256) return undefined;
    const session = await findBrowserSession(db, 'id', sessionId);
    const identity = await identityOf(session);
    return session && identity && { ...session, ...identity };
  }

  /**
   * Hands a signed-in browser over to the app at `returnUrl`: on a host under the issuer's registrable domain,
   * a cookie on that domain and straight back; on any other host, a single-use code that the app's host trades for
   * a host-only cookie at {@link callbackPath}.
   */
  async function handOff(session: SessionInfo, returnUrl: URL): Promise<Handoff> {
    const secure = returnUrl.protocol === 'https:';
    const shared = await sharedDomain();
    if (shared && inScope({ domain: shared }, returnUrl.host)) {
      const value = signCookie({ sessionUid: session.uid, scope: { domain: shared }, expiresAt: session.expiresAt }, cookieKeys);
      return { location: returnUrl.href, setCookie: setCookieHeader(value, { domain: shared, secure, maxAge: session.expiresAt - now() / 1000 }) };
    }
    const code = randomBytes(32).toString('base64url');
    await upsertPayload(db, codeModel, sha256(code), { sessionUid: session.uid, host: returnUrl.host, returnUrl: returnUrl.href, expiresAt: session.expiresAt }, Math.floor(now() / 1000) + codeTtl);
    const callback = new URL(callbackPath, returnUrl.origin);
    callback.searchParams.set('code', code);
    return { location: callback.href };
  }

  /** Trades a code for a host-only cookie on the host it was issued for; once. */
  async function redeem(url: URL): Promise<CheckResult> {
    const code = url.searchParams.get('code');
    if (!code || code.length > 100) return { kind: 'bad-code' };
    const id = sha256(code);
    const row = await findPayload(db, codeModel, 'id', id, Math.floor(now() / 1000));
    const saved = row?.payload as SavedCode | undefined;
    if (!saved || row!.consumedAt !== null || saved.host !== url.host || !(await consumePayload(db, codeModel, id))) return { kind: 'bad-code' };
    const value = signCookie({ sessionUid: saved.sessionUid, scope: { host: url.host }, expiresAt: saved.expiresAt }, cookieKeys);
    return {
      kind: 'cookie', location: saved.returnUrl,
      setCookie: setCookieHeader(value, { secure: url.protocol === 'https:', maxAge: saved.expiresAt - now() / 1000 }),
    };
  }

  return { check, decide, browserSession, handOff, appForHost: (host: string) => directory.appForHost(host) };
}

export type ForwardAuth = ReturnType<typeof createForwardAuth>;
