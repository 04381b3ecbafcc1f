// What a signed-in user may change about their own account: profile, picture, passkeys and security keys,
// authenticator app, password, recovery codes, sessions and connected apps. Every change is audited, and the
// last way in (a password, a passkey or a linked upstream account) cannot be removed.
import { createHash } from 'node:crypto';
import { badRequest, conflict, notFound } from '../errors.js';
import { recordAudit } from '../store/audit.js';
import { deleteAvatar, saveAvatar } from '../store/avatars.js';
import { deleteCredential, findCredential, listCredentials, renameCredential, type StoredCredential } from '../store/credentials.js';
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { listFederatedIdentities } from '../store/federation.js';
import { findUserById, lockUser, setPasswordHash, updateProfile, type User } from '../store/users.js';
import { forgetConsent, listConsents } from '../store/consents.js';
import { appsOf, endSession, findAccountSession, revokeConnectedApp, sessionsOf } from '../oidc/sessions.js';
import { avatarContentType } from './avatar.js';
import { parseProfile } from './profile.js';
import { hashPassword } from './password.js';
import { generateRecoveryCodes, recoveryStatus } from './recovery.js';
import type { SecretBox } from './secret-key.js';
import { enrolTotp, hasTotp, removeTotp } from './totp.js';

/** The first-party client the account pages sign in through. */
export { accountClientId } from '../config.js';

/** Who did it and from where, for the audit log. */
export interface Actor { userId: string; ip?: string | undefined }

const audit = (db: Db, actor: Actor, event: string, detail: Record<string, unknown> = {}) =>
  recordAudit(db, { event, actor: actor.userId, ip: actor.ip ?? null, detail });

/**
 * A user can sign in with a password, a passkey or a linked upstream account (`links`); security keys and TOTP
 * only ever come second.
 */
export const hasWayIn = (user: Pick<User, 'passwordHash'>, credentials: Pick<StoredCredential, 'kind'>[], links = 0) =>
  Boolean(user.passwordHash) || credentials.some((c) => c.kind === 'passkey') || links > 0;

/** Whether removing credential `id` would leave the user without a way in. */
export function canRemoveCredential(user: Pick<User, 'passwordHash'>, credentials: Pick<StoredCredential, 'id' | 'kind'>[], id: string, links = 0): boolean {
  return hasWayIn(user, credentials.filter((c) => c.id !== id), links);
}

export const lastWayInMessage = 'This is your last way to sign in: you would be locked out. Add a password, a passkey or a linked account first.';

/** Everything the account page shows about the user's sign-in methods. */
export async function securityOverview(db: Db, userId: string) {
  const [credentials, totp, recovery, links] = await Promise.all([
    listCredentials(db, userId), hasTotp(db, userId), recoveryStatus(db, userId), listFederatedIdentities(db, userId),
  ]);
  return { credentials, totp, recovery, links };
}

/** One of the user's own credentials, or not found. */
export async function ownCredential(db: Db, userId: string, id: string): Promise<StoredCredential> {
  const credential = await findCredential(db, id);
  if (!credential || credential.userId !== userId) throw notFound('That passkey or security key does not exist (any more).');
  return credential;
}


/** Changes the display name and email; a changed email is no longer verified. Returns the fields changed. */
export async function updateOwnProfile(db: Db, actor: Actor, input: { name: unknown; email: unknown }): Promise<string[]> {
  const user = await findUserById(db, actor.userId);
  if (!user) throw notFound('This account no longer exists.');
  const { name, email } = parseProfile(input, ['name', 'email']);
  const changed: string[] = [];
  if (name !== user.name) changed.push('name');
  if (email !== user.email) changed.push('email');
  if (!changed.length) return changed;
  await updateProfile(db, user.id, {
    name, ...(changed.includes('email') ? { email, emailVerified: false } : {}),
  });
  await audit(db, actor, 'profile.updated', { fields: changed });
  return changed;
}

/** Stores an uploaded picture after checking its size and format by content. */
export async function setOwnAvatar(db: Db, actor: Actor, data: Buffer, now = epoch()): Promise<void> {
  const contentType = avatarContentType(data);
  await saveAvatar(db, actor.userId, contentType, data, now);
  await audit(db, actor, 'profile.updated', { fields: ['picture'] });
}

export async function removeOwnAvatar(db: Db, actor: Actor): Promise<void> {
  await deleteAvatar(db, actor.userId);
  await audit(db, actor, 'profile.updated', { fields: ['picture'], removed: true });
}

const eventPrefix = (kind: StoredCredential['kind']) => (kind === 'passkey' ? 'passkey' : 'security_key');

export async function renameOwnCredential(db: Db, actor: Actor, id: string, name: unknown): Promise<void> {
  const credential = await ownCredential(db, actor.userId, id);
  const clean = typeof name === 'string' ? name.trim().replace(/\s+/g, ' ') : '';
  if (!clean) throw badRequest('Enter a name, for example "Phone" or "Blue key".');
  if ([...clean].length > 64) throw badRequest('The name can have at most 64 characters.');
  await renameCredential(db, actor.userId, id, clean);
  await audit(db, actor, `${eventPrefix(credential.kind)}.renamed`, { credential: id, name: clean });
}

/**
 * Removes a passkey or security key unless it is the last way in. Checked and deleted in one transaction, so
 * two removals racing cannot together take away the last two.
 */
export async function removeOwnCredential(db: Db, actor: Actor, id: string): Promise<StoredCredential> {
  return db.transaction().execute(async (trx) => {
    await lockUser(trx, actor.userId);
    const credential = await findCredential(trx, id);
    if (!credential || credential.userId !== actor.userId) throw notFound('That passkey or security key does not exist (any more).');
    const user = await findUserById(trx, actor.userId);
    const links = (await listFederatedIdentities(trx, actor.userId)).length;
    if (!user || !canRemoveCredential(user, await listCredentials(trx, actor.userId), id, links)) throw conflict(lastWayInMessage);
    await deleteCredential(trx, actor.userId, id);
    await recordAudit(trx, { event: `${eventPrefix(credential.kind)}.removed`, actor: actor.userId, ip: actor.ip ?? null, detail: { credential: id, name: credential.name } });
    return credential;
  });
}

/** Enrols the authenticator app whose secret the user saw, once their code proves the app has it. */
export async function enrolOwnTotp(db: Db, box: SecretBox, actor: Actor, secret: string, code: string, now = epoch()): Promise<boolean> {
  if (!(await enrolTotp(db, box, actor.userId, secret, code, now))) return false;
  await audit(db, actor, 'totp.enrolled');
  return true;
}

export async function removeOwnTotp(db: Db, actor: Actor): Promise<boolean> {
  if (!(await removeTotp(db, actor.userId))) return false;
  await audit(db, actor, 'totp.removed');
  return true;
}

/** Sets a new password (the length rules apply); optionally signs out every other session. */
export async function changeOwnPassword(db: Db, actor: Actor, password: string, options: { endOtherSessions?: string } = {}): Promise<number> {
  const hash = await hashPassword(password);
  await setPasswordHash(db, actor.userId, hash);
  let ended = 0;
  if (options.endOtherSessions) {
    for (const session of await sessionsOf(db, actor.userId, options.endOtherSessions)) {
      if (!session.current && (await endSession(db, actor.userId, session))) ended += 1;
    }
  }
  await audit(db, actor, 'password.changed', { sessionsEnded: ended });
  return ended;
}

/** Removes the password (passwordless from now on), unless no passkey would be left to sign in with. */
export async function removeOwnPassword(db: Db, actor: Actor): Promise<void> {
  await db.transaction().execute(async (trx) => {
    await lockUser(trx, actor.userId);
    const user = await findUserById(trx, actor.userId);
    if (!user?.passwordHash) return;
    const links = (await listFederatedIdentities(trx, actor.userId)).length;
    if (!hasWayIn({ passwordHash: null }, await listCredentials(trx, actor.userId), links)) throw conflict(lastWayInMessage);
    // setPasswordHash writes whatever it is given; null is "no password" in the users table.
    await setPasswordHash(trx, actor.userId, null);
    await recordAudit(trx, { event: 'password.removed', actor: actor.userId, ip: actor.ip ?? null });
  });
}

/** A new set of ten recovery codes, returned once; the old set stops working. */
export async function regenerateOwnRecoveryCodes(db: Db, box: SecretBox, actor: Actor): Promise<string[]> {
  const codes = await generateRecoveryCodes(db, box, actor.userId);
  await audit(db, actor, 'recovery.regenerated');
  return codes;
}

/** An opaque name for a session on the page: the session id itself is what the cookie carries. */
export const sessionHandle = (sessionId: string) => createHash('sha256').update(`session:${sessionId}`).digest('base64url').slice(0, 22);

/** The user's sessions, each with its handle instead of its id. */
export async function ownSessions(db: Db, userId: string, currentId: string) {
  return (await sessionsOf(db, userId, currentId)).map(({ id, ...rest }) => ({ ...rest, handle: sessionHandle(id) }));
}

/** Signs out one of the user's other sessions (named by handle); false if there is no such session. */
export async function endOwnSession(db: Db, actor: Actor, handle: string, currentId: string): Promise<boolean> {
  const session = (await sessionsOf(db, actor.userId, currentId)).find((s) => sessionHandle(s.id) === handle);
  if (!session) return false;
  if (session.current) throw badRequest('To end this session, use "Sign out".');
  if (!(await endSession(db, actor.userId, session))) return false;
  await audit(db, actor, 'session.revoked', { session: handle });
  return true;
}

export const ownConnectedApps = appsOf;

/** The browser session a session cookie names (the account pages' sign-in). */
export const currentSession = findAccountSession;
export type { AccountSession } from '../oidc/sessions.js';
export { sessionCookie } from '../oidc/sessions.js';

/** Revokes an app's access: its grant, every token issued under it, and the remembered consent (it asks again). */
export async function revokeOwnApp(db: Db, actor: Actor, grantId: string): Promise<boolean> {
  const app = (await appsOf(db, actor.userId)).find((a) => a.grantId === grantId);
  if (!app || !(await revokeConnectedApp(db, actor.userId, grantId))) return false;
  await forgetConsent(db, actor.userId, app.clientId);
  await audit(db, actor, 'app.revoked', { client: app.clientId });
  return true;
}

/** What the user allowed each app on a consent page, kept across sign-outs. */
export const ownConsents = (db: Db, userId: string) => listConsents(db, userId);

/** Forgets what the user allowed an app: its next sign-in asks again. False if nothing was remembered. */
export async function forgetOwnConsent(db: Db, actor: Actor, clientId: string): Promise<boolean> {
  if (!(await forgetConsent(db, actor.userId, clientId))) return false;
  await audit(db, actor, 'consent.forgotten', { client: clientId });
  return true;
}
