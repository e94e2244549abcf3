// Every child object a Cell needs, in apply order, from the Cell and what the reconciler knows of
// the world. Pure: the same Cell and inputs always give the same objects.
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Cell } from '../../crds/cell.js';
import type { DatabaseCredentials } from '../../data/cell-database-credentials.js';
import { buildDatabase } from './database-builder.js';
import { buildKafka, buildKafkaNodePools, buildKafkaTopics, buildKafkaUsers } from './kafka-builder.js';
import { buildKafkaMetricsConfigMap, buildPodMonitors } from './monitoring-builder.js';
import { conventionalKafkaBootstrap } from '../../crds/cell-names.js';
import { buildNamespace } from './namespace-builder.js';
import { buildNetworkPolicies } from './network-policy-builder.js';
import { buildWorkloads } from './workload-builder.js';

export interface CellChildrenInputs {
  /** The namespace the operator runs in; its pods may reach the cell database. */
  operatorNamespace: string;
  /**
   * The plain listener's bootstrap address from the Kafka status (`kafkaBootstrapFromStatus`);
   * undefined until Strimzi reports it, and then the conventional Service address is used.
   */
  kafkaBootstrap: string | undefined;
  /**
   * The credentials of the database Secret: for an in-cluster database the password the reconciler
   * generated once and reads back from the Secret ever after; for an external one those of the
   * referenced Secret. Undefined leaves the Secret out: a reconciler must then neither create nor
   * prune it (a new password would lock everyone out of an initialised database).
   */
  databaseCredentials: DatabaseCredentials | undefined;
  /** Whether the Prometheus Operator's monitoring.coreos.com/v1 is served: then the cell gets PodMonitors. */
  podMonitors?: boolean;
}

/**
 * The (apiVersion, kind) of every child the builders produce, for watches, RBAC and pruning.
 * `pruned`: whether a change of the spec can stop asking for an object of this kind, so that the
 * reconciler deletes it (and RBAC grants delete). The others always exist, under the same names,
 * while the Cell does (cell-children.test.ts checks it over several specs).
 */
export const CHILD_KINDS = [
  // One per cell; with deletionPolicy Delete the garbage collector deletes it, never we.
  { apiVersion: 'v1', kind: 'Namespace', pruned: false },
  // The database policies follow the database: in-cluster or external.
  { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', pruned: true },
  // The database Secret (it may hold the only copy of a generated password) and, in-cluster, its TLS
  // Secret (the only copy of the cell's CA key).
  { apiVersion: 'v1', kind: 'Secret', pruned: false },
  // Always the controller and the broker pool.
  { apiVersion: 'kafka.strimzi.io/v1', kind: 'KafkaNodePool', pruned: false },
  { apiVersion: 'kafka.strimzi.io/v1', kind: 'Kafka', pruned: false },
  { apiVersion: 'kafka.strimzi.io/v1', kind: 'KafkaTopic', pruned: true },
  // One per workload with Kafka access.
  { apiVersion: 'kafka.strimzi.io/v1', kind: 'KafkaUser', pruned: true },
  // Workloads with a port, and the in-cluster database.
  { apiVersion: 'v1', kind: 'Service', pruned: true },
  { apiVersion: 'apps/v1', kind: 'StatefulSet', pruned: true },
  { apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', pruned: true },
  { apiVersion: 'apps/v1', kind: 'Deployment', pruned: true },
  // The JMX exporter rules of the Kafka.
  { apiVersion: 'v1', kind: 'ConfigMap', pruned: false },
  // Only where the Prometheus Operator is installed; one per workload with a port.
  { apiVersion: 'monitoring.coreos.com/v1', kind: 'PodMonitor', pruned: true },
] as const;

/**
 * Child kinds the operator does not watch: Secrets and ConfigMaps. A watch, even label-selected,
 * needs list and watch on every one of them in the cluster (RBAC cannot limit by label, and cell
 * namespaces come and go), so the operator reads its own (the database Secret, the Kafka metrics
 * ConfigMap) and a referenced one (secretRef, caRef) by name only. A deleted one comes back on the
 * next periodic reconcile (--resync) or any event of the Cell.
 */
export const UNWATCHED_CHILD_KINDS: ReadonlySet<string> = new Set(['Secret', 'ConfigMap']);

/**
 * The children in apply order: the Namespace first, then its NetworkPolicies (so that nothing runs
 * a moment unfenced), the database Secret (pods reference it), the Kafka node pools before the
 * Kafka (Strimzi reports a Kafka without pools as an error), topics and users, the database, and
 * the workloads last.
 */
export function desiredChildren(cell: Cell, inputs: CellChildrenInputs): KubernetesObject[] {
  const database = buildDatabase(cell, inputs.databaseCredentials);
  const secrets = database.filter((o) => o.kind === 'Secret');
  const rest = database.filter((o) => o.kind !== 'Secret');
  return assertDistinctChildren([
    buildNamespace(cell),
    ...buildNetworkPolicies(cell, { operatorNamespace: inputs.operatorNamespace }),
    ...secrets,
    ...buildKafkaNodePools(cell),
    // Before the Kafka, whose metricsConfig names it: Strimzi refuses a Kafka whose ConfigMap is missing.
    buildKafkaMetricsConfigMap(cell),
    buildKafka(cell),
    ...buildKafkaTopics(cell),
    ...buildKafkaUsers(cell),
    ...rest,
    ...buildWorkloads(cell, { kafkaBootstrap: inputs.kafkaBootstrap ?? conventionalKafkaBootstrap(cell) }),
    ...(inputs.podMonitors ? buildPodMonitors(cell) : []),
  ]);
}

/** Two desired children with one kind, namespace and name: applying both would flip one object. */
export class DuplicateChildError extends Error {}

/**
 * Returns `children` when no two share kind, namespace and name; throws otherwise, naming them.
 * The CRD's workload-name rule keeps this from happening; this is the builders' own guarantee.
 */
export function assertDistinctChildren(children: KubernetesObject[]): KubernetesObject[] {
  const seen = new Set<string>();
  const duplicates: string[] = [];
  for (const child of children) {
    const key = `${child.kind} ${child.metadata?.namespace ? `${child.metadata.namespace}/` : ''}${child.metadata?.name ?? ''}`;
    if (seen.has(key)) duplicates.push(key);
    seen.add(key);
  }
  if (duplicates.length > 0) {
    throw new DuplicateChildError(`the cell would have two children named ${duplicates.join(', ')}: rename the workload in spec.workloads that takes a name of the cell's own children`);
  }
  return children;
}
