// The one place forward-auth asks whether a request may pass: the household's decision for every door that finds a
// session (auth/sign-in/access.ts), never computed here. This only names its answers the way a proxy needs them
// (a signed-out browser is sent to sign in; a too-weak session is a step-up).
import type { ForwardAuthAppConfig } from '../../config.js';
import type { Network } from '../network.js';
import type { Acr, Strength } from '../policy.js';
import { decideAccess, type FoundSession } from '../sign-in/access.js';

export type Access =
  | { kind: 'allow' }
  /** Nobody is signed in (or the session ended): sign in with at least `acr`. */
  | { kind: 'sign-in'; acr: Acr }
  /** Signed in, but too weakly for this app from this network. */
  | { kind: 'step-up'; acr: Acr }
  /** Not from this network (the app's or the household's policy says deny). */
  | { kind: 'deny' }
  /** Signed in, but not in the app's groups. */
  | { kind: 'forbidden' };

export function forwardAuthAccess(input: {
  session: FoundSession | undefined;
  network: Network;
  app: Pick<ForwardAuthAppConfig, 'allowedGroups' | 'policy'>;
  globalPolicy: Record<Network, Strength>;
}): Access {
  const access = decideAccess(input.session, { network: input.network, globalPolicy: input.globalPolicy, app: input.app });
  switch (access.decision) {
    case 'allow': return { kind: 'allow' };
    case 'step-up': return { kind: access.reason === 'signed-out' ? 'sign-in' : 'step-up', acr: access.acr };
    case 'deny': return { kind: 'deny' };
    case 'forbidden': return { kind: 'forbidden' };
  }
}
