// The server secret: configured or created once in the data dir, never regenerated; the SecretBox seals,
// detects tampering, and derives purpose-bound MACs.
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, test, vi } from 'vitest';
import { createSecretBox, loadSecretKey } from '../../../src/auth/secret-key.js';
import { AppError } from '../../../src/errors.js';
import { tempDir } from '../helpers.js';

// Lets a test run code just before secret.key is put in place, to play a concurrent starter winning the race.
const race = vi.hoisted(() => ({ beforeLink: undefined as (() => void) | undefined }));
vi.mock('node:fs', async (importOriginal) => {
  const fs = await importOriginal<typeof import('node:fs')>();
  return {
    ...fs,
    linkSync: (from: string, to: string) => {
      race.beforeLink?.();
      fs.linkSync(from, to);
    },
  };
});

describe('loadSecretKey', () => {
  test('uses a key file\'s content given as secretKey as is, so a data dir\'s key moves to PostgreSQL', () => {
    const dir = tempDir();
    const generated = loadSecretKey({ dataDir: dir });
    const text = readFileSync(join(dir, 'secret.key'), 'utf8');
    expect(loadSecretKey({ secretKey: text, dataDir: tempDir() }).equals(generated)).toBe(true);
    // Any other passphrase is hashed.
    expect(loadSecretKey({ secretKey: 'a long passphrase that is not a key file', dataDir: dir }).equals(generated)).toBe(false);
  });

  test('a configured key is hashed to 32 bytes and no file is written', () => {
    const dataDir = tempDir();
    const key = loadSecretKey({ secretKey: 'a passphrase from a Kubernetes Secret', dataDir });
    expect(key).toHaveLength(32);
    expect(loadSecretKey({ secretKey: 'a passphrase from a Kubernetes Secret', dataDir }).equals(key)).toBe(true);
    expect(loadSecretKey({ secretKey: 'another passphrase', dataDir }).equals(key)).toBe(false);
    expect(readdirSync(dataDir)).toEqual([]);
  });

  test('without one, secret.key is created with mode 0600 and read back unchanged on the next start', () => {
    const dataDir = join(tempDir(), 'data');
    const first = loadSecretKey({ dataDir });
    const file = join(dataDir, 'secret.key');
    expect(first).toHaveLength(32);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(Buffer.from(readFileSync(file, 'utf8').trim(), 'base64url').equals(first)).toBe(true);
    expect(loadSecretKey({ dataDir }).equals(first)).toBe(true);
    expect(readdirSync(dataDir)).toEqual(['secret.key']); // no temp files left behind
  });

  test('an existing key file is used as is, never replaced', () => {
    const dataDir = tempDir();
    const existing = randomBytes(32);
    writeFileSync(join(dataDir, 'secret.key'), existing.toString('base64url'), { mode: 0o600 });
    expect(loadSecretKey({ dataDir }).equals(existing)).toBe(true);
    expect(readFileSync(join(dataDir, 'secret.key'), 'utf8')).toBe(existing.toString('base64url'));
  });

  test('when another process creates the key first, its key is used and not overwritten', () => {
    const dataDir = tempDir();
    const winner = randomBytes(32).toString('base64url');
    race.beforeLink = () => writeFileSync(join(dataDir, 'secret.key'), winner, { mode: 0o600 });
    try {
      expect(loadSecretKey({ dataDir }).toString('base64url')).toBe(winner);
    } finally {
      race.beforeLink = undefined;
    }
    expect(readFileSync(join(dataDir, 'secret.key'), 'utf8')).toBe(winner);
    expect(readdirSync(dataDir)).toEqual(['secret.key']);
  });

  test('a damaged key file stops the server instead of being silently regenerated', () => {
    const dataDir = tempDir();
    writeFileSync(join(dataDir, 'secret.key'), 'too short');
    expect(() => loadSecretKey({ dataDir })).toThrow(AppError);
    expect(readFileSync(join(dataDir, 'secret.key'), 'utf8')).toBe('too short');
  });
});

describe('createSecretBox', () => {
  const box = createSecretBox(randomBytes(32));

  test('encrypt seals as v1.<iv>.<ciphertext>.<tag> with a fresh IV, and decrypt opens it', () => {
    const a = box.encrypt('JBSWY3DPEHPK3PXP');
    const b = box.encrypt('JBSWY3DPEHPK3PXP');
    expect(a).toMatch(/^v1\.[\w-]{16}\.[\w-]+\.[\w-]{22}$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('JBSWY3DPEHPK3PXP');
    expect(box.decrypt(a)).toBe('JBSWY3DPEHPK3PXP');
    expect(box.decrypt(b)).toBe('JBSWY3DPEHPK3PXP');
  });

  test('a tampered, truncated or foreign-key value is an internal error, never wrong plaintext', () => {
    const sealed = box.encrypt('secret');
    const [v, iv, ct, tag] = sealed.split('.') as [string, string, string, string];
    const flipped = Buffer.from(ct, 'base64url');
    flipped[0]! ^= 1;
    const bad = [
      [v, iv, flipped.toString('base64url'), tag].join('.'),
      [v, iv, ct].join('.'),
      ['v2', iv, ct, tag].join('.'),
      'not sealed at all',
    ];
    for (const value of bad) {
      expect(() => box.decrypt(value), value).toThrow(expect.objectContaining({ name: 'AppError', code: 'internal' }));
    }
    expect(() => createSecretBox(randomBytes(32)).decrypt(sealed)).toThrow(expect.objectContaining({ code: 'internal' }));
  });

  test('mac is stable for a key and purpose, and differs across purposes and keys', () => {
    const key = randomBytes(32);
    const one = createSecretBox(key);
    const two = createSecretBox(Buffer.from(key));
    expect(one.mac('recovery', 'abcde')).toBe(two.mac('recovery', 'abcde'));
    expect(one.mac('recovery', 'abcde')).toMatch(/^[\w-]{43}$/);
    expect(one.mac('recovery', 'abcde')).not.toBe(one.mac('link', 'abcde'));
    expect(one.mac('recovery', 'abcde')).not.toBe(one.mac('recovery', 'abcdf'));
    expect(createSecretBox(randomBytes(32)).mac('recovery', 'abcde')).not.toBe(one.mac('recovery', 'abcde'));
  });
});
