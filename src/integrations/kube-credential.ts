// `accouch kubectl-credential`, the exec credential plugin kubectl runs before each call to the API server. It runs
// on a laptop with nothing but Node and npm, so it reads no database and no server configuration: the cached
// id_token while it lasts, else a silent refresh, else a sign-in (browser, or the device flow).
import * as tls from 'node:tls';
import type { Configuration } from 'openid-client';
import { AppError, badRequest } from '../errors.js';
import { cacheFile, ensureCacheDir, readCache, withCacheLock, writeCache, type CachedTokens } from './kube-credential-cache.js';
import { signInWithBrowser, signInWithDevice, type Tokens } from './kube-credential-login.js';

type OpenidClient = typeof import('openid-client');

/** The username (profile), email, groups, and a refresh token. */
export const kubectlScope = 'openid profile email groups offline_access';

/** A cached id_token is used only while it stays valid this much longer (kubectl still has requests to make). */
export const minValiditySeconds = 10;

export interface CredentialOptions {
  issuer: string;
  clientId: string;
  /** The device flow instead of a browser on this machine. */
  device: boolean;
  /** Try to open the browser (the address is printed either way). */
  open: boolean;
  cacheDir: string;
  /** A line for the person at the terminal (stderr). */
  note: (line: string) => void;
  now?: () => number;
}

/** What kubectl reads from our stdout (client.authentication.k8s.io/v1). */
export interface ExecCredential {
  apiVersion: 'client.authentication.k8s.io/v1';
  kind: 'ExecCredential';
  status: { token: string; expirationTimestamp: string };
}

export function toExecCredential({ idToken, expiresAt }: Pick<CachedTokens, 'idToken' | 'expiresAt'>): ExecCredential {
  return {
    apiVersion: 'client.authentication.k8s.io/v1',
    kind: 'ExecCredential',
    status: { token: idToken, expirationTimestamp: new Date(expiresAt * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z') },
  };
}

/** https, or http on this machine only (kube-apiserver itself accepts nothing but https). */
function checkIssuer(issuer: string): { insecure: boolean } {
  const url = URL.parse(issuer);
  if (url?.protocol === 'https:') return { insecure: false };
  if (url?.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(url.hostname)) return { insecure: true };
  throw badRequest(`--issuer: must be an https:// URL (got "${issuer}")`);
}

/** TLS errors of a server whose certificate Node does not trust: the issuer's CA is missing. */
const untrusted = new Set(['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY']);

/**
 * Trusts the issuer's CA (PEM) besides the system's, for every connection this process makes from now on: a home
 * issuer behind a private CA. Needs tls.setDefaultCACertificates (Node.js 22.19, 24.5 and later).
 */
export function trustIssuerCa(pem: string): void {
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw badRequest('--issuer-ca: not a PEM certificate');
  const set = (tls as { setDefaultCACertificates?: (certs: string[]) => void }).setDefaultCACertificates;
  if (!set) throw badRequest(`--issuer-ca: this Node.js (${process.version}) cannot add a CA; use Node.js 22.19 or later`);
  set([...tls.getCACertificates('default'), pem]);
}

/** One readable line for whatever went wrong on the way to a token. */
function describe(error: unknown, oidc: OpenidClient | undefined, issuer: string): string {
  if (oidc && (error instanceof oidc.ResponseBodyError || error instanceof oidc.AuthorizationResponseError)) {
    return `${issuer} refused: ${error.error}${error.error_description ? ` (${error.error_description})` : ''}`;
  }
  if (error instanceof TypeError && error.message === 'fetch failed') {
    const cause = error.cause as NodeJS.ErrnoException | undefined;
    const hint = cause?.code && untrusted.has(cause.code)
      ? ' (its certificate is not from a CA this machine trusts: print the kubeconfig again with `accouch kubeconfig --issuer-ca <ca.crt>`)' : '';
    return `cannot reach ${issuer}: ${cause?.code ?? cause?.message ?? 'network error'}${hint}`;
  }
  return error instanceof Error ? error.message : String(error);
}

function toCached(tokens: Tokens, issuer: string, clientId: string, previousRefreshToken?: string): CachedTokens {
  const exp = tokens.claims()?.exp;
  if (!tokens.id_token || typeof exp !== 'number') throw new Error(`${issuer} returned no id_token: is "openid" allowed for client ${clientId}?`);
  // Accouch rotates refresh tokens; a server that does not sends none back, and the old one stays good.
  return { issuer, clientId, idToken: tokens.id_token, expiresAt: exp, refreshToken: tokens.refresh_token ?? previousRefreshToken };
}

/** A silent refresh; undefined when the refresh token is no longer good (expired, revoked, signed out). */
async function refresh(oidc: OpenidClient, config: Configuration, cached: CachedTokens, note: (line: string) => void): Promise<CachedTokens | undefined> {
  try {
    return toCached(await oidc.refreshTokenGrant(config, cached.refreshToken!), cached.issuer, cached.clientId, cached.refreshToken);
  } catch (error) {
    if (!(error instanceof oidc.ResponseBodyError) || error.error !== 'invalid_grant') throw error;
    note('Your Kubernetes sign-in has ended: signing in again.');
    return undefined;
  }
}

/** The ExecCredential for kubectl: cached, refreshed, or after a sign-in, in that order of preference. */
export async function getKubectlCredential(options: CredentialOptions): Promise<ExecCredential> {
  const { issuer, clientId, note } = options;
  const { insecure } = checkIssuer(issuer);
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  // Not a type guard: a cached entry that is too old is still there (with its refresh token).
  const usable = (tokens: CachedTokens | undefined) => !!tokens && tokens.expiresAt - now() >= minValiditySeconds;
  const file = cacheFile(options.cacheDir, issuer, clientId);

  let oidc: OpenidClient | undefined;
  try {
    const cached = await readCache(file, issuer, clientId);
    if (cached && usable(cached)) return toExecCredential(cached); // the common case: no lock, no network, no openid-client
    await ensureCacheDir(options.cacheDir);
    const tokens = await withCacheLock(file, note, async () => {
      const current = await readCache(file, issuer, clientId);
      if (current && usable(current)) return current; // another kubectl refreshed while this one waited
      oidc = await import('openid-client');
      const config = await oidc.discovery(new URL(issuer), clientId, undefined, oidc.None(), insecure ? { execute: [oidc.allowInsecureRequests] } : undefined);
      let fresh = current?.refreshToken ? await refresh(oidc, config, current, note) : undefined;
      if (!fresh) {
        const signedIn = options.device
          ? await signInWithDevice(oidc, config, { scope: kubectlScope, note })
          : await signInWithBrowser(oidc, config, { scope: kubectlScope, open: options.open, note });
        fresh = toCached(signedIn, issuer, clientId);
      }
      await writeCache(file, fresh);
      return fresh;
    });
    return toExecCredential(tokens);
  } catch (error) {
    if (error instanceof AppError) throw error;
    throw new AppError('unauthorized', describe(error, oidc, issuer).replace(/\s*\n\s*/g, ' '), { cause: error, expose: true });
  }
}
