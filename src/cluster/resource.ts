// The AccouchClient resource: its API group, its spec as Accouch checks it, and the pure decisions made from it
// (the client to register, the Secret to write, the Ready condition). No I/O here: reconcile.ts applies them.
import { z } from 'zod';
import { clientSchema, presetNames, refreshPolicies, strengths, type ClientConfig } from '../config.js';
import { presetClient, presetSecretKeys } from '../integrations/presets.js';

export const group = 'accouch.dev';
export const version = 'v1alpha1';
export const plural = 'accouchclients';
export const kind = 'AccouchClient';
export const apiVersion = `${group}/${version}`;

/** Set (or change) this annotation to any value to get a new client secret; status.secretRotation records the last one served. */
export const rotateAnnotation = `${group}/rotate-secret`;

export interface Condition {
  type: string;
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export interface AccouchClientStatus {
  observedGeneration?: number;
  clientId?: string;
  secretName?: string;
  secretRotation?: string;
  conditions?: Condition[];
}

export interface AccouchClientResource {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace: string;
    uid: string;
    generation?: number;
    resourceVersion?: string;
    annotations?: Record<string, string>;
  };
  spec?: unknown;
  status?: AccouchClientStatus;
}

const dnsSubdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const clusterPresets = presetNames.filter((p) => p !== 'kubectl');
export const authMethods = ['client_secret_basic', 'none'] as const;

/** The spec as Accouch reads it; the CRD's OpenAPI schema (chart/crds/) says the same to the API server. */
export const specSchema = z.strictObject({
  preset: z.enum(clusterPresets as [string, ...string[]]).optional(),
  url: z.string().optional(),
  name: z.string().trim().min(1).max(80).optional(),
  redirectUris: z.array(z.string()).max(20).optional(),
  postLogoutRedirectUris: z.array(z.string()).max(20).optional(),
  allowedGroups: z.array(z.string().min(1)).max(30).optional(),
  policy: z.strictObject({ home: z.enum(strengths).optional(), outside: z.enum(strengths).optional() }).optional(),
  refresh: z.enum(refreshPolicies).optional(),
  authMethod: z.enum(authMethods).optional(),
  skipConsent: z.boolean().optional(),
  secretName: z.string().max(253).regex(dnsSubdomain, 'a Secret name: lower-case letters, digits, "-" and "."').optional(),
}).superRefine((spec, ctx) => {
  const problem = (path: string, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (spec.preset && spec.preset !== 'generic' && spec.redirectUris) problem('redirectUris', `the ${spec.preset} preset knows its redirect URI: only a generic app takes redirectUris`);
  if (spec.preset && !spec.url) problem('url', `the ${spec.preset} preset needs the address the app is served at`);
  if (spec.url !== undefined) {
    const url = URL.parse(spec.url);
    if (!url || !['http:', 'https:'].includes(url.protocol) || url.search || url.hash || spec.url.includes('#')) {
      problem('url', 'must be the http(s) address the app is served at, without query or fragment');
    }
  }
  if (!spec.preset && !spec.redirectUris?.length) problem('redirectUris', 'give redirectUris, or a preset and url');
});
export type AccouchClientSpec = z.infer<typeof specSchema>;

/** `<namespace>.<name>`: a namespace has no dot, so the first dot tells them apart again. */
export const clientIdOf = (namespace: string, name: string) => `${namespace}.${name}`;
export function resourceOfClientId(id: string): { namespace: string; name: string } {
  const dot = id.indexOf('.');
  return { namespace: id.slice(0, dot), name: id.slice(dot + 1) };
}

export const secretNameOf = (name: string, spec?: Pick<AccouchClientSpec, 'secretName'>) => spec?.secretName ?? `${name}-oidc`;

export type Plan =
  | { ok: true; spec: AccouchClientSpec; client: ClientConfig; secretName: string; rotation?: string; rotated: boolean }
  | { ok: false; field: string; reason: string };

/** `['redirectUris', 0]` → `spec.redirectUris[0]`. */
const fieldPath = (path: PropertyKey[]) => path.reduce<string>((out, key) => (typeof key === 'number' ? `${out}[${key}]` : `${out}.${String(key)}`), 'spec');

const invalid = (issue: { path: PropertyKey[]; message: string }, prefix: PropertyKey[] = []): Plan => ({ ok: false, field: fieldPath([...prefix, ...issue.path]), reason: issue.message });

/** Client keys whose names differ between the spec and the client (public ← authMethod). */
const specKey: Record<string, string> = { public: 'authMethod', secret: 'authMethod' };

/**
 * The client a resource asks for, or the first field that is wrong and why. `currentSecret` is the secret the
 * registered client has now: it is kept unless the rotate annotation changed since status.secretRotation.
 */
export function planClient(resource: AccouchClientResource, currentSecret: string | undefined, newSecret: () => string): Plan {
  const { namespace, name, annotations = {} } = resource.metadata;
  const id = clientIdOf(namespace, name);
  const idCheck = clientSchema.shape.id.safeParse(id);
  if (!idCheck.success) return { ok: false, field: 'metadata.name', reason: `the client id "${id}" (<namespace>.<name>) must be at most 64 characters` };
  const parsed = specSchema.safeParse(resource.spec ?? {});
  if (!parsed.success) return invalid(parsed.error.issues[0]!);
  const spec = parsed.data;
  const isPublic = spec.authMethod === 'none';
  const rotation = annotations[rotateAnnotation];
  const rotated = rotation !== undefined && rotation !== resource.status?.secretRotation && currentSecret !== undefined;
  const secret = isPublic ? undefined : (rotated ? undefined : currentSecret) ?? newSecret();
  let base: Record<string, unknown> = { id, redirectUris: spec.redirectUris ?? [], skipConsent: spec.skipConsent ?? false };
  if (spec.preset) {
    try {
      base = { ...presetClient(spec.preset as (typeof clusterPresets)[number], { url: spec.url!, id, name: spec.name, secret: secret ?? newSecret(), redirectUris: spec.redirectUris }) };
    } catch (error) {
      return { ok: false, field: 'spec.url', reason: (error as Error).message };
    }
  }
  const candidate = {
    ...base,
    ...(spec.name ? { name: spec.name } : {}),
    secret,
    public: isPublic,
    ...(spec.postLogoutRedirectUris ? { postLogoutRedirectUris: spec.postLogoutRedirectUris } : {}),
    ...(spec.allowedGroups ? { allowedGroups: spec.allowedGroups } : {}),
    ...(spec.policy ? { policy: spec.policy } : {}),
    ...(spec.refresh ? { refresh: spec.refresh } : {}),
    ...(spec.skipConsent !== undefined ? { skipConsent: spec.skipConsent } : {}),
  };
  const client = clientSchema.safeParse(candidate);
  if (!client.success) {
    const issue = client.error.issues[0]!;
    const [head, ...rest] = issue.path;
    return invalid({ path: [specKey[String(head)] ?? head!, ...rest], message: issue.message });
  }
  return { ok: true, spec, client: client.data, secretName: secretNameOf(name, spec), rotation, rotated };
}

/** What the app reads: the client id and secret, where Accouch is, and its preset's own keys. */
export function secretData(plan: Extract<Plan, { ok: true }>, issuer: string): Record<string, string> {
  const discovery = `${issuer.replace(/\/+$/, '')}/.well-known/openid-configuration`;
  const values = { clientId: plan.client.id, clientSecret: plan.client.secret ?? '', issuer, discovery };
  return {
    OIDC_CLIENT_ID: values.clientId,
    ...(plan.client.secret ? { OIDC_CLIENT_SECRET: values.clientSecret } : {}),
    OIDC_ISSUER_URL: issuer,
    OIDC_DISCOVERY_URL: discovery,
    ...(plan.client.secret ? presetSecretKeys(plan.spec.preset as Parameters<typeof presetSecretKeys>[0], values) : {}),
  };
}

/**
 * The Ready condition: lastTransitionTime moves only when status flips (the Kubernetes API conventions), so a
 * resync that finds everything as it was writes nothing.
 */
export function readyCondition(previous: Condition[] | undefined, next: Omit<Condition, 'type' | 'lastTransitionTime'>, now: Date): Condition {
  const old = previous?.find((c) => c.type === 'Ready');
  const lastTransitionTime = old && old.status === next.status ? old.lastTransitionTime : now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  return { type: 'Ready', ...next, lastTransitionTime };
}
