// A throwaway PostgreSQL server for Ory Hydra: Debian's binaries, data on tmpfs with fsync off (nothing waits on
// a disk, as with DSN=memory), reachable only through a unix socket in its own directory. As root, initdb and
// postgres run as the `postgres` account (they refuse root).
import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';

function binDir() {
  const root = '/usr/lib/postgresql';
  const versions = existsSync(root) ? readdirSync(root).filter((v) => /^\d+$/.test(v)).sort((a, b) => b - a) : [];
  const dir = versions.map((v) => join(root, v, 'bin')).find((d) => existsSync(join(d, 'pg_ctl')));
  if (!dir) throw new Error('PostgreSQL is missing (Hydra runs on it in the bench): apt-get install postgresql');
  return dir;
}

/** Starts the server; `dsn` is Hydra's connection string to it, `stop()` ends it and deletes its data. */
export function startPostgresForHydra() {
  const bin = binDir();
  const asPostgres = process.getuid?.() === 0;
  const dir = mkdtempSync(join(existsSync('/dev/shm') ? '/dev/shm' : '/tmp', 'bench-pg-'));
  const data = join(dir, 'data');
  if (asPostgres) {
    const entry = readFileSync('/etc/passwd', 'utf8').split('\n').map((l) => l.split(':')).find((f) => f[0] === 'postgres');
    if (!entry) throw new Error('running as root without a `postgres` account to run PostgreSQL as');
    chownSync(dir, Number(entry[2]), Number(entry[3]));
  }
  const pg = (tool, args) => execFileSync(asPostgres ? 'runuser' : join(bin, tool), asPostgres ? ['-u', 'postgres', '--', join(bin, tool), ...args] : args, { stdio: ['ignore', 'pipe', 'pipe'], cwd: dir });
  try {
    pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '--encoding=UTF8', '--locale=C', '--no-instructions']);
    const options = `-k ${dir} -c listen_addresses= -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=100`;
    pg('pg_ctl', ['start', '-w', '-t', '60', '-D', data, '-l', join(dir, 'server.log'), '-o', options]);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`could not start PostgreSQL for Hydra: ${String(error.stderr ?? error.message).trim().slice(-300)}`);
  }
  const postmaster = Number(readFileSync(join(data, 'postmaster.pid'), 'utf8').split('\n')[0]);
  return {
    /** The server's processes: the postmaster and its children (a backend per connection, the background workers). */
    pids() {
      const children = readdirSync('/proc').filter((p) => /^\d+$/.test(p)).filter((p) => {
        try {
          return Number(readFileSync(`/proc/${p}/stat`, 'utf8').split(') ')[1].split(' ')[1]) === postmaster;
        } catch {
          return false; // ended meanwhile
        }
      });
      return [postmaster, ...children.map(Number)];
    },
    dsn: `postgres://postgres@/postgres?host=${encodeURIComponent(dir)}&sslmode=disable`,
    stop() {
      try {
        pg('pg_ctl', ['stop', '-D', data, '-m', 'fast', '-w']);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  };
}
