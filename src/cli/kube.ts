// `accouch kubeconfig`, `accouch kubectl-credential` and `accouch integrate kube-apiserver`: kubectl signs in
// through Accouch. kubectl-credential runs on every kubectl call, on a laptop without the server's database or
// configuration: this file loads the configuration and the store only inside the commands that need them.
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { homedir } from 'node:os';
import type { Command } from 'commander';
import { badRequest } from '../errors.js';
import { defaultCacheDir } from '../integrations/kube-credential-cache.js';
import { getKubectlCredential, trustIssuerCa } from '../integrations/kube-credential.js';

interface KubeconfigOptions {
  server: string;
  certificateAuthority?: string;
  issuerCa?: string;
  clientId: string;
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
  issuerCa?: string;
  issuerCaData?: string;
}

interface IntegrateOptions {
  clientId: string;
  format?: string;
  outDir?: string;
  issuerCa?: string;
}

const note = (line: string) => process.stderr.write(`${line}\n`);

async function readCertificate(file: string, flag = '--certificate-authority'): Promise<string> {
  let pem: string;
  try {
    pem = await readFile(file, 'utf8');
  } catch (error) {
    throw badRequest(`${flag}: cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw badRequest(`${flag}: ${file} is not a PEM certificate`);
  return pem;
}

export function registerKubeCommands(program: Command): void {
  program.command('kubeconfig')
    .description('print a kubeconfig whose user signs in through Accouch (registers the public client "kubectl" if needed)')
    .requiredOption('--server <url>', 'the Kubernetes API server, e.g. https://192.168.1.10:6443')
    .option('--certificate-authority <file>', 'the API server\'s CA certificate (PEM), embedded in the kubeconfig')
    .option('--issuer-ca <file>', 'Accouch\'s CA certificate (PEM), when its certificate is not from a public CA: embedded for the plugin')
    .option('--client-id <id>', 'the public client kubectl signs in as (another one per cluster if you like: `app add kubectl --id`)', 'kubectl')
    .option('--name <name>', 'name of the cluster, user and context', 'home')
    .option('--plugin <plugin>', 'accouch (Accouch\'s own plugin, fetched from Accouch and pinned by sha256; needs Node.js) or kubelogin (kubectl oidc-login)', 'accouch')
    .option('--device', 'sign in with the device flow (for machines without a browser)')
    .action(async (opts: KubeconfigOptions) => {
      const [{ withDatabase }, { findClient, insertClient }, { recordAudit }, kube, { kubectlPlugin }] = await Promise.all([
        import('./context.js'), import('../store/clients.js'), import('../store/audit.js'), import('../integrations/kube.js'), import('../integrations/kubectl-plugin.js'),
      ]);
      const plugin = opts.plugin;
      if (!kube.isKubePlugin(plugin)) throw badRequest(`--plugin: ${kube.kubePlugins.join(' or ')} (got "${plugin}")`);
      const device = opts.device ?? false;
      const certificateAuthority = opts.certificateAuthority ? await readCertificate(opts.certificateAuthority) : undefined;
      const issuerCa = opts.issuerCa ? await readCertificate(opts.issuerCa, '--issuer-ca') : undefined;
      const clientId = opts.clientId;
      kube.checkApiServerUrl(opts.server); // before registering anything: a typo leaves nothing behind
      const issuer = await withDatabase(async ({ config, db }) => {
        const existing = await findClient(db, clientId);
        if (!existing) {
          await insertClient(db, 'cli', kube.kubectlClient(clientId));
          await recordAudit(db, { event: 'client.created', actor: 'cli', detail: { client: clientId } });
          note(`Registered the public client "${clientId}".`);
        } else {
          for (const problem of kube.kubectlClientProblems(existing.config, { plugin, device })) note(`warning: ${problem}`);
        }
        return config.issuer;
      });
      const pluginFile = plugin === 'accouch' ? kubectlPlugin(issuer) : undefined;
      process.stdout.write(kube.buildKubeconfig({ server: opts.server, issuer, clientId, name: opts.name, certificateAuthority, issuerCa, plugin, device, pluginFile }));
      note(`Save it (e.g. \`> ~/.kube/${opts.name}.yaml\`), then: KUBECONFIG=~/.kube/${opts.name}.yaml kubectl get namespaces`);
    });

  program.command('kubectl-credential')
    .description('kubectl\'s exec credential plugin: prints an ExecCredential with an id_token (no database needed)')
    .requiredOption('--issuer <url>', 'the Accouch issuer URL')
    .requiredOption('--client-id <id>', 'the client kubectl signs in as')
    .option('--device', 'sign in with the device flow: prints an address and a code (for machines without a browser)')
    .option('--no-browser', 'print the sign-in address without trying to open a browser')
    .option('--cache-dir <dir>', `token cache directory (default: ${defaultCacheDir().replace(homedir(), '~')})`)
    .option('--issuer-ca <file>', 'the issuer\'s CA certificate (PEM), when it is not from a public CA')
    .option('--issuer-ca-data <base64>', 'the same, base64-encoded (as a kubeconfig embeds it)')
    .action(async (opts: CredentialOptions) => {
      if (opts.issuerCa) trustIssuerCa(await readCertificate(opts.issuerCa, '--issuer-ca'));
      if (opts.issuerCaData) trustIssuerCa(Buffer.from(opts.issuerCaData, 'base64').toString('utf8'));
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
    .option('--format <format>', 'only one part, as a file to use as it is: flags, k3s, kubeadm, authentication-config or rbac')
    .option('--out-dir <dir>', 'write each part (or the --format one) to its own file in this directory')
    .option('--issuer-ca <file>', 'Accouch\'s CA certificate (PEM), when its certificate is not from a public CA (authentication-config)')
    .action(async (opts: IntegrateOptions) => {
      const [{ withDatabase }, { findClient }, kube] = await Promise.all([
        import('./context.js'), import('../store/clients.js'), import('../integrations/kube.js'),
      ]);
      const format = opts.format;
      if (format !== undefined && !kube.isApiserverFormat(format)) throw badRequest(`--format: one of ${kube.apiserverFormats.join(', ')} (got "${format}")`);
      const issuerCa = opts.issuerCa ? await readCertificate(opts.issuerCa, '--issuer-ca') : undefined;
      const issuer = await withDatabase(async ({ config, db }) => {
        if (!(await findClient(db, opts.clientId))) note(`note: there is no client "${opts.clientId}" yet: \`accouch kubeconfig --client-id ${opts.clientId}\` registers it.`);
        return config.issuer;
      });
      const setup = kube.buildApiserverSetup({ issuer, clientId: opts.clientId, issuerCa });
      if (!format && !opts.outDir) return void process.stdout.write(kube.formatApiserverSetup(setup, issuer));
      if (!issuer.startsWith('https://')) note(`warning: kube-apiserver accepts only an https issuer, and ${issuer} is not one: set ACCOUCH_ISSUER to Accouch's https:// address first.`);
      if (!opts.outDir) return void process.stdout.write(kube.apiserverFile(setup, format!));
      await mkdir(opts.outDir, { recursive: true });
      for (const each of format ? [format] : kube.apiserverFormats) {
        const file = join(opts.outDir, kube.apiserverFiles[each].name);
        await writeFile(file, kube.apiserverFile(setup, each));
        note(`wrote ${file}: ${kube.apiserverFiles[each].use}`);
      }
    });
}
