// The Helm chart, checked without helm: values.yaml and every chart/examples/*.yaml against values.schema.json
// (ajv, as `helm install` would), bad values rejected, the rendered Accouch configuration accepted by the real
// config schema, and the templates using only values that exist (and every value being used).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { parseAllDocuments, parse as parseYaml } from 'yaml';
import { describe, expect, test } from 'vitest';
import { authMethods, group, kind, plural, specSchema, version } from '../../../src/cluster/resource.js';
import { configSchema, presetNames, refreshPolicies } from '../../../src/config.js';

const chart = join(import.meta.dirname, '..', '..', '..', 'chart');
type Values = Record<string, unknown>;
const read = (file: string) => parseYaml(readFileSync(join(chart, file), 'utf8')) as Values;
const defaults = read('values.yaml');
const validate = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true }).compile(JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')));

const isMap = (v: unknown): v is Values => typeof v === 'object' && v !== null && !Array.isArray(v);
/** Helm's merge of user values over values.yaml: maps merge key by key, anything else (lists too) replaces. */
function merge(base: Values, over: Values): Values {
  const out: Values = { ...base };
  for (const [key, value] of Object.entries(over)) out[key] = isMap(value) && isMap(base[key]) ? merge(base[key], value) : value;
  return out;
}
const withIssuer = (over: Values = {}) => merge(merge(defaults, { config: { issuer: 'https://id.home.example' } }), over);
const errors = (values: Values) => (validate(values) ? [] : validate.errors!.map((e) => `${e.instancePath} ${e.message}`));

const examples = readdirSync(join(chart, 'examples')).filter((f) => f.endsWith('.yaml'));

/**
 * What templates/_helpers.tpl "accouch.config" renders into the ConfigMap, mirrored: config plus clients and
 * upstreams, each secret replaced by its file in the Secret.
 */
function renderedConfig(values: Values): Values {
  const config = structuredClone(values.config) as Values;
  config.clients = (values.clients as Values[]).map(({ secret, ...client }) => (
    secret ? { ...client, secretFile: `/etc/accouch/secrets/client-${String(client.id ?? client.preset)}` } : client));
  const upstreams = values.upstreams as Values[];
  if (upstreams.length) {
    config.upstreams = upstreams.map(({ clientSecret, ...upstream }) => (
      clientSecret ? { ...upstream, clientSecretFile: `/etc/accouch/secrets/upstream-${String(upstream.id)}` } : upstream));
  }
  const kubernetes = values.kubernetes as Values;
  if (kubernetes.enabled) {
    config.kubernetes = {
      enabled: true, namespaces: kubernetes.namespaces, leaseNamespace: 'accouch', leaseName: 'accouch', leaseDuration: kubernetes.leaseDuration,
      watchIngresses: kubernetes.watchIngresses, patchIngresses: kubernetes.patchIngresses,
      forwardAuthAddress: `http://accouch.accouch.svc:${String((values.service as Values).port)}${new URL(String((values.config as Values).issuer)).pathname.replace(/\/$/, '')}/forward-auth/traefik`,
    };
  }
  return config;
}

describe('values.schema.json', () => {
  test('values.yaml is complete except for the issuer, which a user must give', () => {
    expect(errors(defaults)).toEqual(['/config/issuer must match pattern "^https?://[^/?#]+(/[^?#]*)?$"']);
    expect(errors(withIssuer())).toEqual([]);
  });

  test('the examples include a home SQLite and an office PostgreSQL setup, and every one is valid', () => {
    expect(examples).toEqual(expect.arrayContaining(['home-sqlite.yaml', 'office-postgres-2-replicas.yaml']));
    for (const example of examples) expect(errors(merge(defaults, read(`examples/${example}`))), example).toEqual([]);
  });

  test('more than one replica only with PostgreSQL, and PostgreSQL only with a shared secret key', () => {
    const key = { secretKey: { value: 'k'.repeat(32) } };
    expect(errors(withIssuer({ replicaCount: 2 }))).not.toEqual([]);
    expect(errors(withIssuer({ replicaCount: 2, ...key }))).not.toEqual([]);
    expect(errors(withIssuer({ replicaCount: 2, database: { url: 'postgres://a:b@db/accouch' } }))).not.toEqual([]);
    expect(errors(withIssuer({ replicaCount: 2, database: { url: 'postgres://a:b@db/accouch' }, ...key }))).toEqual([]);
    expect(errors(withIssuer({ replicaCount: 3, database: { existingSecret: 'db' }, secretKey: { existingSecret: 'key' } }))).toEqual([]);
    expect(errors(withIssuer({ database: { url: 'postgres://a:b@db/accouch', existingSecret: 'db' }, ...key }))).not.toEqual([]);
    expect(errors(withIssuer({ replicaCount: 1 }))).toEqual([]);
  });

  test('unknown keys and bad types are rejected, each with its path', () => {
    const cases: [Values, string][] = [
      [{ replicas: 2 }, 'must NOT have additional properties'],
      [{ config: { polcy: { home: 'any' } } }, 'must NOT have additional properties'],
      [{ config: { policy: { home: 'strong' } } }, '/config/policy/home must be equal to one of the allowed values'],
      [{ config: { dataDir: '/var/lib/accouch' } }, 'must NOT have additional properties'],
      [{ config: { issuer: 'id.home.example' } }, '/config/issuer must match pattern'],
      [{ replicaCount: '2' }, '/replicaCount must be integer'],
      [{ persistence: { enabled: 'yes' } }, '/persistence/enabled must be boolean'],
      [{ service: { port: 0 } }, '/service/port must be >= 1'],
      [{ clients: [{ preset: 'jenkins', url: 'https://ci.home.example' }] }, '/clients/0/preset must be equal to one of the allowed values'],
      [{ clients: [{ id: 'app', redirect: 'https://app/cb' }] }, '/clients/0 must NOT have additional properties'],
      [{ clients: [{ preset: 'gitea', url: 'https://git.home.example', secret: 'short' }] }, '/clients/0/secret must NOT have fewer than 16 characters'],
      [{ upstreams: [{ id: 'corp', type: 'oidc', clientId: 'x' }] }, "/upstreams/0 must have required property 'issuer'"],
      [{ upstreams: [{ id: 'gh', type: 'gitlab', clientId: 'x' }] }, '/upstreams/0/type must be equal to one of the allowed values'],
      [{ secretKey: { value: 'too short' } }, '/secretKey/value must NOT have fewer than 32 characters'],
      [{ database: { url: 'mysql://db/accouch' } }, '/database/url must match pattern'],
      [{ kubernetes: { enabled: 'yes' } }, '/kubernetes/enabled must be boolean'],
      [{ kubernetes: { namespaces: ['Apps'] } }, '/kubernetes/namespaces/0 must match pattern'],
      [{ kubernetes: { leaseDuration: 1 } }, '/kubernetes/leaseDuration must be >= 2'],
      // A secret in config would be rendered into the ConfigMap.
      [{ config: { metrics: { port: 9090, token: 'a bearer token of some length' } } }, '/config/metrics must NOT have additional properties'],
    ];
    for (const [values, message] of cases) expect(errors(withIssuer(values)).join('\n'), JSON.stringify(values)).toContain(message);
  });
});

describe('rendered configuration', () => {
  test('every example renders to a configuration Accouch accepts, with no secret in the ConfigMap', () => {
    for (const example of examples) {
      const values = merge(defaults, read(`examples/${example}`));
      const config = renderedConfig(values);
      const result = configSchema.safeParse(config);
      expect(result.success ? [] : result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`), example).toEqual([]);
      const secrets = [...(values.clients as Values[]).map((c) => c.secret), ...(values.upstreams as Values[]).map((u) => u.clientSecret)].filter(Boolean);
      expect(secrets.length).toBeGreaterThan(0);
      for (const secret of secrets) expect(JSON.stringify(renderedConfig(values))).not.toContain(secret);
    }
  });

  test('every key of the Accouch configuration is either in the chart\'s config section or set by the chart', () => {
    const chartOwned = ['dataDir', 'port', 'host', 'clients', 'upstreams', 'databaseUrl', 'secretKey', 'kubernetes'];
    type Node = { properties?: Record<string, Node>; $ref?: string };
    const schema = JSON.parse(readFileSync(join(chart, 'values.schema.json'), 'utf8')) as Node & { definitions: Record<string, Node> };
    const chartConfig = schema.properties!.config!.properties!;
    const resolve = (node: Node) => (node.$ref ? schema.definitions[node.$ref.replace('#/definitions/', '')]! : node);
    const missing = Object.keys(configSchema.shape).filter((key) => !chartOwned.includes(key) && !(key in chartConfig));
    expect(missing, 'add these to chart/values.schema.json config (or have the chart set them)').toEqual([]);
    for (const section of ['login', 'webauthn', 'network', 'policy', 'ttl'] as const) {
      const inner = (configSchema.shape[section] as unknown as { def: { innerType: { shape: Values } } }).def.innerType.shape;
      expect(Object.keys(resolve(chartConfig[section]!).properties!).sort(), section).toEqual(Object.keys(inner).sort());
    }
  });
});

describe('templates', () => {
  const templates = readdirSync(join(chart, 'templates'), { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile()).map((e) => ({ name: e.name, text: readFileSync(join(e.parentPath, e.name), 'utf8') }));
  const used = [...new Set(templates.flatMap((t) => [...t.text.matchAll(/\.Values((?:\.[A-Za-z0-9_]+)+)/g)].map((m) => m[1]!.slice(1))))];

  test('have the Kubernetes objects the chart promises', () => {
    const all = templates.map((t) => t.text).join('\n');
    for (const kind of ['Deployment', 'Service', 'Ingress', 'PersistentVolumeClaim', 'Secret', 'ConfigMap', 'NetworkPolicy']) expect(all).toContain(`kind: ${kind}\n`);
    const deployment = templates.find((t) => t.name === 'deployment.yaml')!.text;
    expect(deployment).toMatch(/livenessProbe:\n\s+httpGet: \{ path: \/healthz/);
    expect(deployment).toMatch(/readinessProbe:\n\s+httpGet: \{ path: \/readyz/);
    expect(deployment).toMatch(/if \$postgres \}\}\n\s+type: RollingUpdate\n\s+\{\{- else \}\}\n\s+type: Recreate/);
    expect(deployment).toMatch(/- name: tmp\n\s+mountPath: \/tmp/);
    expect(templates.find((t) => t.name === 'NOTES.txt')!.text).toMatch(/kubectl .*exec deploy\/.* -- accouch setup-link/);
    // Forward-auth: Traefik asks the Service inside the cluster, at the endpoint for its protocol.
    const middleware = templates.find((t) => t.name === 'forward-auth-middleware.yaml')!.text;
    expect(middleware).toContain('kind: Middleware\n');
    expect(middleware).toMatch(/forwardAuth:\n\s+address: .*\.svc:%v%s\/forward-auth\/traefik/);
  });

  test('the default pod is locked down: non-root, read-only root, no privilege escalation, no capabilities, RuntimeDefault seccomp, fsGroup', () => {
    expect(defaults.podSecurityContext).toMatchObject({ runAsNonRoot: true, fsGroup: 10001, seccompProfile: { type: 'RuntimeDefault' } });
    expect(defaults.securityContext).toMatchObject({ allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] } });
    expect(defaults.ingress).toMatchObject({ className: 'traefik' });
  });

  test('use only values that values.yaml defines', () => {
    expect(used).toEqual(expect.arrayContaining(['config', 'database.url', 'ingress.tls.secretName']));
    const has = (path: string) => path.split('.').reduce<{ ok: boolean; node: unknown }>(
      ({ ok, node }, key) => (ok && isMap(node) && key in node ? { ok, node: node[key] } : { ok: false, node }), { ok: true, node: defaults }).ok;
    expect(used.filter((path) => !has(path))).toEqual([]);
  });

  test('use every value that values.yaml defines', () => {
    const leaves = (node: Values, prefix = ''): string[] => Object.entries(node).flatMap(([key, value]) => (
      isMap(value) && Object.keys(value).length ? leaves(value, `${prefix}${key}.`) : [`${prefix}${key}`]));
    const unused = leaves(defaults).filter((leaf) => !used.some((path) => leaf === path || leaf.startsWith(`${path}.`)));
    expect(unused).toEqual([]);
  });

  test('are YAML once their template actions are blanked out (indentation and syntax of the plain parts)', () => {
    for (const { name, text } of templates.filter((t) => t.name.endsWith('.yaml'))) {
      const blanked = text.split('\n').filter((line) => !/^\s*\{\{[^}]*\}\}\s*$/.test(line)).join('\n').replace(/\{\{[^}]*\}\}/g, 'x');
      const documents = parseAllDocuments(blanked, { uniqueKeys: false }); // if/else branches may both set a key
      expect(documents.flatMap((d) => d.errors.map((e) => e.message)), name).toEqual([]);
      expect(documents.map((d) => (d.toJS() as Values).kind), name).not.toContain(undefined);
    }
  });

  test('open and close their blocks in balance', () => {
    for (const { name, text } of templates) {
      const actions = [...text.matchAll(/\{\{-?\s*(if|with|range|define|end)\b/g)].map((m) => m[1]);
      let depth = 0;
      for (const action of actions) {
        depth += action === 'end' ? -1 : 1;
        expect(depth, name).toBeGreaterThanOrEqual(0);
      }
      expect(depth, name).toBe(0);
    }
  });
});

describe('the AccouchClient CRD and the operator\'s RBAC', () => {
  const crd = read('crds/accouchclients.yaml') as {
    kind: string; spec: { group: string; scope: string; names: { kind: string; plural: string }; versions: { name: string; served: boolean; storage: boolean; subresources?: Values; schema: { openAPIV3Schema: Values } }[] };
  };
  const [served] = crd.spec.versions;
  const schema = served!.schema.openAPIV3Schema as { properties: { spec: { properties: Record<string, { enum?: string[] }> } } };
  const specProperties = schema.properties.spec.properties;

  test('is a served, stored, namespaced v1 CRD of the group, kind and version Accouch watches, with a status subresource', () => {
    expect(crd.kind).toBe('CustomResourceDefinition');
    expect(crd.spec).toMatchObject({ group, scope: 'Namespaced', names: { kind, plural } });
    expect(crd.spec.versions).toHaveLength(1);
    expect(served).toMatchObject({ name: version, served: true, storage: true, subresources: { status: {} } });
  });

  test('its schema compiles, and names every spec field Accouch reads, with the same choices', () => {
    const ajv = new Ajv({ strict: false, validateFormats: false });
    expect(() => ajv.compile(served!.schema.openAPIV3Schema)).not.toThrow();
    expect(Object.keys(specProperties).sort()).toEqual(Object.keys(specSchema.shape).sort());
    expect(specProperties.preset!.enum).toEqual(presetNames.filter((p) => p !== 'kubectl'));
    expect(specProperties.refresh!.enum).toEqual([...refreshPolicies]);
    expect(specProperties.authMethod!.enum).toEqual([...authMethods]);
  });

  const rbac = readFileSync(join(chart, 'templates', 'rbac.yaml'), 'utf8');
  const helpers = readFileSync(join(chart, 'templates', '_helpers.tpl'), 'utf8');
  const rulesText = /define "accouch\.clientRules" -\}\}\n([\s\S]*?)\{\{- end -\}\}/.exec(helpers)![1]!;
  type Rule = { apiGroups: string[]; resources: string[]; verbs: string[] };
  /** The rules as rendered with watchIngresses and patchIngresses on or off (the template's only branches). */
  const rulesWith = (ingresses: boolean, patch: boolean) => parseYaml(rulesText
    .replace(/\{\{- if \.Values\.kubernetes\.watchIngresses \}\}\n([\s\S]*?)\{\{- end \}\}\n?/, ingresses ? '$1' : '')
    .replace(/\{\{ if \.Values\.kubernetes\.patchIngresses \}\}(.*?)\{\{ end \}\}/, patch ? '$1' : '')) as Rule[];
  const clientRules = rulesWith(false, false);

  test('grants the least it needs: no list or watch of Secrets, no write of AccouchClients themselves, nothing cluster-wide but those', () => {
    const verbsOn = (resource: string) => clientRules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    expect(verbsOn('accouchclients')).toEqual(['get', 'list', 'watch']);
    expect(verbsOn('accouchclients/status')).toEqual(['update']);
    expect(verbsOn('secrets')).toEqual(['create', 'delete', 'get', 'update']);
    expect(verbsOn('events')).toEqual(['create']);
    expect(clientRules.flatMap((r) => r.resources).sort()).toEqual(['accouchclients', 'accouchclients/status', 'events', 'secrets']);
    expect(rbac).toMatch(/resources: \[leases\]\n\s+resourceNames: \[\{\{ \$fullname \}\}\]\n\s+verbs: \[get, update\]/);
    // A ClusterRole only without a namespace list; a Role per listed namespace otherwise.
    expect(rbac).toMatch(/if \.Values\.kubernetes\.namespaces \}\}\n\{\{- range \.Values\.kubernetes\.namespaces \}\}\n---\napiVersion: rbac\.authorization\.k8s\.io\/v1\nkind: Role\n/);
    expect(rbac).toMatch(/\{\{- else \}\}\n---\napiVersion: rbac\.authorization\.k8s\.io\/v1\nkind: ClusterRole\n/);
  });

  test('Ingresses are read only with watchIngresses, and written only with patchIngresses', () => {
    const verbs = (rules: Rule[], resource: string) => rules.filter((r) => r.resources.includes(resource)).flatMap((r) => r.verbs).sort();
    expect(verbs(clientRules, 'ingresses')).toEqual([]);
    expect(verbs(clientRules, 'middlewares')).toEqual([]);
    expect(verbs(rulesWith(true, false), 'ingresses')).toEqual(['get', 'list', 'watch']);
    expect(verbs(rulesWith(true, true), 'ingresses')).toEqual(['get', 'list', 'update', 'watch']);
    expect(verbs(rulesWith(true, false), 'middlewares')).toEqual(['create', 'delete', 'get', 'update']);
  });

  test('the pods get a ServiceAccount token only when the operator is on', () => {
    const deployment = readFileSync(join(chart, 'templates', 'deployment.yaml'), 'utf8');
    expect(deployment).toMatch(/if \.Values\.kubernetes\.enabled \}\}\n.*\n\s+serviceAccountName: .*\n\s+automountServiceAccountToken: true\n\s+\{\{- else \}\}\n\s+automountServiceAccountToken: false/);
    expect(readFileSync(join(chart, 'templates', 'serviceaccount.yaml'), 'utf8')).toContain('kind: ServiceAccount\n');
  });
});
