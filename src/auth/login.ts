// Password sign-in: the same answer and the same cost whether the user is unknown, disabled or mistyped.
import { recordAudit } from '../store/audit.js';
import type { Db } from '../store/db.js';
import { findUserById, findUserByUsername, type User } from '../store/users.js';
import { verifyPassword } from './password.js';
import { checkThrottle, recordFailure, recordSuccess, throttleKeys } from './throttle.js';

export type PasswordLoginResult =
  | { ok: true; user: User }
  | { ok: false; reason: 'invalid' }
  | { ok: false; reason: 'throttled'; retryAfter: number; locked: boolean };

export async function verifyPasswordLogin(db: Db, input: { username: string; password: string; ip?: string; clientId?: string }): Promise<PasswordLoginResult> {
  const keys = throttleKeys(input.username, input.ip);
  const throttle = await checkThrottle(db, keys);
  if (!throttle.allowed) return { ok: false, reason: 'throttled', retryAfter: throttle.retryAfter, locked: throttle.locked };

  const user = input.username ? await findUserByUsername(db, input.username) : undefined;
  const valid = await verifyPassword(input.password, user?.passwordHash);
  if (!user || !valid || user.disabled) {
    await recordFailure(db, keys);
    await recordAudit(db, { event: 'login.failure', actor: user?.id ?? null, ip: input.ip, detail: { method: 'pwd', client: input.clientId } });
    return { ok: false, reason: 'invalid' };
  }
  await recordSuccess(db, input.username);
  await recordAudit(db, { event: 'login.success', actor: user.id, ip: input.ip, detail: { method: 'pwd', client: input.clientId } });
  return { ok: true, user };
}

/** Looks a user up for the pages (display name on the consent page). */
export const findUser = (db: Db, id: string) => findUserById(db, id);
