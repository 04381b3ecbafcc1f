// `accouch user import <file>`: many household members at once (moving from another provider, a club, a school),
// one JSON object a line, checked with the same profile rules as `user add` and written in one transaction.
import { createReadStream } from 'node:fs';
import { once } from 'node:events';
import { createInterface } from 'node:readline';
import type { Command } from 'commander';
import { parseProfile } from '../auth/profile.js';
import { AppError, badRequest } from '../errors.js';
import { recordAudit } from '../store/audit.js';
import { createUser, type NewUser } from '../store/users.js';
import { withDatabase } from './context.js';

/** One line of the file: `{"username": "ann", "name": "Ann Lee", "email": "ann@example.com", "groups": ["family"]}`. */
export function parseImportLine(line: string, lineNumber: number): NewUser {
  const fail = (why: string) => badRequest(`line ${lineNumber}: ${why}`);
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch (error) {
    throw fail(`not JSON (${(error as Error).message})`);
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw fail('expected an object such as {"username": "ann", "name": "Ann Lee"}');
  const { username, name, email, groups, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length) throw fail(`unknown field ${unknown.map((k) => JSON.stringify(k)).join(', ')} (username, name, email, groups)`);
  if (groups !== undefined && !(Array.isArray(groups) && groups.every((g) => typeof g === 'string' && g.trim()))) throw fail('groups must be a list of group names');
  try {
    const profile = parseProfile({ username, name, email }, ['username', 'name', 'email']);
    return { ...profile, emailVerified: profile.email !== null, groups: [...new Set((groups as string[] | undefined ?? []).map((g) => g.trim()))] };
  } catch (error) {
    throw error instanceof AppError ? fail(error.message) : error;
  }
}

/** Reads and checks every line before anything is written: a bad line names itself and nothing is imported. */
async function readImport(file: string): Promise<NewUser[]> {
  const input = file === '-' ? process.stdin : createReadStream(file);
  if (file !== '-') {
    await once(input, 'open').catch((error: NodeJS.ErrnoException) => {
      throw badRequest(`cannot read ${file}: ${error.code ?? error.message}`);
    });
  }
  const users: NewUser[] = [];
  const seen = new Map<string, number>();
  let lineNumber = 0;
  for await (const line of createInterface({ input, crlfDelay: Infinity })) {
    lineNumber += 1;
    if (!line.trim()) continue;
    const user = parseImportLine(line, lineNumber);
    const earlier = seen.get(user.username);
    if (earlier) throw badRequest(`line ${lineNumber}: username "${user.username}" is also on line ${earlier}`);
    seen.set(user.username, lineNumber);
    users.push(user);
  }
  return users;
}

export function registerUserImport(user: Command): void {
  user.command('import <file>')
    .description('add many users from JSON lines ("-": standard input), all or none; they set a password with `user passwd` or an enrolment link')
    .action(async (file: string) => {
      const users = await readImport(file);
      await withDatabase(async ({ db }) => {
        await db.transaction().execute(async (trx) => {
          for (const input of users) {
            const created = await createUser(trx, input);
            await recordAudit(trx, { event: 'user.created', actor: 'cli', detail: { user: created.id, username: created.username, via: 'import' } });
          }
        });
      });
      console.log(`imported ${users.length} user${users.length === 1 ? '' : 's'}`);
    });
}
