import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';
import {
  buildKafka,
  buildKafkaNodePools,
  buildKafkaTopics,
  buildKafkaUsers,
  kafkaBootstrap,
  replicationFor,
  workloadAcls,
} from './kafka-builder.js';
import { strimziSchemaErrors, STRIMZI_VERSIONS } from '../../../test/support/strimzi-schema.js';
import type { CellSpecInput } from '../../crds/cell.js';

const base = EXAMPLE_CELL_SPEC;

/** Cells that exercise every branch of the Kafka builders. */
const cells: Record<string, CellSpecInput> = {
  'the DESIGN.md cell': base,
  'a single-broker cell with defaults everywhere': {
    region: 'eu-west-1',
    capacity: { maxCustomers: 10 },
    kafka: { controllers: { replicas: 1 }, brokers: { replicas: 1 }, topics: [{ name: 'telemetry', partitions: 3 }] },
  },
  'a cell with broker config, resources, topic config and deletionPolicy Delete': {
    ...base,
    deletionPolicy: 'Delete',
    kafka: {
      ...base.kafka,
      controllers: { replicas: 5, storage: { size: '10Gi', class: 'fast' }, resources: { requests: { cpu: 1, memory: '2Gi' } } },
      config: { 'num.io.threads': 16, 'log.message.format.version': '3.0' },
      topics: [
        { name: 'telemetry', partitions: 500, replicas: 3, retentionHours: 168, config: { 'cleanup.policy': 'delete', 'max.message.bytes': 1048576 } },
        { name: 'commands.v1', partitions: 12, replicas: 2 },
      ],
    },
    workloads: [
      { name: 'both', image: 'x:1', kafka: { read: ['telemetry', 'commands.v1'], write: ['commands.v1'], consumerGroup: 'both-group' } },
      { name: 'no-kafka', image: 'x:1' },
    ],
  },
};

describe('the Strimzi objects of a cell', () => {
  const cell = exampleCell();

  it('builds a KRaft Kafka named after the cell with two SCRAM listeners, simple authorization and the entity operator', () => {
    const kafka = buildKafka(cell);
    expect(kafka.apiVersion).toBe('kafka.strimzi.io/v1');
    expect(kafka.metadata).toMatchObject({ name: 'eu-west-1a', namespace: 'cell-eu-west-1a' });
    expect(kafka.metadata?.annotations).toBeUndefined();
    expect(kafka.spec.kafka.version).toBe('4.1.0');
    // Strimzi's own listener NetworkPolicy admits the same pods as the cell's policies.
    const peers = [{ podSelector: { matchLabels: { 'cells.platform.io/kafka-client': 'true' } } }];
    expect(kafka.spec.kafka.listeners).toEqual([
      { name: 'plain', port: 9092, type: 'internal', tls: false, authentication: { type: 'scram-sha-512' }, networkPolicyPeers: peers },
      { name: 'tls', port: 9093, type: 'internal', tls: true, authentication: { type: 'scram-sha-512' }, networkPolicyPeers: peers },
    ]);
    expect(kafka.spec.kafka.authorization).toEqual({ type: 'simple' });
    expect(kafka.spec.entityOperator?.topicOperator).toEqual({});
    expect(kafka.spec.entityOperator?.userOperator).toEqual({ secretPrefix: 'kafka-user-' });
    expect(kafka.spec).not.toHaveProperty('zookeeper');
    expect(kafka.spec.kafka).not.toHaveProperty('replicas');
    expect(kafka.spec.kafka).not.toHaveProperty('storage');
  });

  it('configures replication for three brokers: RF 3, min ISR 2, no topic auto-creation', () => {
    expect(buildKafka(cell).spec.kafka.config).toEqual({
      'default.replication.factor': 3,
      'min.insync.replicas': 2,
      'offsets.topic.replication.factor': 3,
      'transaction.state.log.replication.factor': 3,
      'transaction.state.log.min.isr': 2,
      'auto.create.topics.enable': false,
    });
  });

  it('scales replication down with fewer brokers and never below one', () => {
    expect(replicationFor(5)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
    expect(replicationFor(3)).toEqual({ replicationFactor: 3, minInsyncReplicas: 2 });
    expect(replicationFor(2)).toEqual({ replicationFactor: 2, minInsyncReplicas: 1 });
    expect(replicationFor(1)).toEqual({ replicationFactor: 1, minInsyncReplicas: 1 });
  });

  it('merges spec.kafka.config over the production defaults', () => {
    const c = exampleCell({ ...base, kafka: { ...base.kafka, config: { 'min.insync.replicas': 3, 'num.io.threads': 16 } } });
    expect(buildKafka(c).spec.kafka.config).toMatchObject({ 'min.insync.replicas': 3, 'num.io.threads': 16, 'default.replication.factor': 3 });
  });

  it('leaves the Kafka version to Strimzi when the spec has none', () => {
    const { version: _version, ...kafka } = base.kafka;
    expect(buildKafka(exampleCell({ ...base, kafka })).spec.kafka).not.toHaveProperty('version');
  });

  it('builds a controller pool and a broker pool labelled with the cluster, with storage from the spec', () => {
    const [controllers, brokers] = buildKafkaNodePools(cell);
    expect(controllers?.metadata).toMatchObject({ name: 'controllers', namespace: 'cell-eu-west-1a' });
    expect(controllers?.metadata?.labels?.['strimzi.io/cluster']).toBe('eu-west-1a');
    expect(controllers?.spec).toMatchObject({
      replicas: 3,
      roles: ['controller'],
      storage: { type: 'persistent-claim', size: '20Gi', deleteClaim: false },
    });
    expect(controllers?.spec.storage).not.toHaveProperty('class');
    expect(brokers?.metadata?.name).toBe('brokers');
    expect(brokers?.metadata?.labels?.['strimzi.io/cluster']).toBe('eu-west-1a');
    expect(brokers?.spec).toMatchObject({
      replicas: 3,
      roles: ['broker'],
      storage: { type: 'persistent-claim', size: '500Gi', class: 'gp3', deleteClaim: false },
    });
  });

  it('deletes the Kafka volumes with the cell only under deletionPolicy Delete', () => {
    const pools = (policy: 'Retain' | 'Delete') => buildKafkaNodePools(exampleCell({ ...base, deletionPolicy: policy }));
    expect(pools('Retain').map((p) => p.spec.storage.deleteClaim)).toEqual([false, false]);
    expect(pools('Delete').map((p) => p.spec.storage.deleteClaim)).toEqual([true, true]);
  });

  it('builds the telemetry KafkaTopic: 500 partitions, 3 replicas, a week of retention, min ISR 2', () => {
    const [topic] = buildKafkaTopics(cell);
    expect(topic?.metadata).toMatchObject({ name: 'telemetry', namespace: 'cell-eu-west-1a', labels: { 'strimzi.io/cluster': 'eu-west-1a' } });
    expect(topic?.spec).toEqual({
      topicName: 'telemetry',
      partitions: 500,
      replicas: 3,
      config: { 'min.insync.replicas': 2, 'retention.ms': 168 * 3_600_000 },
    });
  });

  it('gives a topic without replicas the default replication factor and the broker retention', () => {
    const c = exampleCell(cells['a single-broker cell with defaults everywhere']);
    expect(buildKafkaTopics(c)[0]?.spec).toEqual({ topicName: 'telemetry', partitions: 3, replicas: 1, config: { 'min.insync.replicas': 1 } });
  });

  it('builds a KafkaUser only for workloads that use Kafka, with ACLs limited to their topics', () => {
    const users = buildKafkaUsers(cell);
    expect(users.map((u) => u.metadata?.name)).toEqual(['copilot-api', 'ingest']);
    expect(users[0]?.metadata?.labels?.['strimzi.io/cluster']).toBe('eu-west-1a');
    expect(users[0]?.spec).toEqual({
      authentication: { type: 'scram-sha-512' },
      authorization: {
        type: 'simple',
        acls: [
          { type: 'allow', resource: { type: 'topic', name: 'telemetry', patternType: 'literal' }, operations: ['Read', 'Describe'] },
          { type: 'allow', resource: { type: 'group', name: 'copilot-api', patternType: 'literal' }, operations: ['Read'] },
        ],
      },
    });
    // A producer gets Write and Describe, and no consumer group.
    expect(users[1]?.spec.authorization?.acls).toEqual([
      { type: 'allow', resource: { type: 'topic', name: 'telemetry', patternType: 'literal' }, operations: ['Write', 'Describe'] },
    ]);
  });

  it('merges read and write of the same topic into one ACL and uses the named consumer group', () => {
    const acls = workloadAcls({
      name: 'both',
      image: 'x',
      replicas: 1,
      database: true,
      kafka: { read: ['a', 'b'], write: ['b'], consumerGroup: 'g' },
    });
    expect(acls).toEqual([
      { type: 'allow', resource: { type: 'topic', name: 'a', patternType: 'literal' }, operations: ['Read', 'Describe'] },
      { type: 'allow', resource: { type: 'topic', name: 'b', patternType: 'literal' }, operations: ['Read', 'Write', 'Describe'] },
      { type: 'allow', resource: { type: 'group', name: 'g', patternType: 'literal' }, operations: ['Read'] },
    ]);
  });

  it('takes the bootstrap addresses from the Kafka status, and the conventional ones until Strimzi reports them', () => {
    expect(kafkaBootstrap(cell)).toEqual({
      plain: 'eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9092',
      tls: 'eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9093',
    });
    const status = { listeners: [{ name: 'plain', bootstrapServers: 'b.example:9092' }, { name: 'tls', bootstrapServers: 'b.example:9093' }] };
    expect(kafkaBootstrap(cell, { status })).toEqual({ plain: 'b.example:9092', tls: 'b.example:9093' });
  });
});

describe.each(STRIMZI_VERSIONS)('validation against the Strimzi %s v1 CRD schemas', (version) => {
  it.each(Object.entries(cells))('accepts every Strimzi object built for %s', (_name, spec) => {
    const cell = exampleCell(spec);
    const objects = [buildKafka(cell), ...buildKafkaNodePools(cell), ...buildKafkaTopics(cell), ...buildKafkaUsers(cell)];
    expect(objects.map((o) => o.kind)).toEqual(expect.arrayContaining(['Kafka', 'KafkaNodePool', 'KafkaTopic']));
    for (const obj of objects) expect({ object: `${obj.kind}/${obj.metadata?.name}`, errors: strimziSchemaErrors(version, obj) }).toEqual({ object: `${obj.kind}/${obj.metadata?.name}`, errors: [] });
  });

  it('rejects what the API server would refuse or silently prune (the validator is not a no-op)', () => {
    const kafka = buildKafka(exampleCell());
    const broken = {
      ...kafka,
      spec: { ...kafka.spec, kafka: { ...kafka.spec.kafka, replicas: 3, listeners: [{ name: 'plain', port: 9000, type: 'internal', tls: false }] } },
    };
    expect(strimziSchemaErrors(version, broken)).toEqual(
      expect.arrayContaining(['/spec/kafka: unknown field "replicas"', '/spec/kafka/listeners/0/port: must be >= 9092']),
    );
    const [pool] = buildKafkaNodePools(exampleCell());
    expect(strimziSchemaErrors(version, { ...pool, spec: { ...pool?.spec, roles: ['leader'] } })).toEqual([
      expect.stringContaining('/spec/roles/0: must be equal to one of the allowed values'),
    ]);
    expect(strimziSchemaErrors(version, { ...kafka, apiVersion: 'kafka.strimzi.io/v1beta2' })).toEqual([
      '/apiVersion: must be kafka.strimzi.io/v1, got kafka.strimzi.io/v1beta2',
    ]);
  });
});
