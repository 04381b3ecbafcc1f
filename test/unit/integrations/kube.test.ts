// The text Accouch prints for Kubernetes: the kubeconfig (our plugin and kubelogin) and the kube-apiserver setup,
// parsed back as YAML and checked field by field.
import { describe, expect, test } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';
import { clientSchema } from '../../../src/config.js';
import {
  apiserverFile, apiserverFormats, buildApiserverSetup, buildKubeconfig, formatApiserverSetup, kubectlClient, kubectlClientProblems, type KubeconfigOptions,
} from '../../../src/integrations/kube.js';
import { kubectlPluginLoader } from '../../../src/integrations/kubectl-plugin.js';

const issuer = 'https://id.home.example';
const pem = '-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n';
const pluginFile = { url: `${issuer}/static/kubectl-credential.mjs`, sha256: 'ab'.repeat(32) };
const base: KubeconfigOptions = { server: 'https://192.168.1.10:6443', issuer, clientId: 'kubectl', name: 'home', plugin: 'accouch', device: false, pluginFile };

interface Kubeconfig {
  apiVersion: string;
  kind: string;
  clusters: Array<{ name: string; cluster: Record<string, string> }>;
  users: Array<{ name: string; user: { exec: Record<string, unknown> & { args: string[] } } }>;
  contexts: Array<{ name: string; context: { cluster: string; user: string } }>;
  'current-context': string;
}

describe('accouch kubeconfig', () => {
  test('a kubeconfig whose user runs Accouch\'s plugin pinned by sha256 through node (exec API v1), no package name, selected as the current context', () => {
    const config = parse(buildKubeconfig({ ...base, certificateAuthority: pem })) as Kubeconfig;
    expect(config).toMatchObject({ apiVersion: 'v1', kind: 'Config', 'current-context': 'home' });
    expect(config.clusters).toEqual([{ name: 'home', cluster: { server: 'https://192.168.1.10:6443', 'certificate-authority-data': Buffer.from(pem).toString('base64') } }]);
    expect(config.contexts).toEqual([{ name: 'home', context: { cluster: 'home', user: 'home-accouch' } }]);
    expect(config.users).toHaveLength(1);
    expect(config.users[0]!.name).toBe('home-accouch');
    expect(config.users[0]!.user.exec).toEqual({
      apiVersion: 'client.authentication.k8s.io/v1',
      command: 'node',
      args: ['--input-type=module', '-e', kubectlPluginLoader, pluginFile.url, pluginFile.sha256, '--issuer', issuer, '--client-id', 'kubectl'],
      interactiveMode: 'IfAvailable',
      provideClusterInfo: false,
      installHint: expect.stringContaining('Node.js'),
    });
  });

  test('--device adds --device; no --certificate-authority leaves the system CAs in charge; --name names everything', () => {
    const config = parse(buildKubeconfig({ ...base, device: true, name: 'lab' })) as Kubeconfig;
    expect(config.users[0]!.user.exec.args.at(-1)).toBe('--device');
    expect(config.clusters[0]).toEqual({ name: 'lab', cluster: { server: base.server } });
    expect(config['current-context']).toBe('lab');
  });

  test('--issuer-ca: the issuer\'s CA embedded for our plugin and for kubelogin; the API server\'s CA stays apart', () => {
    const ours = (parse(buildKubeconfig({ ...base, issuerCa: pem })) as Kubeconfig);
    expect(ours.users[0]!.user.exec.args.slice(-2)).toEqual(['--issuer-ca-data', Buffer.from(pem).toString('base64')]);
    expect(ours.clusters[0]!.cluster).toEqual({ server: base.server });
    const kubelogin = (parse(buildKubeconfig({ ...base, plugin: 'kubelogin', issuerCa: pem })) as Kubeconfig).users[0]!.user.exec;
    expect(kubelogin.args).toContain(`--certificate-authority-data=${Buffer.from(pem).toString('base64')}`);
  });

  test('--plugin kubelogin: kubectl oidc-login get-token with its documented flags', () => {
    const exec = (parse(buildKubeconfig({ ...base, plugin: 'kubelogin' })) as Kubeconfig).users[0]!.user.exec;
    expect(exec).toMatchObject({ apiVersion: 'client.authentication.k8s.io/v1', command: 'kubectl', interactiveMode: 'IfAvailable', provideClusterInfo: false });
    expect(exec.args).toEqual([
      'oidc-login', 'get-token', `--oidc-issuer-url=${issuer}`, '--oidc-client-id=kubectl',
      '--oidc-extra-scope=profile', '--oidc-extra-scope=email', '--oidc-extra-scope=groups',
      '--oidc-pkce-method=S256',
    ]);
    const device = (parse(buildKubeconfig({ ...base, plugin: 'kubelogin', device: true })) as Kubeconfig).users[0]!.user.exec;
    expect(device.args).toContain('--grant-type=device-code');
  });

  test('refuses an API server that is not https', () => {
    expect(() => buildKubeconfig({ ...base, server: 'http://192.168.1.10:6443' })).toThrow(/--server: the API server's https:\/\/ URL/);
    expect(() => buildKubeconfig({ ...base, server: 'not a url' })).toThrow(/--server/);
  });
});

describe('the kubectl client', () => {
  test('public, native, loopback redirects for both plugins, device flow, refresh tokens always, no consent page', () => {
    const client = kubectlClient();
    expect(client).toMatchObject({
      id: 'kubectl', name: 'kubectl', public: true, native: true, refresh: 'always', deviceFlow: true, skipConsent: true,
      redirectUris: ['http://127.0.0.1/callback', 'http://localhost:8000'],
    });
    expect(kubectlClientProblems(client, { plugin: 'accouch', device: false })).toEqual([]);
    expect(kubectlClientProblems(client, { plugin: 'kubelogin', device: false })).toEqual([]);
    expect(kubectlClientProblems(client, { plugin: 'accouch', device: true })).toEqual([]);
  });

  test('says what an existing client lacks', () => {
    // The README's kubelogin-only declaration: localhost:8000, refresh always, no device flow.
    const kubeloginOnly = clientSchema.parse({ id: 'kubectl', public: true, native: true, refresh: 'always', redirectUris: ['http://localhost:8000'] });
    expect(kubectlClientProblems(kubeloginOnly, { plugin: 'accouch', device: false })).toEqual([
      'client "kubectl" does not accept the redirect URI http://127.0.0.1/callback (add it to redirectUris)',
    ]);
    expect(kubectlClientProblems(kubeloginOnly, { plugin: 'accouch', device: true })).toEqual(['client "kubectl" does not allow the device flow (deviceFlow)']);
    // A native client's loopback URI matches on any port.
    const otherPort = clientSchema.parse({ id: 'kubectl', public: true, native: true, refresh: 'always', redirectUris: ['http://localhost:18000'] });
    expect(kubectlClientProblems(otherPort, { plugin: 'kubelogin', device: false })).toEqual([]);
    const web = clientSchema.parse({ id: 'kubectl', secret: 'a-secret-of-16-chars-or-more', redirectUris: ['https://k.example/cb'] });
    expect(kubectlClientProblems(web, { plugin: 'accouch', device: false })).toEqual([
      'client "kubectl" is confidential: kubectl cannot keep a secret, make it public',
      'client "kubectl" does not accept the redirect URI http://127.0.0.1/callback (add it to redirectUris and make the client native)',
      'client "kubectl" has refresh: offline_access, so kubectl asks to sign in again each time the id_token expires (set refresh: always)',
    ]);
  });
});

describe('accouch integrate kube-apiserver', () => {
  const setup = buildApiserverSetup({ issuer, clientId: 'kubectl' });
  const expectedArgs = [
    `oidc-issuer-url=${issuer}`, 'oidc-client-id=kubectl', 'oidc-username-claim=preferred_username', 'oidc-username-prefix=accouch:',
    'oidc-groups-claim=groups', 'oidc-groups-prefix=accouch:', 'oidc-signing-algs=RS256',
  ];

  test('the --oidc-* flags, and the same as k3s config.yaml and a kubeadm ClusterConfiguration', () => {
    expect(setup.flags).toEqual(expectedArgs.map((a) => `--${a}`));
    expect(parse(setup.k3sConfig)).toEqual({ 'kube-apiserver-arg': expectedArgs });
    expect(parse(setup.kubeadmConfig)).toEqual({
      apiVersion: 'kubeadm.k8s.io/v1beta4',
      kind: 'ClusterConfiguration',
      apiServer: { extraArgs: expectedArgs.map((a) => ({ name: a.split('=')[0], value: a.slice(a.indexOf('=') + 1) })) },
    });
  });

  test('a structured AuthenticationConfiguration: issuer, audience, prefixed username and groups, email_verified rule', () => {
    expect(parse(setup.authenticationConfiguration)).toEqual({
      apiVersion: 'apiserver.config.k8s.io/v1',
      kind: 'AuthenticationConfiguration',
      jwt: [{
        issuer: { url: issuer, audiences: ['kubectl'] },
        claimValidationRules: [{ expression: 'claims.?email_verified.orValue(true) == true', message: 'the email address is not verified' }],
        claimMappings: {
          username: { claim: 'preferred_username', prefix: 'accouch:' },
          groups: { claim: 'groups', prefix: 'accouch:' },
        },
      }],
    });
  });

  test('a ClusterRoleBinding that makes the admins group cluster-admin', () => {
    expect(parse(setup.clusterRoleBinding)).toEqual({
      apiVersion: 'rbac.authorization.k8s.io/v1',
      kind: 'ClusterRoleBinding',
      metadata: { name: 'accouch-admins' },
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'cluster-admin' },
      subjects: [{ apiGroup: 'rbac.authorization.k8s.io', kind: 'Group', name: 'accouch:admins' }],
    });
  });

  test('the printed text carries every part, each YAML part intact, and warns about an http issuer', () => {
    const text = formatApiserverSetup(setup, issuer);
    for (const part of [setup.k3sConfig, setup.kubeadmConfig, setup.authenticationConfiguration, setup.clusterRoleBinding]) {
      expect(text).toContain(part.trimEnd());
    }
    for (const flag of setup.flags) expect(text).toContain(`\n${flag}\n`);
    expect(text).not.toContain('WARNING');
    // Every YAML part parses on its own, as the user will save it.
    for (const part of [setup.k3sConfig, setup.kubeadmConfig, setup.authenticationConfiguration, setup.clusterRoleBinding]) {
      expect(parseAllDocuments(part).every((doc) => doc.errors.length === 0)).toBe(true);
    }
    expect(formatApiserverSetup(buildApiserverSetup({ issuer: 'http://localhost:8080', clientId: 'kubectl' }), 'http://localhost:8080'))
      .toMatch(/^# WARNING: kube-apiserver accepts only an https issuer/);
    // The YAML parts are separate documents: `---` before each.
    expect(text.match(/^---$/gm)).toHaveLength(4);
  });

  test('--format: each part alone, as the file to use (flags one per line, YAML one document each)', () => {
    expect(apiserverFile(setup, 'flags')).toBe(`${setup.flags.join('\n')}\n`);
    for (const format of apiserverFormats.filter((f) => f !== 'flags')) {
      const docs = parseAllDocuments(apiserverFile(setup, format));
      expect(docs.map((d) => d.errors)).toEqual([[]]);
    }
    expect(parse(apiserverFile(setup, 'rbac'))).toEqual(parse(setup.clusterRoleBinding));
  });

  test('--issuer-ca: the AuthenticationConfiguration carries Accouch\'s CA for kube-apiserver', () => {
    const config = parse(buildApiserverSetup({ issuer, clientId: 'kubectl-lab', issuerCa: pem }).authenticationConfiguration) as { jwt: Array<{ issuer: Record<string, unknown> }> };
    expect(config.jwt[0]!.issuer).toEqual({ url: issuer, certificateAuthority: pem, audiences: ['kubectl-lab'] });
  });
});
