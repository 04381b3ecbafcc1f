// The one place forward-auth asks whether a request may pass: the household's policy decision, never computed
// here. Everything forward-auth knows about a request (user, session strength, network, app) goes in; one of
// allow / sign-in / step-up / deny / forbidden comes out.
import type { ForwardAuthAppConfig } from '../../config.js';
import type { Network } from '../network.js';
import { requiredStrength, satisfies, userAllowedForClient, type Acr, type Strength } from '../policy.js';

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

export function decideAccess(input: {
  user: { groups: string[] } | undefined;
  acr: Acr | undefined;
  network: Network;
  app: Pick<ForwardAuthAppConfig, 'allowedGroups' | 'policy'>;
  globalPolicy: Record<Network, Strength>;
}): Access {
  const required = requiredStrength({ network: input.network, globalPolicy: input.globalPolicy, clientPolicy: input.app.policy });
  if (!required.allowed) return { kind: 'deny' };
  if (!input.user) return { kind: 'sign-in', acr: required.acr };
  if (!userAllowedForClient(input.user, input.app.allowedGroups)) return { kind: 'forbidden' };
  if (!satisfies(input.acr, required.acr)) return { kind: 'step-up', acr: required.acr };
  return { kind: 'allow' };
}
