// Invitation and reset links, the owner console's counterparts of the first-boot setup link. An invitee
// chooses a profile and enrols a passkey or a password (TOTP optional); a reset replaces every old factor of
// an existing user. Both end with recovery codes and use the link up.
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';
import { recordAudit } from '../store/audit.js';
import { deleteCredential, listCredentials } from '../store/credentials.js';
import { deleteTotp, replaceRecoveryCodes } from '../store/factors.js';
import { findUserById, setPasswordHash, updateProfile, type User } from '../store/users.js';
import { badRequest, conflict } from '../errors.js';
import { endEverySession } from '../oidc/sessions.js';
import { findValidLink, saveLinkState, useLink, type ValidLink } from './links.js';
import { hashPassword } from './password.js';
import type { SecretBox } from './secret-key.js';
import { offerTotp, recreatePendingUser, type SetupState } from './setup.js';
import { unlockAccount } from './throttle.js';
import { enrolTotp } from './totp.js';

export type EnrolFlow = 'invite' | 'reset';

/** What the link's holder has done so far (the setup link's state, plus the invitation's groups). */
export interface EnrolState extends SetupState {
  groups?: string[];
  invitedBy?: string;
}

export type EnrolLink = ValidLink<EnrolState>;

/** The invitation or reset link a token names, if valid; a reset link whose user is gone is none. */
export async function findEnrolLink(db: Db, box: SecretBox, flow: EnrolFlow, token: unknown): Promise<EnrolLink | undefined> {
  const link = await findValidLink<EnrolState>(db, box, token, flow);
  if (!link) return undefined;
  if (flow === 'reset') {
    if (!link.userId || !(await findUserById(db, link.userId))) return undefined;
    return { ...link, state: { ...link.state, userId: link.userId } };
  }
  return link;
}

/** The person the link is for so far: the reset's user, or the invitee once they chose a profile. */
export async function enrolUser(db: Db, link: EnrolLink): Promise<User | undefined> {
  return link.state.userId ? findUserById(db, link.state.userId) : undefined;
}

export interface InviteeProfile { username: string; name: string; email?: string; method: 'passkey' | 'password' }

/**
 * Creates (or re-creates, if the form is sent again) the invitee in the invitation's groups. They stay disabled,
 * out of the sign-in screen's list, until they have a way in.
 */
export async function saveInvitee(db: Db, link: EnrolLink, profile: InviteeProfile, now = epoch()): Promise<User> {
  if (link.state.credentialDone) throw conflict('Your account is already created: finish by saving your recovery codes.');
  // The invitee typed the email and nobody checked it: apps must not trust it yet.
  const user = await recreatePendingUser(db, link.state.userId, { ...profile, emailVerified: false, groups: link.state.groups ?? [] }, now);
  await updateProfile(db, user.id, { disabled: true }, now);
  await saveLinkState(db, link.id, { ...link.state, userId: user.id, method: profile.method } satisfies EnrolState);
  return (await findUserById(db, user.id))!;
}

/** A reset's choice between a passkey and a password. */
export async function chooseMethod(db: Db, link: EnrolLink, method: 'passkey' | 'password'): Promise<void> {
  if (link.state.credentialDone) return;
  const { pendingTotp: _pending, ...rest } = link.state;
  await saveLinkState(db, link.id, { ...rest, method } satisfies EnrolState);
}

/** Remembers the TOTP secret shown until a code from it is entered (the setup flow's own step). */
export const offerEnrolTotp = (db: Db, box: SecretBox, link: EnrolLink, secret: string) => offerTotp(db, box, link, secret);

/**
 * A reset's point of no return, when the new way in is saved: every other passkey and security key, the old
 * password (unless `keepPassword`), the authenticator app (unless `keepTotp`, the one just enrolled) and the
 * recovery codes go; every session ends and every grant is revoked, so apps' refresh tokens stop working; a
 * sign-in lock is lifted. Profile, picture, groups and subject stay.
 */
export async function replaceFactors(db: Db, user: User, keep: { credentialId?: string; keepPassword?: boolean; keepTotp?: boolean }): Promise<Record<string, number | boolean>> {
  let credentials = 0;
  for (const credential of await listCredentials(db, user.id)) {
    if (credential.id !== keep.credentialId && (await deleteCredential(db, user.id, credential.id))) credentials += 1;
  }
  if (!keep.keepPassword) await setPasswordHash(db, user.id, null);
  const totp = keep.keepTotp ? false : await deleteTotp(db, user.id);
  await replaceRecoveryCodes(db, user.id, []);
  const sessions = await endEverySession(db, user.id);
  await unlockAccount(db, user.username);
  return { credentials, password: Boolean(user.passwordHash), totp, sessions };
}

/** The new way in is saved: a reset removes the old factors now; an invitee is enabled. */
async function credentialSaved(db: Db, link: EnrolLink, flow: EnrolFlow, user: User, keep: Parameters<typeof replaceFactors>[2]): Promise<void> {
  if (flow === 'reset') {
    const removed = await replaceFactors(db, user, keep);
    await recordAudit(db, { event: 'user.factors_reset', actor: user.id, detail: { user: user.id, method: link.state.method, removed } });
  } else {
    await updateProfile(db, user.id, { disabled: false });
  }
  const { pendingTotp: _pending, ...rest } = link.state;
  await saveLinkState(db, link.id, { ...rest, credentialDone: true } satisfies EnrolState);
}

/** After a passkey was registered for the link's user. */
export async function passkeySaved(db: Db, link: EnrolLink, flow: EnrolFlow, credentialId: string): Promise<void> {
  const user = await enrolUser(db, link);
  if (!user) throw badRequest('Fill in your profile first.');
  await credentialSaved(db, link, flow, user, { credentialId });
}

/**
 * Sets the password and, when a code is given, the authenticator app offered; false (nothing changed) when the
 * code does not match. Password rules are AppError('bad_request').
 */
export async function savePassword(db: Db, box: SecretBox, link: EnrolLink, flow: EnrolFlow, password: string, code: string, now = epoch()): Promise<boolean> {
  const user = await enrolUser(db, link);
  if (!user) throw badRequest('Fill in your profile first.');
  const passwordHash = await hashPassword(password);
  const withTotp = code.trim() !== '';
  if (withTotp && (!link.state.pendingTotp || !(await enrolTotp(db, box, user.id, box.decrypt(link.state.pendingTotp), code, now)))) return false;
  await setPasswordHash(db, user.id, passwordHash, now);
  await credentialSaved(db, link, flow, user, { keepPassword: true, keepTotp: withTotp });
  return true;
}

/** Uses the link up once the new way in exists; returns the user's id. */
export async function finishEnrol(db: Db, link: EnrolLink, flow: EnrolFlow, now = epoch()): Promise<string | undefined> {
  if (!link.state.userId || !link.state.credentialDone || !(await useLink(db, link.id, now))) return undefined;
  const event = flow === 'invite' ? 'user.invite_accepted' : 'user.reset_completed';
  await recordAudit(db, { event, actor: link.state.userId, detail: { user: link.state.userId, method: link.state.method } });
  return link.state.userId;
}
