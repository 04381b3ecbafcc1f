// Password hashing (scrypt, memory-hard) and the NIST SP 800-63B rules: length only, no composition rules.
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { badRequest } from '../errors.js';

// OWASP's scrypt setting for 16 MiB of memory (N=2^14, r=8, p=5): affordable on a Raspberry Pi.
const params = { N: 2 ** 14, r: 8, p: 5 };
const keyLength = 32;

export const minPasswordLength = 8;
export const maxPasswordLength = 256;

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, keyLength, { ...options, maxmem: 64 * 1024 * 1024 }, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

/** Rejects passwords outside 8..256 characters; nothing else (NIST 800-63B). */
export function checkPasswordRules(password: string): void {
  const length = [...password.normalize('NFKC')].length;
  if (length < minPasswordLength) throw badRequest(`password must have at least ${minPasswordLength} characters`);
  if (length > maxPasswordLength) throw badRequest(`password must have at most ${maxPasswordLength} characters`);
}

/** Hashes to `scrypt$N$r$p$salt$hash` (base64url). */
export async function hashPassword(password: string): Promise<string> {
  checkPasswordRules(password);
  const salt = randomBytes(16);
  const hash = await derive(password, salt, params);
  return ['scrypt', params.N, params.r, params.p, salt.toString('base64url'), hash.toString('base64url')].join('$');
}

// A hash of a random password, verified against when the user does not exist, so timing reveals nothing.
let dummyHash: Promise<string> | undefined;

/** Verifies a password; `stored` undefined still costs one scrypt so unknown users take as long. */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  dummyHash ??= hashPassword(randomBytes(16).toString('base64url'));
  const encoded = stored ?? (await dummyHash);
  const [scheme, N, r, p, salt, hash] = encoded.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64url');
  if (expected.length !== keyLength) return false;
  const actual = await derive(password.slice(0, maxPasswordLength * 4), Buffer.from(salt, 'base64url'), { N: Number(N), r: Number(r), p: Number(p) });
  return timingSafeEqual(actual, expected) && stored !== undefined && stored !== null;
}
