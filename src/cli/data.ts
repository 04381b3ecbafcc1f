// `accouch backup|restore|export|import`: a consistent copy of the live SQLite database and its restore, and
// every table as JSON lines between databases (SQLite or PostgreSQL). The secret key travels with the data.
import { once } from 'node:events';
import { createReadStream, createWriteStream, renameSync, rmSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { loadSecretKey, replaceSecretKeyFile } from '../auth/secret-key.js';
import type { Config } from '../config.js';
import { badRequest } from '../errors.js';
import { sqliteFileOf } from '../store/dialect.js';
import { isPostgres, type Db } from '../store/db.js';
import { knownMigrations } from '../store/migrate.js';
import { backupSqlite, ensureNotInUse, inspectBackup, restoreSqlite } from '../store/sqlite-file.js';
import { exportDatabase, importDatabase, type Progress } from '../store/transfer.js';
import { withDatabase } from './context.js';

/** backup and restore copy the SQLite file; PostgreSQL has its own tools. */
async function sqliteFileOrRefuse(db: Db, command: 'backup' | 'restore'): Promise<string> {
  if (isPostgres(db)) {
    throw badRequest(command === 'backup'
      ? 'backup copies the SQLite database; with PostgreSQL use pg_dump (e.g. pg_dump -Fc -f accouch.dump "$ACCOUCH_DATABASE_URL"), or accouch export'
      : 'restore replaces the SQLite database; with PostgreSQL use pg_restore (e.g. pg_restore --clean -d "$ACCOUCH_DATABASE_URL" accouch.dump), or accouch import');
  }
  const file = await sqliteFileOf(db);
  if (!file) throw badRequest(`${command} needs a database file, not an in-memory database`);
  return file;
}

/**
 * Checks, before anything is written, that the data's secret key can be used here; returns what installs it.
 * A configured secretKey must be the one the data was sealed with; otherwise `<dataDir>/secret.key` is replaced.
 */
function planSecretKey(config: Config, key: Buffer | undefined): () => void {
  if (!key || key.length !== 32) {
    console.error('warning: this holds no secret key: TOTP and recovery codes only work if this data dir already has the key they were sealed with');
    return () => undefined;
  }
  if (config.secretKey) {
    if (!loadSecretKey({ secretKey: config.secretKey, dataDir: config.dataDir }).equals(key)) {
      throw badRequest('this data was sealed with another secret key: set secretKey (ACCOUCH_SECRET_KEY) to the value used where it came from, or unset it to use the key it carries');
    }
    return () => undefined;
  }
  return () => replaceSecretKeyFile(config.dataDir, key);
}

/** A one-line progress report on stderr when it is a terminal; nothing otherwise. */
function progressLine(verb: string): { report: Progress | undefined; done: () => void } {
  if (!process.stderr.isTTY) return { report: undefined, done: () => undefined };
  let last = 0;
  return {
    report: (table, done, total) => {
      const now = Date.now();
      if (done !== 0 && done < total && now - last < 100) return;
      last = now;
      process.stderr.write(`\r\x1b[K${verb} ${table}: ${done}/${total}`);
    },
    done: () => process.stderr.write('\r\x1b[K'),
  };
}

export function registerDataCommands(program: Command): void {
  program.command('backup')
    .argument('<file>', 'where to write the copy (a single SQLite file, mode 0600)')
    .description('copy the live SQLite database, consistently, while the server runs')
    .action(async (file: string) => withDatabase(async ({ db, config }) => {
      const source = await sqliteFileOrRefuse(db, 'backup');
      const secretKey = loadSecretKey({ secretKey: config.secretKey, dataDir: config.dataDir });
      const { bytes } = await backupSqlite(source, file, { secretKey });
      console.log(`backed up ${source} to ${file} (${bytes} bytes; it holds password hashes, signing keys and the secret key: keep it private)`);
    }, { migrate: false }));

  program.command('restore')
    .argument('<file>', 'a file written by accouch backup')
    .description('replace the SQLite database with a backup (refused while a server uses the database)')
    .action(async (file: string) => {
      const migrations = await knownMigrations();
      const { extras } = inspectBackup(file, migrations);
      const { target, config } = await withDatabase(async ({ db, config }) => ({ target: await sqliteFileOrRefuse(db, 'restore'), config }), { migrate: false });
      ensureNotInUse(target);
      const installKey = planSecretKey(config, extras?.secretKey);
      await restoreSqlite(file, target);
      installKey();
      console.log(`restored ${file} to ${target}; start the server (it applies any newer migrations)`);
    });

  program.command('export')
    .argument('[file]', 'where to write (default: standard output)')
    .description('write every table as JSON lines, for accouch import into another database (SQLite or PostgreSQL)')
    // Not migrated first: a newer CLI must not change the schema under a running older server.
    .action(async (file: string | undefined) => withDatabase(async ({ db, config }) => {
      const secretKey = loadSecretKey({ secretKey: config.secretKey, dataDir: config.dataDir }).toString('base64url');
      const temp = file ? `${file}.${randomBytes(6).toString('hex')}.tmp` : undefined;
      const out = temp ? createWriteStream(temp, { flags: 'wx', mode: 0o600 }) : process.stdout;
      if (temp) {
        await once(out, 'open').catch((error: NodeJS.ErrnoException) => {
          throw badRequest(`cannot write ${file}: ${error.code ?? error.message}`);
        });
      }
      const write = async (line: string) => {
        if (!out.write(`${line}\n`)) await once(out, 'drain');
      };
      const progress = progressLine('exporting');
      try {
        const header = await exportDatabase(db, write, { secretKey }, progress.report);
        progress.done();
        if (temp) {
          await new Promise<void>((resolve, reject) => (out as ReturnType<typeof createWriteStream>).end((error?: Error | null) => (error ? reject(error) : resolve())));
          renameSync(temp, file!);
        }
        const rows = Object.values(header.counts).reduce((a, b) => a + b, 0);
        console.error(`exported ${rows} rows${file ? ` to ${file}` : ''} (it holds password hashes, signing keys and the secret key: keep it private)`);
      } catch (error) {
        progress.done();
        if (temp) {
          out.destroy();
          rmSync(temp, { force: true });
        }
        throw error;
      }
    }, { migrate: false }));

  program.command('import')
    .argument('<file>', 'a file written by accouch export ("-": standard input)')
    .option('--replace', 'delete everything in the database first (default: refuse unless it is empty)')
    .description('read an export into this database, which must be empty (a new data dir or database)')
    .action(async (file: string, options: { replace?: boolean }) => withDatabase(async ({ db, config }) => {
      const input = file === '-' ? process.stdin : createReadStream(file);
      const opened = file === '-' ? Promise.resolve() : once(input, 'open').then(() => undefined, (error: NodeJS.ErrnoException) => {
        throw badRequest(`cannot read ${file}: ${error.code ?? error.message}`);
      });
      await opened;
      const progress = progressLine('importing');
      let installKey: () => void = () => undefined;
      try {
        const header = await importDatabase(db, createInterface({ input, crlfDelay: Infinity }), {
          replace: Boolean(options.replace),
          progress: progress.report,
          // Checked before any row is written, installed after the rows are committed.
          beforeRows: (extras) => {
            const key = typeof extras.secretKey === 'string' ? Buffer.from(extras.secretKey, 'base64url') : undefined;
            installKey = planSecretKey(config, key);
          },
        });
        progress.done();
        installKey();
        const rows = Object.values(header.counts).reduce((a, b) => a + b, 0);
        console.log(`imported ${rows} rows; start the server`);
      } catch (error) {
        progress.done();
        throw error;
      } finally {
        input.destroy();
      }
    }));
}
