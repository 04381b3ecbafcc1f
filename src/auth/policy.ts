// Which users may use which client, how strong a sign-in must be (network and app policy, acr_values),
// and what a sign-in proves (amr values per RFC 8176, and the acr level they reach).
import type { strengths } from '../config.js';
import type { Network } from './network.js';

/** Whether a user may use a client that restricts sign-in to some groups (empty list: everyone). */
export function userAllowedForClient(user: { readonly groups: readonly string[] }, allowedGroups: readonly string[] | undefined): boolean {
  return !allowedGroups?.length || user.groups.some((g) => allowedGroups.includes(g));
}

/** Sign-in strength, weakest first; also the `acr` value put in id_tokens. */
export type Acr = '1fa' | 'mfa' | 'phr';

/** Every {@link Acr}, weakest first. */
export const acrValues: readonly Acr[] = Object.freeze(['1fa', 'mfa', 'phr'] as const);

/** A policy value from the configuration: a minimum strength, or `deny`. */
export type Strength = (typeof strengths)[number];

/** Whether a sign-in of strength `achieved` (none: undefined) meets `required`. */
export function satisfies(achieved: Acr | undefined, required: Acr): boolean {
  return achieved !== undefined && acrValues.indexOf(achieved) >= acrValues.indexOf(required);
}

/** One way the user proved something during a sign-in. */
export const factors = ['password', 'passkey', 'security_key', 'totp', 'recovery_code', 'federated'] as const;
export type Factor = (typeof factors)[number];

/** A factor used in a sign-in, with what the authenticator reported for WebAuthn ones. */
export interface UsedFactor {
  factor: Factor;
  /** WebAuthn: the authenticator verified the user (PIN or biometric), not just their presence. */
  userVerified?: boolean;
  /** WebAuthn: the key cannot leave its device (amr `hwk`; otherwise `swk`, e.g. a synced passkey). */
  hardware?: boolean;
  /** WebAuthn with user verification: how, if the caller knows (amr `pin`; default `user`). */
  verification?: 'user' | 'pin';
  /** Federated: the upstream's id (for the audit log). */
  upstream?: string;
}

// The kind of proof each step adds; two steps of one kind (a TOTP and a recovery code) are still one factor.
// An upstream identity is its own kind: we cannot see what it checked, so it counts once, never as two.
type Kind = 'knowledge' | 'possession' | 'verified' | 'upstream';

/**
 * The amr values and acr level a sign-in proves. Passkeys and security keys are both WebAuthn: a key is
 * possession and phishing-resistant; with user verification it is a second factor on its own (so a passkey
 * with UV is `phr`). Any WebAuthn key plus a second factor is `phr`; two factors without one are `mfa`.
 * Recovery codes report `otp`: RFC 8176 defines `otp` as a one-time password and a recovery code is exactly
 * that (single use), whereas `kba` means knowledge-based questions. `mfa` is added for two or more factors.
 * @throws RangeError when no factor was used.
 */
export function describeSignIn(factors: readonly UsedFactor[]): { amr: string[]; acr: Acr } {
  if (!factors.length) throw new RangeError('a sign-in needs at least one factor');
  const amr = new Set<string>();
  const kinds = new Set<Kind>();
  let webauthn = false;
  for (const used of factors) {
    switch (used.factor) {
      case 'password':
        amr.add('pwd');
        kinds.add('knowledge');
        break;
      case 'totp':
      case 'recovery_code':
        amr.add('otp');
        kinds.add('possession');
        break;
      case 'federated':
        amr.add('fed');
        kinds.add('upstream');
        break;
      case 'passkey':
      case 'security_key':
        webauthn = true;
        // A security key is hardware unless the caller says otherwise; a passkey may be synced.
        amr.add((used.hardware ?? used.factor === 'security_key') ? 'hwk' : 'swk');
        kinds.add('possession');
        if (used.userVerified) {
          amr.add(used.verification ?? 'user');
          kinds.add('verified');
        }
        break;
    }
  }
  const multi = kinds.size >= 2;
  if (multi) amr.add('mfa');
  return { amr: [...amr], acr: multi ? (webauthn ? 'phr' : 'mfa') : '1fa' };
}

/** Authentication method references for a password sign-in. */
export const passwordAmr = describeSignIn([{ factor: 'password' }]).amr;

const strengthAcr: Record<Exclude<Strength, 'deny'>, Acr> = { any: '1fa', mfa: 'mfa', phr: 'phr' };

/** What a request needs: a sign-in of at least `acr`, or nothing at all from here (`deny`). */
export type Requirement = { allowed: false } | { allowed: true; acr: Acr };

/** An app's own rules (config `clients[].policy` and `allowedGroups`); both optional. */
export interface AppPolicy {
  policy?: Partial<Record<Network, Strength>> | undefined;
  allowedGroups?: readonly string[] | undefined;
}

/** Everything the strength of one request depends on. */
export interface StrengthRequest {
  network: Network;
  globalPolicy: Record<Network, Strength>;
  /** The app's own policy per network (stricter of it and the global one binds). */
  clientPolicy?: Partial<Record<Network, Strength>> | undefined;
  /** The request's acr_values: the raw space-separated parameter or its values. */
  acrValues?: string | readonly string[] | undefined;
}

/**
 * The strength a sign-in needs: the stricter of the global and the app's policy for the network (`deny` in
 * either: not allowed), raised by the app's `acr_values`. acr_values is a preference list, so the weakest
 * value we know is the one that binds ("mfa phr" needs mfa); values we do not know are ignored.
 * The one decision of strength: the provider's login check, the sign-in pages, /account, /admin and
 * forward-auth all ask it.
 */
export function requiredStrength(input: StrengthRequest): Requirement {
  const policies = [input.globalPolicy[input.network], input.clientPolicy?.[input.network]];
  if (policies.includes('deny')) return { allowed: false };
  const required = policies.flatMap((p) => (p === undefined || p === 'deny' ? [] : [strengthAcr[p]]));
  const asked = typeof input.acrValues === 'string' ? input.acrValues.split(' ') : input.acrValues;
  const requested = acrValues.filter((acr) => asked?.includes(acr));
  if (requested.length) required.push(requested[0]!);
  return { allowed: true, acr: required.reduce((a, b) => (satisfies(a, b) ? a : b)) };
}

/** An acr value read from elsewhere (a session, a token), if it is one of ours. */
export function asAcr(value: unknown): Acr | undefined {
  return acrValues.find((acr) => acr === value);
}

/** Whether a password alone must not finish this user's sign-in (they have TOTP or a WebAuthn credential). */
export function needsSecondFactor(user: { hasTotp: boolean; webauthnCount: number }): boolean {
  return user.hasTotp || user.webauthnCount > 0;
}
