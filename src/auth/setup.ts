// First boot: while nobody can sign in, a one-time setup link lets the owner create their account (admins),
// enrol a first credential (a passkey, or a password plus TOTP) and save recovery codes.
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { recordAudit } from '../store/audit.js';
import { deleteAvatar, saveAvatar } from '../store/avatars.js';
import { countUsersWithAWayIn } from '../store/factors.js';
import { createUser, deleteUser, findUserById, findUserByUsername, newUserId, setPasswordHash, type User } from '../store/users.js';
import { conflict } from '../errors.js';
import { avatarContentType } from './avatar.js';
import { createLink, findValidLink, saveLinkState, useLink, type ValidLink } from './links.js';
import { hashPassword } from './password.js';
import type { SecretBox } from './secret-key.js';
import { enrolTotp } from './totp.js';

export interface SetupState {
  userId?: string;
  method?: 'passkey' | 'password';
  /** A TOTP secret offered but not yet confirmed, sealed. */
  pendingTotp?: string;
  /** The owner has a way in; recovery codes come next. */
  credentialDone?: boolean;
}

export type SetupLink = ValidLink<SetupState>;

export const setupLinkTtl = 3600;

/** Setup is open while no user has a password or a WebAuthn credential. */
export async function setupNeeded(db: Db): Promise<boolean> {
  return (await countUsersWithAWayIn(db)) === 0;
}

export async function createSetupLink(db: Db, box: SecretBox, now = epoch()): Promise<string> {
  return createLink(db, box, { purpose: 'setup', ttl: setupLinkTtl }, now);
}

/** The setup link a token names, if setup is still open. */
export async function findSetupLink(db: Db, box: SecretBox, token: unknown): Promise<SetupLink | undefined> {
  const link = await findValidLink<SetupState>(db, box, token, 'setup');
  if (!link) return undefined;
  // A link whose owner already has a way in may still show the recovery codes and finish.
  if (!link.state.credentialDone && !(await setupNeeded(db))) return undefined;
  return link;
}

export interface OwnerProfile {
  username: string;
  name: string;
  email?: string;
  avatar?: Buffer;
  method: 'passkey' | 'password';
}

/** Creates (or re-creates, if the form is sent again) the owner, who has no credential yet. */
export async function saveOwner(db: Db, link: SetupLink, profile: OwnerProfile, now = epoch()): Promise<User> {
  const contentType = profile.avatar?.length ? avatarContentType(profile.avatar) : undefined;
  const user = await recreatePendingUser(db, link.state.userId, {
    username: profile.username, name: profile.name, email: profile.email, emailVerified: Boolean(profile.email), groups: ['admins'],
  }, now);
  if (contentType && profile.avatar) await saveAvatar(db, user.id, contentType, profile.avatar, now);
  else await deleteAvatar(db, user.id);
  await saveLinkState(db, link.id, { userId: user.id, method: profile.method } satisfies SetupState);
  return (await findUserById(db, user.id))!;
}

/**
 * Creates the person a link enrols, or re-creates them when the profile form is sent again: until they have a
 * credential they own nothing, so the earlier record (same subject id) is simply replaced.
 */
export async function recreatePendingUser(
  db: Db, pendingId: string | undefined,
  profile: { username: string; name: string; email?: string; emailVerified: boolean; groups: string[] }, now = epoch(),
): Promise<User> {
  const taken = await findUserByUsername(db, profile.username);
  if (taken && taken.id !== pendingId) throw conflict(`The username "${profile.username}" is taken: choose another.`);
  if (pendingId) await deleteUser(db, pendingId);
  return createUser(db, {
    id: pendingId ?? newUserId(),
    username: profile.username,
    name: profile.name,
    email: profile.email || null,
    emailVerified: profile.emailVerified,
    groups: profile.groups,
  }, now);
}

/** Remembers the TOTP secret shown to the owner until they confirm a code from it. */
export async function offerTotp(db: Db, box: SecretBox, link: SetupLink, secret: string): Promise<void> {
  await saveLinkState(db, link.id, { ...link.state, pendingTotp: box.encrypt(secret) });
}

/** Sets the owner's password and TOTP; false when the code does not match the secret shown. */
export async function savePasswordAndTotp(db: Db, box: SecretBox, link: SetupLink, password: string, code: string, now = epoch()): Promise<boolean> {
  if (!link.state.userId || !link.state.pendingTotp) return false;
  const passwordHash = await hashPassword(password);
  if (!(await enrolTotp(db, box, link.state.userId, box.decrypt(link.state.pendingTotp), code, now))) return false;
  await setPasswordHash(db, link.state.userId, passwordHash, now);
  await markCredentialDone(db, link);
  return true;
}

export async function markCredentialDone(db: Db, link: SetupLink): Promise<void> {
  const { pendingTotp: _pending, ...rest } = link.state;
  await saveLinkState(db, link.id, { ...rest, credentialDone: true });
}

/** Uses the link up; the owner is set up. Returns the owner's id. */
export async function finishSetup(db: Db, link: SetupLink, now = epoch()): Promise<string | undefined> {
  if (!link.state.userId || !link.state.credentialDone || !(await useLink(db, link.id, now))) return undefined;
  await recordAudit(db, { event: 'setup.completed', actor: link.state.userId, detail: { method: link.state.method } });
  return link.state.userId;
}
