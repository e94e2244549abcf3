// Children through server-side apply (field manager `cell-operator`, force), owner references,
// deletion of children no longer desired (desired `null` = delete, and pruning by label), and a
// no-op check so that a steady-state reconcile writes nothing.
//
// No-op check, chosen: every applied object carries an annotation with a hash of the desired
// object, and an apply is skipped when the live object (from an informer cache) contains every
// field of the desired one with an equal value — the annotation included. The hash catches a field
// we stopped setting (a plain "desired ⊆ live" test cannot see a removal); the field comparison
// catches someone else changing a field we own. Builders must therefore write values as the server
// keeps them (`cpu: "1"`, not `"1000m"`; a Secret's `data`, not `stringData`), or the object is
// re-applied on every reconcile — the debug log names the first differing field.
//
// We send the request through our raw client rather than KubernetesObjectApi.patch: that one
// re-serialises built-in kinds through client-node's model classes (dropping any field they do
// not know) and first asks the discovery API for the plural, which we already know.
import { createHash } from 'node:crypto';
import type { V1OwnerReference } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import type { Informer } from './informer.js';
import { ContentType, isNotFound, type KubeClient } from './kube-client.js';
import { objectKey, resourcePath, sameResource, type KubeObject, type ResourceType } from './resource.js';

export const FIELD_MANAGER = 'cell-operator';
export const APPLIED_HASH_ANNOTATION = 'cells.platform.io/applied-hash';

/** The reference that makes `owner` the controller of a child (and lets GC delete the child). */
export function ownerReference(owner: KubeObject): V1OwnerReference {
  const { apiVersion, kind } = owner;
  const { name, uid } = owner.metadata ?? {};
  if (!apiVersion || !kind || !name || !uid) throw new Error('ownerReference: the owner needs apiVersion, kind, name and uid');
  return { apiVersion, kind, name, uid, controller: true, blockOwnerDeletion: true };
}

/** A hash of the desired object, ignoring the hash annotation itself. */
export function appliedHash(desired: KubeObject): string {
  const annotations = { ...desired.metadata?.annotations };
  delete annotations[APPLIED_HASH_ANNOTATION];
  const canonical = stableStringify({ ...desired, metadata: { ...desired.metadata, annotations } });
  return createHash('sha256').update(canonical).digest('hex').slice(0, 20);
}

export function withAppliedHash<T extends KubeObject>(desired: T): T {
  const metadata = desired.metadata ?? {};
  return { ...desired, metadata: { ...metadata, annotations: { ...metadata.annotations, [APPLIED_HASH_ANNOTATION]: appliedHash(desired) } } };
}

/**
 * The path of the first field of `desired` that `live` lacks or holds with another value, or
 * undefined when live contains all of desired. Lists must match in length and element by element.
 */
export function firstDifference(desired: unknown, live: unknown, path = ''): string | undefined {
  if (desired === undefined) return undefined;
  if (desired === null) return live === null || live === undefined ? undefined : path || '.';
  if (Array.isArray(desired)) {
    if (!Array.isArray(live) || live.length !== desired.length) return path || '.';
    for (const [i, item] of desired.entries()) {
      const diff = firstDifference(item, live[i], `${path}[${i}]`);
      if (diff !== undefined) return diff;
    }
    return undefined;
  }
  if (typeof desired === 'object') {
    if (typeof live !== 'object' || live === null || Array.isArray(live)) return path || '.';
    for (const [key, value] of Object.entries(desired)) {
      const diff = firstDifference(value, (live as Record<string, unknown>)[key], `${path}.${key}`);
      if (diff !== undefined) return diff;
    }
    return undefined;
  }
  return desired === live ? undefined : path || '.';
}

/** True when applying `desired` (hash annotation added) to `live` would change nothing of ours. */
export function isApplied(desired: KubeObject, live: KubeObject | undefined): boolean {
  return live !== undefined && firstDifference(withAppliedHash(desired), live) === undefined;
}

export function labelSelector(labels: Record<string, string>): string {
  return Object.entries(labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
}

export interface ApplierOptions {
  client: KubeClient;
  /**
   * Informers whose caches hold the live children; they make the no-op check possible and spare
   * reads. A cache must hold every object of its kind that we write (all carry the managed-by
   * label), since absence from it is taken as absence from the cluster.
   */
  caches?: Iterable<Informer>;
  /**
   * Kinds (`Secret`) with no cache that are read by name before an apply, for the same no-op
   * check: a GET instead of a PATCH on every reconcile (the operator may not watch them).
   */
  readBeforeApply?: ReadonlySet<string>;
  fieldManager?: string;
  logger?: Logger;
}

export type ChildOutcome = 'unchanged' | 'applied' | 'deleted' | 'absent';

export class Applier {
  private readonly caches: Informer[];
  private readonly log: Logger;

  constructor(private readonly options: ApplierOptions) {
    this.caches = [...(options.caches ?? [])];
    this.log = options.logger ?? silentLogger();
  }

  /** Server-side apply of `desired`, skipped when the cached live object already matches. */
  async apply(resource: ResourceType, desired: KubeObject): Promise<'unchanged' | 'applied'> {
    const { name, namespace } = desired.metadata ?? {};
    if (!desired.apiVersion || !desired.kind || !name) throw new Error('apply: the object needs apiVersion, kind and metadata.name');
    if (resource.namespaced && !namespace) throw new Error(`apply: ${resource.kind} ${name} needs a namespace`);
    const body = withAppliedHash(desired);
    const live = this.cacheFor(resource)?.get(objectKey(body)) ?? (await this.readUncached(resource, namespace, name));
    if (live) {
      const diff = firstDifference(body, live);
      if (diff === undefined) return 'unchanged';
      this.log.debug({ kind: resource.kind, key: objectKey(body), field: diff }, 'live object differs; applying');
    }
    await this.options.client.request({
      method: 'PATCH',
      path: resourcePath(resource, { namespace, name }),
      query: { fieldManager: this.options.fieldManager ?? FIELD_MANAGER, force: true },
      contentType: ContentType.apply,
      body,
    });
    return 'applied';
  }

  /** Deletes the object (background propagation) unless the cache knows it is gone or going. */
  async delete(resource: ResourceType, ref: { name: string; namespace?: string }): Promise<'deleted' | 'absent'> {
    const cache = this.cacheFor(resource);
    const live = cache?.get(ref.namespace ? `${ref.namespace}/${ref.name}` : ref.name);
    if (cache?.hasSynced() && !live) return 'absent';
    if (live?.metadata?.deletionTimestamp) return 'deleted';
    const uid = live?.metadata?.uid;
    try {
      await this.options.client.request({
        method: 'DELETE',
        path: resourcePath(resource, ref),
        // The uid precondition keeps us from deleting a newer object of the same name.
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', ...(uid ? { preconditions: { uid } } : {}) },
      });
    } catch (err) {
      if (isNotFound(err)) return 'absent';
      throw err;
    }
    return 'deleted';
  }

  /** Strimzi's "resource operator" step: desired `null` means the child must not exist. */
  reconcile(resource: ResourceType, ref: { name: string; namespace?: string }, desired: KubeObject | null): Promise<ChildOutcome> {
    return desired ? this.apply(resource, desired) : this.delete(resource, ref);
  }

  /**
   * Deletes the objects of `resource` that carry all of `selector` (e.g. managed-by + the cell
   * label) and whose name is not in `keep`. Returns the names it deleted.
   */
  async prune(
    resource: ResourceType,
    scope: { namespace?: string; selector: Record<string, string>; keep: Iterable<string> },
  ): Promise<string[]> {
    const keep = new Set(scope.keep);
    const candidates = await this.listSelected(resource, scope.namespace, scope.selector);
    const doomed = candidates.filter((o) => !keep.has(o.metadata?.name ?? '') && !o.metadata?.deletionTimestamp);
    const deleted: string[] = [];
    for (const obj of doomed) {
      const name = obj.metadata?.name ?? '';
      if ((await this.delete(resource, { name, namespace: obj.metadata?.namespace })) === 'deleted') deleted.push(name);
    }
    return deleted;
  }

  private async listSelected(resource: ResourceType, namespace: string | undefined, selector: Record<string, string>): Promise<KubeObject[]> {
    const cache = this.cacheFor(resource);
    const matches = (o: KubeObject) => Object.entries(selector).every(([k, v]) => o.metadata?.labels?.[k] === v);
    if (cache?.hasSynced()) return cache.list(namespace).filter(matches);
    const list = await this.options.client.request<{ items?: KubeObject[] }>({
      method: 'GET',
      path: resourcePath(resource, { namespace }),
      query: { labelSelector: labelSelector(selector) },
    });
    return list.items ?? [];
  }

  private async readUncached(resource: ResourceType, namespace: string | undefined, name: string): Promise<KubeObject | undefined> {
    if (!this.options.readBeforeApply?.has(resource.kind) || this.cacheFor(resource)) return undefined;
    try {
      return await this.options.client.request<KubeObject>({ method: 'GET', path: resourcePath(resource, { namespace, name }) });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  private cacheFor(resource: ResourceType): Informer | undefined {
    return this.caches.find((c) => sameResource(c.resource, resource));
  }
}

/** JSON with object keys sorted, so that equal objects hash equally. */
function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map((v) => stableStringify(v === undefined ? null : v)).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableStringify(v)}`).join(',')}}`;
  }
  return JSON.stringify(value) ?? 'null';
}
