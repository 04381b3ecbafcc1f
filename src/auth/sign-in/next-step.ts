// The one next-step function of a sign-in (in the shape of dex's server/authflow): given the request and what
// has been proven so far, the step that comes next, as data. Every factor and every door asks it; routes only
// translate the Step.
import type { Db } from '../../store/db.js';
import { userAllowedForClient } from '../policy.js';
import { activeUser, decide, factorsOf } from './factors.js';
import type { PendingSignIn, SignInRequest, Step } from './types.js';

/** The words the app gets (error_description) for each refusal; never which factor failed. */
export const denyDescriptions = {
  policy: 'this app can only be used from the home network',
  disabled: 'this account is disabled',
  'too-weak-outside': 'from outside the home network this app needs a stronger sign-in than this account has set up',
  'too-weak': 'this app needs a stronger sign-in than this account has set up',
  group: 'this account may not use this application',
} as const;

/**
 * Checked in this order: a network the app is closed to (before anything is asked), nothing proven yet (the
 * page), a user disabled meanwhile, the strength (done, a second factor, or impossible with this user's
 * factors), then the app's groups (only once the person has fully proven who they are).
 */
export async function nextStep(db: Db, request: SignInRequest, pending: PendingSignIn | undefined): Promise<Step> {
  if (!request.required.allowed) return { kind: 'deny', reason: 'policy', description: denyDescriptions.policy };
  if (!pending) return { kind: 'page' };
  const user = await activeUser(db, pending.userId);
  if (!user) return { kind: 'deny', reason: 'disabled', description: denyDescriptions.disabled };
  const decision = decide(pending, await factorsOf(db, user), request.required.acr);
  if (decision.status === 'impossible') {
    return { kind: 'deny', reason: 'too-weak', description: request.network === 'outside' ? denyDescriptions['too-weak-outside'] : denyDescriptions['too-weak'] };
  }
  if (decision.status === 'more') return { kind: 'more', user, pending, options: decision.options };
  if (!userAllowedForClient(user, request.app.allowedGroups)) return { kind: 'deny', reason: 'group', description: denyDescriptions.group };
  return { kind: 'login', user, pending, amr: decision.amr, acr: decision.acr };
}
