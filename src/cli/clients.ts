// `accouch client add|list|remove`: apps registered from the command line (config- and cluster-declared ones are read-only here).
import { randomBytes } from 'node:crypto';
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { removeApp, rotateAppSecret, setAppKeys, updateAppAuthMethod } from '../auth/admin.js';
import { clientSchema, refreshPolicies, tokenEndpointAuthMethods } from '../config.js';
import { badRequest, notFound } from '../errors.js';
import { recordAudit } from '../store/audit.js';
import { findClient, insertClient, listClients } from '../store/clients.js';
import { printTable, withDatabase } from './context.js';

const collect = (value: string, previous: string[] = []) => [...previous, value];

interface AddOptions {
  redirectUri?: string[];
  postLogoutRedirectUri?: string[];
  backchannelLogoutUri?: string;
  name?: string;
  public?: boolean;
  native?: boolean;
  groups?: string;
  idTokenAlg?: string;
  refresh?: string;
  deviceFlow?: boolean;
  clientCredentials?: boolean;
  skipConsent?: boolean;
  authMethod?: string;
  jwks?: string;
  jwksUri?: string;
}

/** The JWK Set in --jwks <file>, as JSON (zod checks the keys). */
async function readJwks(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    throw badRequest(`--jwks: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw badRequest(`--jwks: ${file} is not JSON (a JWK Set: { "keys": [ ... ] })`);
  }
}

export function registerClientCommands(program: Command): void {
  const client = program.command('client').description('manage apps (OpenID Connect clients)');

  client.command('add <id>')
    .description('register an app; prints its secret once')
    .option('--redirect-uri <uri>', 'exact redirect URI (repeatable)', collect)
    .option('--post-logout-redirect-uri <uri>', 'post-logout redirect URI (repeatable)', collect)
    .option('--backchannel-logout-uri <uri>', 'where to POST a logout_token when the user signs out')
    .option('--name <name>', 'name shown to users')
    .option('--public', 'public client (no secret; PKCE only)')
    .option('--native', 'native app: loopback redirect URIs match any port')
    .option('--groups <groups>', 'only members of these comma-separated groups may sign in')
    .option('--id-token-alg <alg>', 'RS256 (default), ES256 or EdDSA')
    .option('--refresh <policy>', `refresh tokens: ${refreshPolicies.join(' | ')}`)
    .option('--device-flow', 'allow the device authorization grant')
    .option('--client-credentials', 'allow the client_credentials grant')
    .option('--skip-consent', 'first-party app: no consent page')
    .option('--auth-method <method>', `how the app authenticates at the token endpoint: ${tokenEndpointAuthMethods.join(' | ')} (default client_secret_basic)`)
    .option('--jwks <file>', 'private_key_jwt: a JSON file with the app\'s public keys (JWK Set)')
    .option('--jwks-uri <url>', 'private_key_jwt: where Accouch fetches the app\'s public keys')
    .action(async (id: string, opts: AddOptions) => {
      const secret = opts.public || opts.authMethod === 'private_key_jwt' ? undefined : randomBytes(32).toString('base64url');
      const parsed = clientSchema.safeParse({
        id,
        name: opts.name,
        secret,
        public: opts.public ?? false,
        tokenEndpointAuthMethod: opts.authMethod,
        jwks: opts.jwks ? await readJwks(opts.jwks) : undefined,
        jwksUri: opts.jwksUri,
        native: opts.native ?? false,
        redirectUris: opts.redirectUri ?? [],
        postLogoutRedirectUris: opts.postLogoutRedirectUri ?? [],
        backchannelLogoutUri: opts.backchannelLogoutUri,
        allowedGroups: (opts.groups ?? '').split(',').map((g) => g.trim()).filter(Boolean),
        idTokenAlg: opts.idTokenAlg,
        refresh: opts.refresh,
        deviceFlow: opts.deviceFlow ?? false,
        clientCredentials: opts.clientCredentials ?? false,
        skipConsent: opts.skipConsent ?? false,
      });
      if (!parsed.success) {
        const flags: Record<string, string> = { tokenEndpointAuthMethod: 'auth-method', jwks: 'jwks', jwksUri: 'jwks-uri' };
        const flag = (path: PropertyKey[]) => flags[String(path[0])] ?? String(path[0] ?? 'id').replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`).replace(/s$/, '');
        throw badRequest(parsed.error.issues.map((i) => `--${flag(i.path)}: ${i.message}`).join('\n'));
      }
      await withDatabase(async ({ db }) => {
        await insertClient(db, 'cli', parsed.data);
        await recordAudit(db, { event: 'client.created', actor: 'cli', detail: { client: id } });
      });
      console.log(`added client ${id}`);
      if (secret) console.log(`client secret (shown once, store it now): ${secret}`);
    });

  client.command('list')
    .description('list apps')
    .action(async () => withDatabase(async ({ db }) => {
      const clients = await listClients(db);
      if (!clients.length) return console.log('no clients yet');
      printTable(clients.map(({ config: c, source }) => ({
        id: c.id, name: c.name ?? '', type: c.public ? (c.native ? 'public native' : 'public') : (c.tokenEndpointAuthMethod && c.tokenEndpointAuthMethod !== 'client_secret_basic' ? `confidential (${c.tokenEndpointAuthMethod})` : 'confidential'), source, redirect_uris: c.redirectUris.join(' '),
      })));
    }));

  client.command('auth-method <id> <method>')
    .description(`change how an app proves itself (${tokenEndpointAuthMethods.join(' | ')}); from private_key_jwt to a secret prints a new secret once`)
    .option('--jwks <file>', 'private_key_jwt: a JSON file with the app\'s public keys (JWK Set)')
    .option('--jwks-uri <url>', 'private_key_jwt: where Accouch fetches the app\'s public keys')
    // The console's own services (auth/admin.ts): the same checks, the same audit entries.
    .action(async (id: string, method: string, opts: { jwks?: string; jwksUri?: string }) => {
      const jwks = opts.jwks === undefined ? undefined : await readFile(opts.jwks, 'utf8').catch((error: NodeJS.ErrnoException) => {
        throw badRequest(`--jwks: cannot read ${opts.jwks}: ${error.code ?? String(error)}`);
      });
      if (!(tokenEndpointAuthMethods as readonly string[]).includes(method)) throw badRequest(`<method>: one of ${tokenEndpointAuthMethods.join(', ')}`);
      if (method !== 'private_key_jwt' && (jwks !== undefined || opts.jwksUri !== undefined)) throw badRequest('--jwks and --jwks-uri go with private_key_jwt');
      const secret = await withDatabase(async ({ db }): Promise<string | undefined> => {
        const cli = { userId: 'cli' };
        const found = await findClient(db, id);
        if (!found) throw notFound(`no client "${id}"`);
        if (method === 'private_key_jwt') await setAppKeys(db, cli, id, { jwks, jwksUri: opts.jwksUri });
        else if (found.config.tokenEndpointAuthMethod === 'private_key_jwt') return rotateAppSecret(db, cli, id, method);
        else await updateAppAuthMethod(db, cli, id, method);
        return undefined;
      });
      console.log(`client ${id} now uses ${method}`);
      if (secret) console.log(`client secret (shown once, store it now): ${secret}`);
    });

  client.command('remove <id>')
    .description('remove an app (its tokens stop working)')
    // The console's own service: the app goes with its grants and its refresh and access tokens.
    .action(async (id: string) => withDatabase(async ({ db }) => {
      if (!(await findClient(db, id))) throw notFound(`no client "${id}"`);
      await removeApp(db, { userId: 'cli' }, id);
      console.log(`removed client ${id}: its grants and tokens no longer work`);
    }));
}
