// The real programs the e2e tests run against, built from the Go module proxy at pinned versions into a cache outside
// the repository (never committed): oauth2-proxy, kubelogin, and this repository's two Go harnesses under test/go
// (k8s.io/apiserver's JWT authenticator; goth's openidConnect provider as Gitea uses it). A binary already in the
// cache is used as it is; Go's own build cache makes a rebuild after a harness change quick.
//
// Used by the e2e global setup, and by .ci/run before the tests (`node test/go-peers.ts`). Without Go: installed with
// apt-get when running as root on Debian (the go command then fetches the toolchain go.mod asks for from the module
// proxy), otherwise the one-line instruction. Self-contained (no imports of the project) so plain node runs it.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, relative } from 'node:path';

const goDir = join(import.meta.dirname, 'go');
export const peerCache = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'accouch-test-tools');

interface Peer {
  /** What the directory in the cache is named after: the pinned version, or a hash of the harness sources. */
  version: () => string;
  binary: string;
  /** go arguments that build it to the given output path (or into GOBIN), and the directory to run them in. */
  build: (out: string) => { cwd: string; args: string[]; gobin?: boolean };
}

/** Hash of every file of test/go except the separate kubelogin module: a harness change gets a new build. */
function harnessVersion(): string {
  const hash = createHash('sha256');
  const walk = (dir: string) => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (name === 'kubelogin') continue;
      if (statSync(path).isDirectory()) walk(path);
      else hash.update(relative(goDir, path)).update('\0').update(readFileSync(path)).update('\0');
    }
  };
  walk(goDir);
  return hash.digest('hex').slice(0, 16);
}

export const peers = {
  /** oauth2-proxy, the release the oauth2-proxy preset is written for. */
  'oauth2-proxy': {
    version: () => 'v7.15.6',
    binary: 'oauth2-proxy',
    // Its own go.mod decides every dependency, as in its release build.
    build: () => ({ cwd: goDir, args: ['install', 'github.com/oauth2-proxy/oauth2-proxy/v7@v7.15.6'], gobin: true }),
  },
  /** kubelogin as kubectl's oidc-login plugin (the binary name kubectl looks for), pinned in test/go/kubelogin/go.mod. */
  kubelogin: {
    version: () => 'v1.35.2',
    binary: 'kubectl-oidc_login',
    build: (out) => ({ cwd: join(goDir, 'kubelogin'), args: ['build', '-o', out, 'github.com/int128/kubelogin'] }),
  },
  /** test/go/apiserver: kube-apiserver's AuthenticationConfiguration loading and JWT authenticator (k8s.io/apiserver). */
  apiserver: {
    version: harnessVersion,
    binary: 'apiserver',
    build: (out) => ({ cwd: goDir, args: ['build', '-o', out, './apiserver'] }),
  },
  /** test/go/gitea-goth: Gitea's OpenID Connect source on github.com/markbates/goth. */
  'gitea-goth': {
    version: harnessVersion,
    binary: 'gitea-goth',
    build: (out) => ({ cwd: goDir, args: ['build', '-o', out, './gitea-goth'] }),
  },
} satisfies Record<string, Peer>;
export type PeerName = keyof typeof peers;

const goInstruction = 'The e2e tests build oauth2-proxy, kubelogin and two Go harnesses: Go is missing. Run  sudo apt-get update && sudo apt-get install -y golang-go';

function ensureGo(): string {
  const find = () => [process.env.GOROOT && join(process.env.GOROOT, 'bin', 'go'), '/usr/local/go/bin/go', '/usr/bin/go', '/usr/lib/go/bin/go']
    .find((path): path is string => !!path && existsSync(path));
  const onPath = () => {
    try {
      return execFileSync('sh', ['-c', 'command -v go'], { encoding: 'utf8' }).trim() || undefined;
    } catch {
      return undefined; // not on PATH: look in the usual places, else install
    }
  };
  let go = onPath() ?? find();
  if (!go) {
    if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) throw new Error(goInstruction);
    console.log('Go is missing: installing golang-go with apt-get (one time)...');
    const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
    execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
    execFileSync('apt-get', ['install', '-y', '-qq', 'golang-go'], { stdio: 'inherit', env });
    go = onPath() ?? find();
    if (!go) throw new Error(goInstruction);
  }
  return go;
}

/** The path of a peer's binary, built into the cache first when it is not there. */
export function ensurePeer(name: PeerName): string {
  const peer: Peer = peers[name];
  const dir = join(peerCache, `${name}-${peer.version()}`);
  const binary = join(dir, peer.binary);
  if (existsSync(binary)) return binary;
  const go = ensureGo();
  mkdirSync(dir, { recursive: true });
  const partial = `${binary}.partial-${process.pid}`;
  const { cwd, args, gobin } = peer.build(partial);
  console.log(`building ${name} ${peer.version()} with Go (one time, cached in ${dir})...`);
  const started = Date.now();
  // Versions come from the committed go.mod/go.sum (oauth2-proxy@version: from its own go.mod). GOTOOLCHAIN=auto
  // fetches a newer Go from the module proxy if a go.mod asks for one.
  execFileSync('nice', [go, ...args], {
    cwd, stdio: 'inherit', env: { ...process.env, GOTOOLCHAIN: process.env.GOTOOLCHAIN ?? 'auto', GOFLAGS: '-buildvcs=false', ...(gobin ? { GOBIN: dir } : {}) },
  });
  if (!gobin) renameSync(partial, binary);
  console.log(`built ${name} in ${Math.round((Date.now() - started) / 1000)} s`);
  return binary;
}

/** Every peer: what the e2e global setup and .ci/run call. */
export function ensurePeers(): Record<PeerName, string> {
  return Object.fromEntries((Object.keys(peers) as PeerName[]).map((name) => [name, ensurePeer(name)])) as Record<PeerName, string>;
}

if (process.argv[1] && import.meta.filename === process.argv[1]) {
  for (const [name, path] of Object.entries(ensurePeers())) console.log(`${name}: ${path}`);
}
