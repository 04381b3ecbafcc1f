// `accouch app add <preset>`: registers the client an app needs and prints what to paste into the app (the secret
// appears there, once).
import type { Command } from 'commander';
import { badRequest } from '../errors.js';
import { isPresetName, listPresets, presetClient, presetInstructions } from '../integrations/presets.js';
import { recordAudit } from '../store/audit.js';
import { findClient, insertClient } from '../store/clients.js';
import { withDatabase } from './context.js';

interface AddOptions {
  url?: string;
  id?: string;
  name?: string;
  redirectUri?: string[];
  groups?: string;
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const note = (line: string) => process.stderr.write(`${line}\n`);

export function registerAppCommands(program: Command): void {
  const app = program.command('app').description('set up an app from a preset (Gitea, oauth2-proxy, Grafana, kubectl, any other)');
  const presets = listPresets();

  app.command('add <preset>')
    .description('register the client an app needs and print what to paste into the app (its secret, once)')
    .option('--url <url>', 'the address the app is served at, e.g. https://git.home.example (not for kubectl)')
    .option('--id <id>', 'client_id (default: the preset\'s name; required for generic)')
    .option('--name <name>', 'name shown to users')
    .option('--redirect-uri <uri>', 'generic only: the app\'s redirect URI instead of <url>/callback (repeatable)', collect)
    .option('--groups <groups>', 'only members of these comma-separated groups may sign in to the app')
    .addHelpText('after', `\nPresets:\n${presets.map((p) => `  ${p.name.padEnd(14)}${p.description}`).join('\n')}\n`)
    .action(async (preset: string, opts: AddOptions) => {
      if (!isPresetName(preset)) throw badRequest(`unknown preset "${preset}": one of ${presets.map((p) => p.name).join(', ')}`);
      if (preset !== 'kubectl' && !opts.url) throw badRequest(`--url: the address ${preset} is served at, e.g. https://${preset === 'generic' ? 'app' : preset}.home.example`);
      const allowedGroups = (opts.groups ?? '').split(',').map((g) => g.trim()).filter(Boolean);
      const client = presetClient(preset, { url: opts.url ?? '', id: opts.id, name: opts.name, redirectUris: opts.redirectUri, allowedGroups });
      const text = await withDatabase(async ({ db, config }) => {
        const existing = await findClient(db, client.id);
        // kubectl is public: registering it again would change nothing, so it is reused as `accouch kubeconfig` does.
        if (existing && client.public) {
          note(`client ${client.id} is already registered: reusing it`);
          return presetInstructions(preset, { issuer: config.issuer, client: existing.config });
        }
        await insertClient(db, 'cli', client);
        await recordAudit(db, { event: 'client.created', actor: 'cli', detail: { client: client.id, preset } });
        note(`added client ${client.id}${client.public ? '' : ': its secret is in the setup below, shown only this once'}`);
        return presetInstructions(preset, { issuer: config.issuer, client, secret: client.secret });
      });
      process.stdout.write(text);
    });
}
