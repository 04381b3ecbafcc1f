// Whole-file operations on the SQLite database: a consistent online backup of a live database, the check that
// no process has it open, and the atomic replacement of it by a verified backup.
import { randomBytes } from 'node:crypto';
import { closeSync, fsyncSync, openSync, readSync, renameSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import SQLite from 'better-sqlite3';
import { AppError, badRequest, conflict } from '../errors.js';

/** Table added to a backup copy: what travels with the data but lives outside it (the secret key). */
const extrasTable = 'accouch_backup';

/** What a backup holds besides the database: the 32-byte secret key that sealed its TOTP secrets. */
export interface BackupExtras {
  secretKey: Buffer;
}

const tempNameFor = (file: string) => `${file}.${randomBytes(6).toString('hex')}.tmp`;

/** Creates an empty file with mode 0600 (it will hold password hashes and keys), or says why it cannot. */
function createPrivateFile(file: string, shown: string): void {
  try {
    closeSync(openSync(file, 'wx', 0o600));
  } catch (error) {
    throw badRequest(`cannot write ${shown}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
}

/** Makes a directory's entries (a new or renamed file) survive a power cut. */
export function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/**
 * Copies the live database `source` to `target` with SQLite's online backup API, in one step so the copy is
 * one consistent snapshot whatever the server commits meanwhile; the copy is a single self-contained file
 * (rollback journal, no -wal) created with mode 0600, written next to `target` and renamed into place.
 */
export async function backupSqlite(source: string, target: string, extras: BackupExtras): Promise<{ bytes: number }> {
  const temp = tempNameFor(target);
  createPrivateFile(temp, target);
  try {
    const live = new SQLite(source, { fileMustExist: true, timeout: 10_000 });
    try {
      await live.backup(temp, { progress: () => 0x7fffffff });
    } finally {
      live.close();
    }
    const copy = new SQLite(temp);
    try {
      copy.pragma('journal_mode = DELETE');
      copy.pragma('synchronous = FULL');
      copy.exec(`create table ${extrasTable} (name text primary key, value text not null)`);
      copy.prepare(`insert into ${extrasTable} (name, value) values ('secret_key', ?)`).run(extras.secretKey.toString('base64url'));
    } finally {
      copy.close();
    }
    const fd = openSync(temp, 'r+');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(temp, target);
    syncDir(dirname(target));
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
  return { bytes: statSync(target).size };
}

/**
 * Throws `conflict` if any process has the database open: a running server keeps a shared lock on the file for
 * as long as its connection is open (WAL mode), so an exclusive lock is refused while it runs, idle or not.
 * The operating system drops the lock when the process dies, so a server killed with -9 does not count.
 */
export function ensureNotInUse(file: string): void {
  if (!statSync(file, { throwIfNoEntry: false })) return;
  const probe = new SQLite(file, { timeout: 0 });
  try {
    probe.pragma('locking_mode = EXCLUSIVE');
    probe.exec('begin exclusive');
    probe.exec('rollback');
  } catch (error) {
    if ((error as { code?: string }).code === 'SQLITE_BUSY') {
      throw conflict(`${file} is in use (a running Accouch server or command): stop the server first`, error);
    }
    throw error;
  } finally {
    probe.close();
  }
}

/** Checks that `file` is an Accouch backup this version can restore; returns its applied migrations and extras. */
export function inspectBackup(file: string, knownMigrations: string[]): { migrations: string[]; extras: BackupExtras | undefined } {
  const header = Buffer.alloc(16);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch (error) {
    throw badRequest(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    readSync(fd, header, 0, 16, 0);
  } finally {
    closeSync(fd);
  }
  if (header.toString('latin1') !== 'SQLite format 3\0') throw badRequest(`${file} is not an SQLite database`);
  const db = new SQLite(file, { readonly: true, fileMustExist: true });
  try {
    const check = db.pragma('quick_check', { simple: true });
    if (check !== 'ok') throw badRequest(`${file} is damaged: ${String(check)}`);
    const tables = new Set((db.prepare(`select name from sqlite_master where type = 'table'`).all() as Array<{ name: string }>).map((r) => r.name));
    if (!['kysely_migration', 'users', 'signing_keys', 'oidc_payloads'].every((t) => tables.has(t))) {
      throw badRequest(`${file} is not an Accouch database`);
    }
    const migrations = (db.prepare('select name from kysely_migration order by name').all() as Array<{ name: string }>).map((r) => r.name);
    const unknown = migrations.filter((m) => !knownMigrations.includes(m));
    if (unknown.length) throw badRequest(`${file} comes from a newer Accouch (migrations ${unknown.join(', ')}): restore it with that version`);
    const key = tables.has(extrasTable)
      ? (db.prepare(`select value from ${extrasTable} where name = 'secret_key'`).get() as { value: string } | undefined)?.value
      : undefined;
    return { migrations, extras: key ? { secretKey: Buffer.from(key, 'base64url') } : undefined };
  } finally {
    db.close();
  }
}

/**
 * Replaces the database `target` with the backup `source` (checked by {@link inspectBackup} first): copies it
 * next to the target, drops the backup's extras, refuses if the target is in use, removes the target's stale
 * -wal/-shm/-journal (a leftover log of the old database must never be replayed into the new one), renames.
 */
export async function restoreSqlite(source: string, target: string): Promise<void> {
  mkdirSync(dirname(target), { recursive: true, mode: 0o700 });
  const temp = tempNameFor(target);
  createPrivateFile(temp, target);
  try {
    const backup = new SQLite(source, { readonly: true, fileMustExist: true });
    try {
      await backup.backup(temp, { progress: () => 0x7fffffff });
    } finally {
      backup.close();
    }
    const copy = new SQLite(temp);
    try {
      copy.pragma('journal_mode = DELETE');
      copy.pragma('synchronous = FULL');
      copy.exec(`drop table if exists ${extrasTable}`);
    } finally {
      copy.close();
    }
    const fd = openSync(temp, 'r+');
    fsyncSync(fd);
    closeSync(fd);
    ensureNotInUse(target);
    for (const suffix of ['-wal', '-shm', '-journal']) rmSync(`${target}${suffix}`, { force: true });
    renameSync(temp, target);
    syncDir(dirname(target));
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}

/**
 * Refuses to serve a damaged database: `PRAGMA quick_check` on a read-only connection (nothing is written, not
 * even the WAL mode), before anything opens it for writing. A missing file is fine: it is created on first boot.
 */
export function checkSqliteFile(file: string): void {
  if (!statSync(file, { throwIfNoEntry: false })) return;
  // A read-only connection to a WAL database creates empty -wal and -shm files: those it made, it removes.
  const created = ['-wal', '-shm'].filter((suffix) => !statSync(`${file}${suffix}`, { throwIfNoEntry: false }));
  let problems: string[];
  try {
    const db = new SQLite(file, { readonly: true, fileMustExist: true });
    try {
      problems = (db.pragma('quick_check(5)') as Array<{ quick_check: string }>).map((r) => r.quick_check).filter((r) => r !== 'ok');
    } finally {
      db.close();
    }
  } catch (error) {
    problems = [(error as Error).message];
  }
  if (created.includes('-wal') && !statSync(`${file}-wal`, { throwIfNoEntry: false })?.size) {
    for (const suffix of created) rmSync(`${file}${suffix}`, { force: true });
  }
  if (problems.length) {
    throw new AppError('unavailable', `${file} is damaged (PRAGMA quick_check: ${problems.join('; ')}). Accouch did not start and changed nothing: `
      + 'restore the last backup (accouch restore) or recover the file with sqlite3\'s .recover command.', { expose: true });
  }
}
