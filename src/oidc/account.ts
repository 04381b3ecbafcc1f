// findAccount and the claims Accouch puts in id_tokens and userinfo (flat groups, email_verified, nickname).
import type { Account, KoaContextWithOIDC } from 'oidc-provider';
import type { Db } from '../store/db.js';
import { userAllowedForClient } from '../auth/policy.js';
import { findSignIn } from '../store/sign-ins.js';
import { findUserById, type User } from '../store/users.js';

export const claimsByScope = {
  // acr, amr and auth_time in every id_token: apps (and kube-apiserver rules) can see how the user signed in.
  openid: ['sub', 'acr', 'amr', 'auth_time'],
  profile: ['name', 'preferred_username', 'nickname', 'picture'],
  email: ['email', 'email_verified'],
  groups: ['groups'],
  // The network (home or outside) the sign-in came from, for apps with their own network rules.
  network: ['network'],
};


/** URL of a user's uploaded picture, versioned so apps refetch after a change. */
export const avatarUrl = (issuer: string, user: Pick<User, 'id' | 'avatarEtag'>) =>
  `${issuer.replace(/\/$/, '')}/avatars/${user.id}?v=${user.avatarEtag}`;

export function claimsOf(user: User, issuer: string, network?: string): { sub: string; [claim: string]: unknown } {
  const picture = user.avatarEtag ? avatarUrl(issuer, user) : user.picture;
  return {
    sub: user.id,
    name: user.name,
    preferred_username: user.username,
    nickname: user.username,
    ...(picture ? { picture } : {}),
    ...(network ? { network } : {}),
    ...(user.email ? { email: user.email, email_verified: user.emailVerified } : {}),
    groups: user.groups,
  };
}

/** oidc-provider's findAccount: disabled users and users outside the client's groups have no account. */
export function createFindAccount(db: Db, issuer: string) {
  return async (ctx: KoaContextWithOIDC, sub: string, token?: object): Promise<Account | undefined> => {
    const user = await findUserById(db, sub);
    if (!user || user.disabled) return undefined;
    const allowed = ctx.oidc?.client?.['accouch_allowed_groups'] as string[] | undefined;
    if (!userAllowedForClient(user, allowed)) return undefined;
    // The network the session was signed in from, by auth_time (recorded when the sign-in finished). Read now,
    // not when claims() asks: by then the request may have written more than tokens, after which it reads on the
    // writer thread (store/sqlite-writer.ts readsOwnWrites), a round trip this read does not need.
    const authTime = (token as { authTime?: number } | undefined)?.authTime ?? ctx.oidc?.session?.authTime();
    const signIn = authTime ? findSignIn(db, user.id, authTime) : undefined;
    signIn?.catch(() => undefined); // reported by claims(), if it is asked for
    return {
      accountId: user.id,
      claims: async () => claimsOf(user, issuer, (await signIn)?.network),
    };
  };
}
