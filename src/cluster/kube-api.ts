// The few Kubernetes API calls the operator makes, over @kubernetes/client-node: AccouchClients (list/watch
// through an informer, status), Secrets (by name only: Accouch never lists them), Events and the Lease.
import {
  CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, ListWatch, Watch,
  type KubernetesListObject, type V1Lease, type V1Secret,
} from '@kubernetes/client-node';
import { apiVersion, group, kind, plural, version, type AccouchClientResource, type AccouchClientStatus } from './resource.js';

export interface KubeApi {
  /** An informer over AccouchClients of one namespace, or of all ('' ). Not started. */
  clientInformer(namespace: string): ListWatch<AccouchClientResource & { metadata: { name: string } }>;
  writeStatus(resource: AccouchClientResource, status: AccouchClientStatus): Promise<void>;
  readSecret(namespace: string, name: string): Promise<V1Secret | undefined>;
  createSecret(namespace: string, secret: V1Secret): Promise<void>;
  replaceSecret(namespace: string, secret: V1Secret): Promise<void>;
  deleteSecret(namespace: string, name: string): Promise<void>;
  event(resource: AccouchClientResource, type: 'Normal' | 'Warning', reason: string, message: string, instance: string): Promise<void>;
  readLease(namespace: string, name: string): Promise<V1Lease | undefined>;
  createLease(namespace: string, lease: V1Lease): Promise<V1Lease>;
  replaceLease(namespace: string, lease: V1Lease): Promise<V1Lease>;
}

/** The HTTP status of a failed API call (client-node's ApiException carries it as `code`). */
export const statusOf = (error: unknown): number | undefined => {
  const e = error as { code?: unknown; statusCode?: unknown };
  return typeof e?.code === 'number' ? e.code : typeof e?.statusCode === 'number' ? e.statusCode : undefined;
};

const orUndefinedOn404 = async <T>(call: Promise<T>): Promise<T | undefined> => {
  try {
    return await call;
  } catch (error) {
    if (statusOf(error) === 404) return undefined;
    throw error;
  }
};

/** Watches ask for bookmarks, so a quiet watch still learns the latest resourceVersion (and is not timed out). */
class BookmarkWatch extends Watch {
  override watch(...[path, query, callback, done]: Parameters<Watch['watch']>): ReturnType<Watch['watch']> {
    return super.watch(path, { ...query, allowWatchBookmarks: true }, callback, done);
  }
}

/** A kubeconfig file, or the pod's service account (in-cluster) when none is given. */
export function loadKubeConfig(file: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (file) kc.loadFromFile(file);
  else kc.loadFromCluster();
  return kc;
}

export function createKubeApi(kc: KubeConfig): KubeApi {
  const custom = kc.makeApiClient(CustomObjectsApi);
  const core = kc.makeApiClient(CoreV1Api);
  const coordination = kc.makeApiClient(CoordinationV1Api);
  return {
    clientInformer(namespace) {
      const path = namespace ? `/apis/${group}/${version}/namespaces/${namespace}/${plural}` : `/apis/${group}/${version}/${plural}`;
      const list = () => (namespace
        ? custom.listNamespacedCustomObject({ group, version, namespace, plural })
        : custom.listClusterCustomObject({ group, version, plural })) as Promise<KubernetesListObject<AccouchClientResource & { metadata: { name: string } }>>;
      return new ListWatch(path, new BookmarkWatch(kc), list, false);
    },
    async writeStatus(resource, status) {
      const { namespace, name } = resource.metadata;
      // The resourceVersion makes this a compare-and-swap: a 409 means a newer version is on its way to the informer.
      await custom.replaceNamespacedCustomObjectStatus({
        group, version, namespace, plural, name, body: { apiVersion, kind, metadata: resource.metadata, spec: resource.spec, status },
      });
    },
    readSecret: (namespace, name) => orUndefinedOn404(core.readNamespacedSecret({ namespace, name })),
    async createSecret(namespace, secret) {
      await core.createNamespacedSecret({ namespace, body: secret });
    },
    async replaceSecret(namespace, secret) {
      await core.replaceNamespacedSecret({ namespace, name: secret.metadata!.name!, body: secret });
    },
    async deleteSecret(namespace, name) {
      await orUndefinedOn404(core.deleteNamespacedSecret({ namespace, name }));
    },
    async event(resource, type, reason, message, instance) {
      const { namespace, name, uid, resourceVersion } = resource.metadata;
      const now = new Date();
      await core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: { apiVersion, kind, namespace, name, uid, resourceVersion },
          type, reason, message: message.slice(0, 1024),
          source: { component: 'accouch' }, reportingComponent: 'accouch', reportingInstance: instance,
          firstTimestamp: now, lastTimestamp: now, count: 1,
        },
      });
    },
    readLease: (namespace, name) => orUndefinedOn404(coordination.readNamespacedLease({ namespace, name })),
    createLease: (namespace, lease) => coordination.createNamespacedLease({ namespace, body: lease }),
    replaceLease: (namespace, lease) => coordination.replaceNamespacedLease({ namespace, name: lease.metadata!.name!, body: lease }),
  };
}
