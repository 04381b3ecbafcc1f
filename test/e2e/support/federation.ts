// The Accouch of the federation tests: upstreams in its YAML file, a household member with a password (ada),
// and an app to sign in to (Family Photos, no consent page).
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { reserveRpApp, startRpApp, type RpApp } from './rp-app.js';
import { addClient, addUser } from './rp.js';
import { startServer, type RunningServer } from './server.js';

export async function startWithUpstreams(port: number, upstreams: unknown[]): Promise<{ server: RunningServer; app: RpApp }> {
  const configFile = join(process.env.TMPDIR ?? '/tmp', `accouch-federation-${port}.yaml`);
  writeFileSync(configFile, stringify({ upstreams }));
  const server = await startServer({ port, env: { ACCOUCH_CONFIG: configFile } });
  addUser(server, 'ada', 'ada local password');
  const where = await reserveRpApp();
  const app = await startRpApp(where, server.issuer, 'photos', addClient(server, 'photos', ['--redirect-uri', where.callback, '--name', 'Family Photos', '--skip-consent']));
  return { server, app };
}
