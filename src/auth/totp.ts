// TOTP (RFC 6238) as authenticator apps expect it: SHA-1, 6 digits, 30 s steps, ±1 step of clock drift, and
// replay protection by storing the last accepted time step. Secrets are sealed with the SecretBox at rest.
// otplib (and its hash and base32 libraries) load on the first TOTP enrolment or check, not at start.
import { epoch } from '../store/db.js';
import type { Db } from '../store/db.js';
import { advanceTotpStep, deleteTotp, findTotp, saveTotp } from '../store/factors.js';
import { once } from './once.js';
import type { SecretBox } from './secret-key.js';

const otplib = once(() => import('otplib'));

// Fixed: most authenticator apps ignore the URI's algorithm/digits/period and assume exactly these.
const period = 30;
const digits = 6;
const algorithm = 'sha1';
const secretBytes = 20; // 160 bits, RFC 4226's recommendation

/** A fresh random secret (20 bytes), base32 as authenticator apps take it. */
export async function newTotpSecret(): Promise<string> {
  return (await otplib()).generateSecret({ length: secretBytes });
}

/** The `otpauth://totp/...` URI to show as a QR code or for manual entry. */
export async function totpUri({ issuer, account, secret }: { issuer: string; account: string; secret: string }): Promise<string> {
  return (await otplib()).generateURI({ issuer, label: account, secret, algorithm, digits, period });
}

/** An SVG QR code of `uri`; the qrcode package is loaded on first use only. */
export async function totpQrSvg(uri: string): Promise<string> {
  const { toString } = await import('qrcode');
  return toString(uri, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
}

/**
 * The time step `code` matches within ±1 step of `now`, skipping steps at or before `afterStep`;
 * undefined if it matches none. Malformed input is a mismatch, not an error.
 */
async function matchStep(secret: string, code: string, now: number, afterStep: number): Promise<number | undefined> {
  const token = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(token)) return undefined;
  // otplib throws if afterTimeStep lies beyond the window; then nothing in the window can be accepted anyway.
  if (afterStep >= Math.floor((now + period) / period)) return undefined;
  const result = await (await otplib()).verify({
    secret, token, algorithm, digits, period, epoch: now, epochTolerance: period, afterTimeStep: afterStep,
  });
  // otplib's result type covers HOTP too; a TOTP match always carries its time step.
  return result.valid && 'timeStep' in result ? result.timeStep : undefined;
}

/** The time step a code from a newly shown secret matches (undefined: it does not), for enrolling in a caller's transaction. */
export const matchNewTotpCode = (secret: string, code: string, now = epoch()) => matchStep(secret, code, now, 0);

/**
 * Enrols `secret` (from {@link newTotpSecret}) for a user once `code` proves their app has it, replacing any
 * earlier enrolment. Returns false, storing nothing, if the code is wrong. The confirming code cannot be
 * used again to sign in.
 */
export async function enrolTotp(db: Db, box: SecretBox, userId: string, secret: string, code: string, now = epoch()): Promise<boolean> {
  const step = await matchStep(secret, code, now, 0);
  if (step === undefined) return false;
  await saveTotp(db, userId, box.encrypt(secret), now, step);
  return true;
}

/**
 * Checks a code from the user's app: true at most once per time step and never for a step at or before the
 * last accepted one, even when two requests race with the same code.
 */
export async function verifyTotp(db: Db, box: SecretBox, userId: string, code: string, now = epoch()): Promise<boolean> {
  return (await checkTotp(db, box, userId, code, now)) === 'ok';
}

/**
 * {@link verifyTotp}, telling a wrong code from a right one already used (its time step, or an earlier one,
 * was accepted before): the person then waits for the next code.
 */
export async function checkTotp(db: Db, box: SecretBox, userId: string, code: string, now = epoch()): Promise<'ok' | 'reused' | 'invalid'> {
  const stored = await findTotp(db, userId);
  if (!stored) return 'invalid';
  const secret = box.decrypt(stored.secret);
  const step = await matchStep(secret, code, now, stored.lastStep);
  if (step !== undefined) return (await advanceTotpStep(db, userId, step)) ? 'ok' : 'reused';
  return (await matchStep(secret, code, now, 0)) !== undefined ? 'reused' : 'invalid';
}

/** Whether the user has an authenticator app enrolled. */
export async function hasTotp(db: Db, userId: string): Promise<boolean> {
  return (await findTotp(db, userId)) !== undefined;
}

/** Removes the user's authenticator app; true if there was one. */
export async function removeTotp(db: Db, userId: string): Promise<boolean> {
  return deleteTotp(db, userId);
}
