// The ingestion worker's rows/s against a raw COPY of the same rows, in the same run: BENCH_ROWS
// readings (default 100,000) of 100 customers are produced to a real Kafka 4.1.1 topic (6
// partitions), then the worker (in this process) consumes them into a fresh cell database,
// committing offsets after each database commit, until its group has committed the topic's end.
// Baseline: `COPY readings FROM STDIN` of the same rows into an identical empty table. The worker
// runs twice (a fresh group and table each time) and COPY twice, alternating; the best of each
// counts. Prints rows/s of both and the ratio worker / COPY.
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import copyStreams from 'pg-copy-streams';
import { KafkaAdminOffsets } from '../src/kafka/group-offsets.js';
import { ProducerPool } from '../src/kafka/producer-pool.js';
import { encodeMessage, type TelemetryMessage } from '../src/kafka/telemetry-message.js';
import { startIngestWorker } from '../src/ingest/ingest-worker.js';
import { silentLogger } from '../src/log.js';
import { placeCustomers } from '../test/integration/data/cells-fixture.js';
import { startDataPathWorld, TOPIC } from '../test/support/data-path.js';

const ROWS = Number(process.env.BENCH_ROWS ?? 100_000);
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const world = await startDataPathWorld({ names: ['cell-a'], partitions: 6, ingest: false, gateway: false });
const pool = world.cells.pools['cell-a']!;
const bootstrap = world.brokers['cell-a']!.bootstrap;
const customers = Array.from({ length: 100 }, (_, i) => `bench-in-${i}`);
await placeCustomers(world.cells.cp, customers, 'cell-a');
const rows: TelemetryMessage[] = Array.from({ length: ROWS }, (_, i) => ({ customer: customers[i % customers.length]!, id: i + 1, device: `dev-${i % 7}`, value: i * 0.25 }));
const offsets = new KafkaAdminOffsets({ brokers: [], clientId: 'bench', ssl: false }, silentLogger());

async function emptyTable(): Promise<void> {
  await pool.query('TRUNCATE readings');
  await pool.query('VACUUM ANALYZE readings');
}

async function copyBaseline(): Promise<number> {
  await emptyTable();
  const client = await pool.connect();
  try {
    const t0 = performance.now();
    const text = rows.map((r) => `${r.customer}\t${r.id}\t${r.device}\t${r.value}\n`);
    await pipeline(Readable.from(text), client.query(copyStreams.from('COPY readings (customer_id, id, device, value) FROM STDIN')));
    const rate = ROWS / ((performance.now() - t0) / 1000);
    console.log(`  raw COPY: ${fmt(rate)} rows/s`);
    return rate;
  } finally {
    client.release();
  }
}

async function worker(round: number): Promise<number> {
  await emptyTable();
  const group = `bench-ingest-${round}`;
  const t0 = performance.now();
  const w = await startIngestWorker({ cell: 'cell-a', kafka: { brokers: [bootstrap], clientId: 'bench-ingest', ssl: false }, topic: TOPIC, group, pool, table: 'readings', routerUrl: world.router.url, routeTtlMs: 60_000, log: silentLogger() });
  const ends = await offsets.topicEnds(bootstrap, TOPIC);
  for (;;) {
    const { offsets: committed } = await offsets.committed(bootstrap, group, TOPIC);
    if (ends.every((e) => BigInt(committed.get(e.partition) ?? '0') >= BigInt(e.end))) break;
    await new Promise((r) => setTimeout(r, 20));
  }
  const rate = ROWS / ((performance.now() - t0) / 1000);
  await w.stop();
  const { rows: counted } = await pool.query<{ n: string }>('SELECT count(*) AS n FROM readings');
  console.log(`  ingestion worker: ${fmt(rate)} rows/s (${fmt(Number(counted[0]?.n))} rows written, group join included)`);
  return rate;
}

try {
  const producers = new ProducerPool({ brokers: [], clientId: 'bench-load', ssl: false }, TOPIC, silentLogger());
  for (let i = 0; i < rows.length; i += 1000) {
    await producers.send(bootstrap, rows.slice(i, i + 1000).map((m) => ({ key: m.customer, value: encodeMessage(m) })));
  }
  await producers.close();
  console.log(`${fmt(ROWS)} readings of ${customers.length} customers on 6 partitions of a Kafka 4.1.1 topic`);
  const c1 = await copyBaseline();
  const w1 = await worker(1);
  const c2 = await copyBaseline();
  const w2 = await worker(2);
  console.log(`ratio ingestion worker / raw COPY: ${(Math.max(w1, w2) / Math.max(c1, c2)).toFixed(2)}`);
} finally {
  await offsets.close();
  await world.stop();
}
