// Compute resources from the Cell spec in the shape of a container spec: the spec allows integers
// (`cpu: 2`), the Pod API types quantities as strings.
import type { V1ResourceRequirements } from '@kubernetes/client-node';
import type { ResourceRequirements } from '../../crds/kube-types.js';

function quantities(list: Record<string, number | string> | undefined): Record<string, string> | undefined {
  if (!list) return undefined;
  return Object.fromEntries(Object.entries(list).map(([name, q]) => [name, String(q)]));
}

export function containerResources(spec: ResourceRequirements | undefined, fallback: V1ResourceRequirements): V1ResourceRequirements {
  if (!spec) return fallback;
  const requests = quantities(spec.requests);
  const limits = quantities(spec.limits);
  return { ...(requests ? { requests } : {}), ...(limits ? { limits } : {}) };
}
