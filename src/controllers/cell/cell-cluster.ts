// A Cell in a cluster of its own (spec.cluster), the pure part: where its kubeconfig is, its
// children without owner references (no owner reference crosses clusters), the ClusterReachable
// condition, the status while the cluster does not answer, and what the operator deletes itself
// when the Cell goes (the garbage collector of the cell's cluster knows nothing of the Cell).
import type { KubernetesObject } from '@kubernetes/client-node';
import { CELL_CONDITIONS, KUBECONFIG_SECRET_KEY, KUBECONFIG_SECRET_SUFFIX, type Cell, type CellClusterSpec, type CellStatus } from '../../crds/cell.js';
import { cellNamespace, databaseSecretName, databaseTlsSecretName } from '../../crds/cell-names.js';
import { setCondition, type Condition, type ConditionInput } from '../../runtime/conditions.js';
import { CHILD_KINDS, UNWATCHED_CHILD_KINDS } from './cell-children.js';
import { kafkaMetricsConfigMapName } from './monitoring-builder.js';
import { cellOwnsNamespace } from './namespace-builder.js';

/** The kubeconfig Secret of a cluster: Cluster API's `<name>-kubeconfig`, key `value`, unless the spec names another. */
export function kubeconfigSecretOf(cluster: CellClusterSpec, operatorNamespace: string): { namespace: string; name: string; key: string } {
  return {
    namespace: operatorNamespace,
    name: cluster.kubeconfigSecret?.name ?? `${cluster.name}${KUBECONFIG_SECRET_SUFFIX}`,
    key: cluster.kubeconfigSecret?.key ?? KUBECONFIG_SECRET_KEY,
  };
}

/** Children for another cluster: the Cell is not there, so an owner reference would have the garbage collector delete them at once. */
export function withoutOwnerReferences<T extends KubernetesObject>(children: readonly T[]): T[] {
  return children.map((child) => {
    if (!child.metadata?.ownerReferences) return child;
    const { ownerReferences: _dropped, ...metadata } = child.metadata;
    return { ...child, metadata };
  });
}

/** What the reconciler saw of the cell's cluster. */
export type ClusterObservation =
  | { reachable: true; name: string; server: string; version: string }
  | { reachable: false; name: string; reason: string; message: string };

export function clusterReachableCondition(observation: ClusterObservation): ConditionInput {
  if (observation.reachable) {
    return {
      type: CELL_CONDITIONS.clusterReachable,
      status: 'True',
      reason: 'ClusterReachable',
      message: `The API server of cluster ${observation.name} at ${observation.server} answers (Kubernetes ${observation.version}).`,
    };
  }
  return { type: CELL_CONDITIONS.clusterReachable, status: 'False', reason: observation.reason, message: `${capitalise(observation.message)}.` };
}

/**
 * The status while the cell's cluster cannot be reached: Ready Unknown with the reason (nothing is
 * known of the children now), ClusterReachable False, Reconciling True; the other conditions, the
 * phase and the endpoints stay as last seen, since nothing was changed or deleted meanwhile.
 */
export function unreachableCellStatus(cell: Cell, observation: Extract<ClusterObservation, { reachable: false }>, now: Date): CellStatus {
  const generation = cell.metadata.generation;
  const previous = cell.status ?? {};
  const deleting = Boolean(cell.metadata.deletionTimestamp);
  const message = `${capitalise(observation.message)}. The cell's children are left as they are; the status follows again once the cluster answers.`;
  const inputs: ConditionInput[] = [
    { type: CELL_CONDITIONS.ready, status: 'Unknown', reason: observation.reason, message },
    clusterReachableCondition(observation),
    { type: CELL_CONDITIONS.reconciling, status: 'True', reason: observation.reason, message },
  ];
  let conditions = (previous.conditions ?? []) as Condition[];
  for (const input of inputs) conditions = setCondition(conditions, input, now, generation);
  return {
    ...previous,
    phase: deleting ? 'Deleting' : (previous.phase ?? 'Provisioning'),
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
    message,
    namespace: cellNamespace(cell),
  };
}

/** What the operator deletes in the cell's cluster when the Cell goes: what the garbage collector deletes for a local cell. */
export interface RemoteDeletion {
  /** Kinds whose objects carrying the cell's labels in the cell namespace are deleted. */
  selected: string[];
  /** Objects deleted by name (Secrets are never listed). */
  named: Array<{ kind: string; namespace?: string; name: string }>;
}

/**
 * Every namespaced child the operator watches (all carry an owner reference when local), by label;
 * the kinds it reads by name only (Secrets, ConfigMaps: it may not list them) by name: the database
 * Secret, the in-cluster database's TLS Secret and the Kafka metrics ConfigMap; and the Namespace
 * only when the Cell owns it (deletionPolicy Delete and no spec.namespace): Retain keeps the
 * namespace and the volumes, as it does for a local cell.
 */
export function remoteDeletion(cell: Cell, watchedKinds: ReadonlySet<string>): RemoteDeletion {
  const selected = CHILD_KINDS.map((k) => k.kind).filter((kind) => kind !== 'Namespace' && !UNWATCHED_CHILD_KINDS.has(kind) && watchedKinds.has(kind));
  const namespace = cellNamespace(cell);
  const named: RemoteDeletion['named'] = [
    { kind: 'Secret', namespace, name: databaseSecretName(cell) },
    ...(cell.spec.database.external ? [] : [{ kind: 'Secret', namespace, name: databaseTlsSecretName(cell) }]),
    { kind: 'ConfigMap', namespace, name: kafkaMetricsConfigMapName(cell) },
  ];
  if (cellOwnsNamespace(cell)) named.push({ kind: 'Namespace', name: cellNamespace(cell) });
  return { selected, named };
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
