// Which factors a user has, whether the factors used so far complete a sign-in at a required strength and
// what may come next (decide), and the records of a finished, failed or refused step. No koa, no oidc-provider.
import type { Db } from '../../store/db.js';
import { epoch } from '../../store/db.js';
import { hasStepUp } from '../../store/alerts.js';
import { recordAudit } from '../../store/audit.js';
import { listCredentials } from '../../store/credentials.js';
import { countRecoveryCodes, findTotp } from '../../store/factors.js';
import { recordLastSignIn } from '../../store/people.js';
import { recordSignIn } from '../../store/sign-ins.js';
import { findUserById, type User } from '../../store/users.js';
import { describeSignIn, needsSecondFactor, satisfies, type Acr, type UsedFactor } from '../policy.js';
import { strongestAcr } from '../alerts/step-up.js';
import { recordSuccess } from '../throttle.js';
import type { PendingSignIn, SecondFactor } from './types.js';

export type { PendingSignIn, SecondFactor } from './types.js';

export interface UserFactors {
  hasPassword: boolean;
  passkeys: number;
  securityKeys: number;
  hasTotp: boolean;
  recoveryCodes: number;
  /** "This wasn't me" was confirmed since their last strong sign-in: the next needs their strongest factor. */
  stepUp?: boolean;
}

export async function factorsOf(db: Db, user: Pick<User, 'id' | 'passwordHash'>): Promise<UserFactors> {
  const [credentials, totp, recovery, stepUp] = await Promise.all([listCredentials(db, user.id), findTotp(db, user.id), countRecoveryCodes(db, user.id), hasStepUp(db, user.id)]);
  return {
    hasPassword: Boolean(user.passwordHash),
    passkeys: credentials.filter((c) => c.kind === 'passkey').length,
    securityKeys: credentials.filter((c) => c.kind === 'security_key').length,
    hasTotp: Boolean(totp),
    recoveryCodes: recovery.unused,
    stepUp,
  };
}

export type Decision =
  | { status: 'done'; amr: string[]; acr: Acr }
  | { status: 'more'; options: SecondFactor[]; acr: Acr }
  | { status: 'impossible'; acr: Acr };

/** What the sign-in needs next, given the factors used so far and the strength required. */
export function decide(pending: PendingSignIn, factors: UserFactors, requiredByPolicy: Acr): Decision {
  const required = factors.stepUp ? [requiredByPolicy, strongestAcr(factors)].reduce((a, b) => (satisfies(a, b) ? a : b)) : requiredByPolicy;
  const achieved = describeSignIn(pending.factors);
  const webauthnCount = factors.passkeys + factors.securityKeys;
  // A password alone never finishes the sign-in of someone who set up a second factor. An upstream sign-in is
  // one factor too, but whether a second is needed is the network policy's call (as for any other first factor).
  const passwordOnly = pending.factors.every((f) => f.factor === 'password');
  const personal = needsSecondFactor({ hasTotp: factors.hasTotp, webauthnCount }) && passwordOnly;
  if (satisfies(achieved.acr, required) && !personal) return { status: 'done', amr: achieved.amr, acr: achieved.acr };

  const used = new Set(pending.factors.map((f) => f.factor));
  const options: SecondFactor[] = [];
  if (webauthnCount && !used.has('security_key') && !used.has('passkey')) options.push('webauthn');
  // A phishing-resistant requirement is met only by WebAuthn.
  if (required !== 'phr') {
    if (factors.hasTotp && !used.has('totp')) options.push('totp');
    if (factors.recoveryCodes && !used.has('recovery_code')) options.push('recovery_code');
  }
  return options.length ? { status: 'more', options, acr: achieved.acr } : { status: 'impossible', acr: achieved.acr };
}

/** Loads the user of a pending sign-in, unless the account was disabled meanwhile. */
export async function activeUser(db: Db, userId: string): Promise<User | undefined> {
  const user = await findUserById(db, userId);
  return user && !user.disabled ? user : undefined;
}

/** Records a completed sign-in; returns the auth_time to hand to oidc-provider. */
export async function completeSignIn(
  db: Db,
  input: { userId: string; username: string; amr: string[]; acr: Acr; network: 'home' | 'outside'; ip?: string; clientId?: string; factors: UsedFactor[] },
  now = epoch(),
): Promise<number> {
  await recordSuccess(db, input.username);
  await recordSignIn(db, { accountId: input.userId, authTime: now, network: input.network, amr: input.amr, acr: input.acr });
  await recordLastSignIn(db, input.userId, now);
  await recordAudit(db, {
    event: 'login.success', actor: input.userId, ip: input.ip,
    detail: {
      factors: input.factors.map((f) => f.factor), acr: input.acr, network: input.network, client: input.clientId,
      upstream: input.factors.find((f) => f.upstream)?.upstream,
    },
  });
  return now;
}

/** Records a failed step without saying more to the user than "that did not work". */
export async function recordFailedStep(db: Db, input: { userId?: string | null; factor: string; network: 'home' | 'outside'; ip?: string; clientId?: string }): Promise<void> {
  await recordAudit(db, { event: 'login.failure', actor: input.userId ?? null, ip: input.ip, detail: { factor: input.factor, network: input.network, client: input.clientId } });
}

/** Records a step whose secret was right but which the policy refused (not a failed guess). */
export async function recordRefusedStep(db: Db, input: { userId: string; factor: string; network: 'home' | 'outside'; ip?: string; clientId?: string; reason?: string }): Promise<void> {
  await recordAudit(db, { event: 'login.refused', actor: input.userId, ip: input.ip, detail: { factor: input.factor, network: input.network, client: input.clientId, reason: input.reason ?? 'policy' } });
}
