// Status writes through the /status subresource, skipped when nothing changed. The new status
// replaces the old one whole (JSON patch `add /status`), so a field we drop is really dropped, and
// only over the object it was decided on: the patch carries the resourceVersion read, which the API
// server takes as a precondition (409 Conflict when the object changed since). The change that
// beat us reaches the informer and wakes the reconcile again, which decides on the fresh object.
import { isDeepStrictEqual } from 'node:util';
import { ContentType, isConflict, type KubeClient } from './kube-client.js';
import { FIELD_MANAGER } from './apply.js';
import { resourcePath, type KubeObject, type ResourceType } from './resource.js';

/**
 * True when `next` differs from `current` in anything at all. Both are compared as the JSON that
 * would be sent, so an `undefined` field equals a missing one.
 */
export function statusChanged(current: unknown, next: unknown): boolean {
  return !isDeepStrictEqual(asJson(current), asJson(next));
}

/**
 * Writes `status` unless `live` (the object as last seen) already has exactly it; 'conflict' when
 * the object changed since `live` was read (nothing is written then).
 */
export async function writeStatus<S>(
  client: KubeClient,
  resource: ResourceType,
  live: KubeObject & { status?: unknown },
  status: S,
): Promise<'unchanged' | 'written' | 'conflict'> {
  if (!statusChanged(live.status, status)) return 'unchanged';
  const { name, namespace, resourceVersion } = live.metadata ?? {};
  if (!name) throw new Error('writeStatus: the object has no name');
  try {
    await client.request({
      method: 'PATCH',
      path: resourcePath(resource, { namespace, name, subresource: 'status' }),
      query: { fieldManager: FIELD_MANAGER },
      contentType: ContentType.jsonPatch,
      body: [
        ...(resourceVersion ? [{ op: 'add', path: '/metadata/resourceVersion', value: resourceVersion }] : []),
        { op: 'add', path: '/status', value: asJson(status) ?? {} },
      ],
    });
  } catch (err) {
    if (isConflict(err)) return 'conflict';
    throw err;
  }
  return 'written';
}

function asJson(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
