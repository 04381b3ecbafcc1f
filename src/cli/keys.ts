// `accouch keys rotate|list`: signing keys. A running server picks up a rotation within seconds.
import type { Command } from 'commander';
import { ensureSigningKeys, keyRetention, rotateSigningKeys } from '../oidc/keys.js';
import { recordAudit } from '../store/audit.js';
import { listSigningKeys } from '../store/keys.js';
import { printTable, withDatabase } from './context.js';

const iso = (epoch: number) => new Date(epoch * 1000).toISOString().replace('.000Z', 'Z');

export function registerKeyCommands(program: Command): void {
  const keys = program.command('keys').description('manage signing keys');

  keys.command('list')
    .description('list signing keys')
    .action(async () => withDatabase(async ({ db, config }) => {
      await ensureSigningKeys(db);
      const retention = keyRetention(config.ttl);
      printTable((await listSigningKeys(db)).map((k) => ({
        kid: k.kid,
        alg: k.alg,
        created: iso(k.createdAt),
        state: k.state === 'active' ? 'active' : `retired, published until ${iso(k.retiredAt! + retention)}`,
      })));
    }));

  keys.command('rotate')
    .description('make new keys active; old public keys stay published until their tokens expire')
    .action(async () => withDatabase(async ({ db }) => {
      const all = await rotateSigningKeys(db);
      await recordAudit(db, { event: 'keys.rotated', actor: 'cli', detail: { kids: all.filter((k) => k.state === 'active').map((k) => k.kid) } });
      console.log(`rotated: new active keys ${all.filter((k) => k.state === 'active').map((k) => `${k.kid} (${k.alg})`).join(', ')}`);
    }));
}
