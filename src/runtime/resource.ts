// What the runtime needs to know about a kind to reach it over REST (group, version, plural,
// scope), the URL paths that follow, the shape of an object, and its cache key.
import type { V1OwnerReference } from '@kubernetes/client-node';

/**
 * Any Kubernetes object. What the runtime handles is plain JSON as the server sent it, so times
 * are strings; `Date` is allowed too so that client-node's model types (V1Deployment, ...) fit.
 */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata?: ObjectMeta;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  generation?: number;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  finalizers?: string[];
  ownerReferences?: V1OwnerReference[];
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  managedFields?: unknown[];
}

export interface ResourceType {
  group: string; // '' for the core group
  version: string;
  plural: string;
  kind: string;
  namespaced: boolean;
}

/** A resource whose objects are of type T: informers and reads made from it are typed with it. */
export interface TypedResource<T> extends ResourceType {
  /** Never set: carries T for the type checker. */
  readonly object?: T;
}

export function apiVersionOf(resource: ResourceType): string {
  return resource.group ? `${resource.group}/${resource.version}` : resource.version;
}

export function sameResource(a: ResourceType, b: ResourceType): boolean {
  return a.group === b.group && a.version === b.version && a.plural === b.plural;
}

/** `/api/v1/namespaces/ns/services/name/status` and the like; without a name, the collection. */
export function resourcePath(
  resource: ResourceType,
  at: { namespace?: string; name?: string; subresource?: string } = {},
): string {
  const parts = [resource.group ? `/apis/${resource.group}/${resource.version}` : `/api/${resource.version}`];
  if (resource.namespaced && at.namespace) parts.push('namespaces', encodeURIComponent(at.namespace));
  parts.push(resource.plural);
  if (at.name) parts.push(encodeURIComponent(at.name));
  if (at.name && at.subresource) parts.push(at.subresource);
  return parts.join('/');
}

/** "namespace/name", or "name" for a cluster-scoped object. */
export function objectKey(obj: KubeObject): string {
  const name = obj.metadata?.name ?? '';
  const namespace = obj.metadata?.namespace;
  return namespace ? `${namespace}/${name}` : name;
}

export function parseKey(key: string): { namespace?: string; name: string } {
  const slash = key.indexOf('/');
  return slash < 0 ? { name: key } : { namespace: key.slice(0, slash), name: key.slice(slash + 1) };
}

/** The built-in kinds the operator reads or writes. */
export const builtin = {
  namespace: { group: '', version: 'v1', plural: 'namespaces', kind: 'Namespace', namespaced: false },
  service: { group: '', version: 'v1', plural: 'services', kind: 'Service', namespaced: true },
  secret: { group: '', version: 'v1', plural: 'secrets', kind: 'Secret', namespaced: true },
  configMap: { group: '', version: 'v1', plural: 'configmaps', kind: 'ConfigMap', namespaced: true },
  deployment: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true },
  statefulSet: { group: 'apps', version: 'v1', plural: 'statefulsets', kind: 'StatefulSet', namespaced: true },
  podDisruptionBudget: { group: 'policy', version: 'v1', plural: 'poddisruptionbudgets', kind: 'PodDisruptionBudget', namespaced: true },
  lease: { group: 'coordination.k8s.io', version: 'v1', plural: 'leases', kind: 'Lease', namespaced: true },
  event: { group: 'events.k8s.io', version: 'v1', plural: 'events', kind: 'Event', namespaced: true },
} as const satisfies Record<string, ResourceType>;
