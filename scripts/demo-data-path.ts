// `npm run demo:data-path`: the data path of two cells on real parts — Kafka 4.1.1 brokers,
// PostgreSQL, the router, the gateway and one ingestion worker per cell — with devices of 20
// customers sending readings while a canary migration (one customer, then four more) moves them,
// the Kafka drain included. Prints messages flowing every second, each move's drain, and checks at
// the end that every acknowledged reading is in its customer's final cell exactly once.
import { KafkaAdminOffsets } from '../src/kafka/group-offsets.js';
import { MoveEngine } from '../src/data/move-engine.js';
import { runMoves } from '../src/data/move-pool.js';
import type { KafkaDrain } from '../src/data/kafka-drain-state.js';
import { silentLogger } from '../src/log.js';
import { placeCustomers } from '../test/integration/data/cells-fixture.js';
import { GROUP, sendReadings, startDataPathWorld, TOPIC } from '../test/support/data-path.js';

const CELLS = ['eu-west-1a', 'eu-west-1b'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

console.log('starting two cells: PostgreSQL + a Kafka 4.1.1 broker each, the router, the gateway, an ingestion worker per cell ...');
const world = await startDataPathWorld({ names: CELLS, holdMs: 30_000 });
const offsets = new KafkaAdminOffsets({ brokers: [], clientId: 'demo', ssl: false }, silentLogger());
let running = true;
try {
  for (const c of CELLS) console.log(`  ${c}: kafka ${world.brokers[c]!.bootstrap}, database ${world.cells.servers[c]!.url}`);
  console.log(`  router ${world.router.url}, gateway ${world.gateway.url} (POST /v1/telemetry/{customer})`);
  const customers = Array.from({ length: 20 }, (_, i) => `demo-${String(i).padStart(2, '0')}`);
  await placeCustomers(world.cells.cp, customers, CELLS[0]!);
  await sleep(500);
  const acked = new Map<string, number[]>(customers.map((c) => [c, []]));
  let next = 1;
  let refused = 0;
  const devices = customers.map(async (c) => {
    while (running) {
      const batch = Array.from({ length: 5 }, () => ({ id: next++, device: 'sensor-1', value: Math.round(Math.random() * 100) / 4 }));
      const res = await sendReadings(world.gateway.url, c, batch).catch(() => ({ status: 0 }));
      if (res.status === 202) acked.get(c)!.push(...batch.map((b) => b.id));
      else refused++;
      await sleep(100);
    }
  });
  const report = setInterval(() => {
    void (async () => {
      const counts = await Promise.all(CELLS.map(async (c) => Number((await world.cells.pools[c]!.query<{ n: string }>('SELECT count(*) AS n FROM readings')).rows[0]?.n)));
      const total = [...acked.values()].reduce((a, l) => a + l.length, 0);
      console.log(`  acknowledged ${total} readings; rows: ${CELLS.map((c, i) => `${c} ${counts[i]}`).join(', ')}; device retries ${refused}`);
    })().catch(() => undefined);
  }, 1000);

  await sleep(3000);
  const engine = new MoveEngine({
    controlPlane: world.cells.cp,
    cells: world.cells.cells,
    settings: { settleLagMs: 200, drainWaitMs: 500, retentionMs: 3_000, convergeRows: 100 },
    kafka: { offsets, topic: TOPIC, group: GROUP },
  });
  for (const [step, batch] of [[0, customers.slice(0, 1)], [1, customers.slice(1, 5)]] as const) {
    console.log(`canary step ${step}: moving ${batch.join(', ')} from ${CELLS[0]} to ${CELLS[1]}`);
    for (const c of batch) await engine.startMove({ migration: 'demo-canary', customerId: c, sourceCell: CELLS[0]!, targetCell: CELLS[1]!, step });
    const results = await runMoves(engine, batch.map((customerId) => ({ migration: 'demo-canary', customerId })), { concurrency: 2, maxWaitMs: 10_000 });
    for (const r of results) {
      const { rows } = await world.cells.cp.query<{ kafka_drain: KafkaDrain | null }>('SELECT kafka_drain FROM migration_journal WHERE migration = $1 AND customer_id = $2', ['demo-canary', r.move?.customerId]);
      const d = rows[0]?.kafka_drain;
      const took = d?.drainedAt ? new Date(d.drainedAt).getTime() - new Date(d.recordedAt).getTime() : NaN;
      console.log(`  ${r.move?.customerId}: ${r.move?.state}; Kafka drain: partition ${d?.partitions[0]?.partition}, ${d?.behindAtStart} messages behind at the fence, drained in ${took} ms`);
    }
    await sleep(2000);
  }
  running = false;
  await Promise.all(devices);
  await sleep(3000);
  clearInterval(report);
  let problems = 0;
  for (const c of customers) {
    const home = (await world.cells.cp.query<{ cell: string }>('SELECT cell FROM placements WHERE customer_id = $1', [c])).rows[0]!.cell;
    const held = new Set((await world.cells.pools[home]!.query<{ id: string }>('SELECT id FROM readings WHERE customer_id = $1', [c])).rows.map((r) => Number(r.id)));
    const missing = acked.get(c)!.filter((id) => !held.has(id));
    if (missing.length) {
      problems++;
      console.log(`  ${c} in ${home}: ${missing.length} acknowledged readings missing`);
    }
  }
  console.log(problems === 0 ? 'every acknowledged reading is in its customer\'s final cell (once: the key forbids twice)' : `${problems} customers miss readings`);
  process.exitCode = problems === 0 ? 0 : 1;
} finally {
  running = false;
  await offsets.close();
  await world.stop();
}
