// A sign-in at an upstream, from the button to the callback: state, nonce and PKCE verifier kept server-side
// (every replica can finish what another began) for ten minutes and taken once; the outcome kept for the page
// that started it (the sign-in page or the account page) to pick up, once.
import { AppError, expired } from '../../errors.js';
import type { Db } from '../../store/db.js';
import { epoch } from '../../store/db.js';
import {
  insertFederationState, setFederationResult, takeFederationResult, takeFederationState, type FederationState,
} from '../../store/federation.js';
import { upstreamFailure, type Identity } from './connector.js';
import type { Upstream, UpstreamRegistry } from './registry.js';

export const federationStateTtl = 600;

/**
 * The whole exchange with the upstream (discovery, token, userinfo, API calls) within its timeout, not each
 * request: the person waits at most that long for an answer.
 */
function withinTimeout<T>(work: Promise<T>, seconds: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new DOMException(`no answer within ${seconds} s`, 'TimeoutError')), seconds * 1000);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

export interface BeginInput {
  upstream: Upstream;
  purpose: FederationState['purpose'];
  /** The interaction uid (login) or the account session id (link). */
  binding: string;
  userId?: string | undefined;
  callbackUrl: string;
}

/** Stores the state of a new upstream sign-in; returns it and the URL to send the browser to. */
export async function beginUpstreamSignIn(registry: UpstreamRegistry, db: Db, input: BeginInput, now = epoch()): Promise<{ state: string; url: URL }> {
  const { upstream } = input;
  const client = await import('openid-client');
  const state = client.randomState();
  const nonce = client.randomNonce();
  const verifier = client.randomPKCECodeVerifier();
  let url: URL;
  try {
    const codeChallenge = await client.calculatePKCECodeChallenge(verifier);
    url = await withinTimeout(registry.connector(upstream).loginUrl({ callbackUrl: input.callbackUrl, state, nonce, codeChallenge }), upstream.timeout);
  } catch (error) {
    throw upstreamFailure(upstream.displayName, upstream.timeout, error);
  }
  await insertFederationState(db, {
    id: state, upstream_id: upstream.id, purpose: input.purpose, binding: input.binding, user_id: input.userId ?? null,
    verifier, nonce, result: null, expires_at: now + federationStateTtl,
  });
  return { state, url };
}

/**
 * Takes the state the upstream sent back (once) and exchanges the code for who signed in. Returns the state
 * row (what the sign-in was for) with the identity, or with the failure as a readable AppError.
 */
export async function finishUpstreamSignIn(
  registry: UpstreamRegistry, db: Db, input: { upstream: Upstream; currentUrl: URL }, now = epoch(),
): Promise<{ row: FederationState; identity?: Identity; failure?: AppError }> {
  const { upstream, currentUrl } = input;
  const stateParam = currentUrl.searchParams.get('state') ?? '';
  const row = stateParam ? await takeFederationState(db, stateParam, upstream.id, now) : undefined;
  if (!row) throw expired('This sign-in has expired or was already used. Go back and start again.');
  try {
    const callback = registry.connector(upstream).handleCallback({ currentUrl, state: row.id, nonce: row.nonce, codeVerifier: row.verifier });
    const identity = await withinTimeout(callback, upstream.timeout);
    return { row, identity };
  } catch (error) {
    return { row, failure: upstreamFailure(upstream.displayName, upstream.timeout, error) };
  }
}

/** How an upstream sign-in ended, as the page that started it shows it. */
export type FederationOutcome = { userId: string; upstream: string } | { error: string; title: string };

export async function recordOutcome(db: Db, stateId: string, outcome: FederationOutcome): Promise<void> {
  await setFederationResult(db, stateId, JSON.stringify(outcome));
}

/** The outcome for the sign-in page `binding` (an interaction uid), once. */
export async function takeOutcome(db: Db, stateId: string, binding: string, now = epoch()): Promise<FederationOutcome | undefined> {
  const row = await takeFederationResult(db, stateId, binding, now);
  return row?.result ? (JSON.parse(row.result) as FederationOutcome) : undefined;
}
