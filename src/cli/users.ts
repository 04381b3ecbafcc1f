// `accouch user add|import|list|passwd`: household users from the command line.
import type { Command } from 'commander';
import { parseProfile } from '../auth/profile.js';
import { hashPassword } from '../auth/password.js';
import { unlockAccount } from '../auth/throttle.js';
import { notFound } from '../errors.js';
import { createUser, findUserByUsername, listUsers, setPasswordHash } from '../store/users.js';
import { recordAudit } from '../store/audit.js';
import { printTable, readPassword, readStdin, withDatabase } from './context.js';
import { registerUserImport } from './user-import.js';


export function registerUserCommands(program: Command): void {
  const user = program.command('user').description('manage household users');

  user.command('add <username>')
    .description('add a user')
    .requiredOption('--name <name>', 'display name')
    .option('--email <email>', 'email address (treated as verified: the owner vouches for it)')
    .option('--groups <groups>', 'comma-separated groups, e.g. admins,family')
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: { name: string; email?: string; groups?: string; passwordStdin?: boolean }) => {
      // The same profile rules as setup, invitations and the account page.
      const profile = parseProfile({ username, name: opts.name, email: opts.email }, ['username', 'name', 'email']);
      const groups = (opts.groups ?? '').split(',').map((g) => g.trim()).filter(Boolean);
      const password = opts.passwordStdin ? await readStdin() : undefined;
      const passwordHash = password === undefined ? null : await hashPassword(password);
      await withDatabase(async ({ db }) => {
        const created = await createUser(db, { ...profile, emailVerified: profile.email !== null, groups, passwordHash });
        await recordAudit(db, { event: 'user.created', actor: 'cli', detail: { user: created.id, username: created.username } });
        console.log(`added user ${created.username} (sub ${created.id})${passwordHash ? '' : '; no password yet: set one with `accouch user passwd`'}`);
      });
    });

  registerUserImport(user);

  user.command('list')
    .description('list users')
    .action(async () => withDatabase(async ({ db }) => {
      const users = await listUsers(db);
      if (!users.length) return console.log('no users yet');
      printTable(users.map((u) => ({ username: u.username, name: u.name, email: u.email ?? '', groups: u.groups.join(','), sub: u.id, status: u.disabled ? 'disabled' : 'active' })));
    }));

  user.command('unlock <username>')
    .description('lift the lock after too many failed sign-ins')
    .action(async (username: string) => withDatabase(async ({ db }) => {
      const found = await findUserByUsername(db, username);
      if (!found) throw notFound(`no user "${username}"`);
      await unlockAccount(db, found.username);
      await recordAudit(db, { event: 'user.unlocked', actor: 'cli', detail: { user: found.id } });
      console.log(`${found.username} can sign in again`);
    }));

  user.command('passwd <username>')
    .description("set a user's password (asked on a terminal, otherwise read from standard input)")
    .option('--password-stdin', 'read the password from standard input')
    .action(async (username: string, opts: { passwordStdin?: boolean }) => {
      const password = opts.passwordStdin ? await readStdin() : await readPassword('New password: ');
      const passwordHash = await hashPassword(password);
      await withDatabase(async ({ db }) => {
        const found = await findUserByUsername(db, username);
        if (!found) throw notFound(`no user "${username}"`);
        await setPasswordHash(db, found.id, passwordHash);
        await unlockAccount(db, found.username);
        await recordAudit(db, { event: 'user.password_changed', actor: 'cli', detail: { user: found.id } });
        console.log(`password of ${found.username} changed`);
      });
    });
}
