// Debian's nginx, started by a test with its own configuration in a temp directory (no system files touched): the
// TLS ingress in front of Accouch (an https issuer with a private CA, as a home cluster has it) and the auth_request
// front of oauth2-proxy. Installed with apt-get when missing and we are root, else the one-line instruction.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aptInstall } from '../../apt.js';

const nginxPath = '/usr/sbin/nginx';
const instruction = 'This test needs Debian\'s nginx: run `sudo apt-get install -y nginx` and try again.';

export function ensureNginx(): string {
  if (!existsSync(nginxPath)) aptInstall('nginx', instruction);
  if (!existsSync(nginxPath)) throw new Error(instruction);
  return nginxPath;
}

export interface Nginx {
  /** nginx's error log so far (for failure messages). */
  errors(): string;
  close(): Promise<void>;
}

/** Resolves once something accepts connections on 127.0.0.1:port; rejects if `child` exits first. */
async function waitForPort(port: number, child: ChildProcess, why: () => string): Promise<void> {
  let exited = false;
  child.once('exit', () => { exited = true; });
  for (;;) {
    if (exited) throw new Error(`nginx exited before listening on ${port}:\n${why()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1');
      socket.once('connect', () => { socket.destroy(); resolve(true); });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Runs nginx in the foreground with `servers` (server { } blocks) inside an http { } block; waits for `port`. */
export async function startNginx(servers: string, port: number): Promise<Nginx> {
  const nginx = ensureNginx();
  const dir = mkdtempSync(join(tmpdir(), 'accouch-nginx-'));
  const errorLog = join(dir, 'error.log');
  writeFileSync(join(dir, 'nginx.conf'), `
daemon off;
worker_processes 1;
pid ${dir}/nginx.pid;
error_log ${errorLog} info;
events { worker_connections 256; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  proxy_buffer_size 16k;
  proxy_buffers 8 16k;
${servers}
}
`);
  writeFileSync(errorLog, '');
  const child = spawn(nginx, ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', errorLog], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const errors = () => `${stderr}${readFileSync(errorLog, 'utf8')}`;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  await waitForPort(port, child, errors);
  return {
    errors,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGQUIT');
      await exited;
    },
  };
}

/** A TLS-terminating reverse proxy on 127.0.0.1:port (certificate for 127.0.0.1 and localhost) to an http upstream. */
export function tlsProxyServer({ port, upstream, certFile, keyFile }: { port: number; upstream: string; certFile: string; keyFile: string }): string {
  return `
  server {
    listen 127.0.0.1:${port} ssl;
    server_name localhost;
    ssl_certificate ${certFile};
    ssl_certificate_key ${keyFile};
    location / {
      proxy_pass ${upstream};
      proxy_set_header Host $http_host;
      proxy_set_header X-Forwarded-Proto https;
      proxy_set_header X-Forwarded-For $remote_addr;
    }
  }`;
}
