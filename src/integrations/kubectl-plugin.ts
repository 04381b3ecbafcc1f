// How a laptop with kubectl and Node.js, and nothing of Accouch, runs Accouch's credential plugin without resolving
// any package name: the kubeconfig's exec stanza is `node -e <loader> <url> <sha256> <plugin args>`. The loader
// (below, a few lines anyone can read in the kubeconfig) uses the cached copy of the plugin whose sha256 the
// kubeconfig names, else fetches it from Accouch (<issuer>/static/kubectl-credential.mjs, one self-contained file
// made by `npm run build`), refuses it unless its sha256 matches, caches it under ~/.kube/cache/accouch, and runs it.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { notFound } from '../errors.js';

/** Where Accouch serves the plugin, under the issuer. */
export const kubectlPluginPath = '/static/kubectl-credential.mjs';

/** The bundle `npm run build` makes: dist/kubectl-credential.mjs (from dist/src/integrations, or src/integrations in tests). */
function pluginFile(): string {
  const candidates = [join(import.meta.dirname, '..', '..', 'kubectl-credential.mjs'), join(import.meta.dirname, '..', '..', 'dist', 'kubectl-credential.mjs')];
  const found = candidates.find((path) => existsSync(path));
  if (!found) throw notFound('the kubectl credential plugin is not built (dist/kubectl-credential.mjs): run `npm run build`');
  return found;
}

/** The plugin this installation serves: its URL and sha256 (hex), which the kubeconfig pins. */
export function kubectlPlugin(issuer: string): { url: string; sha256: string } {
  return { url: `${issuer.replace(/\/$/, '')}${kubectlPluginPath}`, sha256: createHash('sha256').update(readFileSync(pluginFile())).digest('hex') };
}

/**
 * The loader kubectl runs with `node --input-type=module -e`. Arguments: the plugin's URL, its sha256, then the
 * plugin's own arguments (with --issuer-ca-data, the CA is trusted for the download too). Errors are one line on
 * stderr with exit 1, as kubectl shows them.
 */
export const kubectlPluginLoader = [
  "import{createHash}from'node:crypto';import{mkdirSync,readFileSync,renameSync,writeFileSync}from'node:fs';import{homedir}from'node:os';",
  "import{join}from'node:path';import*as tls from'node:tls';import{pathToFileURL}from'node:url';",
  'const[url,sha256,...args]=process.argv.slice(1);',
  "const fail=(m)=>{process.stderr.write(`error: ${m}\\n`);process.exit(1)};",
  "const ca=args.indexOf('--issuer-ca-data');",
  "if(ca>=0){if(!tls.setDefaultCACertificates)fail(`the issuer's CA needs Node.js 22.19 or later (this is ${process.version})`);",
  "tls.setDefaultCACertificates([...tls.getCACertificates('default'),Buffer.from(args[ca+1],'base64').toString()])}",
  "const dir=join(homedir(),'.kube','cache','accouch'),file=join(dir,`kubectl-credential-${sha256}.mjs`);",
  "const good=(b)=>createHash('sha256').update(b).digest('hex')===sha256;",
  'let code;try{code=readFileSync(file)}catch{}',
  'if(!code||!good(code)){let res;',
  'try{res=await fetch(url)}catch(e){fail(`cannot fetch the Accouch kubectl plugin from ${url}: ${e.cause?.code??e.message}`)}',
  'if(!res.ok)fail(`cannot fetch the Accouch kubectl plugin from ${url}: HTTP ${res.status}`);',
  'code=Buffer.from(await res.arrayBuffer());',
  'if(!good(code))fail(`the plugin at ${url} is not the one this kubeconfig trusts (sha256 ${sha256}): after an Accouch upgrade, print the kubeconfig again with accouch kubeconfig`);',
  'mkdirSync(dir,{recursive:true,mode:0o700});writeFileSync(`${file}.${process.pid}`,code,{mode:0o600});renameSync(`${file}.${process.pid}`,file)}',
  'process.argv=[process.argv[0],file,...args];await import(pathToFileURL(file).href);',
].join('\n');
