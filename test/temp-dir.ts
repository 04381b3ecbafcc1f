// vitest globalSetup of the e2e projects: one temporary directory for the whole run, removed at its end. Servers'
// data dirs, Chromium profiles, nginx and Caddy configs, the CLI's files, PostgreSQL's: everything the tests and
// the programs they start make in the system's temporary directory goes there (TMPDIR, which os.tmpdir(), Go and
// the others read), so a run leaves nothing behind, not even from a test that kept its files to be looked at.
import { chmodSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export default function setup(): void {
  if (process.env.E2E_RUN_TMPDIR) return; // e2e and e2e-postgres both list this setup
  const dir = mkdtempSync(join(tmpdir(), 'accouch-test-run-'));
  // PostgreSQL runs as the `postgres` user when the tests run as root: it must reach its own (0700) directory inside.
  chmodSync(dir, 0o755);
  process.env.E2E_RUN_TMPDIR = dir;
  process.env.TMPDIR = dir; // the test workers and every process they start inherit it
  // Removed when vitest exits, after every project's teardown: a PostgreSQL server a later teardown stops lives in it.
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
}
