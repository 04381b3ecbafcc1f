// Ory Hydra v2 as a second peer: built from the Go module proxy at a pinned version into the cache the e2e tests
// use for their Go peers (never committed), run in memory (DSN=memory) on loopback, with the same kind of client as
// Accouch and the bare engine. Hydra has no login or consent pages of its own: its documented way is an app that
// accepts the login and consent requests through the admin API. The bench does that itself, as the browser
// reaches the login and consent URLs (which nothing serves: the bench never follows them, it accepts the challenge
// they carry and goes on to the redirect Hydra returns).
import { execFileSync } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Agent, codeOf, pkce, pool, redeem, redirectUri, scope } from './browser.mjs';
import { startPostgresForHydra } from './postgres.mjs';
import { freePort, startProcess, stopProcess } from './processes.mjs';

export const hydraVersion = 'v2.3.0';
const hydraModule = 'github.com/ory/hydra/v2';
// Hydra's go.mod replaces gobuffalo/pop with Ory's fork (a replace only the main module's go.mod applies, so the
// generated module repeats it) and hydra-client-go with a directory of its repository (left out: the published
// module at the version Hydra requires builds).
const popReplace = 'github.com/gobuffalo/pop/v6=github.com/ory/pop/v6@v6.2.1-0.20241121111754-e5dfc0f3344b';
// The SQLite driver (cgo) that DSN=memory needs is behind a build tag, as in Hydra's own release build.
const buildTags = 'sqlite,sqlite_omit_load_extension';

const cacheDir = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'accouch-test-tools');

function findGo() {
  for (const dir of [...(process.env.PATH ?? '').split(':'), '/usr/local/go/bin', '/usr/lib/go/bin']) {
    if (dir && existsSync(join(dir, 'go'))) return join(dir, 'go');
  }
  return undefined;
}

/**
 * The path of the Hydra binary, built once into the cache (a generated go.mod there pins the version). Throws
 * with a one-line reason when Go is missing or the build fails; the bench then reports Hydra as not measured.
 */
export function ensureHydra(progress) {
  const dir = join(cacheDir, `hydra-${hydraVersion}`);
  const binary = join(dir, 'hydra');
  if (existsSync(binary)) return binary;
  const go = findGo();
  if (!go) throw new Error('Go is missing (the bench builds Ory Hydra from the Go module proxy): apt-get install golang-go');
  const mod = join(dir, 'module');
  mkdirSync(mod, { recursive: true });
  writeFileSync(join(mod, 'go.mod'), 'module accouch.bench/hydra\n\ngo 1.26\n');
  const env = { ...process.env, GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'auto', GOFLAGS: '-buildvcs=false' };
  const goRun = (args) => execFileSync('nice', [go, ...args], { cwd: mod, env, stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  progress(`building Ory Hydra ${hydraVersion} with Go (one time, cached in ${dir})...`);
  const started = performance.now();
  const partial = `${binary}.partial-${process.pid}`;
  try {
    goRun(['mod', 'edit', `-replace=${popReplace}`]);
    goRun(['get', '-tool', `${hydraModule}@${hydraVersion}`]);
    goRun(['build', '-tags', buildTags, '-o', partial, hydraModule]);
  } catch (error) {
    const detail = String(error.stderr ?? error.message).trim().split('\n').slice(-3).join(' / ');
    throw new Error(`building Ory Hydra ${hydraVersion} failed: ${detail}`);
  }
  renameSync(partial, binary);
  progress(`built Ory Hydra in ${Math.round((performance.now() - started) / 1000)} s`);
  return binary;
}

export const hydraClaims = {
  name: 'Bench User', preferred_username: 'bench', nickname: 'bench', email: 'bench@home.example', email_verified: true, groups: ['family'],
};
const subject = 'bench-user';
// Hydra issues a refresh token only when offline_access is granted (Accouch and the bare engine: whenever the
// client may use the refresh_token grant).
const hydraScope = `${scope} offline_access`;

/**
 * Starts Hydra (`hydra serve all --dev`: plain HTTP on loopback) on `dsn`, migrated first as Hydra's deployment
 * guides do, with PKCE enforced. Resolves when the public port's /health/ready answers 200.
 *
 * Not on DSN=memory: that is an in-memory SQLite database in shared-cache mode on a pool of 2 connections per
 * core, and under concurrent requests it answers 400 "Unable to serialize access due to a concurrent update"
 * (shared-cache table locks, which SQLite's busy timeout does not cover); on one connection, or with SQLite's
 * unlock_notify, it deadlocks (Hydra queries outside a transaction it holds open); a SQLite file in WAL mode with
 * a busy timeout ends in "database is locked". The bench gives it PostgreSQL, its production database, on tmpfs
 * with fsync off (bench/lib/postgres.mjs): as in memory, nothing waits on a disk.
 */
export async function startHydra({ binary, logDir, dsn }) {
  const port = await freePort();
  const adminPort = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  execFileSync(binary, ['migrate', 'sql', 'up', '--read-from-env', '--yes'], { env: { PATH: process.env.PATH, DSN: dsn }, stdio: ['ignore', 'pipe', 'pipe'] });
  const server = await startProcess({
    // In the run's log dir: Hydra writes a hydra.pid file where it starts.
    name: 'hydra', executable: binary, args: ['serve', 'all', '--dev'], port, readyPath: '/health/ready', logFile: join(logDir, 'hydra.log'), cwd: logDir,
    env: {
      DSN: dsn, LOG_LEVEL: 'warn', SECRETS_SYSTEM: randomBytes(24).toString('hex'),
      SERVE_PUBLIC_HOST: '127.0.0.1', SERVE_PUBLIC_PORT: String(port), SERVE_ADMIN_HOST: '127.0.0.1', SERVE_ADMIN_PORT: String(adminPort),
      URLS_SELF_ISSUER: issuer, URLS_LOGIN: `${issuer}/bench-login`, URLS_CONSENT: `${issuer}/bench-consent`,
      OAUTH2_PKCE_ENFORCED: 'true',
      // Accouch and the bare engine compare the stored client secret; Hydra's default hash (PBKDF2-SHA256, 25,000
      // iterations) would add some 10 ms of CPU to every token request here, which is not the engine's cost.
      OAUTH2_HASHERS_ALGORITHM: 'pbkdf2', OAUTH2_HASHERS_PBKDF2_ITERATIONS: '1',
      // No telemetry from a benchmark (and no internet to send it to).
      SQA_OPT_OUT: 'true',
    },
  });
  return { ...server, adminOrigin: `http://127.0.0.1:${adminPort}` };
}

async function admin(server, method, path, body) {
  const res = await fetch(new URL(path, server.adminOrigin), { method, headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const json = await res.json();
  if (res.status >= 300) throw new Error(`Hydra admin ${method} ${path.split('?')[0]} answered ${res.status}: ${JSON.stringify(json).slice(0, 300)}`);
  return json;
}

/**
 * ID tokens signed with an RSA-2048 key, as Accouch's and the bare engine's RS256 key: Hydra generates RSA-4096
 * keys, whose signatures cost about 7 times as much CPU. Its key set for ID tokens is replaced through the admin
 * API; then one JWKS request, so that the key set for JWT access tokens, generated on first use (about a second),
 * is not generated under load.
 */
async function useRsa2048(server, origin) {
  const jwk = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const kid = createHash('sha256').update(JSON.stringify(jwk)).digest('base64url').slice(0, 43);
  await admin(server, 'PUT', '/admin/keys/hydra.openid.id-token', { keys: [{ ...jwk, kid, alg: 'RS256', use: 'sig' }] });
  const res = await fetch(new URL('/.well-known/jwks.json', origin));
  const { keys } = await res.json();
  if (!keys?.some((k) => k.kid === kid)) throw new Error('Hydra did not publish the RSA-2048 key it was given');
}

/** The bench app through the admin API: the grants, redirect URI and client authentication of the others. */
export async function createHydraClient(server) {
  const secret = randomBytes(24).toString('base64url');
  const created = await admin(server, 'POST', '/admin/clients', {
    client_name: 'Bench', client_secret: secret, redirect_uris: [redirectUri], response_types: ['code'],
    grant_types: ['authorization_code', 'refresh_token', 'client_credentials'], scope: hydraScope,
    token_endpoint_auth_method: 'client_secret_basic', skip_consent: true,
  });
  return { id: created.client_id, secret };
}

/** Where a redirect points; the login and consent URLs are never fetched, their challenge is accepted instead. */
const locationOf = (res) => new URL(res.headers.get('location') ?? 'about:blank', res.url);

async function redirected(agent, res) {
  await res.arrayBuffer();
  if (res.status !== 302 && res.status !== 303) throw new Error(`Hydra answered ${res.status} where a redirect was expected`);
  return locationOf(res);
}

/**
 * One authorization request from `agent`'s session through Hydra's login and consent steps, accepted through the
 * admin API as a login and consent app does (remembered: later requests come with skip=true and are accepted the
 * same way). Runs in a copy of the cookie jar so that parallel requests keep their own CSRF cookies; `keep`
 * stores the resulting cookies (the session) back into `agent`.
 */
async function authorizeOnce(server, agent, clientId, { keep = false } = {}) {
  const flow = new Agent(agent.origin);
  flow.cookies = new Map(agent.cookies);
  const { verifier, challenge } = pkce();
  const query = new URLSearchParams({
    client_id: clientId, response_type: 'code', scope: hydraScope, redirect_uri: redirectUri, code_challenge: challenge,
    code_challenge_method: 'S256', state: randomBytes(8).toString('base64url'), nonce: randomBytes(8).toString('base64url'),
  });
  let next = await redirected(flow, await flow.request(`/oauth2/auth?${query}`));
  const loginChallenge = next.searchParams.get('login_challenge');
  if (!loginChallenge) throw new Error(`Hydra did not ask for a login: ${next}`);
  const login = await admin(server, 'PUT', `/admin/oauth2/auth/requests/login/accept?login_challenge=${encodeURIComponent(loginChallenge)}`, { subject, remember: true, remember_for: 0 });
  next = new URL(login.redirect_to);
  next = await redirected(flow, await flow.request(next.pathname + next.search));
  const consentChallenge = next.searchParams.get('consent_challenge');
  if (!consentChallenge) throw new Error(`Hydra did not ask for consent: ${next}`);
  const consent = await admin(server, 'PUT', `/admin/oauth2/auth/requests/consent/accept?consent_challenge=${encodeURIComponent(consentChallenge)}`, {
    grant_scope: hydraScope.split(' '), remember: true, remember_for: 0, session: { id_token: hydraClaims },
  });
  next = new URL(consent.redirect_to);
  next = await redirected(flow, await flow.request(next.pathname + next.search));
  if (keep) agent.cookies = flow.cookies;
  return { code: codeOf(next), verifier };
}

export function hydraSystem({ server, client }) {
  return {
    label: 'Ory Hydra', server, client, origin: `http://127.0.0.1:${server.port}`, adminOrigin: server.adminOrigin,
    paths: { auth: '/oauth2/auth', token: '/oauth2/token', userinfo: '/userinfo', introspection: '/admin/oauth2/introspect', jwks: '/.well-known/jwks.json' },
    signIn: (agent) => authorizeOnce(server, agent, client.id, { keep: true }),
    /** Up to `count` codes from the sessions, 8 at a time, for at most `seconds`. */
    async mint(agents, count, seconds) {
      const deadline = performance.now() + seconds * 1000;
      const codes = [];
      await pool(count, 8, async (i) => {
        if (performance.now() < deadline) codes.push(await authorizeOnce(server, agents[i % agents.length], client.id));
      });
      return codes;
    },
    /**
     * Access tokens for userinfo and introspection, from new codes: a refresh in Hydra revokes the access token
     * issued with the refresh token it rotates (Accouch and the engine keep it valid until it expires), so the
     * tokens of the first redemptions are dead after the refresh_token scenario.
     */
    async freshAccessTokens(agents) {
      const codes = await this.mint(agents, agents.length, 60);
      return (await pool(codes.length, 8, (i) => redeem(this.origin, client, codes[i], this.paths.token))).map((t) => t.access_token);
    },
  };
}

/**
 * The whole peer: built (once), its PostgreSQL and Hydra started, the bench app created. Throws with a one-line
 * reason when any step fails, having stopped what it started; `stop()` ends Hydra, then its PostgreSQL.
 */
export async function startHydraPeer({ logDir, progress }) {
  const binary = ensureHydra(progress);
  const postgres = startPostgresForHydra();
  let server;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    if (server) await stopProcess(server);
    postgres.stop();
  };
  try {
    server = await startHydra({ binary, logDir, dsn: postgres.dsn });
    const system = hydraSystem({ server, client: await createHydraClient(server) });
    // CPU per request counts Hydra's process and its PostgreSQL's.
    system.cpuPids = () => [server.pid, ...postgres.pids()];
    await useRsa2048(server, system.origin);
    return { system, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
