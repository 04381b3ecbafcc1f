// The kubectl plugin's token cache: one JSON file per issuer and client under ~/.kube/cache/accouch/ (directory
// 0700, files 0600, replaced atomically), and the file lock that makes parallel kubectl calls refresh once: a
// refresh token rotates on use, so a second concurrent refresh would look like reuse and revoke the grant.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, mkdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface CachedTokens {
  issuer: string;
  clientId: string;
  idToken: string;
  /** Epoch seconds: the id_token's exp. */
  expiresAt: number;
  refreshToken?: string;
}

export const defaultCacheDir = () => join(homedir(), '.kube', 'cache', 'accouch');

/** The cache file of one issuer and client (hashed: issuer URLs do not make file names). */
export function cacheFile(dir: string, issuer: string, clientId: string): string {
  const key = createHash('sha256').update(`${issuer}\n${clientId}`).digest('hex').slice(0, 32);
  return join(dir, `${key}.json`);
}

/** The cached tokens, or undefined when there are none (or they belong to another issuer or client). */
export async function readCache(file: string, issuer: string, clientId: string): Promise<CachedTokens | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  let parsed: Partial<CachedTokens>;
  try {
    parsed = JSON.parse(text) as Partial<CachedTokens>;
  } catch (error) {
    // Writes are atomic, so only a hand-edited file gets here: start over rather than fail every kubectl call.
    if (error instanceof SyntaxError) return undefined;
    throw error;
  }
  if (parsed.issuer !== issuer || parsed.clientId !== clientId || typeof parsed.idToken !== 'string' || typeof parsed.expiresAt !== 'number') return undefined;
  return parsed as CachedTokens;
}

export async function ensureCacheDir(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700); // mkdir's mode does not apply to a directory that already existed
}

/** Replaces the cache file in one rename, so a reader sees the old tokens or the new ones, never half a file. */
export async function writeCache(file: string, tokens: CachedTokens): Promise<void> {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  try {
    await writeFile(temp, `${JSON.stringify(tokens, null, 2)}\n`, { mode: 0o600, flush: true });
    await rename(temp, file);
  } finally {
    await rm(temp, { force: true });
  }
}

/** How long a waiting process waits for the lock: longer than a browser sign-in is allowed to take. */
const lockWaitMs = 6 * 60_000;

/**
 * Runs `critical` holding the cache file's lock (a `<file>.lock` directory whose mtime the holder keeps fresh,
 * so a crashed holder's lock goes stale after 15 s). Others wait, saying so once on stderr.
 */
export async function withCacheLock<T>(file: string, note: (line: string) => void, critical: () => Promise<T>): Promise<T> {
  const { default: lockfile } = await import('proper-lockfile');
  const deadline = Date.now() + lockWaitMs;
  let release: (() => Promise<void>) | undefined;
  let told = false;
  while (!release) {
    try {
      release = await lockfile.lock(file, {
        realpath: false,
        stale: 15_000,
        update: 5_000,
        onCompromised: (error) => note(`warning: lost the token cache lock (${error.message}); carrying on`),
      });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ELOCKED' || Date.now() > deadline) throw error;
      if (!told) note('Another kubectl is getting a token: waiting for it...');
      told = true;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  try {
    return await critical();
  } finally {
    await release();
  }
}
