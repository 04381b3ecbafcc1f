// Part of `npm run build`: bundles the kubectl credential plugin (src/integrations/kube-credential-main.ts) and its
// dependencies (openid-client, proper-lockfile) into one file, dist/kubectl-credential.mjs, that Accouch serves
// and kubeconfigs pin by sha256. Rolldown is the bundler vite (vitest's) already brings.
import { rolldown } from 'rolldown';
import { chmodSync } from 'node:fs';
import { join } from 'node:path';

const root = join(import.meta.dirname, '..');
const bundle = await rolldown({
  input: join(root, 'src', 'integrations', 'kube-credential-main.ts'),
  platform: 'node',
  logLevel: 'warn',
});
const file = join(root, 'dist', 'kubectl-credential.mjs');
await bundle.write({ file, format: 'esm', banner: '#!/usr/bin/env node', minify: false, codeSplitting: false });
await bundle.close();
chmodSync(file, 0o755);
