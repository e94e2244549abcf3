import { buildDatabaseStatefulSets } from './database-builder.js';
import { parse } from 'yaml';
import { exampleCell } from './example-cell.js';
import { buildKafka } from './kafka-builder.js';
import { buildKafkaMetricsConfigMap, buildPodMonitors, KAFKA_METRICS_KEY } from './monitoring-builder.js';
import { buildWorkloads } from './workload-builder.js';

const cell = exampleCell();

describe('the monitoring of a cell', () => {
  it("points the Kafka's metricsConfig at the JMX exporter rules of a ConfigMap of the cell", () => {
    const kafka = buildKafka(cell);
    const map = buildKafkaMetricsConfigMap(cell);
    expect(kafka.spec?.kafka.metricsConfig).toEqual({ type: 'jmxPrometheusExporter', valueFrom: { configMapKeyRef: { name: map.metadata?.name, key: KAFKA_METRICS_KEY } } });
    expect(map.metadata).toMatchObject({ namespace: 'cell-eu-west-1a', labels: { 'cells.platform.io/cell': 'eu-west-1a' } });
    const rules = parse(map.data![KAFKA_METRICS_KEY]!) as { lowercaseOutputName: boolean; rules: { pattern: string; name: string }[] };
    expect(rules.lowercaseOutputName).toBe(true);
    // The series an on-call engineer reads first: traffic, under-replicated partitions, request latency.
    for (const name of ['kafka_server_$1_$2_total', 'kafka_server_$1_$2', 'kafka_network_$1_$2']) expect(rules.rules.map((r) => r.name)).toContain(name);
    for (const r of rules.rules) expect(() => new RegExp(r.pattern)).not.toThrow();
  });

  it('runs a Kafka Exporter for consumer lag, restricted like the other Strimzi containers', () => {
    const exporter = buildKafka(cell).spec?.kafkaExporter;
    expect(exporter).toMatchObject({ topicRegex: '.*', groupRegex: '.*' });
    expect(exporter?.template?.container?.securityContext).toMatchObject({ allowPrivilegeEscalation: false, runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
  });

  it('scrapes the brokers, the controllers, the exporter, the database and each workload with a port, labelling every series with cell and region', () => {
    const monitors = buildPodMonitors(cell);
    expect(monitors.map((m) => m.metadata.name)).toEqual(['eu-west-1a-kafka', 'eu-west-1a-controllers', 'eu-west-1a-kafka-exporter', 'eu-west-1a-db', 'workload-copilot-api']);
    for (const m of monitors) {
      expect(m.metadata.namespace).toBe('cell-eu-west-1a');
      expect(m.spec.namespaceSelector).toEqual({ matchNames: ['cell-eu-west-1a'] });
      expect(m.spec.podMetricsEndpoints[0]!.relabelings).toEqual([
        { action: 'replace', targetLabel: 'cell', replacement: 'eu-west-1a' },
        { action: 'replace', targetLabel: 'region', replacement: 'eu-west-1' },
      ]);
    }
    expect(monitors[0]!.spec.selector.matchLabels).toEqual({ 'strimzi.io/cluster': 'eu-west-1a', 'strimzi.io/kind': 'Kafka', 'strimzi.io/broker-role': 'true' });
  });

  it("selects the database's coordinator and worker pods, and their postgres_exporter sidecar's port, and nothing for an external database", () => {
    const monitor = buildPodMonitors(cell).find((m) => m.metadata.name === 'eu-west-1a-db')!;
    const sets = buildDatabaseStatefulSets(cell) as { spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { name: string; ports?: { name: string }[] }[] } } } }[];
    expect(sets).toHaveLength(2);
    for (const set of sets) {
      const labels = set.spec.template.metadata.labels;
      expect(labels).toMatchObject(monitor.spec.selector.matchLabels);
      for (const e of monitor.spec.selector.matchExpressions ?? []) expect(e.values).toContain(labels[e.key]);
      const exporter = set.spec.template.spec.containers.find((c) => c.name === 'postgres-exporter');
      expect(exporter?.ports?.map((p) => p.name)).toContain(monitor.spec.podMetricsEndpoints[0]!.port);
    }
    // A workload's pods carry the cell's labels too, but not a database component: not selected.
    const workload = buildWorkloads(cell, { kafkaBootstrap: 'b:9092' }).find((o) => o.kind === 'Deployment') as { spec: { template: { metadata: { labels: Record<string, string> } } } };
    const component = workload.spec.template.metadata.labels[monitor.spec.selector.matchExpressions![0]!.key];
    expect(monitor.spec.selector.matchExpressions![0]!.values).not.toContain(component);
    const external = { ...cell, spec: { ...cell.spec, database: { ...cell.spec.database, external: { host: 'db.example', port: 5432, database: 'telemetry', secretRef: { name: 's' } } } } } as typeof cell;
    expect(buildPodMonitors(external).map((m) => m.metadata.name)).not.toContain('eu-west-1a-db');
  });

  it("selects a workload's pods by the labels its Deployment gives them, on the port it names", () => {
    const deployment = buildWorkloads(cell, { kafkaBootstrap: 'b:9092' }).find((o) => o.kind === 'Deployment' && o.metadata?.name === 'copilot-api') as {
      spec: { template: { metadata: { labels: Record<string, string> }; spec: { containers: { ports?: { name: string }[] }[] } } };
    };
    const monitor = buildPodMonitors(cell).find((m) => m.metadata.name === 'workload-copilot-api')!;
    expect(deployment.spec.template.metadata.labels).toMatchObject(monitor.spec.selector.matchLabels);
    expect(deployment.spec.template.spec.containers[0]!.ports?.map((p) => p.name)).toContain(monitor.spec.podMetricsEndpoints[0]!.port);
  });
});
