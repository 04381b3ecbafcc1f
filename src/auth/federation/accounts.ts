// Upstream identities and household accounts: who an upstream sign-in is (a linked user, a new user an allow
// rule admits, or nobody), linking and unlinking from the account page, and GitHub organisations → groups.
// Nothing half-done is stored: a new user, their link, groups and picture go in one transaction.
import { AppError, conflict, notFound } from '../../errors.js';
import { recordAudit } from '../../store/audit.js';
import { saveAvatar } from '../../store/avatars.js';
import { listCredentials } from '../../store/credentials.js';
import type { Db } from '../../store/db.js';
import { epoch } from '../../store/db.js';
import {
  deleteFederatedIdentity, findFederatedIdentity, insertFederatedIdentity, listFederatedIdentities, touchFederatedIdentity,
} from '../../store/federation.js';
import { countGroupMembers, createUser, findUserByEmail, findUserById, findUserByUsername, lockUser, setGroups, type User } from '../../store/users.js';
import { hasWayIn, lastWayInMessage, type Actor } from '../account.js';
import { adminGroup } from '../admin.js';
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

/**
 * Brings the groups the upstream manages in line with the identity's memberships; other groups stay. The last
 * member of `admins` keeps it, whatever the upstream says: nobody could run the owner console otherwise.
 */
async function syncGroups(db: Db, upstream: Upstream, identity: Identity, user: User): Promise<void> {
  const { managed, granted } = mappedGroups(upstream, identity);
  if (!managed.length) return;
  const groups = [...user.groups.filter((g) => !managed.includes(g)), ...granted];
  if (user.groups.includes(adminGroup) && !groups.includes(adminGroup) && (await countGroupMembers(db, adminGroup)) <= 1) groups.push(adminGroup);
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

/** Where a picture may come from besides the upstream's own hosts: the avatar hosts of GitHub and Google. */
const avatarHosts = ['avatars.githubusercontent.com', 'lh3.googleusercontent.com'];
const loopback = ['localhost', '127.0.0.1', '[::1]'];

/**
 * The upstream's picture, if it is a small image on the upstream's own host (or a sub-domain of it) or a known
 * avatar host, over https (http only when the upstream itself is on loopback), without redirects, read up to
 * 1 MB. The address comes from the upstream's answer, so it must not reach anything else (SSRF). A picture that
 * cannot be had is no reason to refuse a sign-in: the person gets initials.
 */
async function fetchPicture(upstream: Upstream, url: string | undefined, log?: (reason: string) => void): Promise<{ contentType: string; data: Buffer } | undefined> {
  const parsed = url ? URL.parse(url) : null;
  if (!parsed) return undefined;
  const own = upstreamHosts(upstream);
  const host = parsed.hostname;
  const allowedHost = avatarHosts.includes(host) || own.some((h) => host === h || host.endsWith(`.${h}`));
  const allowedScheme = parsed.protocol === 'https:' || (parsed.protocol === 'http:' && loopback.includes(host) && own.includes(host));
  if (!allowedHost || !allowedScheme) return void log?.(`picture host ${host} is not the upstream's`);
  try {
    const response = await fetch(parsed, { signal: AbortSignal.timeout(upstream.timeout * 1000), redirect: 'error' });
    if (!response.ok || !response.body) return void log?.(`picture answered ${response.status}`);
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      size += chunk.length;
      if (size > maxAvatarBytes) return void log?.('picture larger than 1 MB');
      chunks.push(Buffer.from(chunk));
    }
    const data = Buffer.concat(chunks);
    return { contentType: avatarContentType(data), data };
  } catch (error) {
    return void log?.(`picture not used: ${(error as Error).message}`);
  }
}

/** The hosts an upstream answers from (its issuer, or GitHub's web and API addresses). */
function upstreamHosts(upstream: Upstream): string[] {
  const urls = [upstream.issuer ?? (upstream.type === 'google' ? 'https://accounts.google.com' : undefined), upstream.baseUrl, upstream.apiUrl]
    .filter((u): u is string => Boolean(u));
  const hosts = urls.map((u) => new URL(u).hostname);
  if (upstream.type === 'github' && !upstream.baseUrl) hosts.push('github.com');
  return hosts;
}

/**
 * Resolves an upstream sign-in: the linked user (their mapped groups brought up to date), a new household user
 * when an allow rule admits the identity, or a stranger who is refused.
 */
export async function resolveUpstreamSignIn(
  db: Db, upstream: Upstream, identity: Identity, context: { ip?: string | undefined; log?: (reason: string) => void } = {}, now = epoch(),
): Promise<UpstreamSignIn> {
  const { ip } = context;
  const link = await findFederatedIdentity(db, upstream.id, identity.issuer, identity.subject);
  if (link) {
    await touchFederatedIdentity(db, link, now);
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
  const email = identity.emailVerified ? identity.email : undefined;
  // Someone here already has this address: a second account for them would merge two people in apps that key on it.
  if (email && (await findUserByEmail(db, email))) {
    return {
      status: 'stranger',
      message: `Someone in this household already uses ${email}. If that is you, sign in another way and link your ${upstream.displayName} account from your account page.`,
    };
  }
  const picture = await fetchPicture(upstream, identity.picture, context.log);
  const username = await freeUsername(db, identity);
  const name = (identity.name ?? identity.login ?? username).slice(0, 80);
  let user: User;
  try {
    user = await db.transaction().execute(async (trx) => {
      const created = await createUser(trx, {
        username, name, email: email ?? null, emailVerified: Boolean(email),
        groups: mappedGroups(upstream, identity).granted,
      }, now);
      await insertFederatedIdentity(trx, {
        upstreamId: upstream.id, issuer: identity.issuer, subject: identity.subject, userId: created.id, login: identity.login ?? null, email: email ?? null,
        linkedAt: now, lastUsedAt: now,
      });
      if (picture) await saveAvatar(trx, created.id, picture.contentType, picture.data, now);
      await recordAudit(trx, { event: 'user.created', actor: null, ip: ip ?? null, detail: { user: created.id, username, upstream: upstream.id, account: accountLabel(identity) } });
      return created;
    });
  } catch (error) {
    // The same person signing in from two tabs at once: the other tab created them; this one signs them in.
    const raced = error instanceof AppError && error.code === 'conflict' && (await findFederatedIdentity(db, upstream.id, identity.issuer, identity.subject));
    if (raced) return { status: 'known', userId: raced.userId };
    throw error;
  }
  return { status: 'created', userId: user.id };
}

/** Links an upstream identity to the signed-in user (one identity per upstream and user). */
export async function linkUpstreamIdentity(db: Db, actor: Actor, upstream: Upstream, identity: Identity, now = epoch()): Promise<void> {
  const existing = await findFederatedIdentity(db, upstream.id, identity.issuer, identity.subject);
  if (existing?.userId === actor.userId) return;
  if (existing) throw conflict(`That ${upstream.displayName} account is already linked to someone else in this household.`);
  if ((await listFederatedIdentities(db, actor.userId)).some((l) => l.upstreamId === upstream.id)) {
    throw conflict(`You already have a ${upstream.displayName} account linked. Unlink it first.`);
  }
  await insertFederatedIdentity(db, {
    upstreamId: upstream.id, issuer: identity.issuer, subject: identity.subject, userId: actor.userId, login: identity.login ?? null,
    email: identity.emailVerified ? (identity.email ?? null) : null, linkedAt: now, lastUsedAt: null,
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
