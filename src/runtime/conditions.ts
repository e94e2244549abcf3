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

/**
 * The status's conditions: exactly `inputs`, in their order (every other type dropped), each
 * keeping its lastTransitionTime while its status holds.
 */
export function replaceConditions(previous: readonly Condition[] | undefined, inputs: readonly ConditionInput[], now: Date, observedGeneration?: number): Condition[] {
  return inputs.flatMap((input) => setCondition(previous?.filter((c) => c.type === input.type), input, now, observedGeneration));
}

/** Why, for a person: a PascalCase reason and a sentence. */
export interface Verdict {
  reason: string;
  message: string;
}

/** The kstatus condition types (https://github.com/kubernetes-sigs/cli-utils/tree/master/pkg/kstatus). */
export const KSTATUS = { reconciling: 'Reconciling', stalled: 'Stalled' } as const;

/**
 * kstatus's conditions from one judgement of a reconcile, the same for every kind: Stalled when a
 * person must act (it wins), otherwise Reconciling while work is left, neither once the object is
 * settled (kstatus reads that as Current). Argo CD and `kubectl wait` read them without our code.
 */
export function kstatusConditions(stalled: Verdict | undefined, reconciling: Verdict | undefined): ConditionInput[] {
  if (stalled) return [{ type: KSTATUS.stalled, status: 'True', reason: stalled.reason, message: stalled.message }];
  if (reconciling) return [{ type: KSTATUS.reconciling, status: 'True', reason: reconciling.reason, message: reconciling.message }];
  return [];
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
