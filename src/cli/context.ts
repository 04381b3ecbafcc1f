// What every CLI command needs: the configuration, and the migrated database it names.
import { loadConfig, type Config } from '../config.js';
import { openDatabase, type Db } from '../store/db.js';
import { migrateToLatest } from '../store/migrate.js';

export interface CliContext {
  config: Config;
  db: Db;
}

/**
 * Opens the configured database (SQLite in the data dir, or PostgreSQL), runs the command, closes the database.
 * Migrates it first unless told not to (a backup must copy the database as it is).
 */
export async function withDatabase<T>(run: (ctx: CliContext) => Promise<T>, { migrate = true } = {}): Promise<T> {
  const config = loadConfig({ env: process.env });
  // A PostgreSQL connection that breaks while idle is reported, not an unhandled 'error' that kills the command.
  const db = openDatabase(config, { onPoolError: (error) => console.error(`database connection lost: ${error.message}`) });
  try {
    if (migrate) await migrateToLatest(db);
    return await run({ config, db });
  } finally {
    await db.destroy();
  }
}

/** Asks for a password on a terminal without echoing it; reads standard input when it is not a terminal. */
export async function readPassword(prompt: string): Promise<string> {
  if (!process.stdin.isTTY) return readStdin();
  process.stderr.write(prompt);
  process.stdin.setRawMode(true);
  process.stdin.resume();
  let password = '';
  try {
    for await (const chunk of process.stdin) {
      for (const char of (chunk as Buffer).toString('utf8')) {
        if (char === '\r' || char === '\n') return password;
        if (char === '\u0003') throw new Error('cancelled');
        if (char === '\u007f') password = password.slice(0, -1);
        else password += char;
      }
    }
    return password;
  } finally {
    process.stdin.setRawMode(false);
    process.stdin.pause();
    process.stderr.write('\n');
  }
}

/** Reads all of standard input (for --password-stdin), without the trailing newline. */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** Prints rows as aligned columns. */
export function printTable(rows: Array<Record<string, string>>): void {
  if (!rows.length) return;
  const keys = Object.keys(rows[0]!);
  const widths = keys.map((k) => Math.max(k.length, ...rows.map((r) => (r[k] ?? '').length)));
  const line = (values: string[]) => values.map((v, i) => v.padEnd(widths[i]!)).join('  ').trimEnd();
  console.log(line(keys.map((k) => k.toUpperCase())));
  for (const row of rows) console.log(line(keys.map((k) => row[k] ?? '')));
}
