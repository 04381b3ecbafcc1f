// findAccount and the claims Accouch puts in id_tokens and userinfo (flat groups, email_verified, nickname).
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Db } from '../store/db.js';
import { userAllowedForClient } from '../auth/policy.js';
import { findUserById, type User } from '../store/users.js';

export const claimsByScope = {
  openid: ['sub'],
  profile: ['name', 'preferred_username', 'nickname', 'picture'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
};


export function claimsOf(user: User): { sub: string; [claim: string]: unknown } {
  return {
    sub: user.id,
    name: user.name,
    preferred_username: user.username,
    nickname: user.username,
    ...(user.picture ? { picture: user.picture } : {}),
    ...(user.email ? { email: user.email, email_verified: user.emailVerified } : {}),
    groups: user.groups,
  };
}

/** oidc-provider's findAccount: disabled users and users outside the client's groups have no account. */
export function createFindAccount(db: Db) {
  return async (ctx: KoaContextWithOIDC, sub: string): Promise<Account | undefined> => {
    const user = await findUserById(db, sub);
    if (!user || user.disabled) return undefined;
    const allowed = ctx.oidc?.client?.['accouch_allowed_groups'] as string[] | undefined;
    if (!userAllowedForClient(user, allowed)) return undefined;
    return { accountId: user.id, claims: async () => claimsOf(user) };
  };
}
