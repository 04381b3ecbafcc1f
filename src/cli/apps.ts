// `accouch app add <preset>`: registers the client an app needs and prints what to paste into the app (the secret
// appears there, once).
import type { Command } from 'commander';
import { badRequest, notFound } from '../errors.js';
import { isPresetName, listPresets, presetClient, presetInstructions } from '../integrations/presets.js';
import { recordAudit } from '../store/audit.js';
import { findClient, insertClient } from '../store/clients.js';
import { declareForwardAuthApp, listForwardAuthApps, removeForwardAuthApp } from '../auth/forward-auth/apps.js';
import { forwardAuthInstructions } from '../integrations/forward-auth.js';
import { printTable, withDatabase } from './context.js';

interface AddOptions {
  url?: string[];
  id?: string;
  name?: string;
  redirectUri?: string[];
  groups?: string;
  home?: string;
  outside?: string;
  namespace?: string;
}

/** `app add forward-auth`: declares the app (source cli) and prints the proxy snippets. */
async function addForwardAuth(opts: AddOptions): Promise<string> {
  const urls = opts.url ?? [];
  if (!urls.length) throw badRequest('--url: the address the app is served at, e.g. https://jellyfin.home.example (repeatable)');
  const hosts = urls.map((u) => {
    const url = URL.parse(u);
    if (!url || !['http:', 'https:'].includes(url.protocol)) throw badRequest(`--url ${u}: must be an http(s) address, e.g. https://jellyfin.home.example`);
    return url.host;
  });
  const id = opts.id ?? hosts[0]!.split('.')[0]!.replace(/[^A-Za-z0-9._-]/g, '-');
  const policy = { ...(opts.home ? { home: opts.home } : {}), ...(opts.outside ? { outside: opts.outside } : {}) };
  return withDatabase(async ({ db, config }) => {
    const app = await declareForwardAuthApp(db, {
      source: 'cli',
      app: {
        id, hosts, ...(opts.name ? { name: opts.name } : {}),
        allowedGroups: (opts.groups ?? '').split(',').map((g) => g.trim()).filter(Boolean),
        ...(Object.keys(policy).length ? { policy } : {}),
      },
    });
    note(`added forward-auth app ${app.id} (${app.hosts.join(', ')})`);
    return forwardAuthInstructions({ issuer: config.issuer, app, namespace: opts.namespace });
  });
}

const collect = (value: string, previous: string[] = []) => [...previous, value];
const note = (line: string) => process.stderr.write(`${line}\n`);

export function registerAppCommands(program: Command): void {
  const app = program.command('app').description('set up an app from a preset (Gitea, oauth2-proxy, Grafana, kubectl, any other)');
  const presets = listPresets();

  app.command('add <preset>')
    .description('register the client an app needs and print what to paste into the app (its secret, once)')
    .option('--url <url>', 'the address the app is served at, e.g. https://git.home.example (not for kubectl; forward-auth: repeatable)', collect)
    .option('--id <id>', 'client_id (default: the preset\'s name; required for generic)')
    .option('--name <name>', 'name shown to users')
    .option('--redirect-uri <uri>', 'generic only: the app\'s redirect URI instead of <url>/callback (repeatable)', collect)
    .option('--groups <a,b>', 'forward-auth: only members of these groups may use the app')
    .option('--home <strength>', 'forward-auth: minimum sign-in from home: any, mfa, phr or deny')
    .option('--outside <strength>', 'forward-auth: minimum sign-in from outside: any, mfa, phr or deny')
    .option('--namespace <ns>', 'forward-auth: namespace of the Traefik Middleware (default: default)')
    .addHelpText('after', `\nPresets:\n${presets.map((p) => `  ${p.name.padEnd(14)}${p.description}`).join('\n')}\n  ${'forward-auth'.padEnd(14)}Any app behind Traefik, nginx or Caddy, without oauth2-proxy: the proxy asks Accouch\n`)
    .action(async (preset: string, opts: AddOptions) => {
      if (preset === 'forward-auth') {
        process.stdout.write(await addForwardAuth(opts));
        return;
      }
      if (opts.url && opts.url.length > 1) throw badRequest('--url: give one address (several only for forward-auth)');
      if (!isPresetName(preset)) throw badRequest(`unknown preset "${preset}": one of ${presets.map((p) => p.name).join(', ')}`);
      if (preset !== 'kubectl' && !opts.url) throw badRequest(`--url: the address ${preset} is served at, e.g. https://${preset === 'generic' ? 'app' : preset}.home.example`);
      const client = presetClient(preset, { url: opts.url?.[0] ?? '', id: opts.id, name: opts.name, redirectUris: opts.redirectUri });
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

  app.command('list')
    .description('list the apps protected by forward-auth')
    .action(async () => {
      const apps = await withDatabase(({ db }) => listForwardAuthApps(db));
      printTable(apps.map(({ source, config }) => ({
        id: config.id, source, hosts: config.hosts.join(','), groups: config.allowedGroups.join(','),
        policy: Object.entries(config.policy ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
      })));
    });

  app.command('remove <id>')
    .description('stop protecting an app with forward-auth (apps in the configuration file are removed there)')
    .action(async (id: string) => {
      const removed = await withDatabase(({ db }) => removeForwardAuthApp(db, { source: 'cli', id }));
      if (!removed) throw notFound(`no forward-auth app "${id}"`);
      note(`removed forward-auth app ${id}`);
    });
}
