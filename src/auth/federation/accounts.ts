// Upstream identities and household accounts: who an upstream sign-in is (a linked user, a new user an allow
// rule admits, or nobody), linking and unlinking from the account page, and GitHub organisations → groups.
// Nothing half-done is stored: a new user, their link, groups and picture go in one transaction.
import { conflict, notFound } from '../../errors.js';
import { recordAudit } from '../../store/audit.js';
import { saveAvatar } from '../../store/avatars.js';
import { listCredentials } from '../../store/credentials.js';
import type { Db } from '../../store/db.js';
import { epoch } from '../../store/db.js';
import {
  deleteFederatedIdentity, findFederatedIdentity, insertFederatedIdentity, listFederatedIdentities, touchFederatedIdentity,
  type FederatedIdentity,
} from '../../store/federation.js';
import { createUser, findUserById, findUserByUsername, lockUser, setGroups, type User } from '../../store/users.js';
import { hasWayIn, lastWayInMessage, type Actor } from '../account.js';
import { avatarContentType, maxAvatarBytes } from '../avatar.js';
import { usernamePattern } from '../household.js';
import type { Identity } from './connector.js';
import type { Upstream } from './registry.js';

export type UpstreamSignIn =
  | { status: 'known'; userId: string }
  | { status: 'created'; userId: string }
  | { status: 'stranger'; message: string };

/** Who is shown as the upstream account: its login, else its email, else its subject. */
export const accountLabel = (identity: Pick<Identity, 'login' | 'email' | 'subject'>) => identity.login ?? identity.email ?? identity.subject;

/** Whether an allow rule of the upstream admits this identity as a new household user. */
export function admitsNewUser(upstream: Upstream, identity: Identity): boolean {
  const { allow } = upstream;
  if (identity.emailVerified && identity.email && allow.emails.includes(identity.email)) return true;
  if (upstream.type === 'github') {
    if (identity.login && allow.githubLogins.includes(identity.login.toLowerCase())) return true;
    if (identity.memberships.some((m) => !m.includes('/') && allow.githubOrgs.includes(m))) return true;
  }
  return upstream.type === 'google' && identity.domain !== undefined && allow.googleDomains.includes(identity.domain);
}

/** The local groups an upstream's mapping gives this identity, and every group the mapping manages. */
export function mappedGroups(upstream: Upstream, identity: Identity): { managed: string[]; granted: string[] } {
  const entries = Object.entries(upstream.groups);
  return {
    managed: [...new Set(entries.map(([, group]) => group))],
    granted: [...new Set(entries.filter(([from]) => identity.memberships.includes(from.toLowerCase())).map(([, group]) => group))],
  };
}

/** Brings the groups the upstream manages in line with the identity's memberships; other groups stay. */
async function syncGroups(db: Db, upstream: Upstream, identity: Identity, user: User): Promise<void> {
  const { managed, granted } = mappedGroups(upstream, identity);
  if (!managed.length) return;
  const groups = [...user.groups.filter((g) => !managed.includes(g)), ...granted];
  const added = groups.filter((g) => !user.groups.includes(g)).sort();
  const removed = user.groups.filter((g) => !groups.includes(g)).sort();
  if (!added.length && !removed.length) return;
  await setGroups(db, user.id, groups);
  await recordAudit(db, { event: 'user.groups_changed', actor: null, detail: { user: user.id, username: user.username, added, removed, upstream: upstream.id } });
}

/** A free username from the upstream's login, email or name: `ada`, else `ada-2`, `ada-3`, … */
async function freeUsername(db: Db, identity: Identity): Promise<string> {
  const raw = identity.login ?? identity.email?.split('@')[0] ?? identity.name ?? 'user';
  const base = raw.toLowerCase().replace(/[^a-z0-9._-]+/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 56) || 'user';
  for (let n = 1; ; n += 1) {
    const candidate = n === 1 ? base : `${base}-${n}`;
    if (usernamePattern.test(candidate) && !(await findUserByUsername(db, candidate))) return candidate;
  }
}

/**
 * The upstream's picture, if it is a small image at an address an upstream may point to (https, or http on a
 * loopback address as upstreams themselves). A picture that cannot be had is no reason to refuse a sign-in.
 */
async function fetchPicture(url: string | undefined, timeout: number): Promise<{ contentType: string; data: Buffer } | undefined> {
  const parsed = url ? URL.parse(url) : null;
  if (!parsed || !(parsed.protocol === 'https:' || (parsed.protocol === 'http:' && ['localhost', '127.0.0.1', '[::1]'].includes(parsed.hostname)))) return undefined;
  try {
    const response = await fetch(parsed, { signal: AbortSignal.timeout(timeout * 1000), redirect: 'follow' });
    const length = Number(response.headers.get('content-length') ?? 0);
    if (!response.ok || length > maxAvatarBytes) return undefined;
    const data = Buffer.from(await response.arrayBuffer());
    return { contentType: avatarContentType(data), data };
  } catch {
    return undefined; // unreachable, too large or not an image: the user gets initials instead
  }
}

/**
 * Resolves an upstream sign-in: the linked user (their mapped groups brought up to date), a new household user
 * when an allow rule admits the identity, or a stranger who is refused.
 */
export async function resolveUpstreamSignIn(db: Db, upstream: Upstream, identity: Identity, ip?: string, now = epoch()): Promise<UpstreamSignIn> {
  const link = await findFederatedIdentity(db, upstream.id, identity.subject);
  if (link) {
    await touchFederatedIdentity(db, upstream.id, identity.subject, now);
    const user = await findUserById(db, link.userId);
    if (user) await syncGroups(db, upstream, identity, user);
    return { status: 'known', userId: link.userId };
  }
  if (!admitsNewUser(upstream, identity)) {
    await recordAudit(db, { event: 'login.failure', actor: null, ip: ip ?? null, detail: { factor: 'federated', upstream: upstream.id, reason: 'not linked', account: accountLabel(identity) } });
    return {
      status: 'stranger',
      message: `The ${upstream.displayName} account ${accountLabel(identity)} is not linked to anyone in this household. `
        + `Sign in another way and link it from your account page, or ask the owner of this Accouch to invite you.`,
    };
  }
  const picture = await fetchPicture(identity.picture, upstream.timeout);
  const username = await freeUsername(db, identity);
  const email = identity.emailVerified ? identity.email : undefined;
  const user = await db.transaction().execute(async (trx) => {
    const created = await createUser(trx, {
      username, name: identity.name ?? identity.login ?? username, email: email ?? null, emailVerified: Boolean(email),
      groups: mappedGroups(upstream, identity).granted,
    }, now);
    await insertFederatedIdentity(trx, { upstreamId: upstream.id, subject: identity.subject, userId: created.id, login: identity.login ?? null, email: email ?? null, linkedAt: now });
    await touchFederatedIdentity(trx, upstream.id, identity.subject, now);
    if (picture) await saveAvatar(trx, created.id, picture.contentType, picture.data, now);
    await recordAudit(trx, { event: 'user.created', actor: null, ip: ip ?? null, detail: { user: created.id, username, upstream: upstream.id, account: accountLabel(identity) } });
    return created;
  });
  return { status: 'created', userId: user.id };
}

/** Links an upstream identity to the signed-in user (one identity per upstream and user). */
export async function linkUpstreamIdentity(db: Db, actor: Actor, upstream: Upstream, identity: Identity, now = epoch()): Promise<void> {
  const existing = await findFederatedIdentity(db, upstream.id, identity.subject);
  if (existing?.userId === actor.userId) return;
  if (existing) throw conflict(`That ${upstream.displayName} account is already linked to someone else in this household.`);
  if ((await listFederatedIdentities(db, actor.userId)).some((l) => l.upstreamId === upstream.id)) {
    throw conflict(`You already have a ${upstream.displayName} account linked. Unlink it first.`);
  }
  await insertFederatedIdentity(db, {
    upstreamId: upstream.id, subject: identity.subject, userId: actor.userId, login: identity.login ?? null,
    email: identity.emailVerified ? (identity.email ?? null) : null, linkedAt: now,
  });
  await recordAudit(db, { event: 'federation.linked', actor: actor.userId, ip: actor.ip ?? null, detail: { upstream: upstream.id, account: accountLabel(identity) } });
}

/** Unlinks, unless it is the user's last way in. Checked and deleted in one transaction. */
export async function unlinkUpstreamIdentity(db: Db, actor: Actor, upstreamId: string): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockUser(trx, actor.userId);
    const links = await listFederatedIdentities(trx, actor.userId);
    if (!links.some((l) => l.upstreamId === upstreamId)) throw notFound('That account is not linked (any more).');
    const user = await findUserById(trx, actor.userId);
    if (!user || !hasWayIn(user, await listCredentials(trx, actor.userId), links.length - 1)) throw conflict(lastWayInMessage);
    await deleteFederatedIdentity(trx, actor.userId, upstreamId);
    await recordAudit(trx, { event: 'federation.unlinked', actor: actor.userId, ip: actor.ip ?? null, detail: { upstream: upstreamId } });
  });
}

export const listLinks = (db: Db, userId: string): Promise<FederatedIdentity[]> => listFederatedIdentities(db, userId);
