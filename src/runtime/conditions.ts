// Kubernetes-style status conditions, pure: set one (lastTransitionTime moves only when the status
// moves), read them, and the kstatus conditions (Reconciling, Stalled) that Argo CD and kstatus
// read without custom code.
import { kubeTime } from './kube-time.js';
export type ConditionStatus = 'True' | 'False' | 'Unknown';

export interface Condition {
  type: string;
  status: ConditionStatus;
  /** PascalCase, e.g. `KafkaNotReady`. */
  reason: string;
  /** A sentence a person can act on. */
  message: string;
  lastTransitionTime: string;
  observedGeneration?: number;
}

export type ConditionInput = Omit<Condition, 'lastTransitionTime' | 'observedGeneration'>;

const PASCAL_CASE = /^[A-Z][A-Za-z0-9]*$/;

/**
 * Returns a new list with `input` set: added if its type is new, otherwise replaced in place,
 * keeping the old lastTransitionTime unless the status changed.
 */
export function setCondition(
  conditions: readonly Condition[] | undefined,
  input: ConditionInput,
  now: Date,
  observedGeneration?: number,
): Condition[] {
  if (!PASCAL_CASE.test(input.reason)) throw new Error(`condition reason must be PascalCase, got "${input.reason}"`);
  if (!PASCAL_CASE.test(input.type)) throw new Error(`condition type must be PascalCase, got "${input.type}"`);
  const list = [...(conditions ?? [])];
  const index = list.findIndex((c) => c.type === input.type);
  const previous = index >= 0 ? list[index] : undefined;
  const next: Condition = {
    type: input.type,
    status: input.status,
    reason: input.reason,
    message: input.message,
    lastTransitionTime: previous && previous.status === input.status ? previous.lastTransitionTime : kubeTime(now),
    ...(observedGeneration !== undefined ? { observedGeneration } : {}),
  };
  if (index >= 0) list[index] = next;
  else list.push(next);
  return list;
}

export function removeCondition(conditions: readonly Condition[] | undefined, type: string): Condition[] {
  return (conditions ?? []).filter((c) => c.type !== type);
}

export function getCondition(conditions: readonly Condition[] | undefined, type: string): Condition | undefined {
  return conditions?.find((c) => c.type === type);
}

export function isConditionTrue(conditions: readonly Condition[] | undefined, type: string): boolean {
  return getCondition(conditions, type)?.status === 'True';
}
