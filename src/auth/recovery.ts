// Recovery codes: ten single-use codes shown once, stored only as keyed hashes (SecretBox.mac), regenerated
// as a set so a new set invalidates the old one.
import { randomInt } from 'node:crypto';
import { epoch } from '../store/db.js';
import type { Db } from '../store/db.js';
import { consumeRecoveryCode, isUsedRecoveryCode, countRecoveryCodes, replaceRecoveryCodes } from '../store/factors.js';
import type { SecretBox } from './secret-key.js';

// Digits 2-9 and letters without i, l, o: nothing to confuse with 0, 1 or each other. That leaves 31
// symbols, so characters are drawn with randomInt (unbiased) rather than by masking bits.
const alphabet = '23456789abcdefghjkmnpqrstuvwxyz';
const codeLength = 10;
const codeCount = 10;
const purpose = 'recovery';

const wellFormed = new RegExp(`^[${alphabet}]{${codeLength}}$`);

/** Case, spaces and dashes do not matter when a code is typed back. */
const normalize = (input: string) => input.toLowerCase().replace(/[\s-]+/g, '');

function newCode(): string {
  let code = '';
  for (let i = 0; i < codeLength; i++) code += alphabet[randomInt(alphabet.length)];
  return code;
}

/**
 * Creates a new set of ten codes (`xxxxx-xxxxx`, lower case) for the user, replacing and so invalidating the
 * old set. The codes are returned once, to show; only their hashes are kept.
 */
export async function generateRecoveryCodes(db: Db, box: SecretBox, userId: string): Promise<string[]> {
  const codes = new Set<string>();
  while (codes.size < codeCount) codes.add(newCode());
  await replaceRecoveryCodes(db, userId, [...codes].map((code) => box.mac(purpose, code)));
  return [...codes].map((code) => `${code.slice(0, 5)}-${code.slice(5)}`);
}

/** Uses a recovery code: true once per code, false for a used, unknown or malformed one. */
export async function useRecoveryCode(db: Db, box: SecretBox, userId: string, input: string, now = epoch()): Promise<boolean> {
  return (await checkRecoveryCode(db, box, userId, input, now)) === 'ok';
}

/** {@link useRecoveryCode}, telling an unknown code from one of the user's codes that was already used. */
export async function checkRecoveryCode(db: Db, box: SecretBox, userId: string, input: string, now = epoch()): Promise<'ok' | 'reused' | 'invalid'> {
  const code = normalize(input);
  if (!wellFormed.test(code)) return 'invalid';
  const hash = box.mac(purpose, code);
  if (await consumeRecoveryCode(db, userId, hash, now)) return 'ok';
  return (await isUsedRecoveryCode(db, userId, hash)) ? 'reused' : 'invalid';
}

/** How many recovery codes the user has and how many are left (0/0: none generated). */
export async function recoveryStatus(db: Db, userId: string): Promise<{ total: number; unused: number }> {
  return countRecoveryCodes(db, userId);
}
