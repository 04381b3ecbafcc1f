// Real reverse proxies for the forward-auth tests: Debian's nginx (auth_request) and caddy (forward_auth), each
// started on a free port with the snippet `accouch app add forward-auth` prints, in front of a tiny app that
// echoes the headers it receives. Installed through apt-get when missing (as root), never skipped.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall } from '../../apt.js';

export interface Echo { port: number; close(): Promise<void> }

/** The app behind the proxy: answers every request with the method, path and headers it got, as JSON. */
export async function startEcho(): Promise<Echo> {
  const server: Server = createServer((req, res) => {
    res.writeHead(200, { 'content-type': req.url?.startsWith('/data') ? 'application/json' : 'text/html; charset=utf-8' });
    const body = JSON.stringify({ method: req.method, url: req.url, headers: req.headers });
    res.end(req.url?.startsWith('/data') ? body : `<!doctype html><title>Echo</title><pre id="echo">${body.replace(/</g, '&lt;')}</pre>`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as { port: number }).port, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export interface Proxy { port: number; stop(): Promise<void>; output(): string }

async function waitForPort(port: number, child: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`proxy exited with ${child.exitCode}:\n${output()}`);
    try {
      await fetch(`http://127.0.0.1:${port}/`, { redirect: 'manual' });
      return;
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`proxy did not start listening on ${port}:\n${output()}`);
}

function run(command: string, args: string[], port: number, env: Record<string, string> = {}): Promise<Proxy> {
  const child = spawn(command, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d) => { out += d; });
  child.stderr!.on('data', (d) => { out += d; });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return waitForPort(port, child, () => out).then(() => ({
    port,
    output: () => out,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  }));
}

/** nginx with `server` as its only server block's body, listening on 127.0.0.1:port. */
export async function startNginx(port: number, serverBody: string): Promise<Proxy> {
  if (!existsSync('/usr/sbin/nginx')) aptInstall('nginx', 'The forward-auth tests need Debian\'s nginx: run `sudo apt-get install -y nginx`.');
  const dir = mkdtempSync(join(tmpdir(), 'accouch-nginx-'));
  for (const sub of ['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi']) mkdirSync(join(dir, sub));
  writeFileSync(join(dir, 'nginx.conf'), [
    ...(process.getuid?.() === 0 ? ['user root;'] : []),
    'worker_processes 1;',
    `pid ${dir}/nginx.pid;`,
    `error_log ${dir}/error.log warn;`,
    'events { worker_connections 256; }',
    'http {',
    '  access_log off;',
    ...['body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((sub) => `  ${sub === 'body' ? 'client_body' : sub}_temp_path ${dir}/${sub};`),
    '  server {',
    `    listen 127.0.0.1:${port};`,
    serverBody.replace(/^/gm, '    '),
    '  }',
    '}',
  ].join('\n'));
  return run('/usr/sbin/nginx', ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', 'daemon off;'], port);
}

/** caddy with this Caddyfile (its own data and config dirs, no admin endpoint). */
export async function startCaddy(port: number, caddyfile: string): Promise<Proxy> {
  if (!existsSync('/usr/bin/caddy')) aptInstall('caddy', 'The forward-auth tests need Debian\'s caddy: run `sudo apt-get install -y caddy`.');
  const dir = mkdtempSync(join(tmpdir(), 'accouch-caddy-'));
  writeFileSync(join(dir, 'Caddyfile'), `{\n  admin off\n  auto_https off\n  storage file_system ${dir}/data\n}\n${caddyfile}`);
  return run('/usr/bin/caddy', ['run', '--config', join(dir, 'Caddyfile'), '--adapter', 'caddyfile'], port, { XDG_DATA_HOME: dir, XDG_CONFIG_HOME: dir, HOME: dir });
}
