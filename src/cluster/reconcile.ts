// Brings one AccouchClient's world in line with it: the registered client, the Secret beside the resource, its
// status and Events; or, for a resource that is gone, removes its client with every grant and token. Idempotent:
// a resync that finds everything as it should be writes nothing.
import type { V1Secret } from '@kubernetes/client-node';
import { removeClientAndTokens, newClientSecret } from '../auth/admin.js';
import { recordAudit } from '../store/audit.js';
import { findClient, upsertClusterClient } from '../store/clients.js';
import type { Db } from '../store/db.js';
import type { Logger } from '../log.js';
import type { KubeApi } from './kube-api.js';
import {
  apiVersion, kind, planClient, readyCondition, secretData, type AccouchClientResource, type AccouchClientStatus, clientIdOf,
} from './resource.js';

export interface ReconcileDeps {
  db: Db;
  api: KubeApi;
  issuer: string;
  log: Logger;
  /** This replica, as Events name it. */
  identity: string;
}

const encode = (data: Record<string, string>) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString('base64')]));
const decode = (data: Record<string, string> = {}) => Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v, 'base64').toString('utf8')]));
const sameData = (a: Record<string, string>, b: Record<string, string>) => JSON.stringify(Object.entries(a).sort()) === JSON.stringify(Object.entries(b).sort());
/** JSON with keys sorted at every level: equal values, equal text, whatever order their keys were built in. */
const canonical = (value: unknown): string => JSON.stringify(value, (_key, v: unknown) => (
  v && typeof v === 'object' && !Array.isArray(v) ? Object.fromEntries(Object.entries(v).sort(([a], [b]) => a.localeCompare(b))) : v));
const sameStatus = (a: AccouchClientStatus | undefined, b: AccouchClientStatus) => canonical(a ?? {}) === canonical(b);

const ownedBy = (secret: V1Secret, resource: AccouchClientResource) =>
  (secret.metadata?.ownerReferences ?? []).some((ref) => ref.uid === resource.metadata.uid);

/** Writes status and, when the Ready condition changed, an Event saying the same. */
async function report(deps: ReconcileDeps, resource: AccouchClientResource, status: AccouchClientStatus, event?: { type: 'Normal' | 'Warning'; reason: string; message: string }) {
  const ordered: AccouchClientStatus = {
    observedGeneration: status.observedGeneration,
    ...(status.clientId ? { clientId: status.clientId } : {}),
    ...(status.secretName ? { secretName: status.secretName } : {}),
    ...(status.secretRotation !== undefined ? { secretRotation: status.secretRotation } : {}),
    conditions: status.conditions,
  };
  if (!sameStatus(resource.status, ordered)) await deps.api.writeStatus(resource, ordered);
  if (event) await deps.api.event(resource, event.type, event.reason, event.message, deps.identity);
}

/** Reconciles a resource that exists. Throws on API or database errors (the caller retries). */
export async function reconcileResource(deps: ReconcileDeps, resource: AccouchClientResource, now = new Date()): Promise<void> {
  const { namespace, name } = resource.metadata;
  const id = clientIdOf(namespace, name);
  const generation = resource.metadata.generation;
  const previous = resource.status?.conditions;
  const refuse = async (reason: string, message: string) => {
    const condition = readyCondition(previous, { status: 'False', reason, message, observedGeneration: generation }, now);
    const changed = JSON.stringify(previous?.find((c) => c.type === 'Ready')) !== JSON.stringify(condition);
    deps.log.warn({ event: 'kubernetes.refused', resource: `${namespace}/${name}`, reason }, message);
    await report(deps, resource, { ...resource.status, observedGeneration: generation, conditions: [condition] },
      changed ? { type: 'Warning', reason, message } : undefined);
  };

  const existing = await findClient(deps.db, id);
  if (existing && existing.source !== 'cluster') {
    return refuse('IdConflict', `client id "${id}" is already taken by an app ${existing.source === 'cli' ? 'registered with the CLI or the owner console' : 'declared in the configuration file'}`);
  }
  const plan = planClient(resource, existing?.config.secret, newClientSecret);
  if (!plan.ok) {
    const kept = existing ? ` (the client registered before stays as it was)` : '';
    return refuse('InvalidSpec', `${plan.field}: ${plan.reason}${kept}`);
  }

  // The Secret first: a name another object already uses is not ours to overwrite.
  const secret = await deps.api.readSecret(namespace, plan.secretName);
  if (secret && !ownedBy(secret, resource)) {
    return refuse('SecretConflict', `Secret "${plan.secretName}" exists and does not belong to this AccouchClient: choose another spec.secretName`);
  }

  const changedClient = !existing || canonical(existing.config) !== canonical(plan.client);
  if (changedClient) {
    await upsertClusterClient(deps.db, plan.client);
    await recordAudit(deps.db, {
      event: existing ? (plan.rotated ? 'client.secret_rotated' : 'client.updated') : 'client.created',
      actor: 'kubernetes', detail: { client: id, resource: `${namespace}/${name}` },
    });
    deps.log.info({ event: existing ? 'client.updated' : 'client.created', client: id }, existing ? 'client updated from its AccouchClient' : 'client registered from an AccouchClient');
  }

  const data = secretData(plan, deps.issuer);
  const body: V1Secret = {
    apiVersion: 'v1',
    kind: 'Secret',
    type: 'Opaque',
    metadata: {
      ...(secret?.metadata ?? {}),
      name: plan.secretName,
      namespace,
      labels: { ...(secret?.metadata?.labels ?? {}), 'app.kubernetes.io/managed-by': 'accouch' },
      // Kubernetes' garbage collector deletes the Secret with its AccouchClient.
      ownerReferences: [{ apiVersion, kind, name, uid: resource.metadata.uid, controller: true, blockOwnerDeletion: true }],
    },
    data: encode(data),
  };
  if (!secret) await deps.api.createSecret(namespace, body);
  else if (!sameData(decode(secret.data), data)) await deps.api.replaceSecret(namespace, body);

  // A Secret left behind under an old spec.secretName goes, if it is ours.
  const oldName = resource.status?.secretName;
  if (oldName && oldName !== plan.secretName) {
    const old = await deps.api.readSecret(namespace, oldName);
    if (old && ownedBy(old, resource)) await deps.api.deleteSecret(namespace, oldName);
  }

  const message = `client "${id}" is registered; its credentials are in Secret "${plan.secretName}"`;
  const condition = readyCondition(previous, { status: 'True', reason: 'Registered', message, observedGeneration: generation }, now);
  const event = plan.rotated ? { type: 'Normal' as const, reason: 'SecretRotated', message: `new client secret for "${id}" in Secret "${plan.secretName}"; the old one no longer works` }
    : !existing ? { type: 'Normal' as const, reason: 'Registered', message }
      : changedClient ? { type: 'Normal' as const, reason: 'Updated', message: `client "${id}" updated` }
        : previous?.find((c) => c.type === 'Ready')?.status !== 'True' ? { type: 'Normal' as const, reason: 'Registered', message } : undefined;
  await report(deps, resource, {
    observedGeneration: generation,
    clientId: id,
    secretName: plan.secretName,
    secretRotation: plan.rotation ?? resource.status?.secretRotation,
    conditions: [condition],
  }, event);
}

/** The resource is gone: its client goes with every grant and token (its Secret goes with it through its owner reference). */
export async function removeVanished(deps: ReconcileDeps, id: string): Promise<void> {
  const existing = await findClient(deps.db, id);
  if (existing?.source !== 'cluster') return;
  await removeClientAndTokens(deps.db, id, { actor: 'kubernetes' });
  deps.log.info({ event: 'client.removed', client: id }, 'client removed: its AccouchClient was deleted');
}
