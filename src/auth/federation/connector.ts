// What every upstream connector does (STYLE.md "Federation boundary"): build the URL that sends the browser to
// the upstream, and turn the upstream's answer into an Identity. Also the one translation of an upstream's
// failure (refused, unreachable, slow, garbage) into a message a person can act on.
import { AppError } from '../../errors.js';

/** Who the upstream says signed in. Only `subject` identifies them; the rest is profile. */
export interface Identity {
  /** Who vouches for `subject`: the id_token's `iss`, or GitHub's web address. */
  issuer: string;
  /** The upstream's stable id for the person at that issuer: GitHub's numeric user id, an OpenID Connect `sub`. */
  subject: string;
  login?: string | undefined;
  name?: string | undefined;
  email?: string | undefined;
  /** Whether the upstream says it verified `email`; an unverified email is never used. */
  emailVerified: boolean;
  picture?: string | undefined;
  /** GitHub: organisation logins and "organisation/team" slugs, lower case. */
  memberships: string[];
  /** Google: the Workspace domain (`hd`), lower case. */
  domain?: string | undefined;
}

export interface LoginRequest {
  callbackUrl: string;
  state: string;
  nonce: string;
  codeChallenge: string;
}

export interface CallbackRequest {
  /** The callback URL with the query string the upstream sent back. */
  currentUrl: URL;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface Connector {
  /** Where to send the browser; may fetch the upstream's discovery document. */
  loginUrl(request: LoginRequest): Promise<URL>;
  /** Checks the answer (state, PKCE, id_token and nonce where there is one) and reads who signed in. */
  handleCallback(request: CallbackRequest): Promise<Identity>;
}

/**
 * A failure at the upstream as an AppError('upstream') whose message names the service and says what happened,
 * never the token or the raw answer. Errors of openid-client and fetch are recognised by name (the library is
 * loaded lazily, so there is no class to compare with).
 */
export function upstreamFailure(name: string, timeout: number, error: unknown): AppError {
  if (error instanceof AppError) return error;
  const e = error as { name?: string; code?: string; error?: string; error_description?: string; cause?: unknown };
  const said = (code: string | undefined, description: string | undefined) =>
    [code, description?.slice(0, 200)].filter(Boolean).join(': ');
  if (e?.name === 'AuthorizationResponseError' && e.error === 'access_denied') {
    return new AppError('upstream', `${name} did not let you in${e.error_description ? ` (${e.error_description.slice(0, 200)})` : ''}. Nothing was changed.`, { cause: error });
  }
  if (e?.name === 'AuthorizationResponseError' || e?.name === 'ResponseBodyError') {
    return new AppError('upstream', `${name} refused the sign-in (${said(e.error, e.error_description)}). Nothing was changed.`, { cause: error });
  }
  // GitHub answers a refused code exchange with HTTP 200 and an `error` member: openid-client then finds no token
  // and says so in a ClientError, whose cause (an OperationProcessingError) carries the body as its cause.
  let body: { error?: unknown; error_description?: unknown } | undefined;
  for (let at = e?.cause as { body?: typeof body; cause?: unknown } | undefined, depth = 0; at && depth < 4 && !body; depth += 1) {
    body = at.body;
    at = at.cause as typeof at;
  }
  if (typeof body?.error === 'string') {
    const description = typeof body.error_description === 'string' ? body.error_description : undefined;
    return new AppError('upstream', `${name} refused the sign-in (${said(body.error, description)}). Nothing was changed.`, { cause: error });
  }
  const timedOut = (x: unknown): boolean => {
    const n = (x as { name?: string } | undefined)?.name;
    return n === 'TimeoutError' || n === 'AbortError' || (x !== undefined && x !== null && timedOut((x as { cause?: unknown }).cause));
  };
  if (timedOut(error)) return new AppError('upstream', `${name} did not answer within ${timeout} second${timeout === 1 ? '' : 's'}. Nothing was changed.`, { cause: error });
  if (e?.name === 'TypeError' && /fetch failed/i.test(String((error as Error).message))) {
    return new AppError('upstream', `${name} could not be reached. Nothing was changed.`, { cause: error });
  }
  return new AppError('upstream', `${name} sent an answer Accouch could not use. Nothing was changed.`, { cause: error });
}
