// A stand-in for kube-apiserver: HTTPS with a certificate made here by Debian's openssl, a few read-only routes,
// and the bearer-token checks kube-apiserver's OIDC authenticator makes (signature against the issuer's discovery
// JWKS, iss, aud, exp, RS256, username and groups claims), with the `accouch:` prefixes. Also Debian's kubectl.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, request, type Server } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

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

export interface Certificates { dir: string; caFile: string; certFile: string; keyFile: string }

/** A CA and a server certificate for 127.0.0.1 and localhost, signed by it (P-256, valid for a day). */
export function makeCertificates(): Certificates {
  if (!existsSync('/usr/bin/openssl')) throw new Error('The kubectl test needs openssl: run `sudo apt-get install -y openssl`.');
  const dir = mkdtempSync(join(tmpdir(), 'accouch-tls-'));
  const at = (name: string) => join(dir, name);
  const openssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'];
  openssl('req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '1', '-subj', '/CN=Accouch test cluster CA',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign');
  openssl('req', ...ec, '-keyout', 'server.key', '-out', 'server.csr', '-subj', '/CN=kube-apiserver');
  writeFileSync(at('server.ext'), 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n');
  openssl('x509', '-req', '-in', 'server.csr', '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', 'server.crt', '-days', '1', '-extfile', 'server.ext');
  return { dir, caFile: at('ca.crt'), certFile: at('server.crt'), keyFile: at('server.key') };
}

export interface ApiserverUser { username: string; groups: string[] }

export interface Authenticator {
  /** The user a bearer token stands for, or throws why kube-apiserver would refuse it. */
  authenticate(token: string): Promise<ApiserverUser>;
}

/**
 * kube-apiserver's OIDC checks, configured as `accouch integrate kube-apiserver` prints them: the JWKS from the
 * issuer's discovery document, iss, aud containing the client id, exp (and nbf), RS256 only, preferred_username
 * present, groups a list of strings; both prefixed with accouch:.
 */
export function createAuthenticator({ issuer, clientId }: { issuer: string; clientId: string }): Authenticator {
  let jwks: ReturnType<typeof createRemoteJWKSet> | undefined;
  const keys = async () => {
    if (jwks) return jwks;
    const discovery = await (await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`)).json() as { issuer: string; jwks_uri: string };
    if (discovery.issuer !== issuer) throw new Error(`discovery names issuer ${discovery.issuer}, not ${issuer}`);
    jwks = createRemoteJWKSet(new URL(discovery.jwks_uri));
    return jwks;
  };
  return {
    async authenticate(token) {
      const { payload } = await jwtVerify(token, await keys(), { issuer, audience: clientId, algorithms: ['RS256'], requiredClaims: ['exp'] });
      const username = (payload as JWTPayload & { preferred_username?: unknown }).preferred_username;
      if (typeof username !== 'string' || !username) throw new Error('claim preferred_username missing or not a string');
      const groups = (payload as JWTPayload & { groups?: unknown }).groups ?? [];
      if (!Array.isArray(groups) || !groups.every((g) => typeof g === 'string')) throw new Error('claim groups is not a list of strings');
      return { username: `accouch:${username}`, groups: [...groups.map((g) => `accouch:${g}`), 'system:authenticated'] };
    },
  };
}

export interface FakeApiserver {
  url: string;
  caFile: string;
  /** Every request: path, and the user it authenticated as, or why it was refused. */
  requests: Array<{ path: string; user?: ApiserverUser; refused?: string }>;
  close(): Promise<void>;
}

const namespaces = ['default', 'kube-system', 'accouch-home'];

/** The few routes `kubectl get namespaces` needs: version, core API discovery, and the namespace list. */
function route(path: string): unknown {
  switch (path) {
    case '/version':
      return { major: '1', minor: '34', gitVersion: 'v1.34.0-accouch-fake', platform: 'linux/amd64' };
    case '/api':
      return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1:6443' }] };
    case '/apis':
      return { kind: 'APIGroupList', apiVersion: 'v1', groups: [] };
    case '/api/v1':
      return {
        kind: 'APIResourceList', groupVersion: 'v1',
        resources: [{ name: 'namespaces', singularName: 'namespace', namespaced: false, kind: 'Namespace', verbs: ['get', 'list'], shortNames: ['ns'] }],
      };
    case '/api/v1/namespaces':
      return {
        kind: 'NamespaceList', apiVersion: 'v1', metadata: { resourceVersion: '1' },
        items: namespaces.map((name, i) => ({
          metadata: { name, uid: `00000000-0000-0000-0000-00000000000${i}`, resourceVersion: '1', creationTimestamp: '2026-01-01T00:00:00Z' },
          spec: { finalizers: ['kubernetes'] },
          status: { phase: 'Active' },
        })),
      };
    default:
      return undefined;
  }
}

export async function startFakeApiserver({ issuer, clientId, certificates = makeCertificates() }: { issuer: string; clientId: string; certificates?: Certificates }): Promise<FakeApiserver> {
  const authenticator = createAuthenticator({ issuer, clientId });
  const requests: FakeApiserver['requests'] = [];
  const json = (res: import('node:http').ServerResponse, status: number, body: unknown) =>
    res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  const server: Server = createServer({ cert: readFileSync(certificates.certFile), key: readFileSync(certificates.keyFile) }, async (req, res) => {
    const path = new URL(req.url ?? '/', 'https://127.0.0.1').pathname;
    const token = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1];
    try {
      if (!token) throw new Error('no bearer token');
      const user = await authenticator.authenticate(token);
      requests.push({ path, user });
    } catch (error) {
      requests.push({ path, refused: (error as Error).message });
      return json(res, 401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    const body = req.method === 'GET' ? route(path) : undefined;
    if (body === undefined) {
      return json(res, 404, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'the server could not find the requested resource', reason: 'NotFound', code: 404 });
    }
    return json(res, 200, body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `https://127.0.0.1:${port}`,
    caFile: certificates.caFile,
    requests,
    close: () => new Promise((resolve) => {
      server.closeAllConnections();
      server.close(() => resolve());
    }),
  };
}

/** GET with a bearer token over TLS trusting only our CA, as a client of the fake API server. */
export function getWithToken(url: string, token: string, caFile: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: readFileSync(caFile), headers: { authorization: `Bearer ${token}` } }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (d: string) => { body += d; }).on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.once('error', reject).end();
  });
}
