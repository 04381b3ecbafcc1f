// TOTP against codes computed with otplib itself: the ±1 step window, replay protection (also under
// concurrency), enrolment that stores nothing on a wrong code, and secrets sealed at rest.
import { randomBytes } from 'node:crypto';
import { generate } from 'otplib';
import { describe, expect, test } from 'vitest';
import { createSecretBox } from '../../../src/auth/secret-key.js';
import { enrolTotp, hasTotp, newTotpSecret, removeTotp, totpQrSvg, totpUri, verifyTotp } from '../../../src/auth/totp.js';
import type { Db } from '../../../src/store/db.js';
import { findTotp } from '../../../src/store/factors.js';
import { createUser } from '../../../src/store/users.js';
import { openTestDb } from '../helpers.js';

const box = createSecretBox(randomBytes(32));
const t0 = 1_790_000_010; // 10 s into a time step
const code = (secret: string, at: number) => generate({ secret, epoch: at });

async function enrolled(): Promise<{ db: Db; userId: string; secret: string }> {
  const db = await openTestDb();
  const { id: userId } = await createUser(db, { username: 'alice', name: 'Alice' });
  const secret = await newTotpSecret();
  // Enrol with a code from well before t0, so the enrolment's own step does not interfere.
  expect(await enrolTotp(db, box, userId, secret, await code(secret, t0 - 600), t0 - 600)).toBe(true);
  return { db, userId, secret };
}

describe('TOTP secrets and URIs', () => {
  test('a new secret is base32 of at least 160 bits, different each time', async () => {
    const secret = await newTotpSecret();
    expect(secret).toMatch(/^[A-Z2-7]{32,}$/);
    expect(await newTotpSecret()).not.toBe(secret);
  });

  test('the otpauth URI names issuer and account and carries the secret', async () => {
    const uri = new URL(await totpUri({ issuer: 'Home Cloud', account: 'alice', secret: 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP' }));
    expect(uri.protocol).toBe('otpauth:');
    expect(uri.host).toBe('totp');
    expect(decodeURIComponent(uri.pathname)).toBe('/Home Cloud:alice');
    expect(uri.searchParams.get('secret')).toBe('JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP');
    expect(uri.searchParams.get('issuer')).toBe('Home Cloud');
  });

  test('the QR code is an SVG', async () => {
    const svg = await totpQrSvg(await totpUri({ issuer: 'Home Cloud', account: 'alice', secret: await newTotpSecret() }));
    expect(svg).toMatch(/^<svg [^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    expect(svg).toContain('<path');
  });
});

describe('enrolTotp', () => {
  test('a wrong code stores nothing', async () => {
    const db = await openTestDb();
    const { id } = await createUser(db, { username: 'bob', name: 'Bob' });
    const secret = await newTotpSecret();
    const right = await code(secret, t0);
    const wrong = right === '000000' ? '000001' : '000000';
    expect(await enrolTotp(db, box, id, secret, wrong, t0)).toBe(false);
    expect(await enrolTotp(db, box, id, secret, 'abcdef', t0)).toBe(false);
    expect(await hasTotp(db, id)).toBe(false);
    expect(await findTotp(db, id)).toBeUndefined();
  });

  test('the secret is sealed in the database, and the enrolment code cannot be replayed to sign in', async () => {
    const db = await openTestDb();
    const { id } = await createUser(db, { username: 'bob', name: 'Bob' });
    const secret = await newTotpSecret();
    const first = await code(secret, t0);
    expect(await enrolTotp(db, box, id, secret, first, t0)).toBe(true);
    const stored = await findTotp(db, id);
    expect(stored?.secret).not.toContain(secret);
    expect(stored?.secret).toMatch(/^v1\./);
    expect(box.decrypt(stored!.secret)).toBe(secret);
    expect(stored?.lastStep).toBe(Math.floor(t0 / 30));
    expect(await hasTotp(db, id)).toBe(true);
    expect(await verifyTotp(db, box, id, first, t0 + 5)).toBe(false);
    expect(await verifyTotp(db, box, id, await code(secret, t0 + 30), t0 + 30)).toBe(true);
  });
});

describe('verifyTotp', () => {
  test('the current code is accepted, spaces and all', async () => {
    const { db, userId, secret } = await enrolled();
    const now = await code(secret, t0);
    expect(await verifyTotp(db, box, userId, ` ${now.slice(0, 3)} ${now.slice(3)} `, t0)).toBe(true);
  });

  test('a code one step behind or ahead is accepted (clock drift)', async () => {
    const { db, userId, secret } = await enrolled();
    expect(await verifyTotp(db, box, userId, await code(secret, t0 - 30), t0)).toBe(true);
    const other = await enrolled();
    expect(await verifyTotp(other.db, box, other.userId, await code(other.secret, t0 + 30), t0)).toBe(true);
  });

  test('a code three steps away is rejected', async () => {
    const { db, userId, secret } = await enrolled();
    expect(await verifyTotp(db, box, userId, await code(secret, t0 - 90), t0)).toBe(false);
    expect(await verifyTotp(db, box, userId, await code(secret, t0 + 90), t0)).toBe(false);
    expect(await verifyTotp(db, box, userId, await code(secret, t0), t0)).toBe(true); // the right one still works
  });

  test('the same code twice is rejected the second time (replay)', async () => {
    const { db, userId, secret } = await enrolled();
    const now = await code(secret, t0);
    expect(await verifyTotp(db, box, userId, now, t0)).toBe(true);
    expect(await verifyTotp(db, box, userId, now, t0 + 10)).toBe(false);
  });

  test('an older code is rejected after a newer one was accepted', async () => {
    const { db, userId, secret } = await enrolled();
    expect(await verifyTotp(db, box, userId, await code(secret, t0 + 30), t0)).toBe(true);
    expect(await verifyTotp(db, box, userId, await code(secret, t0), t0)).toBe(false);
    expect(await verifyTotp(db, box, userId, await code(secret, t0 - 30), t0)).toBe(false);
  });

  test('a stored step ahead of the clock (clock moved back) rejects instead of throwing', async () => {
    const { db, userId, secret } = await enrolled();
    expect(await verifyTotp(db, box, userId, await code(secret, t0 + 600), t0 + 600)).toBe(true);
    expect(await verifyTotp(db, box, userId, await code(secret, t0), t0)).toBe(false);
  });

  test('two concurrent verifications of one code: exactly one succeeds', async () => {
    const { db, userId, secret } = await enrolled();
    const now = await code(secret, t0);
    const results = await Promise.all([verifyTotp(db, box, userId, now, t0), verifyTotp(db, box, userId, now, t0)]);
    expect(results.sort()).toEqual([false, true]);
  });

  test('a wrong or malformed code, or a user without TOTP, is simply false', async () => {
    const { db, userId, secret } = await enrolled();
    const right = await code(secret, t0);
    const wrong = String((Number(right) + 1) % 1_000_000).padStart(6, '0');
    for (const input of [wrong, '', '12345', '1234567', 'abcdef']) {
      expect(await verifyTotp(db, box, userId, input, t0), input).toBe(false);
    }
    expect(await verifyTotp(db, box, 'nobody', right, t0)).toBe(false);
  });

  test('after removal, codes are no longer accepted', async () => {
    const { db, userId, secret } = await enrolled();
    expect(await removeTotp(db, userId)).toBe(true);
    expect(await hasTotp(db, userId)).toBe(false);
    expect(await verifyTotp(db, box, userId, await code(secret, t0), t0)).toBe(false);
    expect(await removeTotp(db, userId)).toBe(false);
  });
});
