// The Strimzi stand-in's judgement, pure: from every Kafka, KafkaNodePool, KafkaTopic and
// KafkaUser of the cluster, the status the Strimzi 1.x operators would write, refusing what they
// refuse with their reasons and messages (NodePoolUtils.validateNodePools for a Kafka; Kafka's
// own InvalidReplicationFactorException for a topic). Objects Strimzi would not reconcile (a pool
// or topic whose cluster does not exist) get no status. Knobs for tests, as annotations:
//   strimzi.kwok.x-k8s.io/delay: "5s"               time before a new generation's status is written (default 1s)
//   strimzi.kwok.x-k8s.io/ready: "False"            report not ready (reason/message from the next two)
//   strimzi.kwok.x-k8s.io/reason, /message
//   strimzi.kwok.x-k8s.io/bootstrap-servers: "127.0.0.1:39092"   (Kafka) what the listeners report: the
//                                                   address of a real broker the harness started

import { createHash } from 'node:crypto';

export const STRIMZI_ANNOTATIONS = {
  delay: 'strimzi.kwok.x-k8s.io/delay',
  ready: 'strimzi.kwok.x-k8s.io/ready',
  reason: 'strimzi.kwok.x-k8s.io/reason',
  message: 'strimzi.kwok.x-k8s.io/message',
  bootstrapServers: 'strimzi.kwok.x-k8s.io/bootstrap-servers',
} as const;

const A = STRIMZI_ANNOTATIONS;
const CLUSTER_LABEL = 'strimzi.io/cluster';

export interface StrimziObject {
  apiVersion?: string;
  kind: 'Kafka' | 'KafkaNodePool' | 'KafkaTopic' | 'KafkaUser';
  metadata: {
    name: string;
    namespace: string;
    uid?: string;
    generation?: number;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
  };
  // Strimzi's specs, read loosely: only the fields judged here.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  spec?: any;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  status?: any;
}

export interface Condition {
  type: string;
  status: 'True' | 'False';
  reason?: string;
  message?: string;
}

/** The status to write (without lastTransitionTime), or undefined: Strimzi would leave the object alone. */
export type Judged = Record<string, unknown> & { conditions: Condition[] };

function annotations(o: StrimziObject): Record<string, string> {
  return o.metadata.annotations ?? {};
}

function clusterId(namespace: string, name: string): string {
  return createHash('sha256').update(`${namespace}/${name}`).digest('base64url').slice(0, 22);
}

function forcedNotReady(o: StrimziObject, type: 'NotReady' | 'Ready', reason: string, message: string): Condition | undefined {
  const a = annotations(o);
  if ((a[A.ready] ?? 'True') === 'True') return undefined;
  return { type, status: type === 'NotReady' ? 'True' : 'False', reason: a[A.reason] ?? reason, message: a[A.message] ?? message };
}

function replicas(pool: StrimziObject): number {
  return Number(pool.spec?.replicas ?? 0);
}

function roles(pool: StrimziObject): string[] {
  return (pool.spec?.roles as string[] | undefined) ?? [];
}

/** The pools that belong to a Kafka: same namespace, labelled with its name. */
export function poolsOf(kafka: StrimziObject, pools: readonly StrimziObject[]): StrimziObject[] {
  return pools.filter((p) => p.metadata.namespace === kafka.metadata.namespace && p.metadata.labels?.[CLUSTER_LABEL] === kafka.metadata.name);
}

/** What NodePoolUtils.validateNodePools refuses (KRaft), as the InvalidResourceException message; undefined if valid. */
export function nodePoolProblem(kafka: StrimziObject, pools: readonly StrimziObject[]): string | undefined {
  const name = kafka.metadata.name;
  if (pools.length === 0 || pools.every((p) => replicas(p) <= 0)) {
    return (
      `KafkaNodePools are enabled, but KafkaNodePools for Kafka cluster ${name} either don't exist or have 0 replicas. ` +
      'Please make sure at least one KafkaNodePool resource exists, is in the same namespace as the Kafka resource, has at least one replica, and has the strimzi.io/cluster label set to the name of the Kafka resource.'
    );
  }
  const errors: string[] = [];
  let broker = false;
  let controller = false;
  for (const p of pools) {
    if (roles(p).length === 0) errors.push(`KafkaNodePool ${p.metadata.name} has no role defined in .spec.roles`);
    else if (replicas(p) > 0) {
      broker ||= roles(p).includes('broker');
      controller ||= roles(p).includes('controller');
    }
  }
  if (!broker) errors.push('At least one KafkaNodePool with the broker role and at least one replica is required when KRaft mode is enabled');
  if (!controller) errors.push('At least one KafkaNodePool with the controller role and at least one replica is required when KRaft mode is enabled');
  return errors.length > 0 ? `The Kafka cluster ${name} is invalid: [${errors.join(', ')}]` : undefined;
}

export function judgeKafka(kafka: StrimziObject, allPools: readonly StrimziObject[]): Judged {
  const { name, namespace } = kafka.metadata;
  const pools = poolsOf(kafka, allPools);
  const problem = nodePoolProblem(kafka, pools);
  const base: Record<string, unknown> = { observedGeneration: kafka.metadata.generation ?? 1 };
  if (problem) {
    return { ...base, conditions: [{ type: 'NotReady', status: 'True', reason: 'InvalidResourceException', message: problem }] };
  }
  const forced = forcedNotReady(kafka, 'NotReady', 'Creating', 'Kafka cluster is being deployed');
  const spec = kafka.spec?.kafka ?? {};
  const bootstrap = annotations(kafka)[A.bootstrapServers];
  const listeners = ((spec.listeners as { name: string; port: number }[] | undefined) ?? []).map((l) => {
    const servers = bootstrap ?? `${name}-kafka-bootstrap.${namespace}.svc:${l.port}`;
    const [host, port] = (servers.split(',')[0] as string).split(':');
    return { name: l.name, addresses: [{ host, port: Number(port) }], bootstrapServers: servers };
  });
  const status: Judged = {
    ...base,
    clusterId: clusterId(namespace, name),
    operatorLastSuccessfulVersion: '1.2.0',
    kafkaNodePools: pools.map((p) => ({ name: p.metadata.name })).sort((a, b) => a.name.localeCompare(b.name)),
    listeners,
    conditions: [forced ?? { type: 'Ready', status: 'True' }],
  };
  if (spec.version) status.kafkaVersion = spec.version;
  if (spec.metadataVersion) status.kafkaMetadataVersion = spec.metadataVersion;
  return status;
}

/**
 * A pool's status once its Kafka is valid: the nodes that exist are the ones assigned, numbered
 * across the cluster's pools (sorted by name) as Strimzi's NodeIdAssignor does for new clusters.
 * No status while the Kafka is missing or invalid (Strimzi stops before the pools).
 */
export function judgePool(pool: StrimziObject, kafkas: readonly StrimziObject[], allPools: readonly StrimziObject[]): Judged | undefined {
  const cluster = pool.metadata.labels?.[CLUSTER_LABEL];
  const kafka = kafkas.find((k) => k.metadata.namespace === pool.metadata.namespace && k.metadata.name === cluster);
  if (!kafka) return undefined;
  const pools = poolsOf(kafka, allPools).sort((a, b) => a.metadata.name.localeCompare(b.metadata.name));
  if (nodePoolProblem(kafka, pools)) return undefined;
  let next = 0;
  let nodeIds: number[] = [];
  for (const p of pools) {
    const ids = Array.from({ length: Math.max(0, replicas(p)) }, () => next++);
    if (p.metadata.name === pool.metadata.name) nodeIds = ids;
  }
  return {
    observedGeneration: pool.metadata.generation ?? 1,
    replicas: nodeIds.length,
    nodeIds,
    roles: roles(pool),
    clusterId: clusterId(kafka.metadata.namespace, kafka.metadata.name),
    labelSelector: `strimzi.io/cluster=${cluster},strimzi.io/name=${cluster}-kafka,strimzi.io/kind=Kafka,strimzi.io/pool-name=${pool.metadata.name}`,
    conditions: [],
  };
}

/** The brokers a Kafka runs: replicas of its pools with the broker role, when it is valid. */
export function brokerCount(kafka: StrimziObject, allPools: readonly StrimziObject[]): number {
  const pools = poolsOf(kafka, allPools);
  if (nodePoolProblem(kafka, pools)) return 0;
  return pools.filter((p) => roles(p).includes('broker')).reduce((n, p) => n + Math.max(0, replicas(p)), 0);
}

/** A topic's status from the Topic Operator of its cluster: Kafka refuses more replicas than brokers. */
export function judgeTopic(topic: StrimziObject, kafkas: readonly StrimziObject[], allPools: readonly StrimziObject[]): Judged | undefined {
  const kafka = kafkas.find((k) => k.metadata.namespace === topic.metadata.namespace && k.metadata.name === topic.metadata.labels?.[CLUSTER_LABEL]);
  if (!kafka) return undefined; // no Topic Operator watches it
  const base = {
    observedGeneration: topic.metadata.generation ?? 1,
    topicName: (topic.spec?.topicName as string | undefined) ?? topic.metadata.name,
  };
  const brokers = brokerCount(kafka, allPools);
  const wanted = Number(topic.spec?.replicas ?? 1);
  if (wanted > brokers) {
    const message =
      `org.apache.kafka.common.errors.InvalidReplicationFactorException: Unable to replicate the partition ${wanted} time(s): ` +
      `The target replication factor of ${wanted} cannot be reached because only ${brokers} broker(s) are registered.`;
    return { ...base, conditions: [{ type: 'Ready', status: 'False', reason: 'KafkaError', message }] };
  }
  const forced = forcedNotReady(topic, 'Ready', 'KafkaError', 'Kafka topic could not be reconciled');
  return { ...base, topicId: (topic.metadata.uid ?? topic.metadata.name).replace(/-/g, '').slice(0, 22), conditions: [forced ?? { type: 'Ready', status: 'True' }] };
}

/** A user's status from the User Operator of its cluster (TLS users are named after their certificate subject). */
export function judgeUser(user: StrimziObject, kafkas: readonly StrimziObject[]): Judged | undefined {
  const kafka = kafkas.find((k) => k.metadata.namespace === user.metadata.namespace && k.metadata.name === user.metadata.labels?.[CLUSTER_LABEL]);
  if (!kafka) return undefined; // no User Operator watches it
  const type = (user.spec?.authentication?.type as string | undefined) ?? '';
  const forced = forcedNotReady(user, 'Ready', 'KafkaError', 'Kafka user could not be reconciled');
  return {
    observedGeneration: user.metadata.generation ?? 1,
    username: type === 'tls' || type === 'tls-external' ? `CN=${user.metadata.name}` : user.metadata.name,
    secret: user.metadata.name,
    conditions: [forced ?? { type: 'Ready', status: 'True' }],
  };
}

/** Every object's judged status, keyed `Kind/namespace/name`. */
export function judgeAll(objects: readonly StrimziObject[]): Map<string, Judged | undefined> {
  const of = (kind: StrimziObject['kind']) => objects.filter((o) => o.kind === kind);
  const kafkas = of('Kafka');
  const pools = of('KafkaNodePool');
  const out = new Map<string, Judged | undefined>();
  const key = (o: StrimziObject) => `${o.kind}/${o.metadata.namespace}/${o.metadata.name}`;
  for (const k of kafkas) out.set(key(k), judgeKafka(k, pools));
  for (const p of pools) out.set(key(p), judgePool(p, kafkas, pools));
  for (const t of of('KafkaTopic')) out.set(key(t), judgeTopic(t, kafkas, pools));
  for (const u of of('KafkaUser')) out.set(key(u), judgeUser(u, kafkas));
  return out;
}

/** Parses the delay annotation ("1.5s", "500ms"); default 1 s. */
export function delayMs(o: StrimziObject): number {
  const raw = annotations(o)[A.delay];
  const m = raw ? /^(\d+(?:\.\d+)?)(ms|s)$/.exec(raw.trim()) : null;
  if (!m) return 1000;
  return Number(m[1]) * (m[2] === 's' ? 1000 : 1);
}
