// What a Cell may reach beyond itself, decided by the cluster admin in one place: the namespaces a
// cell may live in, the namespaces its external database Secret may come from, and names its
// workloads may not take from the cell's own children (and where its database CA may come from). The same rule
// runs at admission (admission-policy.ts, a ValidatingAdmissionPolicy) and in the reconciler, so
// a Cell that got past a missing policy is still refused before anything is read or applied.
import type { Cell } from '../crds/cell.js';

/**
 * The operator's allowlist. An entry is a namespace name (`team-a`), a prefix ending in `*`
 * (`tenant-*`), or `*` alone (every namespace: only where every Cell author is trusted).
 */
export interface CellPolicy {
  /** The operator's own namespace: an external database Secret may always live there. */
  operatorNamespace: string;
  allowedNamespaces: readonly string[];
}

/** One allowlist entry: a DNS label, a DNS-label prefix followed by `*`, or `*`. */
export const ALLOWLIST_ENTRY_PATTERN = /^(\*|[a-z0-9]([-a-z0-9]*[a-z0-9])?|[a-z0-9][-a-z0-9]*\*)$/;

/** Splits a comma-separated allowlist (`team-a, tenant-*`), dropping blanks. */
export function parseAllowlist(text: string | undefined): string[] {
  return (text ?? '')
    .split(',')
    .map((e) => e.trim())
    .filter((e) => e !== '');
}

export function allowlistMatches(allowed: readonly string[], namespace: string): boolean {
  return allowed.some((e) => (e.endsWith('*') ? namespace.startsWith(e.slice(0, -1)) : e === namespace));
}

/** The namespace a Cell's children go to: `spec.namespace`, or `cell-<name>`. */
function defaultNamespace(cell: Cell): string {
  return `cell-${cell.metadata.name ?? ''}`;
}

export type PolicyReason = 'NamespaceNotAllowed' | 'SecretNamespaceNotAllowed' | 'CaNamespaceNotAllowed' | 'WorkloadNameConflict';

export interface PolicyViolation {
  /** The field a person changes: spec.namespace, spec.database.external.secretRef.namespace. */
  field: string;
  reason: PolicyReason;
  message: string;
}

function describeAllowlist(policy: CellPolicy): string {
  return policy.allowedNamespaces.length > 0 ? policy.allowedNamespaces.join(', ') : 'none';
}

/** Why the namespace of `cell` is refused, or undefined when it is allowed. */
export function namespaceViolation(cell: Cell, policy: CellPolicy): PolicyViolation | undefined {
  const namespace = cell.spec.namespace;
  if (namespace === undefined || namespace === defaultNamespace(cell) || allowlistMatches(policy.allowedNamespaces, namespace)) return undefined;
  return {
    field: 'spec.namespace',
    reason: 'NamespaceNotAllowed',
    message: `spec.namespace ${namespace} is not allowed: a cell lives in ${defaultNamespace(cell)} (leave spec.namespace out) or in a namespace the operator allows (--allowed-namespaces / Helm value cellPolicy.allowedNamespaces: ${describeAllowlist(policy)}).`,
  };
}

/** Why the external database's Secret is refused, or undefined when it may be read. */
export function secretViolation(cell: Cell, policy: CellPolicy): PolicyViolation | undefined {
  const ref = cell.spec.database.external?.secretRef;
  if (!ref) return undefined;
  const own = cell.spec.namespace ?? defaultNamespace(cell);
  if (ref.namespace === policy.operatorNamespace || ref.namespace === own || allowlistMatches(policy.allowedNamespaces, ref.namespace)) return undefined;
  return {
    field: 'spec.database.external.secretRef.namespace',
    reason: 'SecretNamespaceNotAllowed',
    message: `spec.database.external.secretRef names Secret ${ref.namespace}/${ref.name}, which the operator will not read: the Secret must be in the operator's namespace ${policy.operatorNamespace}, in the cell's namespace ${own}, or in a namespace the operator allows (--allowed-namespaces / Helm value cellPolicy.allowedNamespaces: ${describeAllowlist(policy)}).`,
  };
}

/** Why the external database's CA (caRef) is refused, or undefined when it may be read: the same namespaces as secretRef. */
export function caViolation(cell: Cell, policy: CellPolicy): PolicyViolation | undefined {
  const ref = cell.spec.database.external?.caRef;
  if (!ref) return undefined;
  const own = cell.spec.namespace ?? defaultNamespace(cell);
  if (ref.namespace === policy.operatorNamespace || ref.namespace === own || allowlistMatches(policy.allowedNamespaces, ref.namespace)) return undefined;
  return {
    field: 'spec.database.external.caRef.namespace',
    reason: 'CaNamespaceNotAllowed',
    message: `spec.database.external.caRef names ${ref.kind} ${ref.namespace}/${ref.name}, which the operator will not read: the CA must be in the operator's namespace ${policy.operatorNamespace}, in the cell's namespace ${own}, or in a namespace the operator allows (--allowed-namespaces / Helm value cellPolicy.allowedNamespaces: ${describeAllowlist(policy)}).`,
  };
}

/**
 * The workload names of `cell` that would collide with the cell's own children. A workload names
 * a Deployment, a Service, a KafkaUser and (through Strimzi) a Secret `kafka-user-<name>`; the
 * cell's children are `<cell>` (the Kafka) and `<cell>-...` (the database StatefulSets, Services
 * and Secret, Strimzi's Services, pods and Deployments).
 */
export function workloadNameClashes(cellName: string, workloads: readonly { name: string }[]): string[] {
  return workloads
    .map((w) => w.name)
    .filter((n) => n === cellName || n.startsWith(`${cellName}-`) || `kafka-user-${n}` === `${cellName}-db-credentials`);
}

/** Why the workload names are refused, or undefined. (Not a CRD rule: its cost estimate with metadata.name is over budget.) */
export function workloadNameViolation(cell: Cell): PolicyViolation | undefined {
  const clashes = workloadNameClashes(cell.metadata.name ?? '', cell.spec.workloads ?? []);
  if (clashes.length === 0) return undefined;
  return {
    field: 'spec.workloads',
    reason: 'WorkloadNameConflict',
    message: `spec.workloads: ${clashes.join(', ')} may not be used: a workload may not be named after the cell or start with "${cell.metadata.name ?? ''}-", names that belong to the cell's database and Kafka objects (${cell.metadata.name ?? ''}-db, -db-worker, -db-credentials, -kafka-bootstrap, ...).`,
  };
}

/** Every rule `cell` breaks, namespace first. */
export function cellPolicyViolations(cell: Cell, policy: CellPolicy): PolicyViolation[] {
  return [namespaceViolation(cell, policy), secretViolation(cell, policy), caViolation(cell, policy), workloadNameViolation(cell)].filter((v): v is PolicyViolation => v !== undefined);
}
