// What a reverse proxy asks about: the URL the browser requested, rebuilt from the proxy's headers (Traefik and
// Caddy: X-Forwarded-Proto/Host/Uri/Method; nginx: X-Original-URL/Method), and which return URLs are safe.
import { badRequest, AppError } from '../../errors.js';

/** The request a proxy asks about. */
export interface Target {
  url: URL;
  method: string;
}

/** Longest requested URL accepted; a longer one is refused with 414 rather than carried into redirects. */
export const maxTargetLength = 4096;

const methods = /^[A-Z]{1,16}$/;

function checkedUrl(raw: string): URL {
  if (raw.length > maxTargetLength) throw new AppError('bad_request', 'the requested URL is too long', { expose: true });
  const url = URL.parse(raw);
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.username || url.password || url.hash) {
    throw badRequest('the proxy sent no usable address of the request');
  }
  return url;
}

/** Traefik / Caddy: the request is described by X-Forwarded-Proto, -Host, -Uri and -Method. */
export function targetFromForwarded(headers: { proto?: string | undefined; host?: string | undefined; uri?: string | undefined; method?: string | undefined }): Target {
  const proto = (headers.proto ?? '').split(',')[0]!.trim().toLowerCase();
  const host = (headers.host ?? '').split(',')[0]!.trim();
  const uri = headers.uri ?? '';
  if (proto !== 'http' && proto !== 'https') throw badRequest('X-Forwarded-Proto must be http or https');
  if (!host || !/^[A-Za-z0-9.:[\]-]+$/.test(host)) throw badRequest('X-Forwarded-Host is missing or not a host name');
  // The path must be a path: "//evil.example" or a full URL would change the origin of what we rebuild.
  if (!uri.startsWith('/') || uri.startsWith('//') || uri.includes('\\')) throw badRequest('X-Forwarded-Uri must be a path starting with one "/"');
  const url = checkedUrl(`${proto}://${host}${uri}`);
  if (url.host !== host.toLowerCase()) throw badRequest('X-Forwarded-Host is not a host name');
  return { url, method: methodOf(headers.method) };
}

/** nginx: the request is described by X-Original-URL (absolute) and X-Original-Method. */
export function targetFromOriginal(headers: { url?: string | undefined; method?: string | undefined }): Target {
  if (!headers.url) throw badRequest('X-Original-URL is missing: set it with proxy_set_header (see the nginx snippet)');
  return { url: checkedUrl(headers.url), method: methodOf(headers.method) };
}

function methodOf(raw: string | undefined): string {
  const method = (raw ?? 'GET').trim().toUpperCase();
  if (!methods.test(method)) throw badRequest('the forwarded method is not an HTTP method');
  return method;
}

/**
 * A return URL from a query string, if it is a plain http(s) address; the caller then checks that its host is a
 * declared app's (no open redirect through forward-auth).
 */
export function parseReturnUrl(raw: unknown): URL | undefined {
  if (typeof raw !== 'string' || raw.length > maxTargetLength) return undefined;
  const url = URL.parse(raw);
  if (!url || !['http:', 'https:'].includes(url.protocol) || url.username || url.password) return undefined;
  return url;
}
