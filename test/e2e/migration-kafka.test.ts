// The operator's move finds a cell's real Kafka broker the way it would in a cluster: the Kafka's
// status (written by kwok's Strimzi stand-in, its plain listener pointed at a real Kafka 4.1.1
// broker by the test: support/kafka-status.ts) → the Cell's status.endpoints.kafkaBootstrap → the
// routing table's cells → the Kafka drain under each move's fence, run by the operator.
import kafkajs from 'kafkajs';
import { encodeMessage } from '../../src/kafka/telemetry-message.js';
import { createTopic, startKafka, type KafkaBroker } from '../support/kafka.js';
import { reportRealBroker } from './support/kafka-status.js';
import { apply, kubectlJson, waitFor } from './support/kube.js';
import { migrationManifest, sql, startMigrationWorld, type MigrationWorld } from './support/migration-world.js';

const MIGRATION = 'kafka-drain-e2e';

describe('a migration with the Kafka drain on real brokers', () => {
  let world: MigrationWorld;
  const brokers: KafkaBroker[] = [];

  beforeAll(async () => {
    world = await startMigrationWorld({ prefix: 'kdrain', region: 'eu-north-9', customers: 3, readingsPerCustomer: 20, operator: { env: { KAFKA_DRAIN: 'true' } } });
    for (const cell of [world.sourceCell, world.targetCell]) {
      const broker = await startKafka({ name: cell });
      brokers.push(broker);
      await createTopic(broker.bootstrap, 'telemetry', 3);
      await reportRealBroker(cell, broker.bootstrap);
    }
  }, 300_000);

  afterAll(async () => {
    await world?.cleanup([MIGRATION]);
    await Promise.all(brokers.map((b) => b.stop()));
  }, 120_000);

  it('reports the real broker in the Cell and the routing table, and drains the source cell\'s topic under every fence', async () => {
    const [source, target] = brokers as [KafkaBroker, KafkaBroker];
    await waitFor(
      async () => (await kubectlJson<{ status?: { endpoints?: { kafkaBootstrap?: string } } }>(['get', 'cell', world.sourceCell, '-o', 'json'])).status?.endpoints?.kafkaBootstrap === source.bootstrap,
      { timeoutMs: 60_000, description: 'the source Cell to report its real broker' },
    );
    await waitFor(
      async () => {
        const rows = await sql<{ name: string; bootstrap: string }>(world.controlPlane, `SELECT name, endpoints->>'kafkaBootstrap' AS bootstrap FROM cells WHERE name = ANY($1)`, [[world.sourceCell, world.targetCell]]);
        return rows.length === 2 && rows.every((r) => r.bootstrap === (r.name === world.sourceCell ? source.bootstrap : target.bootstrap));
      },
      { timeoutMs: 60_000, description: 'the routing table to hold both real brokers' },
    );
    // Messages of every customer wait in the source topic; no ingestion workload consumes them here.
    const producer = new kafkajs.Kafka({ clientId: 'e2e', brokers: [source.bootstrap], logLevel: kafkajs.logLevel.NOTHING }).producer({ idempotent: true });
    await producer.connect();
    await producer.send({ topic: 'telemetry', acks: -1, messages: world.customers.map((c, i) => ({ key: c, value: encodeMessage({ customer: c, id: i + 1, device: 'd', value: 1 }) })) });
    await producer.disconnect();
    await apply(migrationManifest(world, MIGRATION, { customers: { all: true }, steps: [{ move: '100%' }], drainWait: '200ms', retention: '1s' }));
    await waitFor(async () => (await world.migration(MIGRATION)).status?.phase === 'Succeeded', { timeoutMs: 180_000, description: 'the migration to succeed' });
    const rows = await sql<{ customer_id: string; kafka_drain: { bootstrap?: string; cell: string; skipped?: string; drainedAt: string | null } }>(
      world.controlPlane,
      'SELECT customer_id, kafka_drain FROM migration_journal WHERE migration = $1 ORDER BY customer_id',
      [MIGRATION],
    );
    expect(rows).toHaveLength(3);
    // No ingestion workload runs in these cells: the broker knows no consumer group to wait for, and the journal says so.
    for (const r of rows) expect(r.kafka_drain).toMatchObject({ cell: world.sourceCell, bootstrap: source.bootstrap, skipped: 'NoConsumerGroup', drainedAt: expect.any(String) });
  });
});
