// The kubectl plugin's own parts: the ExecCredential it prints, its token cache (modes, atomic writes, keyed by
// issuer and client), the lock that serialises refreshes, and its one-line errors. The sign-in flows themselves
// run against the real server in test/e2e/kubectl.test.ts.
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { describe, expect, test } from 'vitest';
import { AppError } from '../../../src/errors.js';
import { cacheFile, ensureCacheDir, readCache, withCacheLock, writeCache, type CachedTokens } from '../../../src/integrations/kube-credential-cache.js';
import { getKubectlCredential, toExecCredential, type CredentialOptions } from '../../../src/integrations/kube-credential.js';
import { tempDir } from '../helpers.js';

const issuer = 'https://id.home.example';
const tokens = (over: Partial<CachedTokens> = {}): CachedTokens => ({ issuer, clientId: 'kubectl', idToken: 'eyJ.id.token', expiresAt: 1_900_000_000, refreshToken: 'rt-1', ...over });

/** A port nothing listens on: any network use of the plugin fails loudly. */
async function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

describe('ExecCredential', () => {
  test('client.authentication.k8s.io/v1 with the id_token and its exp as RFC 3339', () => {
    expect(toExecCredential({ idToken: 'abc', expiresAt: 1_700_000_000 })).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      kind: 'ExecCredential',
      status: { token: 'abc', expirationTimestamp: '2023-11-14T22:13:20Z' },
    });
  });
});

describe('token cache', () => {
  test('a 0700 directory, 0600 files replaced atomically (no temp file left), one file per issuer and client', async () => {
    const dir = join(tempDir(), 'cache', 'accouch');
    await ensureCacheDir(dir);
    const file = cacheFile(dir, issuer, 'kubectl');
    await writeCache(file, tokens());
    await writeCache(file, tokens({ refreshToken: 'rt-2' }));
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(readdirSync(dir)).toEqual([file.split('/').at(-1)]);
    expect(await readCache(file, issuer, 'kubectl')).toEqual(tokens({ refreshToken: 'rt-2' }));
    expect(cacheFile(dir, issuer, 'other')).not.toBe(file);
    expect(cacheFile(dir, 'https://other.example', 'kubectl')).not.toBe(file);
  });

  test('missing, foreign or hand-broken entries read as empty', async () => {
    const dir = tempDir();
    const file = cacheFile(dir, issuer, 'kubectl');
    expect(await readCache(file, issuer, 'kubectl')).toBeUndefined();
    await writeCache(file, tokens({ clientId: 'someone-else' }));
    expect(await readCache(file, issuer, 'kubectl')).toBeUndefined();
    writeFileSync(file, '{"issuer": ');
    expect(await readCache(file, issuer, 'kubectl')).toBeUndefined();
  });

  test('an existing cache directory is tightened to 0700', async () => {
    const dir = tempDir();
    await ensureCacheDir(dir); // tempDir is 0700 already on most systems; loosen it first
    const { chmodSync } = await import('node:fs');
    chmodSync(dir, 0o755);
    await ensureCacheDir(dir);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
  });

  test('the lock runs one holder at a time; the waiter says it waits, and the lock is gone afterwards', async () => {
    const dir = tempDir();
    const file = cacheFile(dir, issuer, 'kubectl');
    const events: string[] = [];
    const notes: string[] = [];
    const holder = (name: string, ms: number) => withCacheLock(file, (l) => notes.push(`${name}: ${l}`), async () => {
      events.push(`${name} in`);
      await new Promise((r) => setTimeout(r, ms));
      events.push(`${name} out`);
      return name;
    });
    const first = holder('first', 400);
    await new Promise((r) => setTimeout(r, 50));
    expect(await Promise.all([first, holder('second', 10)])).toEqual(['first', 'second']);
    expect(events).toEqual(['first in', 'first out', 'second in', 'second out']);
    expect(notes).toEqual(['second: Another kubectl is getting a token: waiting for it...']);
    expect(existsSync(`${file}.lock`)).toBe(false);
  });
});

describe('getKubectlCredential', () => {
  const options = async (over: Partial<CredentialOptions> = {}): Promise<CredentialOptions> => ({
    issuer: `http://127.0.0.1:${await closedPort()}`, clientId: 'kubectl', device: false, open: false, cacheDir: tempDir(), note: () => {}, now: () => 1_800_000_000, ...over,
  });

  test('a cached id_token valid for more than 10 s is used as is: no network, no lock', async () => {
    const opts = await options();
    await writeCache(cacheFile(opts.cacheDir, opts.issuer, 'kubectl'), tokens({ issuer: opts.issuer, expiresAt: 1_800_000_011 }));
    expect(await getKubectlCredential(opts)).toEqual(toExecCredential({ idToken: 'eyJ.id.token', expiresAt: 1_800_000_011 }));
  });

  test('a token about to expire is not used: the plugin goes to the issuer, and says in one line that it cannot reach it', async () => {
    const opts = await options();
    await writeCache(cacheFile(opts.cacheDir, opts.issuer, 'kubectl'), tokens({ issuer: opts.issuer, expiresAt: 1_800_000_009 }));
    const error = await getKubectlCredential(opts).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AppError);
    expect((error as AppError).expose).toBe(true);
    expect((error as AppError).message).toBe(`cannot reach ${opts.issuer}: ECONNREFUSED`);
  });

  test('refuses a plaintext issuer that is not on this machine', async () => {
    await expect(getKubectlCredential(await options({ issuer: 'http://id.home.example' }))).rejects.toThrow('--issuer: must be an https:// URL (got "http://id.home.example")');
  });
});
