// The few Kubernetes API calls the operator makes, over @kubernetes/client-node: AccouchClients (list/watch
// through an informer, status), Secrets (by name only: Accouch never lists them), Events and the Lease.
import {
  CoordinationV1Api, CoreV1Api, CustomObjectsApi, KubeConfig, ListWatch, NetworkingV1Api, Watch,
  type KubernetesListObject, type V1Ingress, type V1Lease, type V1Secret,
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
  /** An Event about an AccouchClient (or, with apiVersion and kind, any other object). */
  event(about: Involved, type: 'Normal' | 'Warning', reason: string, message: string, instance: string): Promise<void>;
  /** An informer over Ingresses of one namespace, or of all (''). Not started. */
  ingressInformer(namespace: string): ListWatch<V1Ingress>;
  replaceIngress(ingress: V1Ingress): Promise<void>;
  readCustom(group: string, version: string, namespace: string, plural: string, name: string): Promise<Record<string, unknown> | undefined>;
  createCustom(group: string, version: string, namespace: string, plural: string, body: Record<string, unknown>): Promise<void>;
  replaceCustom(group: string, version: string, namespace: string, plural: string, body: Record<string, unknown> & { metadata: Record<string, unknown> }): Promise<void>;
  deleteCustom(group: string, version: string, namespace: string, plural: string, name: string): Promise<void>;
  readLease(namespace: string, name: string): Promise<V1Lease | undefined>;
  createLease(namespace: string, lease: V1Lease): Promise<V1Lease>;
  replaceLease(namespace: string, lease: V1Lease): Promise<V1Lease>;
}

export interface Involved {
  apiVersion?: string;
  kind?: string;
  metadata: { namespace: string; name: string; uid: string; resourceVersion?: string };
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
  const networking = kc.makeApiClient(NetworkingV1Api);
  return {
    ingressInformer(namespace) {
      const path = namespace ? `/apis/networking.k8s.io/v1/namespaces/${namespace}/ingresses` : '/apis/networking.k8s.io/v1/ingresses';
      const list = () => (namespace ? networking.listNamespacedIngress({ namespace }) : networking.listIngressForAllNamespaces());
      return new ListWatch(path, new BookmarkWatch(kc), list as () => Promise<KubernetesListObject<V1Ingress>>, false);
    },
    async replaceIngress(ingress) {
      await networking.replaceNamespacedIngress({ namespace: ingress.metadata!.namespace!, name: ingress.metadata!.name!, body: ingress });
    },
    readCustom: (group, version, namespace, plural, name) => orUndefinedOn404(custom.getNamespacedCustomObject({ group, version, namespace, plural, name }) as Promise<Record<string, unknown>>),
    async createCustom(group, version, namespace, plural, body) {
      await custom.createNamespacedCustomObject({ group, version, namespace, plural, body });
    },
    async replaceCustom(group, version, namespace, plural, body) {
      await custom.replaceNamespacedCustomObject({ group, version, namespace, plural, name: String(body.metadata.name), body });
    },
    async deleteCustom(group, version, namespace, plural, name) {
      await orUndefinedOn404(custom.deleteNamespacedCustomObject({ group, version, namespace, plural, name }));
    },
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
    async event(about, type, reason, message, instance) {
      const { namespace, name, uid, resourceVersion } = about.metadata;
      const now = new Date();
      await core.createNamespacedEvent({
        namespace,
        body: {
          metadata: { generateName: `${name}.`, namespace },
          involvedObject: { apiVersion: about.apiVersion ?? apiVersion, kind: about.kind ?? kind, namespace, name, uid, resourceVersion },
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
