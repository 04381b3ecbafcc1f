// The sign-in as data: what a sign-in request is (whatever protocol carried it), what has been proven so far,
// and the step that comes next. No koa, no oidc-provider: oidc/interactions.ts turns an interaction into a
// SignInRequest, http/ turns a Step into a page, a redirect or an OAuth answer.
import type { Network } from '../network.js';
import type { Acr, AppPolicy, Requirement, UsedFactor } from '../policy.js';
import type { User } from '../../store/users.js';

/** One sign-in request, as the sign-in pages and the state machine see it. */
export interface SignInRequest {
  /** The interaction (sign-in page) this request belongs to. */
  id: string;
  clientId: string;
  clientName: string;
  network: Network;
  ip: string;
  /** requiredStrength for this network, app and acr_values. */
  required: Requirement;
  /** The app's own policy and allowed groups. */
  app: AppPolicy;
  /** login_hint from the app, if any. */
  loginHint: string | undefined;
}

/** A sign-in in progress, kept with the interaction between steps. */
export interface PendingSignIn {
  userId: string;
  factors: UsedFactor[];
}

export type SecondFactor = 'webauthn' | 'totp' | 'recovery_code';

/**
 * What comes next:
 * - `page`: nothing proven yet, show the sign-in page;
 * - `more`: a second factor is needed, one of `options`;
 * - `login`: done, sign `user` in with `amr`/`acr`;
 * - `deny`: this sign-in cannot finish here (`description` goes to the app as access_denied);
 * - `throttled`: too many attempts, try again after `retryAfter` seconds (`locked`: the day-long lock).
 */
export type Step =
  | { kind: 'page' }
  | { kind: 'more'; user: User; pending: PendingSignIn; options: SecondFactor[] }
  | { kind: 'login'; user: User; pending: PendingSignIn; amr: string[]; acr: Acr }
  | { kind: 'deny'; reason: 'policy' | 'disabled' | 'too-weak' | 'group'; description: string }
  | { kind: 'throttled'; retryAfter: number; locked: boolean };
