// One enrolment flow behind first-boot setup, invitations, resets and "add a passkey on another device": a
// one-time link (with a short code to type instead), claimed by the first browser that submits on it, ending in
// ONE transaction that checks the link (and, for setup, that nobody can sign in yet) and writes the person, their
// new way in and their recovery codes. Until then nothing exists: no pending user to sign in or to list.
import { randomBytes, randomInt } from 'node:crypto';
import { badRequest, conflict, notFound } from '../errors.js';
import { recordAudit } from '../store/audit.js';
import { saveAvatar } from '../store/avatars.js';
import { deleteCredential, insertCredential, listCredentials, type StoredCredential } from '../store/credentials.js';
import { epoch, lockTableForWrite, type Db } from '../store/db.js';
import { countUsersWithAWayIn, deleteTotp, insertLinkToken, replaceRecoveryCodes, saveTotp } from '../store/factors.js';
import { claimLinkToken, findLinkByHash, findLinkById, listOpenLinks, retireUnusedLinks, updateLinkState, useLinkWithState } from '../store/links.js';
import type { LinkTokensTable } from '../store/schema.js';
import { createUser, findUserByEmail, findUserById, findUserByUsername, newUserId, setPasswordHash, type User } from '../store/users.js';
import { endEverySession } from '../oidc/sessions.js';
import { parseProfile } from './profile.js';
import { newRecoveryCodes } from './recovery.js';
import type { SecretBox } from './secret-key.js';
import { unlockAccount } from './throttle.js';

export type EnrolPurpose = LinkTokensTable['purpose'];
export type Method = 'passkey' | 'password';

/** What each use of the flow is: how long its link lives, whether it creates the person, what it ends with. */
export const purposes = {
  setup: {
    ttl: 3600, creates: true, recovery: true, replaces: false, methods: ['passkey', 'password'],
    events: { issued: 'setup.link_created', saved: 'setup.credential_saved', done: 'setup.completed' },
  },
  invite: {
    ttl: 7 * 86400, creates: true, recovery: true, replaces: false, methods: ['passkey', 'password'],
    events: { issued: 'user.invited', saved: 'user.invite_credential_saved', done: 'user.invite_accepted' },
  },
  reset: {
    ttl: 86400, creates: false, recovery: true, replaces: true, methods: ['passkey', 'password'],
    events: { issued: 'user.reset_link_created', saved: 'user.factors_reset', done: 'user.reset_completed' },
  },
  device: {
    ttl: 600, creates: false, recovery: false, replaces: false, methods: ['passkey'],
    events: { issued: 'passkey.device_link_created', saved: 'passkey.device_link_used', done: 'passkey.device_link_finished' },
  },
} as const satisfies Record<EnrolPurpose, {
  ttl: number; creates: boolean; recovery: boolean; replaces: boolean; methods: readonly Method[]; events: { issued: string; saved: string; done: string };
}>;

/** The person a setup or invitation link will create, as entered (nothing is stored outside the link until the end). */
export interface PendingProfile { id: string; username: string; name: string; email: string | null; picture?: { type: string; data: string } }

export interface EnrolState {
  /** Invitation: the groups the invitee joins; who made the link. */
  groups?: string[];
  invitedBy?: string;
  profile?: PendingProfile;
  method?: Method;
  /** The new way in is saved: the link only shows the recovery codes and finishes. */
  credentialDone?: boolean;
  userId?: string;
  /** The recovery codes made with the credential, sealed, shown to the claiming browser until it finishes. */
  codes?: string;
}

export interface EnrolLink { id: string; purpose: EnrolPurpose; userId: string | null; state: EnrolState; expiresAt: number; claimHash: string | null }

/** The page a browser gets for a link: the flow, or "in use on another device". */
export type Claim = 'free' | 'mine' | 'other';

const linkGone = () => notFound('This link is not valid any more: it has expired, was used already, or a newer one was made.');

// ---- issuing -------------------------------------------------------------------------------------------------

// Short codes: digits and capitals without 0, 1, I, L, O; 8 of them (about 40 bits), typed as XXXX-XXXX.
const codeAlphabet = '23456789ABCDEFGHJKMNPQRSTUVWXYZ';
const normalizeCode = (input: string) => input.toUpperCase().replace(/[\s-]+/g, '');
/** Whether a token is a typed short code (about 40 bits: guesses are throttled by address, see http/enrol.ts). */
export const isShortCode = (input: string) => new RegExp(`^[${codeAlphabet}]{8}$`).test(normalizeCode(input));
const hashOf = (box: SecretBox, token: string) => box.mac('link', isShortCode(token) ? `code:${normalizeCode(token)}` : token);

export interface IssuedLink { token: string; code: string; expiresAt: number; revoked: number }

/**
 * Issues a link of `purpose`. A setup link revokes every earlier one; a reset or device link the user's earlier one
 * of the same purpose. Revoking and inserting are one transaction (two replicas starting at once leave one link).
 */
export async function issueEnrolLink(
  db: Db, box: SecretBox,
  input: { purpose: EnrolPurpose; userId?: string; state?: EnrolState; actor?: string | null; ip?: string | null; detail?: Record<string, unknown> },
  now = epoch(),
): Promise<IssuedLink> {
  const token = randomBytes(24).toString('base64url');
  let code = '';
  for (let i = 0; i < 8; i++) code += codeAlphabet[randomInt(codeAlphabet.length)];
  const expiresAt = now + purposes[input.purpose].ttl;
  const revoked = await db.transaction().execute(async (trx) => {
    await lockTableForWrite(trx, 'link_tokens');
    const retired = input.purpose === 'invite' ? 0 : await retireUnusedLinks(trx, input.purpose, input.purpose === 'setup' ? null : input.userId!, now);
    await insertLinkToken(trx, {
      id: randomBytes(12).toString('base64url'), token_hash: hashOf(box, token), code_hash: hashOf(box, code), claim_hash: null,
      purpose: input.purpose, user_id: input.userId ?? null, state: JSON.stringify(input.state ?? {}), expires_at: expiresAt, used_at: null, created_at: now,
    });
    await recordAudit(trx, {
      event: purposes[input.purpose].events.issued, actor: input.actor ?? null, ip: input.ip ?? null,
      detail: { user: input.userId, ...input.detail, revoked: retired || undefined, expiresAt },
    });
    return retired;
  });
  return { token, code: `${code.slice(0, 4)}-${code.slice(4)}`, expiresAt, revoked };
}

/** Setup is open while nobody can sign in (no password, WebAuthn credential or linked upstream account). */
export async function setupNeeded(db: Db): Promise<boolean> {
  return (await countUsersWithAWayIn(db)) === 0;
}

/** Who, if anyone, is part-way through setup on an open link (for `accouch setup-link`). */
export async function setupInProgress(db: Db, now = epoch()): Promise<Array<{ username?: string; name?: string; claimed: boolean; expiresAt: number }>> {
  return (await listOpenLinks(db, 'setup', now)).map((row) => {
    const state = JSON.parse(row.state) as EnrolState;
    return { username: state.profile?.username, name: state.profile?.name, claimed: Boolean(row.claim_hash), expiresAt: row.expires_at };
  });
}

// ---- opening and claiming ------------------------------------------------------------------------------------

function toLink(row: LinkTokensTable): EnrolLink {
  return { id: row.id, purpose: row.purpose, userId: row.user_id, state: JSON.parse(row.state) as EnrolState, expiresAt: row.expires_at, claimHash: row.claim_hash ?? null };
}

const usable = (row: LinkTokensTable | undefined, now: number) => row && row.used_at === null && row.expires_at > now;

/**
 * The link a token (or short code) names, if it has this purpose and is unused and unexpired; a setup link only
 * while setup is open (or its own credential is saved), a reset or device link only while its user exists.
 */
export async function openEnrolLink(db: Db, box: SecretBox, purpose: EnrolPurpose, token: unknown, now = epoch()): Promise<EnrolLink | undefined> {
  if (typeof token !== 'string' || token.length < 8 || token.length > 128) return undefined;
  const row = await findLinkByHash(db, hashOf(box, token));
  if (!usable(row, now) || row!.purpose !== purpose) return undefined;
  const link = toLink(row!);
  if (purpose === 'setup' && !link.state.credentialDone && !(await setupNeeded(db))) return undefined;
  if (!purposes[purpose].creates && (!link.userId || !(await findUserById(db, link.userId)))) return undefined;
  return link;
}

/** Which purpose a short code is for (the /join page sends the person on); undefined if none is open. */
export async function purposeOfCode(db: Db, box: SecretBox, input: unknown, now = epoch()): Promise<{ purpose: EnrolPurpose; code: string } | undefined> {
  if (typeof input !== 'string' || !isShortCode(input)) return undefined;
  const row = await findLinkByHash(db, hashOf(box, input));
  return usable(row, now) ? { purpose: row!.purpose, code: normalizeCode(input) } : undefined;
}

const claimOf = (box: SecretBox, link: Pick<EnrolLink, 'id'>, browser: string) => box.mac('link-claim', `${link.id}:${browser}`);

/** Whether this browser (its random id from a cookie) holds the link, another one does, or nobody yet. */
export function claimState(box: SecretBox, link: EnrolLink, browser: string | undefined): Claim {
  if (!link.claimHash) return 'free';
  return browser && claimOf(box, link, browser) === link.claimHash ? 'mine' : 'other';
}

/** Claims the link for this browser if nobody has; the answer says whose it is now. */
export async function claimEnrolLink(db: Db, box: SecretBox, link: EnrolLink, browser: string): Promise<Claim> {
  const state = claimState(box, link, browser);
  if (state !== 'free') return state;
  const hash = claimOf(box, link, browser);
  if (await claimLinkToken(db, link.id, hash)) {
    link.claimHash = hash;
    return 'mine';
  }
  const row = await findLinkById(db, link.id);
  return row?.claim_hash === hash ? 'mine' : 'other';
}

// ---- the steps before the credential -------------------------------------------------------------------------

/** The person the link is for: the reset's or device link's user, or the profile entered so far. */
export async function personOf(db: Db, link: EnrolLink): Promise<(Pick<User, 'id' | 'username' | 'name' | 'email' | 'avatarEtag'> & { pendingPicture?: PendingProfile['picture'] }) | undefined> {
  if (!purposes[link.purpose].creates) return link.userId ? findUserById(db, link.userId) : undefined;
  if (link.state.userId) return findUserById(db, link.state.userId); // created with the credential
  const p = link.state.profile;
  return p && { id: p.id, username: p.username, name: p.name, email: p.email, avatarEtag: null, pendingPicture: p.picture };
}

async function saveState(db: Db, link: EnrolLink, state: EnrolState): Promise<void> {
  if (!(await updateLinkState(db, link.id, JSON.stringify(state), link.claimHash))) throw linkGone();
  link.state = state;
}

/** Refuses a username or email someone already has, with what to do. */
async function checkFree(db: Db, profile: { username: string; email: string | null }): Promise<void> {
  if (await findUserByUsername(db, profile.username)) throw conflict(`The username "${profile.username}" is taken: choose another.`);
  if (profile.email && (await findUserByEmail(db, profile.email))) throw conflict('Someone in the household already uses that email address: enter another, or leave it empty.');
}

/**
 * Setup and invitation: the person's profile and how they will sign in, kept in the link only. The username and
 * email must be free now (and are checked again when the credential is saved).
 */
export async function saveEnrolProfile(db: Db, link: EnrolLink, input: Record<string, unknown>): Promise<void> {
  if (!purposes[link.purpose].creates) throw badRequest('This link does not create an account.');
  if (link.state.credentialDone) throw conflict('Your account is already created: finish by saving your recovery codes.');
  const profile = parseProfile(input);
  await checkFree(db, profile);
  const method = chosenMethod(link, input.method);
  // A picture sent before is kept when the form comes back without one.
  const picture = profile.picture ? { type: profile.picture.type, data: profile.picture.data.toString('base64') } : link.state.profile?.picture;
  await saveState(db, link, {
    ...link.state, method,
    profile: { id: link.state.profile?.id ?? newUserId(), username: profile.username, name: profile.name, email: profile.email, ...(picture ? { picture } : {}) },
  });
}

const chosenMethod = (link: EnrolLink, value: unknown): Method => {
  const allowed: readonly Method[] = purposes[link.purpose].methods;
  return allowed.includes(value as Method) ? (value as Method) : allowed[0]!;
};

/** A reset's choice between a passkey and a password. */
export async function chooseEnrolMethod(db: Db, link: EnrolLink, value: unknown): Promise<void> {
  if (link.state.credentialDone) return;
  await saveState(db, link, { ...link.state, method: chosenMethod(link, value) });
}

/** A TOTP secret shown on the password page travels sealed in the form, bound to the link: a GET stores nothing. */
export const sealTotpOffer = (box: SecretBox, link: EnrolLink, secret: string) => box.encrypt(JSON.stringify({ link: link.id, secret }));

export function openTotpOffer(box: SecretBox, link: EnrolLink, sealed: unknown): string | undefined {
  if (typeof sealed !== 'string' || sealed.length > 512) return undefined;
  try {
    const offer = JSON.parse(box.decrypt(sealed)) as { link?: string; secret?: string };
    return offer.link === link.id && typeof offer.secret === 'string' ? offer.secret : undefined;
  } catch {
    return undefined; // altered or from another key: as if no code had been offered
  }
}

// ---- the credential: one transaction -------------------------------------------------------------------------

export type NewCredential =
  | { kind: 'passkey'; credential: StoredCredential }
  | { kind: 'password'; passwordHash: string; totp?: { secret: string; step: number } };

/**
 * Saves the new way in, all or nothing: the link is still unused, unexpired and this browser's; for setup nobody
 * can sign in yet (checked under a lock, so of any number of racing finishes on any number of setup links exactly
 * one wins); the person is created (setup, invitation) or their old factors go (reset); the credential, and new
 * recovery codes, are written; the link remembers the codes (sealed) to show once. Throws a readable AppError.
 */
export async function saveEnrolCredential(db: Db, box: SecretBox, link: EnrolLink, input: NewCredential, now = epoch()): Promise<void> {
  const rules = purposes[link.purpose];
  const recovery = rules.recovery ? newRecoveryCodes(box) : undefined;
  await db.transaction().execute(async (trx) => {
    await lockTableForWrite(trx, 'link_tokens');
    const row = await findLinkById(trx, link.id);
    if (!usable(row, now) || (row!.claim_hash ?? null) !== link.claimHash) throw linkGone();
    const state = JSON.parse(row!.state) as EnrolState;
    if (state.credentialDone) throw conflict('Your new sign-in is already saved: save your recovery codes to finish.');
    if (link.purpose === 'setup' && (await countUsersWithAWayIn(trx)) > 0) throw conflict('Accouch is already set up: someone finished setup first. Ask them for an invitation.');

    let user: User;
    if (rules.creates) {
      const profile = state.profile;
      if (!profile) throw badRequest('Fill in your profile first.');
      await checkFree(trx as unknown as Db, profile);
      user = await createUser(trx, {
        id: profile.id, username: profile.username, name: profile.name, email: profile.email,
        // The owner vouches for their own address; nobody checked an invitee's, so apps must not trust it yet.
        emailVerified: link.purpose === 'setup' && Boolean(profile.email),
        groups: link.purpose === 'setup' ? ['admins'] : (state.groups ?? []),
      }, now);
      if (profile.picture) await saveAvatar(trx, user.id, profile.picture.type, Buffer.from(profile.picture.data, 'base64'), now);
    } else {
      const found = link.userId ? await findUserById(trx, link.userId) : undefined;
      if (!found) throw linkGone();
      user = found;
    }

    const removed = rules.replaces ? await replaceFactors(trx as unknown as Db, user, input) : undefined;
    if (input.kind === 'passkey') {
      if (input.credential.userId !== user.id) throw badRequest('Start again from the link.');
      await insertCredential(trx, input.credential);
    } else {
      await setPasswordHash(trx, user.id, input.passwordHash, now);
      if (input.totp) await saveTotp(trx, user.id, box.encrypt(input.totp.secret), now, input.totp.step);
    }
    if (recovery) await replaceRecoveryCodes(trx, user.id, recovery.hashes);

    const { profile: _profile, ...kept } = state;
    const next: EnrolState = { ...kept, method: input.kind, credentialDone: true, userId: user.id, ...(recovery ? { codes: box.encrypt(JSON.stringify(recovery.codes)) } : {}) };
    await updateLinkState(trx, link.id, JSON.stringify(next), link.claimHash);
    link.state = next;
    if (input.kind === 'passkey') await recordAudit(trx, { event: 'passkey.registered', actor: user.id, detail: { credential: input.credential.id, name: input.credential.name, via: link.purpose } });
    await recordAudit(trx, { event: rules.events.saved, actor: user.id, detail: { user: user.id, method: input.kind, ...(removed ? { removed } : {}) } });
  });
}

/**
 * A reset's point of no return, inside the credential's transaction: every other passkey and security key, the
 * old password, the authenticator app and the recovery codes go; every session ends and every grant is revoked;
 * a sign-in lock is lifted. Profile, picture, groups and subject stay.
 */
async function replaceFactors(trx: Db, user: User, input: NewCredential): Promise<Record<string, number | boolean>> {
  let credentials = 0;
  for (const credential of await listCredentials(trx, user.id)) {
    if (await deleteCredential(trx, user.id, credential.id)) credentials += 1;
  }
  if (input.kind === 'passkey') await setPasswordHash(trx, user.id, null);
  const totp = await deleteTotp(trx, user.id);
  await replaceRecoveryCodes(trx, user.id, []);
  const sessions = await endEverySession(trx, user.id);
  await unlockAccount(trx, user.username);
  return { credentials, password: Boolean(user.passwordHash), totp, sessions };
}

/** The recovery codes to show (only the claiming browser asks), or none. */
export function codesToShow(box: SecretBox, link: EnrolLink): string[] {
  return link.state.codes ? (JSON.parse(box.decrypt(link.state.codes)) as string[]) : [];
}

/** Uses the link up and forgets the codes; returns the user's id, or undefined if the credential is not saved yet. */
export async function finishEnrol(db: Db, link: EnrolLink, now = epoch()): Promise<string | undefined> {
  if (!link.state.credentialDone || !link.state.userId) return undefined;
  const { codes: _codes, ...rest } = link.state;
  if (!(await useLinkWithState(db, link.id, JSON.stringify(rest), now))) throw linkGone();
  await recordAudit(db, { event: purposes[link.purpose].events.done, actor: link.state.userId, detail: { user: link.state.userId, method: link.state.method } });
  return link.state.userId;
}
