// The server secret (from config, or `<dataDir>/secret.key` created once) and the SecretBox built on it:
// authenticated encryption for secrets at rest (TOTP seeds) and keyed hashes for lookups (recovery codes).
import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, linkSync, mkdirSync, openSync, readFileSync, renameSync, unlinkSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { internal } from '../errors.js';
import { syncDir } from '../store/sqlite-file.js';

const keyBytes = 32;
const ivBytes = 12;
const tagBytes = 16;

/** Name of the generated key file inside the data directory. */
export const secretKeyFileName = 'secret.key';

/** Seals and opens secrets at rest and computes keyed hashes; see {@link createSecretBox}. */
export interface SecretBox {
  /** AES-256-GCM with a random IV: `v1.<iv>.<ciphertext>.<tag>`, base64url parts. */
  encrypt(plain: string): string;
  /** Opens what `encrypt` sealed; throws AppError('internal') if it was altered or sealed with another key. */
  decrypt(sealed: string): string;
  /** HMAC-SHA256 under a key derived for `purpose`, base64url: equal inputs give equal outputs. */
  mac(purpose: string, value: string): string;
}

/** A key file's content: 32 bytes as base64url text (43 characters). */
const keyFileText = /^[A-Za-z0-9_-]{43}$/;

/**
 * The 32-byte server secret. A configured `secretKey` is hashed with SHA-256 to 32 bytes, unless it is the
 * content of a key file, which is used as is (so `ACCOUCH_SECRET_KEY_FILE=<old dataDir>/secret.key` carries an
 * SQLite installation's key to PostgreSQL). Otherwise `<dataDir>/secret.key` (32 random bytes as base64url text)
 * is read, or created with mode 0600 if missing. An existing file is never replaced: when two processes race to
 * create it, both end up with the winner's key.
 */
export function loadSecretKey({ secretKey, dataDir }: { secretKey?: string | undefined; dataDir: string }): Buffer {
  if (secretKey && keyFileText.test(secretKey.trim())) return Buffer.from(secretKey.trim(), 'base64url');
  if (secretKey) return createHash('sha256').update(secretKey, 'utf8').digest();
  const file = join(dataDir, secretKeyFileName);
  return readKeyFile(file) ?? createKeyFile(dataDir, file);
}

/**
 * Replaces `<dataDir>/secret.key` with `key` (a restore or import brings the key its data was sealed with):
 * written to a temporary file, synced, renamed over the old one.
 */
export function replaceSecretKeyFile(dataDir: string, key: Buffer): void {
  if (key.length !== keyBytes) throw internal(`the secret key must be ${keyBytes} bytes, got ${key.length}`);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, secretKeyFileName);
  renameSync(writeTempKey(file, key), file);
  syncDir(dataDir);
}

/** Writes the key, synced, to a new file (mode 0600) next to `file`; returns its name. */
function writeTempKey(file: string, key: Buffer): string {
  const temp = `${file}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, `${key.toString('base64url')}\n`);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  return temp;
}

function readKeyFile(file: string): Buffer | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw internal(`cannot read ${file}`, error);
  }
  const key = Buffer.from(text.trim(), 'base64url');
  if (key.length !== keyBytes) throw internal(`${file} does not hold ${keyBytes} base64url-encoded bytes`);
  return key;
}

function createKeyFile(dataDir: string, file: string): Buffer {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const key = randomBytes(keyBytes);
  const temp = writeTempKey(file, key);
  try {
    // link, unlike rename, fails if the target exists: a concurrent creator's key is never overwritten.
    linkSync(temp, file);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      unlinkSync(temp);
      return readKeyFile(file) ?? raceLost(file);
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') {
      unlinkSync(temp);
      throw internal(`cannot create ${file}`, error);
    }
    // A filesystem without hard links: rename, checking just before that no key appeared meanwhile.
    const existing = readKeyFile(file);
    if (existing) {
      unlinkSync(temp);
      return existing;
    }
    renameSync(temp, file);
    syncDir(dataDir);
    return key;
  }
  unlinkSync(temp);
  syncDir(dataDir);
  return key;
}

function raceLost(file: string): never {
  throw internal(`${file} vanished while being created`);
}

// Separate subkeys keep encryption and each MAC purpose from ever sharing key material.
const subkey = (key: Buffer, info: string) => Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), info, keyBytes));

/** A SecretBox over a 32-byte key (from {@link loadSecretKey}). */
export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== keyBytes) throw internal(`the secret key must be ${keyBytes} bytes, got ${key.length}`);
  const encryptionKey = subkey(key, 'accouch/v1/encrypt');
  const macKeys = new Map<string, Buffer>();
  const macKey = (purpose: string) => {
    let k = macKeys.get(purpose);
    if (!k) macKeys.set(purpose, (k = subkey(key, `accouch/v1/mac/${purpose}`)));
    return k;
  };

  return {
    encrypt(plain) {
      const iv = randomBytes(ivBytes);
      const cipher = createCipheriv('aes-256-gcm', encryptionKey, iv, { authTagLength: tagBytes });
      const ciphertext = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return ['v1', iv, ciphertext, cipher.getAuthTag()].map((p) => (typeof p === 'string' ? p : p.toString('base64url'))).join('.');
    },
    decrypt(sealed) {
      const [version, iv, ciphertext, tag, ...rest] = sealed.split('.');
      if (version !== 'v1' || iv === undefined || ciphertext === undefined || tag === undefined || rest.length) {
        throw internal('sealed value is malformed');
      }
      const ivBuf = Buffer.from(iv, 'base64url');
      const tagBuf = Buffer.from(tag, 'base64url');
      if (ivBuf.length !== ivBytes || tagBuf.length !== tagBytes) throw internal('sealed value is malformed');
      try {
        const decipher = createDecipheriv('aes-256-gcm', encryptionKey, ivBuf, { authTagLength: tagBytes });
        decipher.setAuthTag(tagBuf);
        return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
      } catch (error) {
        throw internal('sealed value failed authentication (altered, or sealed with another key)', error);
      }
    },
    mac(purpose, value) {
      return createHmac('sha256', macKey(purpose)).update(value, 'utf8').digest('base64url');
    },
  };
}
