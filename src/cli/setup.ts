// `accouch setup-link` and `accouch audit`: first boot and the security log, from the command line.
import type { Command } from 'commander';
import { createSecretBox, loadSecretKey } from '../auth/secret-key.js';
import { issueEnrolLink, setupInProgress, setupNeeded } from '../auth/enrol.js';
import { AppError } from '../errors.js';
import { listAudit } from '../store/audit.js';
import { printTable, withDatabase } from './context.js';

const iso = (epoch: number) => new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');

export function registerSetupCommands(program: Command): void {
  program.command('setup-link')
    .description('print a fresh one-time link (valid 1 hour) to create the owner account on first boot; earlier links stop working')
    .action(async () => withDatabase(async ({ db, config }) => {
      if (!(await setupNeeded(db))) throw new AppError('conflict', 'Accouch is already set up: the owner can invite people from the account pages');
      // Who is part-way through on an earlier link, so nobody revokes a setup they did not know was going on.
      for (const open of await setupInProgress(db)) {
        if (!open.claimed) continue;
        const who = open.username ? `${open.name} (${open.username})` : 'someone who has not entered a profile yet';
        console.error(`note: ${who} was setting up on an earlier link (valid until ${iso(open.expiresAt)}); that link no longer works`);
      }
      const box = createSecretBox(loadSecretKey({ secretKey: config.secretKey, dataDir: config.dataDir }));
      const { token } = await issueEnrolLink(db, box, { purpose: 'setup', actor: 'cli' });
      console.log(`${config.issuer.replace(/\/$/, '')}/setup?token=${token}`);
    }));

  program.command('audit')
    .description('print the latest security events (sign-ins, factor changes, setup)')
    .option('--limit <n>', 'how many entries', '50')
    .action(async (opts: { limit: string }) => withDatabase(async ({ db }) => {
      const limit = Number(opts.limit);
      if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new AppError('bad_request', '--limit: a whole number from 1 to 10000');
      const entries = await listAudit(db, limit);
      if (!entries.length) return console.log('no events yet');
      printTable(entries.map((e) => ({
        at: iso(e.at), event: e.event, actor: e.actor ?? '', ip: e.ip ?? '',
        detail: Object.entries(e.detail).filter(([, v]) => v !== undefined && v !== null).map(([k, v]) => `${k}=${Array.isArray(v) ? v.join('+') : String(v)}`).join(' '),
      })));
    }));
}
