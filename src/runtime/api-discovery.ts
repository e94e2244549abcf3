// Whether the API server serves an API group version (its CRDs are installed), and a poll that
// says when one that was missing appears: informers are set up at start, so an operator started
// before Strimzi's CRDs exits once they are there, for its Deployment to start it again.
import { isNotFound, type KubeClient } from './kube-client.js';

/** True when the API server serves `/apis/<groupVersion>` (for example `kafka.strimzi.io/v1`). */
export async function apiServed(client: KubeClient, groupVersion: string): Promise<boolean> {
  try {
    await client.request({ method: 'GET', path: `/apis/${groupVersion}` });
    return true;
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/** Whether `groupVersion` serves a resource of this plural (a CRD of a group may be missing after an upgrade). */
export async function resourceServed(client: KubeClient, groupVersion: string, plural: string): Promise<boolean> {
  try {
    const list = await client.request<{ resources?: { name?: string }[] }>({ method: 'GET', path: `/apis/${groupVersion}` });
    return (list?.resources ?? []).some((r) => r.name === plural);
  } catch (err) {
    if (isNotFound(err)) return false;
    throw err;
  }
}

/**
 * Asks every `intervalMs` whether `groupVersion` is served yet; calls `onServed` once when it is,
 * and stops. Errors (an API server restarting) count as "not yet". Returns a function that stops
 * the poll.
 */
export function whenApiServed(client: KubeClient, groupVersion: string, intervalMs: number, onServed: () => void): () => void {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  const tick = async () => {
    const served = await apiServed(client, groupVersion).catch(() => false);
    if (stopped) return;
    if (served) {
      stopped = true;
      onServed();
      return;
    }
    timer = setTimeout(() => void tick(), intervalMs);
    timer.unref();
  };
  timer = setTimeout(() => void tick(), intervalMs);
  timer.unref();
  return () => {
    stopped = true;
    if (timer) clearTimeout(timer);
  };
}
