// kube-apiserver's authentication for the kubectl tests: the Go harness test/go/apiserver built against
// k8s.io/apiserver (test/go-peers.ts builds it), a private CA and certificates made here by Debian's openssl, and
// Debian's kubectl.
import { execFileSync, spawn } from 'node:child_process';
import type { Certificates } from './tls.js';
import { existsSync, readFileSync } from 'node:fs';
import { request } from 'node:https';
import { createInterface } from 'node:readline';
import { ensurePeer } from '../../go-peers.js';

const kubectlInstruction = 'The kubectl test needs kubectl 1.22 or later (exec credentials v1): run `sudo apt-get install -y kubectl` '
  + '(Debian\'s own kubernetes-client package is 1.20, too old) and try again.';

/** kubectl on PATH, installed with apt-get when missing and we are root; never a silent skip. */
export function ensureKubectl(): string {
  const found = () => ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((path) => existsSync(path));
  if (!found() && process.getuid?.() === 0 && existsSync('/usr/bin/apt-get')) {
    console.log('kubectl is missing: installing it with apt-get (one time)...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    try {
      execFileSync('apt-get', ['install', '-y', '-qq', 'kubectl'], { stdio: 'inherit', env });
    } catch (error) {
      throw new Error(`${kubectlInstruction}\n(apt-get install kubectl failed: ${(error as Error).message})`);
    }
  }
  const kubectl = found();
  if (!kubectl) throw new Error(kubectlInstruction);
  const version = JSON.parse(execFileSync(kubectl, ['version', '--client', '-o', 'json'], { encoding: 'utf8' })) as { clientVersion: { minor: string } };
  if (Number.parseInt(version.clientVersion.minor, 10) < 22) throw new Error(kubectlInstruction);
  return kubectl;
}

export { makeCertificates, type Certificates } from './tls.js';

export interface ApiserverRequest {
  path: string;
  /** The user the authenticator made of the token: username, groups (system:authenticated included). */
  user?: { username: string; groups: string[] };
  /** Why the authenticator refused the token, in k8s.io/apiserver's words. */
  refused?: string;
}

export interface Apiserver {
  url: string;
  caFile: string;
  requests: ApiserverRequest[];
  /** What the harness printed on stderr (its logs). */
  output(): string;
  close(): Promise<void>;
}

/**
 * test/go/apiserver: kube-apiserver's own AuthenticationConfiguration loader and validation and its JWT
 * authenticator (k8s.io/apiserver), serving `kubectl get namespaces` and `kubectl auth whoami` over TLS with the
 * given certificate. Resolves once the authenticator has the issuer's keys; rejects with the harness's stderr if it
 * refuses the configuration (as kube-apiserver would refuse to start).
 */
export async function startApiserver({ authenticationConfig, certificates }: { authenticationConfig: string; certificates: Certificates }): Promise<Apiserver> {
  const child = spawn(ensurePeer('apiserver'), [
    '--authentication-config', authenticationConfig, '--tls-cert-file', certificates.certFile, '--tls-private-key-file', certificates.keyFile,
  ], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const requests: ApiserverRequest[] = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const event = JSON.parse(line) as { ready?: string; path?: string; user?: string; groups?: string[]; refused?: string };
      if (event.ready) return resolve(event.ready);
      requests.push({ path: event.path!, ...(event.user !== undefined ? { user: { username: event.user, groups: event.groups ?? [] } } : { refused: event.refused }) });
    });
    void exited.then((code) => reject(new Error(`the apiserver harness exited (${code}):\n${stderr}`)));
  });
  return {
    url,
    caFile: certificates.caFile,
    requests,
    output: () => stderr,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

/** GET with a bearer token over TLS trusting only our CA, as a client of the API server. */
export function getWithToken(url: string, token: string, caFile: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(caFile), headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.once('error', reject).end();
  });
}
