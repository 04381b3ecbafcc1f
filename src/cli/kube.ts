// `accouch kubeconfig`, `accouch kubectl-credential` and `accouch integrate kube-apiserver`: kubectl signs in
// through Accouch. kubectl-credential runs on every kubectl call, on a laptop without the server's database or
// configuration: this file loads the configuration and the store only inside the commands that need them.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import type { Command } from 'commander';
import { badRequest } from '../errors.js';
import { defaultCacheDir } from '../integrations/kube-credential-cache.js';
import { getKubectlCredential } from '../integrations/kube-credential.js';

interface KubeconfigOptions {
  server: string;
  certificateAuthority?: string;
  name: string;
  plugin: string;
  device?: boolean;
}

interface CredentialOptions {
  issuer: string;
  clientId: string;
  device?: boolean;
  browser: boolean;
  cacheDir?: string;
}

const note = (line: string) => process.stderr.write(`${line}\n`);

async function readCertificate(file: string): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw badRequest(`--certificate-authority: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw badRequest(`--certificate-authority: ${file} is not a PEM certificate`);
  return pem;
}

export function registerKubeCommands(program: Command): void {
  program.command('kubeconfig')
    .description('print a kubeconfig whose user signs in through Accouch (registers the public client "kubectl" if needed)')
    .requiredOption('--server <url>', 'the Kubernetes API server, e.g. https://192.168.1.10:6443')
    .option('--certificate-authority <file>', 'the API server\'s CA certificate (PEM), embedded in the kubeconfig')
    .option('--name <name>', 'name of the cluster, user and context', 'home')
    .option('--plugin <plugin>', 'accouch (npx accouch kubectl-credential) or kubelogin (kubectl oidc-login)', 'accouch')
    .option('--device', 'sign in with the device flow (for machines without a browser)')
    .action(async (opts: KubeconfigOptions) => {
      const [{ withDatabase }, { findClient, insertClient }, { recordAudit }, kube] = await Promise.all([
        import('./context.js'), import('../store/clients.js'), import('../store/audit.js'), import('../integrations/kube.js'),
      ]);
      const plugin = opts.plugin;
      if (!kube.isKubePlugin(plugin)) throw badRequest(`--plugin: ${kube.kubePlugins.join(' or ')} (got "${plugin}")`);
      const device = opts.device ?? false;
      const certificateAuthority = opts.certificateAuthority ? await readCertificate(opts.certificateAuthority) : undefined;
      const clientId = kube.kubectlClientId;
      kube.checkApiServerUrl(opts.server); // before registering anything: a typo leaves nothing behind
      const issuer = await withDatabase(async ({ config, db }) => {
        const existing = await findClient(db, clientId);
        if (!existing) {
          await insertClient(db, 'cli', kube.kubectlClient());
          await recordAudit(db, { event: 'client.created', actor: 'cli', detail: { client: clientId } });
          note(`Registered the public client "${clientId}".`);
        } else {
          for (const problem of kube.kubectlClientProblems(existing.config, { plugin, device })) note(`warning: ${problem}`);
        }
        return config.issuer;
      });
      process.stdout.write(kube.buildKubeconfig({ server: opts.server, issuer, clientId, name: opts.name, certificateAuthority, plugin, device }));
      note(`Save it (e.g. \`> ~/.kube/${opts.name}.yaml\`), then: KUBECONFIG=~/.kube/${opts.name}.yaml kubectl get namespaces`);
    });

  program.command('kubectl-credential')
    .description('kubectl\'s exec credential plugin: prints an ExecCredential with an id_token (no database needed)')
    .requiredOption('--issuer <url>', 'the Accouch issuer URL')
    .requiredOption('--client-id <id>', 'the client kubectl signs in as')
    .option('--device', 'sign in with the device flow: prints an address and a code (for machines without a browser)')
    .option('--no-browser', 'print the sign-in address without trying to open a browser')
    .option('--cache-dir <dir>', `token cache directory (default: ${defaultCacheDir().replace(homedir(), '~')})`)
    .action(async (opts: CredentialOptions) => {
      const credential = await getKubectlCredential({
        issuer: opts.issuer,
        clientId: opts.clientId,
        device: opts.device ?? false,
        open: opts.browser,
        cacheDir: opts.cacheDir ?? defaultCacheDir(),
        note,
      });
      process.stdout.write(`${JSON.stringify(credential)}\n`);
    });

  program.command('integrate').description('print what another system needs to trust Accouch')
    .command('kube-apiserver')
    .description('print the kube-apiserver OIDC settings (flags, k3s, kubeadm, AuthenticationConfiguration) and the admins\' ClusterRoleBinding')
    .option('--client-id <id>', 'the client kubectl signs in as', 'kubectl')
    .action(async (opts: { clientId: string }) => {
      const [{ withDatabase }, { findClient }, kube] = await Promise.all([
        import('./context.js'), import('../store/clients.js'), import('../integrations/kube.js'),
      ]);
      const issuer = await withDatabase(async ({ config, db }) => {
        if (!(await findClient(db, opts.clientId))) note(`note: there is no client "${opts.clientId}" yet: \`accouch kubeconfig\` registers "${kube.kubectlClientId}".`);
        return config.issuer;
      });
      process.stdout.write(kube.formatApiserverSetup(kube.buildApiserverSetup({ issuer, clientId: opts.clientId }), issuer));
    });
}
