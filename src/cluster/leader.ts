// One replica reconciles at a time: a coordination.k8s.io Lease, taken and renewed the way client-go's leader
// election does (expiry judged by when this replica last saw the record change, not by comparing clocks).
import type { V1Lease } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { statusOf, type KubeApi } from './kube-api.js';

export interface LeaderElection {
  /** Gives the Lease up (so another replica takes over at once) and stops trying. */
  stop(): Promise<void>;
}

export interface LeaderOptions {
  api: KubeApi;
  namespace: string;
  name: string;
  identity: string;
  /** Seconds a holder keeps the Lease without renewing it. */
  duration: number;
  log: Logger;
  onStartedLeading(): void;
  onStoppedLeading(): void;
}

export function startLeaderElection(o: LeaderOptions): LeaderElection {
  const retryMs = Math.max(500, (o.duration * 1000) / 3);
  const renewDeadlineMs = (o.duration * 1000 * 2) / 3;
  let leading = false;
  let stopped = false;
  let lastRenewed = 0;
  // The record as last seen, and when (by our clock) it last changed.
  let observed: { holder: string; renewTime: string; transitions: number } | undefined;
  let observedAt = 0;
  let timer: NodeJS.Timeout | undefined;

  const lease = (existing: V1Lease | undefined, transitions: number, acquire: boolean): V1Lease => {
    const now = new Date();
    return {
      apiVersion: 'coordination.k8s.io/v1',
      kind: 'Lease',
      metadata: { ...(existing?.metadata ?? {}), name: o.name, namespace: o.namespace },
      spec: {
        holderIdentity: o.identity,
        leaseDurationSeconds: o.duration,
        acquireTime: acquire ? now : existing?.spec?.acquireTime,
        renewTime: now,
        leaseTransitions: transitions,
      },
    };
  };

  const setLeading = (value: boolean) => {
    if (value === leading) return;
    leading = value;
    o.log.info({ event: value ? 'kubernetes.leading' : 'kubernetes.following', identity: o.identity, lease: `${o.namespace}/${o.name}` },
      value ? 'this replica now reconciles AccouchClients' : 'this replica stopped reconciling AccouchClients');
    if (value) o.onStartedLeading();
    else o.onStoppedLeading();
  };

  /** One attempt: true when we hold the Lease afterwards. */
  const tryAcquireOrRenew = async (): Promise<boolean> => {
    const existing = await o.api.readLease(o.namespace, o.name);
    if (!existing) {
      await o.api.createLease(o.namespace, lease(undefined, 0, true));
      return true;
    }
    const spec = existing.spec ?? {};
    const record = { holder: spec.holderIdentity ?? '', renewTime: String(spec.renewTime ?? ''), transitions: spec.leaseTransitions ?? 0 };
    if (!observed || observed.holder !== record.holder || observed.renewTime !== record.renewTime) {
      observed = record;
      observedAt = Date.now();
    }
    const ours = record.holder === o.identity;
    const durationMs = (spec.leaseDurationSeconds ?? o.duration) * 1000;
    if (!ours && record.holder && observedAt + durationMs > Date.now()) return false;
    await o.api.replaceLease(o.namespace, lease(existing, ours ? record.transitions : record.transitions + 1, !ours));
    return true;
  };

  const tick = async () => {
    if (stopped) return;
    try {
      const held = await tryAcquireOrRenew();
      if (held) lastRenewed = Date.now();
      setLeading(held);
    } catch (error) {
      const status = statusOf(error);
      // 409: someone else wrote the Lease between our read and write; they hold it now.
      if (status === 409) setLeading(false);
      else o.log.warn({ event: 'kubernetes.unreachable', err: error }, 'cannot reach the Kubernetes API for the Lease: retrying');
      if (leading && Date.now() - lastRenewed > renewDeadlineMs) setLeading(false);
    }
    if (!stopped) timer = setTimeout(tick, retryMs);
  };
  timer = setTimeout(tick, 0);

  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      const wasLeading = leading;
      setLeading(false);
      if (!wasLeading) return;
      try {
        const existing = await o.api.readLease(o.namespace, o.name);
        if (existing?.spec?.holderIdentity === o.identity) {
          await o.api.replaceLease(o.namespace, { ...existing, spec: { ...existing.spec, holderIdentity: '', leaseDurationSeconds: 1 } });
        }
      } catch (error) {
        o.log.warn({ err: error }, 'could not give the Lease up; another replica takes over when it expires');
      }
    },
  };
}
