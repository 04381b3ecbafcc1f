// Password sign-in: the same answer and the same cost whether the user is unknown, disabled or mistyped.
import { recordAudit } from '../store/audit.js';
import type { Db } from '../store/db.js';
import { findUserById, findUserByUsername, type User } from '../store/users.js';
import { verifyPassword } from './password.js';
import type { Network } from './network.js';
import { beginAttempt, finishAttempt, throttleKeys, type Attempt } from './throttle.js';

export type PasswordLoginResult =
  /** `attempt`: still counted against the account until the sign-in completes, or forgiven (throttle.ts). */
  | { ok: true; user: User; attempt: Attempt }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfter: number; locked: boolean };

/**
 * Checks a password as the first step of a sign-in. A right password gives the address its attempt back
 * but leaves the account's count alone: only a completed sign-in clears it, so guessing a second factor
 * between correct passwords still runs into the lock.
 */
export async function verifyPasswordLogin(db: Db, input: { username: string; password: string; ip?: string; clientId?: string; network?: Network }): Promise<PasswordLoginResult> {
  const [accountKey, ...addressKeys] = throttleKeys(input.username, input.ip, input.network);
  const begun = await beginAttempt(db, [accountKey!, ...addressKeys]);
  if (!begun.allowed) return { ok: false, reason: 'throttled', retryAfter: begun.retryAfter, locked: begun.locked };

  const user = input.username ? await findUserByUsername(db, input.username) : undefined;
  const valid = await verifyPassword(input.password, user?.passwordHash);
  if (!user || !valid || user.disabled) {
    await finishAttempt(db, begun.attempt, false);
    await recordAudit(db, { event: 'login.failure', actor: user?.id ?? null, ip: input.ip, detail: { factor: 'password', client: input.clientId } });
    return { ok: false, reason: 'invalid' };
  }
  await finishAttempt(db, { ...begun.attempt, keys: addressKeys }, true);
  return { ok: true, user, attempt: { ...begun.attempt, keys: [accountKey!] } };
}

/** Looks a user up for the pages (display name on the consent page). */
export const findUser = (db: Db, id: string) => findUserById(db, id);
