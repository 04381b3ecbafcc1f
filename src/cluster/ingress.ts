// Ingresses annotated `accouch.dev/forward-auth: "true"` declare a forward-auth app (id `<namespace>.<name>`,
// source cluster) for their hosts through the forward-auth service, get a Traefik Middleware beside them (owned by
// the Ingress), and either the router annotation (kubernetes.patchIngresses) or an Event naming it.
import type { V1Ingress } from '@kubernetes/client-node';
import { parse as parseYaml } from 'yaml';
import { declareForwardAuthApp, listForwardAuthApps, removeForwardAuthApp } from '../auth/forward-auth/apps.js';
import type { ForwardAuthAppConfig } from '../config.js';
import { AppError } from '../errors.js';
import { traefikMiddleware } from '../integrations/forward-auth.js';
import type { Logger } from '../log.js';
import type { Db } from '../store/db.js';
import { statusOf, type KubeApi } from './kube-api.js';
import { clientIdOf, group } from './resource.js';

export const forwardAuthAnnotation = `${group}/forward-auth`;
export const groupsAnnotation = `${group}/forward-auth-groups`;
export const policyAnnotation = `${group}/forward-auth-policy`;
export const routerAnnotation = 'traefik.ingress.kubernetes.io/router.middlewares';

export interface IngressDeps {
  db: Db;
  api: KubeApi;
  issuer: string;
  log: Logger;
  identity: string;
  patchIngresses: boolean;
  /** What the Middleware asks, when not <issuer>/forward-auth/traefik (the Service, inside the cluster). */
  forwardAuthAddress?: string;
  /** Ingress → the refusal last reported on it (its resourceVersion and message). */
  warned: Map<string, string>;
}

export const isAnnotated = (ingress: V1Ingress) => ingress.metadata?.annotations?.[forwardAuthAnnotation] === 'true';
export const middlewareNameOf = (ingress: string) => `${ingress}-accouch`;
/** How Traefik names a Middleware CRD in a router annotation. */
export const middlewareRef = (namespace: string, ingress: string) => `${namespace}-${middlewareNameOf(ingress)}@kubernetescrd`;

/** The app an annotated Ingress declares (checked by the forward-auth service), or why it cannot. */
export function ingressApp(ingress: V1Ingress): { ok: true; app: Record<string, unknown> } | { ok: false; reason: string } {
  const { namespace = '', name = '', annotations = {} } = ingress.metadata ?? {};
  const hosts = [...new Set((ingress.spec?.rules ?? []).map((r) => r.host).filter((h): h is string => Boolean(h)))];
  if (!hosts.length) return { ok: false, reason: 'the Ingress has no host in spec.rules: forward-auth tells apps apart by host' };
  const groups = (annotations[groupsAnnotation] ?? '').split(',').map((g) => g.trim()).filter(Boolean);
  const policy: Record<string, string> = {};
  for (const part of (annotations[policyAnnotation] ?? '').split(',').map((p) => p.trim()).filter(Boolean)) {
    const [where, strength] = part.split('=').map((s) => s.trim());
    if ((where !== 'home' && where !== 'outside') || !strength) return { ok: false, reason: `${policyAnnotation}: "${part}" is not home=<strength> or outside=<strength>` };
    policy[where] = strength;
  }
  return { ok: true, app: { id: clientIdOf(namespace, name), hosts, allowedGroups: groups, ...(Object.keys(policy).length ? { policy } : {}) } };
}

const event = (deps: IngressDeps, ingress: V1Ingress, type: 'Normal' | 'Warning', reason: string, message: string) => {
  const { namespace = '', name = '', uid = '', resourceVersion } = ingress.metadata ?? {};
  return deps.api.event({ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', metadata: { namespace, name, uid, resourceVersion } }, type, reason, message, deps.identity);
};

/** The Middleware as the forward-auth setup text describes it, named for this Ingress and owned by it. */
function middleware(deps: IngressDeps, ingress: V1Ingress, app: ForwardAuthAppConfig): Record<string, unknown> & { metadata: Record<string, unknown> } {
  const { namespace = '', name = '', uid = '' } = ingress.metadata ?? {};
  const object = parseYaml(traefikMiddleware({ issuer: deps.issuer, app, namespace })) as Record<string, unknown> & { metadata: Record<string, unknown>; spec: { forwardAuth: { address: string } } };
  if (deps.forwardAuthAddress) object.spec.forwardAuth.address = deps.forwardAuthAddress;
  object.metadata = {
    name: middlewareNameOf(name), namespace, labels: { 'app.kubernetes.io/managed-by': 'accouch' },
    ownerReferences: [{ apiVersion: 'networking.k8s.io/v1', kind: 'Ingress', name, uid, controller: true, blockOwnerDeletion: true }],
  };
  return object;
}

/** Declares (or re-declares) the app of an annotated Ingress, its Middleware and router annotation; removes it when no longer annotated. */
export async function reconcileIngress(deps: IngressDeps, ingress: V1Ingress): Promise<void> {
  const { namespace = '', name = '' } = ingress.metadata ?? {};
  if (!isAnnotated(ingress)) return removeIngressApp(deps, namespace, name, ingress);
  const planned = ingressApp(ingress);
  if (!planned.ok) return warnOnce(deps, ingress, 'InvalidForwardAuth', planned.reason);
  const existing = (await listForwardAuthApps(deps.db)).find((a) => a.config.id === planned.app.id);
  let app: ForwardAuthAppConfig;
  try {
    app = existing && existing.source === 'cluster' && sameApp(existing.config, planned.app) ? existing.config
      : await declareForwardAuthApp(deps.db, { source: 'cluster', app: planned.app, actor: 'kubernetes' });
  } catch (error) {
    if (error instanceof AppError && error.status < 500) return warnOnce(deps, ingress, error.code === 'conflict' ? 'ForwardAuthConflict' : 'InvalidForwardAuth', error.message);
    throw error;
  }
  const declared = !existing || !sameApp(existing.config, planned.app);

  // The Middleware (Traefik's CRD): written when missing or different; a cluster without Traefik has no such API.
  const wanted = middleware(deps, ingress, app);
  let traefik = true;
  try {
    const current = await deps.api.readCustom('traefik.io', 'v1alpha1', namespace, 'middlewares', middlewareNameOf(name));
    if (!current) await deps.api.createCustom('traefik.io', 'v1alpha1', namespace, 'middlewares', wanted);
    else if (JSON.stringify(current.spec) !== JSON.stringify(wanted.spec)) {
      await deps.api.replaceCustom('traefik.io', 'v1alpha1', namespace, 'middlewares', { ...wanted, metadata: { ...wanted.metadata, resourceVersion: (current.metadata as { resourceVersion?: string }).resourceVersion } });
    }
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
    traefik = false;
  }

  const ref = middlewareRef(namespace, name);
  const routers = (ingress.metadata?.annotations?.[routerAnnotation] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  const hosts = app.hosts.join(', ');
  if (traefik && !routers.includes(ref) && deps.patchIngresses) {
    await deps.api.replaceIngress({ ...ingress, metadata: { ...ingress.metadata, annotations: { ...ingress.metadata?.annotations, [routerAnnotation]: [...routers, ref].join(',') } } });
    await event(deps, ingress, 'Normal', 'ForwardAuth', `forward-auth app "${app.id}" protects ${hosts}; added ${routerAnnotation}: ${ref}`);
  } else if (declared) {
    const next = !traefik ? 'no Traefik Middleware API here: point the ingress controller\'s auth request at <issuer>/forward-auth/nginx (README forward-auth)'
      : routers.includes(ref) ? 'the router annotation is in place' : `add the annotation ${routerAnnotation}: ${[...routers, ref].join(',')}`;
    await event(deps, ingress, 'Normal', 'ForwardAuth', `forward-auth app "${app.id}" protects ${hosts}; ${next}`);
  }
  deps.log.info({ event: declared ? 'forward_auth_app.declared' : 'forward_auth_app.unchanged', app: app.id }, declared ? 'forward-auth app declared from an Ingress' : 'forward-auth app unchanged');
}

const sameApp = (stored: ForwardAuthAppConfig, planned: Record<string, unknown>) => {
  const compare = (a: Record<string, unknown>) => JSON.stringify({ hosts: a.hosts, allowedGroups: a.allowedGroups ?? [], policy: a.policy ?? null });
  return compare(stored as unknown as Record<string, unknown>) === compare(planned);
};

/** A Warning event for a refusal, once per Ingress version and message (a resync does not repeat it). */
async function warnOnce(deps: IngressDeps, ingress: V1Ingress, reason: string, message: string) {
  const key = `${ingress.metadata?.namespace}/${ingress.metadata?.name}`;
  const version = `${ingress.metadata?.resourceVersion}:${message}`;
  deps.log.warn({ event: 'kubernetes.refused', ingress: key, reason }, message);
  if (deps.warned.get(key) === version) return;
  await event(deps, ingress, 'Warning', reason, message);
  deps.warned.set(key, version);
}

/** The Ingress is gone or no longer annotated: its app goes, and so do its Middleware and router annotation. */
export async function removeIngressApp(deps: IngressDeps, namespace: string, name: string, ingress?: V1Ingress): Promise<void> {
  const id = clientIdOf(namespace, name);
  const existing = (await listForwardAuthApps(deps.db)).find((a) => a.config.id === id);
  // Most Ingresses never had anything to do with Accouch: nothing to look up for them.
  if (existing?.source !== 'cluster') return;
  await removeForwardAuthApp(deps.db, { source: 'cluster', id, actor: 'kubernetes' });
  deps.log.info({ event: 'forward_auth_app.removed', app: id }, 'forward-auth app removed: its Ingress is gone or no longer annotated');
  if (!ingress) return; // the garbage collector takes the Middleware with the Ingress
  try {
    const current = await deps.api.readCustom('traefik.io', 'v1alpha1', namespace, 'middlewares', middlewareNameOf(name));
    const owners = (current?.metadata as { ownerReferences?: { uid?: string }[] } | undefined)?.ownerReferences ?? [];
    if (current && owners.some((o) => o.uid === ingress.metadata?.uid)) await deps.api.deleteCustom('traefik.io', 'v1alpha1', namespace, 'middlewares', middlewareNameOf(name));
  } catch (error) {
    if (statusOf(error) !== 404) throw error;
  }
  const ref = middlewareRef(namespace, name);
  const routers = (ingress.metadata?.annotations?.[routerAnnotation] ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  if (deps.patchIngresses && routers.includes(ref)) {
    const rest = routers.filter((r) => r !== ref);
    const annotations = { ...ingress.metadata?.annotations };
    if (rest.length) annotations[routerAnnotation] = rest.join(',');
    else delete annotations[routerAnnotation];
    await deps.api.replaceIngress({ ...ingress, metadata: { ...ingress.metadata, annotations } });
  }
}

/** Ids of forward-auth apps declared from Ingresses. */
export async function listIngressAppIds(db: Db): Promise<string[]> {
  return (await listForwardAuthApps(db)).filter((a) => a.source === 'cluster').map((a) => a.config.id);
}
