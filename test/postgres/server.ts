// A private PostgreSQL server for one test run: Debian's binaries (installed through apt-get when missing and we
// are root, otherwise a one-line instruction, never a silent skip), data in a temp dir, reachable only through a
// unix socket in that dir. initdb and postgres refuse to run as root: as root they run as the `postgres` user.
import { execFileSync, type ExecFileSyncOptions } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { aptInstall } from '../apt.js';

const instruction = 'Tests on PostgreSQL need Debian\'s PostgreSQL server: run `sudo apt-get install -y postgresql` and try again.';

/** The directory holding initdb, pg_ctl and postgres: PATH first, then Debian's /usr/lib/postgresql/<version>/bin. */
function findBinDir(): string | undefined {
  const onPath = (process.env.PATH ?? '').split(delimiter).filter(Boolean)
    .filter((dir) => existsSync(join(dir, 'initdb')) && existsSync(join(dir, 'pg_ctl')));
  if (onPath.length) return onPath[0];
  const debian = '/usr/lib/postgresql';
  if (!existsSync(debian)) return undefined;
  const versions = readdirSync(debian).filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
  return versions.map((v) => join(debian, v, 'bin')).find((dir) => existsSync(join(dir, 'initdb')));
}

function ensureBinDir(): string {
  const found = findBinDir();
  if (found) return found;
  aptInstall('postgresql', instruction);
  return findBinDir() ?? (() => { throw new Error(instruction); })();
}

/** The unprivileged account the server runs as when we are root: Debian's `postgres`, else `nobody`. */
function serviceAccount(): { name: string; uid: number; gid: number } | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const passwd = readFileSync('/etc/passwd', 'utf8').split('\n').map((line) => line.split(':'));
  const entry = passwd.find((f) => f[0] === 'postgres') ?? passwd.find((f) => f[0] === 'nobody');
  if (!entry) throw new Error('running as root, and neither a `postgres` nor a `nobody` user exists to run PostgreSQL as');
  return { name: entry[0]!, uid: Number(entry[2]), gid: Number(entry[3]) };
}

export interface PostgresServer {
  /** Connection URL of a database on this server (over the unix socket, no password: trust on a private socket). */
  urlOf(database: string): string;
  stop(): void;
}

/** Starts a fresh server; stop() shuts it down and deletes its data. */
export function startPostgres(): PostgresServer {
  const bin = ensureBinDir();
  const account = serviceAccount();
  const dir = mkdtempSync(join(tmpdir(), 'accouch-pg-'));
  const data = join(dir, 'data');
  if (account) chownSync(dir, account.uid, account.gid);
  chmodSync(dir, 0o755);
  const run = (tool: string, args: string[], options: ExecFileSyncOptions = {}) => {
    const [file, argv] = account ? ['runuser', ['-u', account.name, '--', join(bin, tool), ...args]] : [join(bin, tool), args];
    return execFileSync(file, argv, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir, ...options });
  };
  const user = 'postgres';
  try {
    run('initdb', ['-D', data, '-U', user, '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions']);
    // Throwaway data: no fsync. Only the socket in our own temp dir, no TCP port.
    const options = `-k ${dir} -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200`;
    run('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', join(dir, 'server.log'), '-o', options]);
  } catch (error) {
    const log = existsSync(join(dir, 'server.log')) ? readFileSync(join(dir, 'server.log'), 'utf8') : '';
    const stderr = (error as { stderr?: Buffer }).stderr?.toString() ?? '';
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start a private PostgreSQL server with ${bin}: ${stderr}${log}`, { cause: error });
  }
  return {
    urlOf: (database) => `postgres://${user}@localhost/${encodeURIComponent(database)}?host=${encodeURIComponent(dir)}`,
    stop() {
      try {
        run('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
