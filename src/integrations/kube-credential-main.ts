// The kubectl credential plugin as one self-contained file: `npm run build` bundles this entry with its
// dependencies into dist/kubectl-credential.mjs, which Accouch serves at <issuer>/static/kubectl-credential.mjs and
// which the kubeconfig `accouch kubeconfig` writes fetches once, checks against its sha256 and caches (see
// kubectl-plugin.ts). It runs on a laptop with Node.js and nothing of Accouch: no database, no configuration.
import { parseArgs } from 'node:util';
import { defaultCacheDir } from './kube-credential-cache.js';
import { getKubectlCredential, trustIssuerCa } from './kube-credential.js';

const note = (line: string) => process.stderr.write(`${line}\n`);

try {
  const { values } = parseArgs({
    args: process.argv.slice(2), // [node, this file, ...]: also when the kubeconfig's loader (node -e) runs it
    options: {
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      device: { type: 'boolean', default: false },
      'no-browser': { type: 'boolean', default: false },
      'cache-dir': { type: 'string' },
      'issuer-ca-data': { type: 'string' },
    },
    strict: true,
  });
  if (!values.issuer || !values['client-id']) throw new Error('--issuer and --client-id are required');
  if (values['issuer-ca-data']) trustIssuerCa(Buffer.from(values['issuer-ca-data'], 'base64').toString('utf8'));
  const credential = await getKubectlCredential({
    issuer: values.issuer,
    clientId: values['client-id'],
    device: values.device,
    open: !values['no-browser'],
    cacheDir: values['cache-dir'] ?? defaultCacheDir(),
    note,
  });
  process.stdout.write(`${JSON.stringify(credential)}\n`);
} catch (error) {
  note(`error: ${error instanceof Error ? error.message : String(error)}`);
  process.exitCode = 1;
}
