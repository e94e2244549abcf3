// The Cell status from what the reconciler observed of its children (Kafka, node pools, topics,
// users, StatefulSets, Deployments, a database check) and of the control-plane database (customer
// count, a drain's cordon): phase, conditions with a sentence for a person, kstatus
// Reconciling/Stalled, endpoints. Pure: the time comes in as an argument.
import type { V1Deployment, V1StatefulSet } from '@kubernetes/client-node';
import { CELL_CONDITIONS, IN_CLUSTER_DATABASE_DEFAULTS, type Cell, type CellPhase, type CellStatus } from '../../crds/cell.js';
import type { Kafka, KafkaNodePool, KafkaTopic, KafkaUser } from '../../crds/strimzi/index.js';
import { kstatusConditions, replaceConditions, type Condition, type ConditionInput } from '../../runtime/conditions.js';
import { describeCordon } from '../../store/placement-decision.js';
import { kafkaBootstrap } from './kafka-builder.js';
import type { DatabaseCheck } from '../../data/cell-database-check.js';
import { clusterReachableCondition, type ClusterObservation } from './cell-cluster.js';
import {
  BROKER_POOL,
  CONTROLLER_POOL,
  cellNamespace,
  databaseCoordinatorName,
  databaseHost,
  databasePort,
  databaseSecretName,
  databaseWorkerName,
  kafkaName,
  kafkaTopicObjectName,
  kafkaUserName,
} from '../../crds/cell-names.js';

export interface ObservedCellChildren {
  /** The children as read from the API server (with metadata.generation and status); absent = not found. */
  kafka?: Kafka;
  nodePools?: KafkaNodePool[];
  topics?: KafkaTopic[];
  users?: KafkaUser[];
  statefulSets?: V1StatefulSet[];
  deployments?: V1Deployment[];
  /** Undefined until the reconciler has tried to connect. */
  database?: DatabaseCheck;
  /** Customers placed in the cell plus those reserved by migrations in flight. */
  customers?: number;
  devices?: number;
  /** The Migration whose drain cordons the cell in the control-plane database; null/absent: none. */
  cordonedBy?: string | null;
  /** An error applying the children (say a missing Strimzi CRD): the cell cannot progress. */
  applyError?: { reason: string; message: string };
  /** Only for a Cell with spec.cluster: that cluster's API server answered (ClusterReachable True). */
  cluster?: ClusterObservation;
}

type Health = 'Ready' | 'Progressing' | 'Failed';

interface Assessment {
  health: Health;
  reason: string;
  message: string;
  /**
   * Progressing, but what runs still serves: a rollout that keeps every Deployment Available, a
   * Strimzi roll of a Kafka that was Ready. A cell that was Ready stays open to new customers then
   * (phase Updating), instead of turning Degraded at every release.
   */
  serving?: true;
}

const ready = (reason: string, message: string): Assessment => ({ health: 'Ready', reason, message });
const progressing = (reason: string, message: string): Assessment => ({ health: 'Progressing', reason, message });
const failed = (reason: string, message: string): Assessment => ({ health: 'Failed', reason, message });

const PASCAL_CASE = /^[A-Z][A-Za-z0-9]*$/;
function pascal(reason: string | undefined, fallback: string): string {
  return reason && PASCAL_CASE.test(reason) ? reason : fallback;
}

interface StrimziCondition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

function explain(condition: StrimziCondition | undefined): string {
  if (!condition) return 'no Ready condition yet';
  return [condition.reason, condition.message].filter(Boolean).join(': ') || `${condition.type}=${condition.status}`;
}

/** Strimzi reports Ready=True, or NotReady=True (or Ready=False) with the reason. */
function strimziReadiness(obj: { status?: { conditions?: StrimziCondition[] } }): { ready: boolean; condition?: StrimziCondition } {
  const conditions = obj.status?.conditions ?? [];
  const readyCondition = conditions.find((c) => c.type === 'Ready');
  if (readyCondition?.status === 'True') return { ready: true, condition: readyCondition };
  return { ready: false, condition: conditions.find((c) => c.type === 'NotReady' && c.status === 'True') ?? readyCondition };
}

function observedCurrent(obj: { metadata?: { generation?: number }; status?: { observedGeneration?: number } }): boolean {
  const generation = obj.metadata?.generation;
  return generation === undefined || obj.status?.observedGeneration === generation;
}

function byName<T extends { metadata?: { name?: string } }>(list: readonly T[] | undefined, name: string): T | undefined {
  return list?.find((o) => o.metadata?.name === name);
}

// --- Kafka ------------------------------------------------------------------------------------------

function assessKafka(cell: Cell, observed: ObservedCellChildren): Assessment {
  const name = kafkaName(cell);
  const kafka = observed.kafka;
  if (!kafka) return progressing('KafkaNotCreated', `Kafka ${name} does not exist yet.`);
  if (!kafka.status) {
    return progressing(
      'KafkaPending',
      `Strimzi has not reported on Kafka ${name} yet: is the Strimzi cluster operator running and watching namespace ${cellNamespace(cell)}?`,
    );
  }
  if (!observedCurrent(kafka)) {
    const rolling = progressing('KafkaReconciling', `Strimzi is rolling out generation ${kafka.metadata?.generation} of Kafka ${name}.`);
    // Strimzi keeps the last generation's conditions until its reconciliation ends, and rolls the
    // brokers one at a time: a Kafka Ready at the previous generation still serves meanwhile.
    return strimziReadiness(kafka).ready ? { ...rolling, serving: true } : rolling;
  }
  const readiness = strimziReadiness(kafka);
  if (!readiness.ready) {
    const why = `Kafka ${name} is not ready (${explain(readiness.condition)}).`;
    // `Creating` is Strimzi's first status of a new cluster; anything else at the current generation is an error.
    return readiness.condition?.reason === 'Creating' ? progressing('KafkaCreating', why) : failed('KafkaNotReady', why);
  }

  const pending: string[] = [];
  const broken: string[] = [];
  for (const [poolName, spec] of [[CONTROLLER_POOL, cell.spec.kafka.controllers], [BROKER_POOL, cell.spec.kafka.brokers]] as const) {
    const pool = byName(observed.nodePools, poolName);
    if (!pool) pending.push(`node pool ${poolName} does not exist yet`);
    else if (!observedCurrent(pool) || pool.status?.replicas !== spec.replicas) {
      pending.push(`node pool ${poolName} has ${pool.status?.replicas ?? 0} of ${spec.replicas} nodes`);
    }
  }
  const checkEntity = (what: string, objectName: string, list: readonly (KafkaTopic | KafkaUser)[] | undefined) => {
    const obj = byName(list, objectName);
    if (!obj) return pending.push(`${what} ${objectName} does not exist yet`);
    if (!obj.status || !observedCurrent(obj)) return pending.push(`${what} ${objectName} is not reconciled yet`);
    const r = strimziReadiness(obj);
    if (!r.ready) broken.push(`${what} ${objectName} is not ready (${explain(r.condition)})`);
    return undefined;
  };
  for (const topic of cell.spec.kafka.topics) checkEntity('topic', kafkaTopicObjectName(topic.name), observed.topics);
  for (const workload of cell.spec.workloads ?? []) {
    if (workload.kafka) checkEntity('user', kafkaUserName(workload), observed.users);
  }
  if (broken.length > 0) return failed('KafkaEntityNotReady', `Kafka ${name} is ready but ${[...broken, ...pending].join('; ')}.`);
  if (pending.length > 0) return progressing('KafkaEntitiesPending', `Kafka ${name} is ready but ${pending.join('; ')}.`);
  return ready('KafkaReady', `Kafka ${name} is ready with ${cell.spec.kafka.topics.length} topic(s).`);
}

// --- Database -----------------------------------------------------------------------------------------

function statefulSetProgress(sts: V1StatefulSet | undefined, name: string, desired: number, what: string): string | undefined {
  if (!sts) return `${what} StatefulSet ${name} does not exist yet`;
  const readyReplicas = sts.status?.readyReplicas ?? 0;
  if (!observedCurrent(sts) || (sts.status?.updatedReplicas ?? 0) < desired) return `${what} ${name} is rolling out (${readyReplicas}/${desired} ready)`;
  if (readyReplicas < desired) return `${what} ${name} has ${readyReplicas}/${desired} pods ready`;
  return undefined;
}

function assessDatabase(cell: Cell, observed: ObservedCellChildren): Assessment {
  const db = cell.spec.database;
  const address = `${databaseHost(cell)}:${databasePort(cell)}`;
  const pending: string[] = [];
  const desiredWorkers = db.external ? (db.external.workers?.length ?? 0) : (db.workers ?? IN_CLUSTER_DATABASE_DEFAULTS.workers);
  if (!db.external) {
    const coordinator = statefulSetProgress(byName(observed.statefulSets, databaseCoordinatorName(cell)), databaseCoordinatorName(cell), 1, 'coordinator');
    const workers = statefulSetProgress(byName(observed.statefulSets, databaseWorkerName(cell)), databaseWorkerName(cell), desiredWorkers, 'workers');
    for (const p of [coordinator, workers]) if (p) pending.push(p);
  }
  const check = observed.database;
  if (check && !check.connected) {
    const why = `Cannot connect to the database at ${address}: ${check.message}`;
    const reason = pascal(check.reason, 'ConnectionFailed');
    if (check.stalled) return failed(reason, why);
    return progressing(reason, [why, ...pending].join('; ') + '.');
  }
  if (pending.length > 0) return progressing('DatabaseStarting', `The database is starting: ${pending.join('; ')}.`);
  if (!check) return progressing('DatabaseNotChecked', `The operator has not connected to the database at ${address} yet.`);
  const problem = check.problems?.[0];
  if (problem) return progressing(pascal(problem.reason, 'CitusActionFailed'), check.problems?.map((p) => p.message).join(' ') ?? problem.message);
  if (check.engine === 'Citus' && (check.workers ?? 0) < desiredWorkers) {
    return progressing('WorkersNotRegistered', `${check.workers ?? 0} of ${desiredWorkers} Citus workers are registered and active on the coordinator.`);
  }
  if (check.engine === 'PostgreSQL') {
    return ready('ConnectedWithoutCitus', `Connected to PostgreSQL at ${address}; the citus extension is absent, so tables are not distributed.`);
  }
  return ready('Connected', `Connected to ${citusSummary(check)} at ${address}${citusNotes(check)}.`);
}

function citusSummary(check: Extract<DatabaseCheck, { connected: true }>): string {
  const version = check.citusVersion ? `Citus ${check.citusVersion}` : 'Citus';
  return check.workers !== undefined ? `${version} with ${check.workers} active worker(s)` : version;
}

function citusNotes(check: Extract<DatabaseCheck, { connected: true }>): string {
  const notes: string[] = [];
  if (check.distributedTables !== undefined) {
    notes.push(`${check.distributedTables} tenant table(s) distributed${check.shardCount ? ` in ${check.shardCount} co-located shards` : ''}, ${check.referenceTables ?? 0} reference table(s)`);
  }
  if (check.isolatedCustomers?.length) notes.push(`${check.isolatedCustomers.length} customer(s) in shards of their own`);
  if (check.drainingWorkers?.length) notes.push(`moving shards off ${check.drainingWorkers.join(', ')} before removing it`);
  else if (check.rebalancing) notes.push('rebalancing shards in the background');
  return notes.length > 0 ? `; ${notes.join('; ')}` : '';
}

// --- Workloads ----------------------------------------------------------------------------------------

/** The Deployment controller's Available condition: at least replicas − maxUnavailable pods available. */
function deploymentAvailable(deployment: V1Deployment): boolean {
  return (deployment.status?.conditions ?? []).some((c) => c.type === 'Available' && c.status === 'True');
}

function assessWorkloads(cell: Cell, observed: ObservedCellChildren): Assessment {
  const workloads = cell.spec.workloads ?? [];
  if (workloads.length === 0) return ready('NoWorkloads', 'The cell has no workloads.');
  const pending: string[] = [];
  const broken: string[] = [];
  // Every pending workload is a rollout that keeps its Deployment Available (maxUnavailable honoured).
  let serving = true;
  for (const workload of workloads) {
    const deployment = byName(observed.deployments, workload.name);
    if (!deployment) {
      pending.push(`${workload.name} does not exist yet`);
      serving = false;
      continue;
    }
    const conditions = deployment.status?.conditions ?? [];
    const deadline = conditions.find((c) => c.type === 'Progressing' && c.status === 'False');
    const replicaFailure = conditions.find((c) => c.type === 'ReplicaFailure' && c.status === 'True');
    const available = deployment.status?.availableReplicas ?? 0;
    if (replicaFailure || deadline?.reason === 'ProgressDeadlineExceeded') {
      const c = replicaFailure ?? deadline;
      broken.push(`${workload.name} is failing (${[c?.reason, c?.message].filter(Boolean).join(': ')})`);
    } else if (!observedCurrent(deployment) || (deployment.status?.updatedReplicas ?? 0) < workload.replicas) {
      pending.push(`${workload.name} is rolling out (${available}/${workload.replicas} available)`);
      serving &&= deploymentAvailable(deployment);
    } else if ((deployment.status?.replicas ?? 0) > (deployment.status?.updatedReplicas ?? 0)) {
      // As kubectl rollout status: pods of the old template still run (a new one is not ready yet).
      pending.push(`${workload.name} is rolling out (${(deployment.status?.replicas ?? 0) - (deployment.status?.updatedReplicas ?? 0)} old pod(s) still running)`);
      serving &&= deploymentAvailable(deployment);
    } else if (available < workload.replicas) {
      // Not a rollout: pods were lost.
      pending.push(`${workload.name} has ${available}/${workload.replicas} pods available`);
      serving = false;
    }
  }
  if (broken.length > 0) return failed('WorkloadFailed', `Workloads not ready: ${[...broken, ...pending].join('; ')}.`);
  if (pending.length > 0) {
    const rolling = progressing('WorkloadsProgressing', `Workloads not ready: ${pending.join('; ')}.`);
    return serving ? { ...rolling, serving: true } : rolling;
  }
  return ready('WorkloadsAvailable', `All ${workloads.length} workload(s) are available.`);
}

// --- Summary ------------------------------------------------------------------------------------------

const STATE_NOTE: Record<Cell['spec']['state'], string> = {
  Active: '',
  Cordoned: ' It is cordoned: it keeps its customers and receives no new ones.',
  Draining: ' It is draining: it receives no new customers and is being emptied by a Migration.',
};

function isDeleting(cell: Cell): boolean {
  return cell.metadata.deletionTimestamp !== undefined && cell.metadata.deletionTimestamp !== null;
}

function cordonNote(migration: string): string {
  return ` It is ${describeCordon(migration)}: it receives no new customers while that Migration moves its customers out.`;
}

/** Cordoned: True while the cell takes no new customers, because of a drain's cordon or of its spec.state. */
function cordonedCondition(cell: Cell, cordonedBy: string | null | undefined): ConditionInput {
  const type = CELL_CONDITIONS.cordoned;
  if (cordonedBy) {
    return {
      type,
      status: 'True',
      reason: 'DrainingByMigration',
      message: `The cell is ${describeCordon(cordonedBy)}: placement sends new customers elsewhere. The cordon is lifted when that Migration is aborted or deleted.`,
    };
  }
  if (cell.spec.state !== 'Active') return { type, status: 'True', reason: cell.spec.state, message: `spec.state is ${cell.spec.state}.${STATE_NOTE[cell.spec.state]}` };
  return { type, status: 'False', reason: 'Active', message: 'The cell receives new customers.' };
}

/** Whether a cell in this phase takes new customers and moves (the control-plane row's `ready`, which placement reads). */
export function servesCustomers(phase: CellPhase | undefined): boolean {
  return phase === 'Ready' || phase === 'Updating';
}

export function cellPhase(cell: Cell, allReady: boolean, anyFailed: boolean, cordonedBy?: string | null, serving = false): CellPhase {
  if (isDeleting(cell)) return 'Deleting';
  if (cell.spec.state === 'Draining' || cordonedBy) return 'Draining';
  if (allReady) return 'Ready';
  const previous = cell.status?.phase;
  // A cell that was up and is being updated without losing service (a release rolling out).
  if (serving && !anyFailed && (previous === 'Ready' || previous === 'Updating')) return 'Updating';
  // Once a cell has been up, losing readiness is a degradation, not a second provisioning.
  if (anyFailed || previous === 'Ready' || previous === 'Degraded' || previous === 'Draining') return 'Degraded';
  return 'Provisioning';
}

/**
 * The status of `cell` from what was observed. Conditions keep their lastTransitionTime from
 * `cell.status` when their status did not change; `now` stamps the ones that did.
 */
export function cellStatus(cell: Cell, observed: ObservedCellChildren, now: Date): CellStatus {
  const generation = cell.metadata.generation;
  const kafka = assessKafka(cell, observed);
  const database = assessDatabase(cell, observed);
  const workloads = assessWorkloads(cell, observed);
  const parts = [kafka, database, workloads];
  const applyError = observed.applyError;
  const allReady = parts.every((p) => p.health === 'Ready') && !applyError;
  const anyFailed = parts.some((p) => p.health === 'Failed') || applyError !== undefined;
  const serving = parts.every((p) => p.health === 'Ready' || p.serving === true);
  const customers = observed.customers ?? 0;
  const deleting = isDeleting(cell);
  const deletionBlocked = deleting && customers > 0;
  const blockedMessage = `Deletion is waiting: ${customers} customer(s) are still placed in this cell. Move them out with a Migration (customers: {all: true}) to another cell of region ${cell.spec.region}; the Cell is deleted once it is empty.`;

  const notReady = [...(applyError ? [applyError.message] : []), ...parts.filter((p) => p.health !== 'Ready').map((p) => p.message)];
  const firstProblem = applyError ?? parts.find((p) => p.health === 'Failed') ?? parts.find((p) => p.health !== 'Ready');

  const phase = cellPhase(cell, allReady, anyFailed, observed.cordonedBy, serving);
  const updatingNote = phase === 'Updating' ? ' The cell still serves its customers and takes new ones while it updates.' : '';
  let readyCondition: ConditionInput;
  if (deletionBlocked) readyCondition = { type: CELL_CONDITIONS.ready, status: 'False', reason: 'DeletionBlocked', message: blockedMessage };
  else if (deleting) readyCondition = { type: CELL_CONDITIONS.ready, status: 'False', reason: 'Deleting', message: 'The Cell is being deleted.' };
  else if (allReady) {
    readyCondition = {
      type: CELL_CONDITIONS.ready,
      status: 'True',
      reason: cell.spec.state !== 'Active' ? cell.spec.state : observed.cordonedBy ? 'Draining' : 'Ready',
      message: `Kafka, the database and the workloads are ready.${STATE_NOTE[cell.spec.state]}${observed.cordonedBy ? cordonNote(observed.cordonedBy) : ''}`,
    };
  } else {
    readyCondition = {
      type: CELL_CONDITIONS.ready,
      status: 'False',
      reason: pascal(firstProblem?.reason, 'NotReady'),
      message: notReady.join(' ') + updatingNote,
    };
  }

  const component = (type: string, a: Assessment): ConditionInput => ({
    type,
    status: a.health === 'Ready' ? 'True' : 'False',
    reason: a.reason,
    message: a.message,
  });

  const stalled = deletionBlocked
    ? { reason: 'DeletionBlocked', message: blockedMessage }
    : applyError
      ? { reason: pascal(applyError.reason, 'ApplyFailed'), message: applyError.message }
      : parts.find((p) => p.health === 'Failed');
  const reconciling =
    !stalled && (deleting || !allReady)
      ? { reason: deleting ? 'Deleting' : 'Progressing', message: deleting ? 'The Cell is being deleted.' : notReady.join(' ') }
      : undefined;

  const inputs: ConditionInput[] = [
    readyCondition,
    component(CELL_CONDITIONS.kafkaReady, kafka),
    component(CELL_CONDITIONS.databaseReady, database),
    component(CELL_CONDITIONS.workloadsReady, workloads),
    cordonedCondition(cell, observed.cordonedBy),
    ...(observed.cluster ? [clusterReachableCondition(observed.cluster)] : []),
    ...kstatusConditions(stalled, reconciling),
  ];
  const conditions = replaceConditions(cell.status?.conditions as Condition[] | undefined, inputs, now, generation);

  const check = observed.database;
  const bootstrap = kafkaBootstrap(cell, observed.kafka);
  const message = deletionBlocked ? blockedMessage : allReady ? undefined : notReady.join(' ') + updatingNote;
  return {
    phase,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
    ...(message ? { message } : {}),
    namespace: cellNamespace(cell),
    customers,
    ...(observed.devices !== undefined ? { devices: observed.devices } : {}),
    endpoints: {
      kafkaBootstrap: bootstrap.plain,
      kafkaBootstrapTls: bootstrap.tls,
      database: `${databaseHost(cell)}:${databasePort(cell)}`,
      databaseSecret: databaseSecretName(cell),
    },
    ...(check?.connected
      ? {
          database: {
            engine: check.engine,
            ...(check.serverVersion !== undefined ? { serverVersion: check.serverVersion } : {}),
            ...(check.workers !== undefined ? { workers: check.workers } : {}),
            ...(check.shardCount !== undefined ? { shardCount: check.shardCount } : {}),
            ...(check.citusVersion !== undefined ? { citusVersion: check.citusVersion } : {}),
            ...(check.distributedTables !== undefined ? { distributedTables: check.distributedTables } : {}),
            ...(check.referenceTables !== undefined ? { referenceTables: check.referenceTables } : {}),
            ...(check.rebalancing !== undefined ? { rebalancing: check.rebalancing } : {}),
            ...(check.drainingWorkers?.length ? { drainingWorkers: check.drainingWorkers } : {}),
            ...(check.isolatedCustomers?.length ? { isolatedCustomers: check.isolatedCustomers } : {}),
          },
        }
      : {}),
    workloads: (cell.spec.workloads ?? []).map((w) => ({
      name: w.name,
      replicas: w.replicas,
      readyReplicas: byName(observed.deployments, w.name)?.status?.readyReplicas ?? 0,
    })),
  };
}

/**
 * The status of a Cell that breaks the operator's policy (cell-policy.ts): nothing of it is applied
 * or read, Ready is False and Stalled True with the first violation's reason, and the message names
 * every field to change.
 */
export function refusedCellStatus(cell: Cell, violations: readonly { reason: string; message: string }[], now: Date): CellStatus {
  const generation = cell.metadata.generation;
  const first = violations[0];
  if (!first) throw new Error('refusedCellStatus needs at least one violation');
  const message = `Nothing of this Cell is created: ${violations.map((v) => v.message).join(' ')}`;
  const inputs: ConditionInput[] = [
    { type: CELL_CONDITIONS.ready, status: 'False', reason: first.reason, message },
    ...kstatusConditions({ reason: first.reason, message }, undefined),
  ];
  const conditions = replaceConditions(cell.status?.conditions as Condition[] | undefined, inputs, now, generation);
  return {
    phase: isDeleting(cell) ? 'Deleting' : 'Degraded',
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions,
    message,
  };
}
