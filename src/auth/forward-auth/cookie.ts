// The forward-auth cookie: which Accouch session a browser has on an app's host, signed, and valid only where it
// was set for (one host, or the issuer's registrable domain). Never set on a public suffix or an IP address.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { once } from '../once.js';

// The Public Suffix List (tldts, ~1 MB of heap) loads on the first forward-auth hand-off, not at start.
const tldts = once(() => import('tldts'));

export const forwardAuthCookie = 'accouch_fa';

/** Where a cookie is valid: one host (host-only cookie) or every host under a registrable domain. */
export type CookieScope = { host: string } | { domain: string };

export interface CookieClaims {
  /** oidc-provider's session uid: the session must still exist for the cookie to count. */
  sessionUid: string;
  scope: CookieScope;
  /** Epoch seconds. */
  expiresAt: number;
}

const mac = (key: string, data: string) => createHmac('sha256', key).update(`accouch-forward-auth\n${data}`).digest();

/** The cookie's value: the claims and an HMAC under the first key. */
export function signCookie(claims: CookieClaims, keys: readonly string[]): string {
  const scope = 'host' in claims.scope ? `h:${claims.scope.host}` : `d:${claims.scope.domain}`;
  const data = Buffer.from(JSON.stringify([claims.sessionUid, scope, claims.expiresAt])).toString('base64url');
  return `${data}.${mac(keys[0]!, data).toString('base64url')}`;
}

/** The claims of a cookie value signed under any of the keys, unexpired and valid for `host`; else undefined. */
export function verifyCookie(value: string, keys: readonly string[], host: string, now: number): CookieClaims | undefined {
  const dot = value.indexOf('.');
  if (dot < 1 || value.length > 1024) return undefined;
  const data = value.slice(0, dot);
  const given = Buffer.from(value.slice(dot + 1), 'base64url');
  if (!keys.some((key) => { const expected = mac(key, data); return expected.length === given.length && timingSafeEqual(expected, given); })) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(data, 'base64url').toString('utf8'));
  } catch {
    return undefined; // signed by us, so unreachable unless a key leaked: treat as no cookie
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) return undefined;
  const [sessionUid, rawScope, expiresAt] = parsed as unknown[];
  if (typeof sessionUid !== 'string' || typeof rawScope !== 'string' || typeof expiresAt !== 'number' || expiresAt <= now) return undefined;
  const scope: CookieScope = rawScope.startsWith('h:') ? { host: rawScope.slice(2) } : { domain: rawScope.slice(2) };
  return inScope(scope, host) ? { sessionUid, scope, expiresAt } : undefined;
}

/** Whether a request to `host` (with or without port) is covered by a cookie of this scope. */
export function inScope(scope: CookieScope, host: string): boolean {
  const h = host.toLowerCase();
  if ('host' in scope) return scope.host === h;
  const name = hostName(h);
  return name === scope.domain || name.endsWith(`.${scope.domain}`);
}

/** The host name without port (and without IPv6 brackets). */
export const hostName = (host: string) => (host.startsWith('[') ? host.slice(1, host.indexOf(']')) : host.replace(/:\d+$/, ''));

/**
 * The registrable domain a cookie may be shared on for apps beside the issuer ("home.example" for
 * "id.home.example"), by the Public Suffix List including its private section (so never "duckdns.org" or
 * "github.io"); none for an IP address, localhost, or a host that is itself a public suffix.
 */
export async function sharedCookieDomain(issuerHost: string): Promise<string | undefined> {
  const name = hostName(issuerHost.toLowerCase());
  const domain = (await tldts()).getDomain(name, { allowPrivateDomains: true, extractHostname: false, validateHostname: true });
  return domain ?? undefined;
}

/** Every value of a cookie in a Cookie header (a browser may send two: the shared one and a host-only one). */
export function cookieValues(header: string | undefined, name: string): string[] {
  if (!header || header.length > 16_384) return [];
  const values: string[] = [];
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) values.push(part.slice(eq + 1).trim());
  }
  return values;
}

/** A Set-Cookie header value for the forward-auth cookie (an empty value with Max-Age=0 removes it). */
export function setCookieHeader(value: string, options: { domain?: string | undefined; secure: boolean; maxAge: number }): string {
  return [
    `${forwardAuthCookie}=${value}`, 'Path=/', `Max-Age=${Math.max(0, Math.floor(options.maxAge))}`, 'HttpOnly', 'SameSite=Lax',
    ...(options.domain ? [`Domain=${options.domain}`] : []), ...(options.secure ? ['Secure'] : []),
  ].join('; ');
}
