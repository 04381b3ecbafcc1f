// A private CA and a server certificate made by Debian's openssl, for the tests' TLS peers (kube-apiserver's
// authenticator harness, the Kubernetes API stand-in).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface Certificates { dir: string; caFile: string; certFile: string; keyFile: string }

/** A CA and a server certificate for 127.0.0.1 and localhost, signed by it (P-256, valid for a day). */
export function makeCertificates(): Certificates {
  if (!existsSync('/usr/bin/openssl')) throw new Error('The TLS tests need openssl: run `sudo apt-get install -y openssl`.');
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
