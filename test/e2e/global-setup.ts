// Builds the server once for every e2e run (tests run the compiled dist/ like `npm start` does) and makes
// sure Debian's Chromium and the Go peers (test/go-peers.ts) are there for the tests that run them.
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { ensurePeers } from '../go-peers.js';
import { ensureChromium } from './support/chromium.js';

export default function setup(): void {
  const root = join(import.meta.dirname, '..', '..');
  // e2e and e2e-postgres both list this setup; one build per vitest run is enough. (Not an ACCOUCH_ name: the
  // package test hands its environment to a real install, which refuses unknown ACCOUCH_ variables.)
  if (process.env.E2E_DIST_BUILT === '1') return;
  execFileSync(process.execPath, [join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(root, 'tsconfig.json')], { stdio: 'inherit', cwd: root });
  // As npm run build: the kubectl plugin, then the server bundle that every start runs (what ships is what is tested).
  for (const script of ['bundle-kubectl-plugin.mjs', 'bundle-server.mjs']) execFileSync(process.execPath, [join(root, 'scripts', script)], { stdio: 'inherit', cwd: root });

  ensureChromium();
  ensurePeers(); // the real Go programs (oauth2-proxy, kubelogin, the k8s.io/apiserver and goth harnesses), cached
  process.env.E2E_DIST_BUILT = '1';
}
