// A real SMTP server for the tests: Debian's python3-aiosmtpd, STARTTLS required when given a certificate,
// writing each message into a Maildir the test reads.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall } from '../../apt.js';
import { freePort } from './server.js';

const instruction = 'The email tests need Debian\'s aiosmtpd: run `sudo apt-get install -y python3-aiosmtpd` and try again.';

export interface MailServer {
  port: number;
  /** Every message received so far, raw (headers and body). */
  messages(): string[];
  waitFor(predicate: (raw: string) => boolean, what: string, timeoutMs?: number): Promise<string>;
  close(): Promise<void>;
}

export async function startMailServer(tls?: { certFile: string; keyFile: string }): Promise<MailServer> {
  if (!existsSync('/usr/lib/python3/dist-packages/aiosmtpd')) aptInstall('python3-aiosmtpd', instruction);
  const port = await freePort();
  const maildir = join(mkdtempSync(join(tmpdir(), 'accouch-mail-')), 'Maildir');
  const args = ['-m', 'aiosmtpd', '-n', '-l', `127.0.0.1:${port}`, ...(tls ? ['--tlscert', tls.certFile, '--tlskey', tls.keyFile] : []), '-c', 'aiosmtpd.handlers.Mailbox', maildir];
  const child: ChildProcess = spawn('/usr/bin/python3', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`aiosmtpd exited: ${out}`);
    const up = await new Promise<boolean>((resolve) => connect(port, '127.0.0.1').once('connect', function (this: import('node:net').Socket) { this.destroy(); resolve(true); }).once('error', () => resolve(false)));
    if (up) break;
    if (Date.now() > deadline) throw new Error(`aiosmtpd did not listen: ${out}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const messages = () => {
    const dir = join(maildir, 'new');
    if (!existsSync(dir)) return [];
    return readdirSync(dir).sort().map((name) => readFileSync(join(dir, name), 'utf8'));
  };
  return {
    port,
    messages,
    async waitFor(predicate, what, timeoutMs = 30_000) {
      const until = Date.now() + timeoutMs;
      for (;;) {
        const found = messages().find(predicate);
        if (found) return found;
        if (Date.now() > until) throw new Error(`no mail: ${what}; got ${messages().length} messages; aiosmtpd said: ${out}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    async close() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await new Promise((r) => child.once('exit', r));
      }
    },
  };
}
