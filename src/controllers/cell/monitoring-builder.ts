// What makes a cell observable: the JMX exporter rules of its Kafka (a ConfigMap the Kafka's
// metricsConfig points at), and, where the Prometheus Operator is installed, PodMonitors for its
// Kafka brokers and controllers, its Kafka Exporter and its workloads, every series labelled with
// the cell and its region so that one Prometheus (or a global query) tells the cells apart.
import type { V1ConfigMap } from '@kubernetes/client-node';
import type { Cell } from '../../crds/cell.js';
import { childMetadata, LABEL_COMPONENT, LABEL_PART_OF, selectorLabels } from './labels.js';
import { LABEL_CELL } from '../../crds/group.js';
import { DATABASE_METRICS_PORT } from './database-builder.js';
import { cellName, kafkaName } from '../../crds/cell-names.js';
import { WORKLOAD_PORT_NAME } from './workload-builder.js';

export const MONITORING_API_VERSION = 'monitoring.coreos.com/v1';
/** The key of the JMX exporter rules in the ConfigMap (Strimzi's examples use this name). */
export const KAFKA_METRICS_KEY = 'kafka-metrics-config.yml';
/** Strimzi names the metrics port of its pods (Kafka, Kafka Exporter) so. */
export const STRIMZI_METRICS_PORT = 'tcp-prometheus';

export function kafkaMetricsConfigMapName(cell: Cell): string {
  return `${kafkaName(cell)}-metrics`;
}

/**
 * The JMX exporter rules: Strimzi's kafka-metrics example reduced to what the fleet dashboard and
 * an on-call engineer read (traffic, requests, replication health, the KRaft controller, the
 * network and the log size), so that every broker does not export thousands of series.
 */
export const KAFKA_JMX_RULES = {
  lowercaseOutputName: true,
  rules: [
    // Bytes and messages in and out, per topic.
    { pattern: 'kafka.server<type=(.+), name=(.+), clientId=(.+), topic=(.+), partition=(.*)><>Value', name: 'kafka_server_$1_$2', type: 'GAUGE', labels: { clientId: '$3', topic: '$4', partition: '$5' } },
    { pattern: 'kafka.server<type=(BrokerTopicMetrics), name=(.+), topic=(.+)><>Count', name: 'kafka_server_$1_$2_total', type: 'COUNTER', labels: { topic: '$3' } },
    { pattern: 'kafka.server<type=(BrokerTopicMetrics), name=(.+)><>Count', name: 'kafka_server_$1_$2_total', type: 'COUNTER' },
    // Replication health: under-replicated and offline partitions, ISR changes.
    { pattern: 'kafka.server<type=(ReplicaManager), name=(.+)><>(Value|Count)', name: 'kafka_server_$1_$2', type: 'GAUGE' },
    { pattern: 'kafka.controller<type=(KafkaController), name=(.+)><>Value', name: 'kafka_controller_$1_$2', type: 'GAUGE' },
    // The KRaft quorum.
    { pattern: 'kafka.server<type=raft-metrics><>(.+):', name: 'kafka_server_raftmetrics_$1', type: 'GAUGE' },
    // Requests: rate and latency by request type.
    { pattern: 'kafka.network<type=(RequestMetrics), name=(RequestsPerSec), request=(.+), version=(.+)><>Count', name: 'kafka_network_$1_$2_total', type: 'COUNTER', labels: { request: '$3' } },
    { pattern: 'kafka.network<type=(RequestMetrics), name=(TotalTimeMs), request=(.+)><>(\\d+)thPercentile', name: 'kafka_network_$1_$2', type: 'GAUGE', labels: { request: '$3', quantile: '0.$4' } },
    { pattern: 'kafka.network<type=(SocketServer), name=(NetworkProcessorAvgIdlePercent)><>Value', name: 'kafka_network_$1_$2', type: 'GAUGE' },
    { pattern: 'kafka.server<type=(KafkaRequestHandlerPool), name=(RequestHandlerAvgIdlePercent)><>OneMinuteRate', name: 'kafka_server_$1_$2', type: 'GAUGE' },
    // Log size per topic and partition.
    { pattern: 'kafka.log<type=Log, name=Size, topic=(.+), partition=(.*)><>Value', name: 'kafka_log_log_size', type: 'GAUGE', labels: { topic: '$1', partition: '$2' } },
  ],
} as const;

export function buildKafkaMetricsConfigMap(cell: Cell): V1ConfigMap {
  return {
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: childMetadata(cell, kafkaMetricsConfigMapName(cell), 'kafka', kafkaName(cell)),
    // JSON is YAML: the JMX exporter reads it as is.
    data: { [KAFKA_METRICS_KEY]: `${JSON.stringify(KAFKA_JMX_RULES, null, 2)}\n` },
  };
}

/** The Kafka's spec.kafka.metricsConfig: the JMX exporter with the rules above. */
export function kafkaMetricsConfig(cell: Cell) {
  return {
    type: 'jmxPrometheusExporter' as const,
    valueFrom: { configMapKeyRef: { name: kafkaMetricsConfigMapName(cell), key: KAFKA_METRICS_KEY } },
  };
}

/** A PodMonitor as the Prometheus Operator's monitoring.coreos.com/v1 takes it (the fields used here). */
export interface PodMonitor {
  apiVersion: typeof MONITORING_API_VERSION;
  kind: 'PodMonitor';
  metadata: ReturnType<typeof childMetadata>;
  spec: {
    selector: { matchLabels: Record<string, string>; matchExpressions?: { key: string; operator: 'In'; values: string[] }[] };
    namespaceSelector: { matchNames: string[] };
    podMetricsEndpoints: {
      port: string;
      path: string;
      relabelings: { action: 'replace'; targetLabel: string; replacement: string }[];
    }[];
  };
}

function podMonitor(cell: Cell, name: string, matchLabels: Record<string, string>, port: string, matchExpression?: { key: string; operator: 'In'; values: string[] }): PodMonitor {
  const metadata = childMetadata(cell, name, 'monitoring', name);
  return {
    apiVersion: MONITORING_API_VERSION,
    kind: 'PodMonitor',
    metadata,
    spec: {
      selector: { matchLabels, ...(matchExpression ? { matchExpressions: [matchExpression] } : {}) },
      namespaceSelector: { matchNames: [metadata.namespace ?? ''] },
      podMetricsEndpoints: [
        {
          port,
          path: '/metrics',
          // Static labels on every series: a fleet's dashboards and alerts group by cell and region.
          relabelings: [
            { action: 'replace', targetLabel: 'cell', replacement: cellName(cell) },
            { action: 'replace', targetLabel: 'region', replacement: cell.spec.region },
          ],
        },
      ],
    },
  };
}

/**
 * The cell's PodMonitors: its Kafka (brokers and controllers), its Kafka Exporter (consumer lag,
 * offsets), its in-cluster database (the postgres_exporter sidecar of every coordinator and worker
 * pod; an external database is monitored where it runs) and each workload that has a port (scraped
 * at /metrics on it).
 */
export function buildPodMonitors(cell: Cell): PodMonitor[] {
  const kafka = kafkaName(cell);
  return [
    podMonitor(cell, `${kafka}-kafka`, { 'strimzi.io/cluster': kafka, 'strimzi.io/kind': 'Kafka', 'strimzi.io/broker-role': 'true' }, STRIMZI_METRICS_PORT),
    podMonitor(cell, `${kafka}-controllers`, { 'strimzi.io/cluster': kafka, 'strimzi.io/kind': 'Kafka', 'strimzi.io/controller-role': 'true' }, STRIMZI_METRICS_PORT),
    podMonitor(cell, `${kafka}-kafka-exporter`, { 'strimzi.io/cluster': kafka, 'strimzi.io/name': `${kafka}-kafka-exporter` }, STRIMZI_METRICS_PORT),
    // Coordinator and workers alike: both carry the cell's label and a database component label.
    ...(cell.spec.database.external
      ? []
      : [
          podMonitor(cell, `${cellName(cell)}-db`, { [LABEL_CELL]: cellName(cell), [LABEL_PART_OF]: `cell-${cellName(cell)}` }, DATABASE_METRICS_PORT.name, {
            key: LABEL_COMPONENT,
            operator: 'In',
            values: ['database-coordinator', 'database-worker'],
          }),
        ]),
    ...(cell.spec.workloads ?? [])
      .filter((w) => w.port !== undefined)
      .map((w) => podMonitor(cell, `workload-${w.name}`, selectorLabels(cell, 'workload', w.name), WORKLOAD_PORT_NAME)),
  ];
}
