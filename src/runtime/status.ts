// Status writes through the /status subresource, skipped when nothing changed. The new status
// replaces the old one whole (JSON patch `add /status`), so a field we drop is really dropped.
import { isDeepStrictEqual } from 'node:util';
import { ContentType, type KubeClient } from './kube-client.js';
import { FIELD_MANAGER } from './apply.js';
import { resourcePath, type KubeObject, type ResourceType } from './resource.js';

/**
 * True when `next` differs from `current` in anything at all. Both are compared as the JSON that
 * would be sent, so an `undefined` field equals a missing one.
 */
export function statusChanged(current: unknown, next: unknown): boolean {
  return !isDeepStrictEqual(asJson(current), asJson(next));
}

/** Writes `status` unless `live` (the object as last seen) already has exactly it. */
export async function writeStatus<S>(
  client: KubeClient,
  resource: ResourceType,
  live: KubeObject & { status?: unknown },
  status: S,
): Promise<'unchanged' | 'written'> {
  if (!statusChanged(live.status, status)) return 'unchanged';
  const { name, namespace } = live.metadata ?? {};
  if (!name) throw new Error('writeStatus: the object has no name');
  await client.request({
    method: 'PATCH',
    path: resourcePath(resource, { namespace, name, subresource: 'status' }),
    query: { fieldManager: FIELD_MANAGER },
    contentType: ContentType.jsonPatch,
    body: [{ op: 'add', path: '/status', value: asJson(status) ?? {} }],
  });
  return 'written';
}

function asJson(value: unknown): unknown {
  return value === undefined ? undefined : JSON.parse(JSON.stringify(value));
}
