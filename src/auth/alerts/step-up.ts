// After "This wasn't me", the person's next sign-in must use their strongest factor: what that is.
import type { Acr } from '../policy.js';

/** The strongest sign-in a person can make with what they have set up. */
export function strongestAcr(factors: { passkeys: number; securityKeys: number; hasTotp: boolean; recoveryCodes: number }): Acr {
  if (factors.passkeys + factors.securityKeys > 0) return 'phr';
  if (factors.hasTotp || factors.recoveryCodes > 0) return 'mfa';
  return '1fa';
}
