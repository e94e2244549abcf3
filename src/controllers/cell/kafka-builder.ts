// The cell's Kafka as Strimzi `kafka.strimzi.io/v1` objects: a KRaft Kafka with a controller and a
// broker KafkaNodePool, a KafkaTopic per topic and a KafkaUser per workload that uses Kafka.
import type { V1SecurityContext } from '@kubernetes/client-node';
import type { Cell, KafkaTopicSpec, WorkloadSpec } from '../../crds/cell.js';
import type { Kafka, KafkaNodePool, KafkaTopic, KafkaUser } from '../../crds/strimzi/index.js';
import { childMetadata, LABEL_KAFKA_CLIENT } from './labels.js';
import { kafkaMetricsConfig } from './monitoring-builder.js';
import {
  BROKER_POOL,
  CONTROLLER_POOL,
  conventionalKafkaBootstrap,
  conventionalKafkaBootstrapTls,
  KAFKA_PLAIN_LISTENER,
  KAFKA_TLS_LISTENER,
  KAFKA_USER_SECRET_PREFIX,
  kafkaName,
  kafkaTopicObjectName,
  kafkaUserName,
} from '../../crds/cell-names.js';
import { STRIMZI_CLUSTER_LABEL } from './network-policy-builder.js';
import { restrictedContainerSecurityContext } from './pod-security.js';

export const STRIMZI_API_VERSION = 'kafka.strimzi.io/v1';

/** Replication that survives one broker down while staying writable: RF 3, min ISR 2 from 3 brokers. */
export function replicationFor(replicas: number): { replicationFactor: number; minInsyncReplicas: number } {
  const replicationFactor = Math.max(1, Math.min(3, replicas));
  return { replicationFactor, minInsyncReplicas: minInsyncReplicasFor(replicationFactor) };
}

/** min.insync.replicas for a replication factor: one replica may be down, never below 1, at most 2. */
export function minInsyncReplicasFor(replicationFactor: number): number {
  return Math.max(1, Math.min(2, replicationFactor - 1));
}

/** Production broker settings; `spec.kafka.config` is merged over them. */
export function brokerConfig(cell: Cell): Record<string, number | string | boolean> {
  const { replicationFactor, minInsyncReplicas } = replicationFor(cell.spec.kafka.brokers.replicas);
  return {
    'default.replication.factor': replicationFactor,
    'min.insync.replicas': minInsyncReplicas,
    'offsets.topic.replication.factor': replicationFactor,
    'transaction.state.log.replication.factor': replicationFactor,
    'transaction.state.log.min.isr': minInsyncReplicas,
    // Topics exist only as KafkaTopics: a typo in a client must not create one.
    'auto.create.topics.enable': false,
    ...cell.spec.kafka.config,
  };
}

/**
 * Strimzi's images run as a non-root numeric user, so the container-level context is enough for
 * `restricted`; the pod-level one stays Strimzi's (its fsGroup makes the volumes writable).
 */
function strimziContainerSecurityContext(): V1SecurityContext {
  return restrictedContainerSecurityContext({ readOnlyRootFilesystem: false });
}

/**
 * Strimzi writes its own NetworkPolicy for the listeners, open to every pod unless told otherwise:
 * the same workloads the cell's policies let in (see network-policy-builder.ts).
 */
function clientPeers() {
  return [{ podSelector: { matchLabels: { [LABEL_KAFKA_CLIENT]: 'true' } } }];
}

function strimziMetadata(cell: Cell, name: string) {
  return childMetadata(cell, name, 'kafka', kafkaName(cell), { [STRIMZI_CLUSTER_LABEL]: kafkaName(cell) });
}

/**
 * The Kafka. In `v1` KRaft and node pools are the only mode, so there is no `replicas`, `storage`
 * or ZooKeeper here and no `strimzi.io/kraft` / `strimzi.io/node-pools` annotations (ignored
 * since Strimzi 0.48). `metadataVersion` is left to Strimzi, which follows `version`.
 */
export function buildKafka(cell: Cell): Kafka {
  const { version } = cell.spec.kafka;
  return {
    apiVersion: STRIMZI_API_VERSION,
    kind: 'Kafka',
    metadata: childMetadata(cell, kafkaName(cell), 'kafka', kafkaName(cell)),
    spec: {
      kafka: {
        ...(version !== undefined ? { version } : {}),
        // Both listeners authenticate: with `simple` authorization an anonymous client could do nothing.
        listeners: [
          { ...KAFKA_PLAIN_LISTENER, type: 'internal', tls: false, authentication: { type: 'scram-sha-512' }, networkPolicyPeers: clientPeers() },
          { ...KAFKA_TLS_LISTENER, type: 'internal', tls: true, authentication: { type: 'scram-sha-512' }, networkPolicyPeers: clientPeers() },
        ],
        authorization: { type: 'simple' },
        config: brokerConfig(cell),
        // Brokers and controllers export JMX metrics on Strimzi's tcp-prometheus port (monitoring-builder.ts).
        metricsConfig: kafkaMetricsConfig(cell),
      },
      // Consumer lag and offsets per group and topic: what shows an ingestion worker falling behind.
      kafkaExporter: {
        topicRegex: '.*',
        groupRegex: '.*',
        template: { container: { securityContext: strimziContainerSecurityContext() } },
      },
      entityOperator: {
        topicOperator: {},
        userOperator: { secretPrefix: KAFKA_USER_SECRET_PREFIX },
        template: {
          topicOperatorContainer: { securityContext: strimziContainerSecurityContext() },
          userOperatorContainer: { securityContext: strimziContainerSecurityContext() },
        },
      },
    },
  };
}

function nodePool(cell: Cell, name: string, role: 'controller' | 'broker'): KafkaNodePool {
  const pool = role === 'controller' ? cell.spec.kafka.controllers : cell.spec.kafka.brokers;
  const { size, class: storageClass } = pool.storage;
  return {
    apiVersion: STRIMZI_API_VERSION,
    kind: 'KafkaNodePool',
    metadata: strimziMetadata(cell, name),
    spec: {
      replicas: pool.replicas,
      roles: [role],
      storage: {
        type: 'persistent-claim',
        size,
        ...(storageClass !== undefined ? { class: storageClass } : {}),
        // Strimzi deletes the volumes with the Kafka only when told to: it follows the Cell's policy.
        deleteClaim: cell.spec.deletionPolicy === 'Delete',
      },
      ...(pool.resources !== undefined ? { resources: pool.resources } : {}),
      template: { kafkaContainer: { securityContext: strimziContainerSecurityContext() } },
    },
  };
}

/** The KRaft controller pool (the metadata quorum) and the broker pool, in that order. */
export function buildKafkaNodePools(cell: Cell): KafkaNodePool[] {
  return [nodePool(cell, CONTROLLER_POOL, 'controller'), nodePool(cell, BROKER_POOL, 'broker')];
}

const HOUR_MS = 3_600_000;

export function buildKafkaTopic(cell: Cell, topic: KafkaTopicSpec): KafkaTopic {
  const replicas = topic.replicas ?? replicationFor(cell.spec.kafka.brokers.replicas).replicationFactor;
  return {
    apiVersion: STRIMZI_API_VERSION,
    kind: 'KafkaTopic',
    metadata: strimziMetadata(cell, kafkaTopicObjectName(topic.name)),
    spec: {
      topicName: topic.name,
      partitions: topic.partitions,
      replicas,
      config: {
        'min.insync.replicas': minInsyncReplicasFor(replicas),
        ...(topic.retentionHours !== undefined ? { 'retention.ms': topic.retentionHours * HOUR_MS } : {}),
        ...topic.config,
      },
    },
  };
}

export function buildKafkaTopics(cell: Cell): KafkaTopic[] {
  return cell.spec.kafka.topics.map((topic) => buildKafkaTopic(cell, topic));
}

type Acl = NonNullable<KafkaUser['spec']['authorization']>['acls'][number];
type AclOperation = Acl['operations'][number];

/**
 * ACLs limited to the workload's topics: Read for the topics it reads, Write for those it writes,
 * Describe for both (metadata), and Read on its own consumer group.
 */
export function workloadAcls(workload: WorkloadSpec): Acl[] {
  const kafka = workload.kafka;
  if (!kafka) return [];
  const byTopic = new Map<string, Set<AclOperation>>();
  const grant = (topic: string, operation: AclOperation) => {
    const ops = byTopic.get(topic) ?? new Set<AclOperation>();
    ops.add(operation);
    byTopic.set(topic, ops);
  };
  for (const topic of kafka.read ?? []) grant(topic, 'Read');
  for (const topic of kafka.write ?? []) grant(topic, 'Write');
  const order: AclOperation[] = ['Read', 'Write', 'Describe'];
  const acls: Acl[] = [...byTopic].map(([topic, ops]) => ({
    type: 'allow',
    resource: { type: 'topic', name: topic, patternType: 'literal' },
    operations: order.filter((op) => op === 'Describe' || ops.has(op)),
  }));
  if ((kafka.read ?? []).length > 0) {
    acls.push({
      type: 'allow',
      resource: { type: 'group', name: kafka.consumerGroup ?? workload.name, patternType: 'literal' },
      operations: ['Read'],
    });
  }
  return acls;
}

export function buildKafkaUser(cell: Cell, workload: WorkloadSpec): KafkaUser {
  return {
    apiVersion: STRIMZI_API_VERSION,
    kind: 'KafkaUser',
    metadata: strimziMetadata(cell, kafkaUserName(workload)),
    spec: {
      // Matches the listeners; the User Operator writes `password` and `sasl.jaas.config` to the Secret.
      authentication: { type: 'scram-sha-512' },
      authorization: { type: 'simple', acls: workloadAcls(workload) },
    },
  };
}

/** A KafkaUser for each workload that declares `kafka` (the others get no Kafka credentials). */
export function buildKafkaUsers(cell: Cell): KafkaUser[] {
  return (cell.spec.workloads ?? []).filter((w) => w.kafka !== undefined).map((w) => buildKafkaUser(cell, w));
}

/** The bootstrap addresses Strimzi reports in the Kafka status, per listener. */
export function kafkaBootstrapFromStatus(kafka: Pick<Kafka, 'status'> | undefined): { plain?: string; tls?: string } {
  const listeners = kafka?.status?.listeners ?? [];
  const plain = listeners.find((l) => l.name === KAFKA_PLAIN_LISTENER.name)?.bootstrapServers;
  const tls = listeners.find((l) => l.name === KAFKA_TLS_LISTENER.name)?.bootstrapServers;
  return { ...(plain ? { plain } : {}), ...(tls ? { tls } : {}) };
}

/** The plain bootstrap address: from the Kafka status once Strimzi reports it, the conventional one until then. */
export function kafkaBootstrap(cell: Cell, kafka?: Pick<Kafka, 'status'>): { plain: string; tls: string } {
  const reported = kafkaBootstrapFromStatus(kafka);
  return { plain: reported.plain ?? conventionalKafkaBootstrap(cell), tls: reported.tls ?? conventionalKafkaBootstrapTls(cell) };
}
