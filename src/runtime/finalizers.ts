// Finalizers added and removed with a resourceVersion guard: the merge patch carries the
// resourceVersion we read, so a concurrent change answers 409 Conflict and the queue retries the
// reconcile on fresh data instead of us overwriting someone else's finalizer list.
import { FIELD_MANAGER } from './apply.js';
import { ContentType, isNotFound, type KubeClient } from './kube-client.js';
import { resourcePath, type KubeObject, type ResourceType } from './resource.js';

export function hasFinalizer(obj: KubeObject, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

export function isBeingDeleted(obj: KubeObject): boolean {
  return Boolean(obj.metadata?.deletionTimestamp);
}

/** Adds `finalizer` unless present or the object is already being deleted (the API forbids it). */
export async function addFinalizer(client: KubeClient, resource: ResourceType, obj: KubeObject, finalizer: string): Promise<boolean> {
  if (hasFinalizer(obj, finalizer) || isBeingDeleted(obj)) return false;
  await patchFinalizers(client, resource, obj, [...(obj.metadata?.finalizers ?? []), finalizer]);
  return true;
}

/** Removes `finalizer`; an object already gone counts as done. */
export async function removeFinalizer(client: KubeClient, resource: ResourceType, obj: KubeObject, finalizer: string): Promise<boolean> {
  if (!hasFinalizer(obj, finalizer)) return false;
  try {
    await patchFinalizers(client, resource, obj, (obj.metadata?.finalizers ?? []).filter((f) => f !== finalizer));
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
  return true;
}

async function patchFinalizers(client: KubeClient, resource: ResourceType, obj: KubeObject, finalizers: string[]): Promise<void> {
  const { name, namespace, resourceVersion } = obj.metadata ?? {};
  if (!name || !resourceVersion) throw new Error('finalizers: the object needs metadata.name and metadata.resourceVersion');
  await client.request({
    method: 'PATCH',
    path: resourcePath(resource, { namespace, name }),
    query: { fieldManager: FIELD_MANAGER },
    contentType: ContentType.mergePatch,
    body: { metadata: { resourceVersion, finalizers } },
  });
}
