// WebAuthn ceremonies with @simplewebauthn/server: passkeys (discoverable, user verification required)
// and security keys (second factor, user verification optional, e.g. a YubiKey without PIN).
// Challenges are stored server-side, bound to one ceremony and one purpose, expire, and are deleted
// before verification so a replay finds nothing.
import type {
  AuthenticationResponseJSON, AuthenticatorTransport, PublicKeyCredentialCreationOptionsJSON,
  PublicKeyCredentialRequestOptionsJSON, RegistrationResponseJSON,
} from '@simplewebauthn/server';
import { badRequest } from '../errors.js';
import { recordAudit } from '../store/audit.js';
import {
  findCredential, insertCredential, listCredentials, recordCredentialUse, saveChallenge, takeChallenge, type StoredCredential,
} from '../store/credentials.js';
import type { Db } from '../store/db.js';
import { epoch } from '../store/db.js';

export interface WebauthnSettings {
  rpId: string;
  rpName: string;
  /** Exact origins accepted in clientDataJSON (the issuer's origin). */
  origins: string[];
}

export type CredentialKind = StoredCredential['kind'];

const challengeTtl = 300;
// Loaded on first use: about 25 MiB and 300 ms that a server which never sees a passkey need not pay at start.
const webauthn = () => import('@simplewebauthn/server');
const failed = () => badRequest('That passkey or security key could not be verified. Try again.');

// The user handle is the user id's bytes, so a discoverable assertion tells us whose passkey it is.
const userHandle = (userId: string) => new TextEncoder().encode(userId);

/** Starts registering a passkey or security key for a user; `binding` names the page that asked. */
export async function beginRegistration(
  db: Db, settings: WebauthnSettings,
  user: { id: string; username: string; name: string }, kind: CredentialKind, binding: string, now = epoch(),
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  const existing = await listCredentials(db, user.id);
  const passkey = kind === 'passkey';
  const options = await (await webauthn()).generateRegistrationOptions({
    rpName: settings.rpName,
    rpID: settings.rpId,
    userName: user.username,
    userDisplayName: user.name,
    userID: userHandle(user.id),
    attestationType: 'none',
    excludeCredentials: existing.map((c) => ({ id: c.id, transports: c.transports as AuthenticatorTransport[] })),
    authenticatorSelection: passkey
      ? { residentKey: 'required', userVerification: 'required' }
      : { residentKey: 'discouraged', userVerification: 'discouraged', authenticatorAttachment: 'cross-platform' },
    ...(passkey ? {} : { preferredAuthenticatorType: 'securityKey' as const }),
  });
  await saveChallenge(db, { id: `registration:${binding}`, ceremony: 'registration', binding, user_id: user.id, challenge: options.challenge, expires_at: now + challengeTtl });
  return options;
}

/** Verifies a registration and stores the credential; returns it. */
export async function finishRegistration(
  db: Db, settings: WebauthnSettings,
  input: { userId: string; binding: string; kind: CredentialKind; name: string; response: RegistrationResponseJSON }, now = epoch(),
): Promise<StoredCredential> {
  const stored = await verifyRegistration(db, settings, input, now);
  await insertCredential(db, stored);
  await recordAudit(db, { event: input.kind === 'passkey' ? 'passkey.registered' : 'security_key.registered', actor: input.userId, detail: { credential: stored.id, name: stored.name } });
  return stored;
}

/**
 * Verifies a registration (the challenge is used up) and returns the credential to store, not stored yet: for a
 * caller that writes it in one transaction with more. `aaguid` names the authenticator's make, if it says.
 */
export async function verifyRegistration(
  db: Db, settings: WebauthnSettings,
  input: { userId: string; binding: string; kind: CredentialKind; name: string; response: RegistrationResponseJSON }, now = epoch(),
): Promise<StoredCredential & { aaguid: string }> {
  const challenge = await takeChallenge(db, `registration:${input.binding}`);
  if (!challenge || challenge.expires_at <= now || challenge.user_id !== input.userId) throw failed();
  const verification = await (await webauthn()).verifyRegistrationResponse({
    response: input.response,
    expectedChallenge: challenge.challenge,
    expectedOrigin: settings.origins,
    expectedRPID: settings.rpId,
    requireUserVerification: input.kind === 'passkey',
  }).catch(() => undefined);
  if (!verification?.verified || !verification.registrationInfo) throw failed();
  const { credential, credentialBackedUp, aaguid } = verification.registrationInfo;
  return {
    id: credential.id,
    userId: input.userId,
    publicKey: Buffer.from(credential.publicKey).toString('base64url'),
    counter: credential.counter,
    transports: credential.transports ?? input.response.response?.transports ?? [],
    kind: input.kind,
    name: input.name.trim().slice(0, 64) || (input.kind === 'passkey' ? 'Passkey' : 'Security key'),
    backedUp: credentialBackedUp,
    createdAt: now,
    lastUsedAt: null,
    aaguid,
  };
}

/**
 * Starts an assertion. Without a user: a discoverable passkey sign-in (also for autofill). With one:
 * only that user's credentials are allowed; `userVerification` 'discouraged' for a second factor.
 */
export async function beginAuthentication(
  db: Db, settings: WebauthnSettings,
  input: { binding: string; userId?: string; userVerification: 'required' | 'discouraged' }, now = epoch(),
): Promise<PublicKeyCredentialRequestOptionsJSON> {
  const allow = input.userId ? await listCredentials(db, input.userId) : [];
  const options = await (await webauthn()).generateAuthenticationOptions({
    rpID: settings.rpId,
    userVerification: input.userVerification,
    allowCredentials: allow.map((c) => ({ id: c.id, transports: c.transports as AuthenticatorTransport[] })),
  });
  await saveChallenge(db, {
    id: `authentication:${input.binding}`, ceremony: 'authentication', binding: `${input.binding}:${input.userVerification}`,
    user_id: input.userId ?? null, challenge: options.challenge, expires_at: now + challengeTtl,
  });
  return options;
}

export interface VerifiedAssertion {
  userId: string;
  credential: StoredCredential;
  userVerified: boolean;
}

/** Verifies an assertion against the stored challenge and credential; persists the new counter. */
export async function finishAuthentication(
  db: Db, settings: WebauthnSettings,
  input: { binding: string; response: AuthenticationResponseJSON; userVerification: 'required' | 'discouraged' }, now = epoch(),
): Promise<VerifiedAssertion> {
  const challenge = await takeChallenge(db, `authentication:${input.binding}`);
  if (!challenge || challenge.expires_at <= now || challenge.binding !== `${input.binding}:${input.userVerification}`) throw failed();
  const response = input.response as Partial<AuthenticationResponseJSON> | undefined;
  if (typeof response?.id !== 'string' || typeof response.response !== 'object' || response.response === null) throw failed();
  const credential = await findCredential(db, response.id);
  if (!credential) throw failed();
  if (challenge.user_id && credential.userId !== challenge.user_id) throw failed();
  const handle: unknown = response.response.userHandle;
  if (handle !== undefined && (typeof handle !== 'string' || Buffer.from(handle, 'base64url').toString('utf8') !== credential.userId)) throw failed();

  const verification = await (await webauthn()).verifyAuthenticationResponse({
    response: input.response,
    expectedChallenge: challenge.challenge,
    expectedOrigin: settings.origins,
    expectedRPID: settings.rpId,
    credential: { id: credential.id, publicKey: Buffer.from(credential.publicKey, 'base64url'), counter: credential.counter, transports: credential.transports as AuthenticatorTransport[] },
    requireUserVerification: input.userVerification === 'required',
  }).catch(() => undefined);
  if (!verification?.verified) throw failed();
  const info = verification.authenticationInfo;
  await recordCredentialUse(db, credential.id, info.newCounter, info.credentialBackedUp, now);
  return { userId: credential.userId, credential: { ...credential, backedUp: info.credentialBackedUp }, userVerified: info.userVerified };
}
