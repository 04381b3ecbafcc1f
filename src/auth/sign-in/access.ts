// The decision every door that finds an existing session makes (the account page, the owner console,
// forward-auth): may this session in, must it sign in again at a given strength, or is it refused.
// No koa, no oidc-provider: the door hands in what it found and where the request comes from.
import type { Network } from '../network.js';
import { asAcr, requiredStrength, satisfies, userAllowedForClient, type Acr, type AppPolicy, type Strength } from '../policy.js';

/** A signed-in session as a door found it (oidc-provider's Session, read in oidc/). */
export interface FoundSession {
  user: { id: string; groups: readonly string[]; disabled?: boolean | undefined };
  /** The strength the session's sign-in reached (`acr`); anything unknown counts as none. */
  acr: string | undefined;
  amr?: readonly string[] | undefined;
  /** When the user last proved who they are (auth_time, epoch seconds). */
  authTime: number;
}

/** Where a request comes from and what it asks for. */
export interface AccessRequest {
  network: Network;
  globalPolicy: Record<Network, Strength>;
  /** The app behind the door: its own policy and allowed groups (none: the global policy, everyone). */
  app?: AppPolicy | undefined;
  /** acr_values, when the door has them (forward-auth may pass an app's required acr). */
  acrValues?: string | readonly string[] | undefined;
  /** How old a sign-in may be, in seconds (a factor change needs a recent one); none: any age. */
  maxAge?: number | undefined;
  /** Epoch seconds; for tests. */
  now?: number | undefined;
}

/**
 * - `allow`: the session is good for this request.
 * - `step-up`: sign in (again) at least at `acr`: there is no session (`signed-out`), it is weaker than this
 *   network and app need (`too-weak`), or older than `maxAge` (`too-old`).
 * - `deny`: this app (or everything) is closed from this network, whatever the sign-in.
 * - `forbidden`: the user is not in the app's allowed groups; signing in again would not change it.
 */
export type Access =
  | { decision: 'allow'; acr: Acr }
  | { decision: 'step-up'; acr: Acr; reason: 'signed-out' | 'too-weak' | 'too-old' }
  | { decision: 'deny'; reason: 'policy' }
  | { decision: 'forbidden'; reason: 'group' };

/**
 * The one decision for a door with a session in hand. Checked in this order: the network policy (a closed
 * door says so before asking anyone to sign in), the session (none, or a disabled user: sign in), the app's
 * groups (a stronger sign-in would not help), the strength, the age.
 */
export function decideAccess(session: FoundSession | undefined, request: AccessRequest): Access {
  const required = requiredStrength({
    network: request.network, globalPolicy: request.globalPolicy, clientPolicy: request.app?.policy, acrValues: request.acrValues,
  });
  if (!required.allowed) return { decision: 'deny', reason: 'policy' };
  if (!session || session.user.disabled) return { decision: 'step-up', acr: required.acr, reason: 'signed-out' };
  if (!userAllowedForClient(session.user, request.app?.allowedGroups)) return { decision: 'forbidden', reason: 'group' };
  const achieved = asAcr(session.acr);
  if (!satisfies(achieved, required.acr)) return { decision: 'step-up', acr: required.acr, reason: 'too-weak' };
  const now = request.now ?? Math.floor(Date.now() / 1000);
  if (request.maxAge !== undefined && now - session.authTime > request.maxAge) {
    return { decision: 'step-up', acr: required.acr, reason: 'too-old' };
  }
  return { decision: 'allow', acr: achieved! };
}
