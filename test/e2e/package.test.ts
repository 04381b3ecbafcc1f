// The npm package as a user (and the Dockerfile) gets it: `npm pack`, `npm install --omit=dev <tarball>` into an
// empty directory, then the installed `accouch` bin serves and its CLI answers. These are the Dockerfile's steps.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { freePort, root } from './support/server.js';

const work = mkdtempSync(join(tmpdir(), 'accouch-package-'));
const consumer = join(work, 'app');
const home = join(work, 'home');

/**
 * The environment of a user's shell with node 24 first on PATH (the system node may be older), an empty home,
 * none of the npm_* variables `npm test` sets, which would point the consumer's npm at this repository, and no
 * ACCOUCH_* variable of the test run (each test gives the installed server its own).
 * npm keeps using the machine's cache, so the install is fast and mostly offline.
 */
const env = {
  ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.toLowerCase().startsWith('npm_') && !name.startsWith('ACCOUCH_'))),
  PATH: `${dirname(process.execPath)}:${process.env.PATH}`,
  HOME: home,
  npm_config_cache: process.env.npm_config_cache ?? join(homedir(), '.npm'),
};

function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }) {
  const result = spawnSync(command, args, { cwd: options.cwd, env: { ...env, ...options.env }, encoding: 'utf8', timeout: 180_000 });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited ${result.status}:\n${result.stdout}\n${result.stderr}`);
  return result;
}

/** Every file under a directory with its size and mtime, to prove the server wrote nothing there. */
function snapshot(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .map((entry) => join(entry.parentPath, entry.name))
    .map((path) => `${relative(dir, path)} ${statSync(path).size} ${statSync(path).mtimeMs}`)
    .sort();
}

/** The image's HEALTHCHECK command (`node -e …`), run here against the installed server. */
function healthcheck(port: number) {
  const [instruction] = DockerfileParser.parse(readFileSync(join(root, 'Dockerfile'), 'utf8')).getHEALTHCHECKs();
  const [command, ...args] = JSON.parse(instruction!.getArgumentsContent()!.replace(/^[^[]*/, '')) as string[];
  return spawnSync(command!, args, { env: { ...env, ACCOUCH_PORT: String(port) }, timeout: 10_000 }).status;
}

let packed: { filename: string; files: { path: string }[] };
let installOutput = '';

beforeAll(() => {
  for (const dir of [consumer, home]) spawnSync('mkdir', ['-p', dir]);
  // `npm pack` runs the prepack script (the build), as `npm publish` and the Dockerfile's build stage do.
  const pack = run('npm', ['pack', '--json', '--pack-destination', work], { cwd: root });
  [packed] = JSON.parse(pack.stdout.slice(pack.stdout.indexOf('['))) as typeof packed[];
  writeFileSync(join(consumer, 'package.json'), `${JSON.stringify({ name: 'accouch-consumer', private: true })}\n`);
  const install = run('npm', ['install', '--omit=dev', '--prefer-offline', '--no-audit', '--no-fund', join(work, packed.filename)], { cwd: consumer });
  installOutput = install.stdout + install.stderr;
}, 240_000);

afterAll(() => spawnSync('rm', ['-rf', work]));

describe('npm package', () => {
  test('the tarball carries the compiled server, migrations and views, and no sources, tests or source maps', () => {
    const paths = packed.files.map((f) => f.path);
    expect(paths).toEqual(expect.arrayContaining(['package.json', 'README.md', 'dist/src/main.js', 'views/layout.eta', 'views/static/accouch.css']));
    const migrations = readdirSync(join(root, 'migrations')).filter((f) => f.endsWith('.ts')).map((f) => `dist/migrations/${f.replace(/\.ts$/, '.js')}`);
    expect(migrations.length).toBeGreaterThan(0);
    expect(paths).toEqual(expect.arrayContaining(migrations));
    const unwanted = paths.filter((p) => /^(src|test|bench|docs|migrations)\//.test(p) || p.endsWith('.ts') || p.endsWith('.map') || p.includes('config-reference'));
    expect(unwanted).toEqual([]);
  });

  test('a production install needs no build tools, runs no install script and leaves the dev dependencies out', () => {
    expect(existsSync(join(consumer, 'node_modules', '.bin', 'accouch'))).toBe(true);
    expect(existsSync(join(consumer, 'node_modules', 'better-sqlite3'))).toBe(true);
    for (const dev of ['typescript', 'vitest', 'playwright-core', 'node']) expect(existsSync(join(consumer, 'node_modules', dev)), dev).toBe(false);
    // npm 11 lists install scripts it blocked: there must be none to approve (better-sqlite3 ships prebuilds).
    expect(installOutput).not.toMatch(/install-scripts|not yet covered by allowScripts/);
  });

  test('`npx accouch serve` starts, answers /readyz and the image\'s HEALTHCHECK, renders its pages, writes only to its data dir', async () => {
    const port = await freePort();
    const dataDir = join(work, 'data');
    const issuer = `http://localhost:${port}`;
    const before = snapshot(consumer);
    const serverEnv = { ACCOUCH_ISSUER: issuer, ACCOUCH_PORT: String(port), ACCOUCH_DATA_DIR: dataDir };
    // Its own process group, so stopping it reaches node behind npx.
    const child: ChildProcess = spawn('npx', ['accouch', 'serve'], { cwd: consumer, env: { ...env, ...serverEnv }, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout!.on('data', (d) => { out += d; });
    child.stderr!.on('data', (d) => { out += d; });
    // 'close', not 'exit': npx may exit before the node process behind it, which shares the pipes, has drained.
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    try {
      let ready: Response | undefined;
      for (let i = 0; i < 400 && !ready?.ok && child.exitCode === null; i++) {
        ready = await fetch(`${issuer}/readyz`).catch(() => undefined);
        if (!ready?.ok) await new Promise((r) => setTimeout(r, 50));
      }
      expect(ready?.status, out).toBe(200);
      expect(await ready!.json()).toEqual({ status: 'ready' });

      const discovery = await (await fetch(`${issuer}/.well-known/openid-configuration`)).json() as { issuer: string; jwks_uri: string };
      expect(discovery.issuer).toBe(issuer);
      const jwks = await (await fetch(discovery.jwks_uri)).json() as { keys: unknown[] };
      expect(jwks.keys.length).toBeGreaterThan(0); // the migrations ran: keys are stored

      const link = /http:\/\/localhost:\d+\/setup\?token=\S+/.exec(out)?.[0];
      expect(link, out).toBeDefined();
      const setup = await fetch(link!);
      expect(setup.status).toBe(200);
      expect(await setup.text()).toContain('<html'); // views/ shipped and found
      expect((await fetch(`${issuer}/static/accouch.css`)).status).toBe(200);

      const cli = run('npx', ['accouch', 'setup-link'], { cwd: consumer, env: serverEnv });
      expect(cli.stdout).toMatch(new RegExp(`^${issuer}/setup\\?token=`));
      expect(healthcheck(port)).toBe(0);
    } finally {
      if (child.exitCode === null) process.kill(-child.pid!, 'SIGTERM');
      await exited;
    }
    expect(healthcheck(port)).toBe(1); // the container turns unhealthy once the server is gone
    expect(out).toContain('"msg":"stopped"'); // SIGTERM drained and closed the database
    // A read-only root filesystem is enough: nothing new in the install (and working) dir or the home dir.
    expect(snapshot(consumer)).toEqual(before);
    expect(readdirSync(home)).toEqual([]);
    expect(readdirSync(dataDir)).toContain('accouch.sqlite');
  });

  test('`npx -y accouch kubectl-credential --help` works from the installed package', () => {
    const help = run('npx', ['-y', 'accouch', 'kubectl-credential', '--help'], { cwd: consumer });
    expect(help.stdout).toContain('Usage: accouch kubectl-credential');
    expect(help.stdout).toContain('ExecCredential');
  });
});
