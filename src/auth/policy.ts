// Which users may use which client, and what a sign-in proves (amr values, RFC 8176).
import type { User } from '../store/users.js';

/** Whether a user may use a client that restricts sign-in to some groups (empty list: everyone). */
export function userAllowedForClient(user: Pick<User, 'groups'>, allowedGroups: readonly string[] | undefined): boolean {
  return !allowedGroups?.length || user.groups.some((g) => allowedGroups.includes(g));
}

/** Authentication method references for a password sign-in. */
export const passwordAmr = ['pwd'];
