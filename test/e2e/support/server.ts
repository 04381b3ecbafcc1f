// Starts the real Accouch server (dist/src/main.js) on a free port with a temp data dir, and runs its CLI. In the
// e2e-postgres project (ACCOUCH_TEST_DATABASE=postgres) the server keeps its data in a PostgreSQL database of the
// run's private server instead, one database per data dir, so a restart on the same data dir finds its data.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { expect } from 'vitest';
import { ensureDatabase } from '../../postgres/databases.js';

export const root = join(import.meta.dirname, '..', '..', '..');
export const mainJs = join(root, 'dist', 'src', 'main.js');

/**
 * Ports below the kernel's ephemeral range (32768-60999 here): a port that listen(0) or an outgoing connection
 * picks is never one of these, so a port handed out here cannot be taken by a helper server on port 0 (a test's
 * upstream, Chromium) or by a client's local end before the server it is meant for starts. Each vitest worker gets a
 * window of its own and goes round it, so no two workers, and no two calls of one, get the same port.
 */
const portWindow = 600;
const firstPort = 20_000 + ((Number(process.env.VITEST_POOL_ID ?? 1) - 1) % 20) * portWindow;
let nextOffset = Math.floor(Math.random() * portWindow);

/** Whether nothing listens on `port`, on any address (Accouch binds all of them, IPv6 and IPv4). */
function available(port: number, host = '::'): Promise<boolean> {
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (error: NodeJS.ErrnoException) => {
      if (host === '::' && (error.code === 'EAFNOSUPPORT' || error.code === 'EADDRNOTAVAIL')) resolve(available(port, '0.0.0.0'));
      else resolve(false);
    });
    probe.listen(port, host, () => probe.close(() => resolve(true)));
  });
}

export async function freePort(): Promise<number> {
  for (let tries = 0; tries < portWindow; tries += 1) {
    const port = firstPort + (nextOffset++ % portWindow);
    if (await available(port)) return port;
  }
  throw new Error(`no free port in ${firstPort}-${firstPort + portWindow - 1}`);
}

export interface CliResult { status: number | null; stdout: string; stderr: string }

export interface RunningServer {
  issuer: string;
  port: number;
  dataDir: string;
  env: Record<string, string>;
  /** Everything the process printed so far (stdout + stderr). */
  output(): string;
  /** SIGTERM; resolves with the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL, as a power cut would. */
  kill(): Promise<void>;
  /** A new process on the same data dir and port. */
  restart(): Promise<RunningServer>;
  cli(args: string[], input?: string): CliResult;
}

export function runCli(env: Record<string, string>, args: string[], input?: string): CliResult {
  const result = spawnSync(process.execPath, [mainJs, ...args], { env: { PATH: process.env.PATH!, ...env }, input, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function waitForHealth(url: string, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}:\n${output()}`);
    try {
      // Bounded: should another program hold the port and never answer, this says so instead of hanging the hook.
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`server did not become healthy:\n${output()}`);
}

/** The database engine the servers of this run use. */
export const e2eEngine = process.env.ACCOUCH_TEST_DATABASE === 'postgres' ? 'PostgreSQL' : 'SQLite';

/**
 * Defines tests that run in the SQLite e2e run only: about configuration, CLI arguments, the HTTP layer, signing
 * algorithms or SQLite files, where the database engine changes nothing (or, for backup, means another tool).
 * In the PostgreSQL run they are not defined at all, rather than reported as skipped.
 */
export function sqliteOnly(define: () => void): void {
  if (e2eEngine === 'SQLite') define();
}

/**
 * On PostgreSQL: the database of a data dir (created empty the first time; the server migrates it) and the
 * secret key every replica must share, derived from the data dir so a restart gets the same one.
 */
export async function databaseEnv(dataDir: string): Promise<Record<string, string>> {
  if (e2eEngine !== 'PostgreSQL') return {};
  return {
    ACCOUCH_DATABASE_URL: await ensureDatabase(basename(dataDir)),
    ACCOUCH_SECRET_KEY: createHash('sha256').update(`e2e secret key of ${dataDir}`).digest('base64url'),
  };
}

export async function startServer(options: { dataDir?: string; port?: number; env?: Record<string, string>; issuer?: string; engine?: 'SQLite' } = {}): Promise<RunningServer> {
  const port = options.port ?? (await freePort());
  const dataDir = options.dataDir ?? mkdtempSync(join(tmpdir(), 'accouch-e2e-'));
  const issuer = options.issuer ?? `http://localhost:${port}`;
  const env: Record<string, string> = {
    ACCOUCH_ISSUER: issuer,
    ACCOUCH_PORT: String(port),
    ACCOUCH_DATA_DIR: dataDir,
    ACCOUCH_LOG_LEVEL: 'info',
    // The tests' CLI calls block this process (spawnSync, up to 30 s under load): an idle connection to the server
    // must outlive them, or fetch reuses a socket the server has just closed ("other side closed").
    ACCOUCH_TIMEOUTS_KEEP_ALIVE: '60',
    ...(options.env?.ACCOUCH_DATABASE_URL || options.engine === 'SQLite' ? {} : await databaseEnv(dataDir)),
    ...options.env,
  };
  const child = spawn(process.execPath, [mainJs, 'serve'], { env: { PATH: process.env.PATH!, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  let stopping = false;
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code, signal) => {
    // A server that dies on its own fails some later request with a bare "fetch failed": say why, here.
    if (!stopping) console.error(`accouch server on port ${port} exited by itself (${signal ?? code}); its output:\n${out}`);
    resolve(code);
  }));
  await waitForHealth(`http://localhost:${port}`, child, () => out);

  const server: RunningServer = {
    issuer,
    port,
    dataDir,
    env,
    output: () => out,
    async stop() {
      stopping = true;
      if (child.exitCode === null) child.kill('SIGTERM');
      return exited;
    },
    async kill() {
      stopping = true;
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    async restart() {
      await server.stop();
      return startServer({ dataDir, port, env: options.env, issuer });
    },
    cli: (args, input) => runCli(env, args, input),
  };
  return server;
}

/** Stops the server and checks it went well: exit code 0, and no server error or error-level line in its log. */
export async function stopCleanly(server: RunningServer): Promise<void> {
  expect(await server.stop()).toBe(0);
  expect(server.output()).not.toMatch(/server error|"level":50/);
}

/**
 * Where the tests save screenshots: test-results/screenshots (ignored by git) on every run, or the README's
 * docs/screenshots when ACCOUCH_UPDATE_SCREENSHOTS=1 (then commit them).
 */
export const screenshotDir = process.env.ACCOUCH_UPDATE_SCREENSHOTS === '1'
  ? join(root, 'docs', 'screenshots')
  : join(root, 'test-results', 'screenshots');

/** Waits until `check` holds (the server's output arrives through a pipe, a little later), 30 s at most. */
export async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 30_000;
  while (!check()) {
    expect(Date.now(), `waiting for ${what}`).toBeLessThan(deadline);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The server's JSON log lines so far. */
export const logLines = (server: RunningServer) => server.output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
