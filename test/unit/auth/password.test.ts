// Password hashing: round trip, length rules (NIST 800-63B: length only), NFKC normalisation.
import { describe, expect, test } from 'vitest';
import { hashPassword, verifyPassword } from '../../../src/auth/password.js';

describe('hashPassword / verifyPassword', () => {
  test('the right password verifies, a wrong one does not', async () => {
    const hash = await hashPassword('correct horse battery staple');
    expect(hash).not.toContain('correct horse');
    expect(await verifyPassword('correct horse battery staple', hash)).toBe(true);
    expect(await verifyPassword('correct horse battery stapler', hash)).toBe(false);
    expect(await verifyPassword('Correct horse battery staple', hash)).toBe(false);
  });

  test('the same password hashes differently each time (salted)', async () => {
    expect(await hashPassword('same password')).not.toBe(await hashPassword('same password'));
  });

  test.each([undefined, null])('a user without a password (%s) never verifies', async (stored) => {
    expect(await verifyPassword('any password at all', stored)).toBe(false);
    expect(await verifyPassword('', stored)).toBe(false);
  });

  test('a malformed stored hash does not verify', async () => {
    expect(await verifyPassword('password1', 'plain:password1')).toBe(false);
  });

  test('7 characters are rejected, 8 accepted', async () => {
    await expect(hashPassword('abcdefg')).rejects.toMatchObject({ code: 'bad_request', status: 400 });
    expect(await verifyPassword('abcdefgh', await hashPassword('abcdefgh'))).toBe(true);
  });

  test.each([64, 200])('a %i-character password (a password manager) is accepted', async (length) => {
    const password = 'x7Q!'.repeat(length / 4);
    expect(password).toHaveLength(length);
    const hash = await hashPassword(password);
    expect(await verifyPassword(password, hash)).toBe(true);
    expect(await verifyPassword(password.slice(0, -1), hash)).toBe(false);
  });

  test('length counts characters, not UTF-16 units: 7 emoji are too short', async () => {
    await expect(hashPassword('🔑'.repeat(7))).rejects.toMatchObject({ code: 'bad_request' });
  });

  test.each([
    ['composed é vs e + combining accent', 'caf\u00e9-au-lait', 'cafe\u0301-au-lait'],
    ['the ﬁ ligature vs f i', '\ufb01nancial-plan', 'financial-plan'],
    ['full-width digits vs ASCII', 'pin\uff11\uff12\uff13\uff14\uff15\uff16', 'pin123456'],
  ])('NFKC-equivalent forms verify (%s)', async (_label, typed, otherForm) => {
    const hash = await hashPassword(typed);
    expect(await verifyPassword(otherForm, hash)).toBe(true);
  });
});
