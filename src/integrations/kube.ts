// What Kubernetes needs from Accouch: the public `kubectl` client, a kubeconfig whose user signs in through us
// (our own credential plugin, or kubelogin), and the kube-apiserver side: --oidc-* flags (plain, k3s, kubeadm),
// a structured AuthenticationConfiguration, and the ClusterRoleBinding that makes the admins cluster-admin.
import { createRequire } from 'node:module';
import type YAML from 'yaml';
import { clientSchema, type ClientConfig } from '../config.js';
import { badRequest } from '../errors.js';
import { kubectlPluginLoader } from './kubectl-plugin.js';

// Loaded when a kubeconfig or manifest is written, not with every server start (the CLI is part of main.js).
const stringify = (value: unknown, options?: YAML.ToStringOptions) => (createRequire(import.meta.url)('yaml') as typeof YAML).stringify(value, options);

/** The client `accouch kubeconfig` registers; id_tokens issued to it are short-lived (ttl.kubectlIdToken). */
export const kubectlClientId = 'kubectl';
/** Our plugin's callback; the client is native, so any port on 127.0.0.1 matches (RFC 8252). */
export const pluginRedirectUri = 'http://127.0.0.1/callback';
/**
 * kubelogin's: it listens on 127.0.0.1:8000, else 18000, and redirects to http://localhost:<port> (it has no
 * --oidc-redirect-url-hostname in v1.35); the client is native, so both ports match.
 */
export const kubeloginRedirectUri = 'http://localhost:8000';
/** Prefix of usernames and groups in Kubernetes: `accouch:alice`, `accouch:admins`, never a `system:` name. */
export const kubePrefix = 'accouch:';

export const kubePlugins = ['accouch', 'kubelogin'] as const;
export type KubePlugin = (typeof kubePlugins)[number];
export const isKubePlugin = (value: string): value is KubePlugin => (kubePlugins as readonly string[]).includes(value);

/** The public native client both plugins use: loopback redirects, the device flow, and refresh tokens always. */
export function kubectlClient(id = kubectlClientId): ClientConfig {
  return clientSchema.parse({
    id,
    name: 'kubectl',
    public: true,
    native: true,
    redirectUris: [pluginRedirectUri, kubeloginRedirectUri],
    refresh: 'always',
    deviceFlow: true,
    skipConsent: true,
  });
}

/** A loopback redirect URI without its port, as oidc-provider compares those of native clients. */
const withoutLoopbackPort = (uri: string) => uri.replace(/^(http:\/\/(?:127\.0\.0\.1|\[::1\]|localhost)):\d+/, '$1');

/** Why an existing client would not work with the chosen plugin, one sentence each (empty: it works). */
export function kubectlClientProblems(client: ClientConfig, { plugin, device }: { plugin: KubePlugin; device: boolean }): string[] {
  const problems: string[] = [];
  if (!client.public) problems.push(`client "${client.id}" is confidential: kubectl cannot keep a secret, make it public`);
  if (device) {
    if (!client.deviceFlow) problems.push(`client "${client.id}" does not allow the device flow (deviceFlow)`);
  } else {
    const wanted = plugin === 'accouch' ? pluginRedirectUri : kubeloginRedirectUri;
    const accepts = client.redirectUris.some((uri) => uri === wanted || (client.native && withoutLoopbackPort(uri) === withoutLoopbackPort(wanted)));
    if (!accepts) problems.push(`client "${client.id}" does not accept the redirect URI ${wanted} (add it to redirectUris${client.native ? '' : ' and make the client native'})`);
  }
  if (client.refresh !== 'always') problems.push(`client "${client.id}" has refresh: ${client.refresh}, so kubectl asks to sign in again each time the id_token expires (set refresh: always)`);
  return problems;
}

export interface KubeconfigOptions {
  /** The API server, https://host:6443. */
  server: string;
  issuer: string;
  clientId: string;
  /** Name of the cluster, user and context. */
  name: string;
  /** The API server's CA certificate (PEM), when it is not signed by a public CA. */
  certificateAuthority?: string;
  /** Accouch's (the issuer's) CA certificate (PEM), when it is not signed by a public CA: the plugin trusts it. */
  issuerCa?: string;
  plugin: KubePlugin;
  device: boolean;
  /** Our plugin: where the kubeconfig fetches it and the sha256 it must have (kubectl-plugin.ts). */
  pluginFile?: { url: string; sha256: string };
}

/** The `exec` stanza of the kubeconfig user: how kubectl gets a token. */
export function kubeconfigExec({ issuer, clientId, plugin, device, issuerCa, pluginFile }: Pick<KubeconfigOptions, 'issuer' | 'clientId' | 'plugin' | 'device' | 'issuerCa' | 'pluginFile'>) {
  const common = { apiVersion: 'client.authentication.k8s.io/v1', interactiveMode: 'IfAvailable', provideClusterInfo: false };
  const caData = issuerCa ? Buffer.from(issuerCa).toString('base64') : undefined;
  if (plugin === 'kubelogin') {
    return {
      ...common,
      command: 'kubectl',
      args: [
        'oidc-login', 'get-token',
        `--oidc-issuer-url=${issuer}`,
        `--oidc-client-id=${clientId}`,
        // kubelogin always asks for openid; no offline_access: the client gets refresh tokens anyway (refresh: always).
        '--oidc-extra-scope=profile', '--oidc-extra-scope=email', '--oidc-extra-scope=groups',
        '--oidc-pkce-method=S256',
        ...(device ? ['--grant-type=device-code'] : []),
        ...(caData ? [`--certificate-authority-data=${caData}`] : []),
      ],
      installHint: 'kubelogin is missing: install it with `kubectl krew install oidc-login` (https://github.com/int128/kubelogin).',
    };
  }
  if (!pluginFile) throw new Error('kubeconfigExec: the accouch plugin needs pluginFile');
  // Node runs a loader that fetches the plugin from Accouch once and checks its sha256: no package name is ever
  // resolved, so nothing published under any name can run here.
  return {
    ...common,
    command: 'node',
    args: [
      '--input-type=module', '-e', kubectlPluginLoader, pluginFile.url, pluginFile.sha256,
      '--issuer', issuer, '--client-id', clientId, ...(device ? ['--device'] : []), ...(caData ? ['--issuer-ca-data', caData] : []),
    ],
    installHint: 'Accouch signs kubectl in with a small Node.js program: install Node.js 22.19 or later (https://nodejs.org).',
  };
}

/** Throws unless `server` is an https URL (the API server serves nothing else). */
export function checkApiServerUrl(server: string): void {
  if (URL.parse(server)?.protocol !== 'https:') throw badRequest(`--server: the API server's https:// URL, e.g. https://192.168.1.10:6443 (got "${server}")`);
}

/** A complete kubeconfig (YAML): one cluster, one user that signs in through Accouch, one context, selected. */
export function buildKubeconfig(options: KubeconfigOptions): string {
  checkApiServerUrl(options.server);
  const user = `${options.name}-accouch`;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{
      name: options.name,
      cluster: {
        server: options.server,
        ...(options.certificateAuthority ? { 'certificate-authority-data': Buffer.from(options.certificateAuthority).toString('base64') } : {}),
      },
    }],
    users: [{ name: user, user: { exec: kubeconfigExec(options) } }],
    contexts: [{ name: options.name, context: { cluster: options.name, user } }],
    'current-context': options.name,
    preferences: {},
  }, { lineWidth: 0 });
}

export interface ApiserverSetup {
  /** kube-apiserver flags, one per element. */
  flags: string[];
  /** /etc/rancher/k3s/config.yaml */
  k3sConfig: string;
  /** kubeadm ClusterConfiguration (v1beta4) */
  kubeadmConfig: string;
  /** The structured form, for --authentication-config (Kubernetes 1.30 and later). */
  authenticationConfiguration: string;
  /** Members of Accouch's `admins` group are cluster-admin. */
  clusterRoleBinding: string;
}

/**
 * Username from preferred_username (the Accouch username: unique, readable in RBAC bindings, present for every
 * user, unlike the optional email), groups from groups, both with the `accouch:` prefix.
 */
export function buildApiserverSetup({ issuer, clientId, issuerCa }: { issuer: string; clientId: string; issuerCa?: string }): ApiserverSetup {
  const settings: Array<[string, string]> = [
    ['oidc-issuer-url', issuer],
    ['oidc-client-id', clientId],
    ['oidc-username-claim', 'preferred_username'],
    ['oidc-username-prefix', kubePrefix],
    ['oidc-groups-claim', 'groups'],
    ['oidc-groups-prefix', kubePrefix],
    ['oidc-signing-algs', 'RS256'],
  ];
  const yaml = (value: unknown) => stringify(value, { lineWidth: 0 });
  return {
    flags: settings.map(([name, value]) => `--${name}=${value}`),
    k3sConfig: yaml({ 'kube-apiserver-arg': settings.map(([name, value]) => `${name}=${value}`) }),
    kubeadmConfig: yaml({
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'ClusterConfiguration',
      apiServer: { extraArgs: settings.map(([name, value]) => ({ name, value })) },
    }),
    authenticationConfiguration: yaml({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AuthenticationConfiguration',
      jwt: [{
        // certificateAuthority: Accouch's CA (PEM) when its certificate is not from a public CA.
        issuer: { url: issuer, ...(issuerCa ? { certificateAuthority: issuerCa } : {}), audiences: [clientId] },
        // What --oidc-username-claim=email would check, kept explicit: an address Accouch has not verified never
        // passes. Accouch stores every email as verified, and a user without email has no claim to check.
        claimValidationRules: [{ expression: 'claims.?email_verified.orValue(true) == true', message: 'the email address is not verified' }],
        claimMappings: {
          username: { claim: 'preferred_username', prefix: kubePrefix },
          groups: { claim: 'groups', prefix: kubePrefix },
        },
      }],
    }),
    clusterRoleBinding: yaml({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'accouch-admins' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: `${kubePrefix}admins` }],
    }),
  };
}

/** The setup as one text to read and copy from, each part under a comment saying where it goes. */
export function formatApiserverSetup(setup: ApiserverSetup, issuer: string): string {
  const warning = issuer.startsWith('https://') ? [] : [
    `# WARNING: kube-apiserver accepts only an https issuer, and ${issuer} is not one: put Accouch behind TLS and`,
    '# set ACCOUCH_ISSUER to its https:// address before using the settings below.',
    '',
  ];
  return [
    ...warning,
    '# 1. kube-apiserver flags (a static pod manifest, or a systemd unit). Use these OR the structured',
    '#    configuration in 2, not both: kube-apiserver refuses --oidc-* flags together with --authentication-config.',
    ...setup.flags,
    '',
    '---',
    '# k3s: /etc/rancher/k3s/config.yaml on every server node, then `systemctl restart k3s`',
    setup.k3sConfig.trimEnd(),
    '---',
    '# kubeadm: the ClusterConfiguration given to `kubeadm init --config` (merge into yours)',
    setup.kubeadmConfig.trimEnd(),
    '',
    '# 2. Structured configuration (Kubernetes 1.30 and later; apiserver.config.k8s.io/v1beta1 before 1.34): save it',
    '#    as /etc/rancher/k3s/authentication-config.yaml and start kube-apiserver with',
    '#    --authentication-config=<that file> (k3s: kube-apiserver-arg: [authentication-config=<that file>]).',
    '#    kube-apiserver re-reads the file when it changes.',
    '---',
    setup.authenticationConfiguration.trimEnd(),
    '',
    '# 3. Members of the Accouch group "admins" are cluster-admin: `kubectl apply -f` this',
    '#    (as the cluster\'s own admin, e.g. with /etc/rancher/k3s/k3s.yaml). Bind other groups as accouch:<group>.',
    '---',
    setup.clusterRoleBinding.trimEnd(),
    '',
  ].join('\n');
}

/** `integrate kube-apiserver --format`: each part on its own, as a file that is used as it is. */
export const apiserverFormats = ['flags', 'k3s', 'kubeadm', 'authentication-config', 'rbac'] as const;
export type ApiserverFormat = (typeof apiserverFormats)[number];
export const isApiserverFormat = (value: string): value is ApiserverFormat => (apiserverFormats as readonly string[]).includes(value);

/** Each format's file name (--out-dir) and where it goes. */
export const apiserverFiles: Record<ApiserverFormat, { name: string; use: string }> = {
  flags: { name: 'kube-apiserver.flags', use: 'kube-apiserver flags, one per line (a static pod manifest or a systemd unit); not together with --authentication-config' },
  k3s: { name: 'k3s-config.yaml', use: '/etc/rancher/k3s/config.yaml on every server node (merge its list into yours), then systemctl restart k3s' },
  kubeadm: { name: 'kubeadm-config.yaml', use: 'kubeadm init --config kubeadm-config.yaml (or merge apiServer.extraArgs into your ClusterConfiguration)' },
  'authentication-config': { name: 'authentication-config.yaml', use: 'kube-apiserver --authentication-config=<this file> (Kubernetes 1.34 and later; re-read when it changes)' },
  rbac: { name: 'accouch-admins.yaml', use: 'kubectl apply -f accouch-admins.yaml, as the cluster\'s own admin: the Accouch group admins is cluster-admin' },
};

/** The text of one format. */
export function apiserverFile(setup: ApiserverSetup, format: ApiserverFormat): string {
  switch (format) {
    case 'flags': return `${setup.flags.join('\n')}\n`;
    case 'k3s': return setup.k3sConfig;
    case 'kubeadm': return setup.kubeadmConfig;
    case 'authentication-config': return setup.authenticationConfiguration;
    case 'rbac': return setup.clusterRoleBinding;
  }
}
