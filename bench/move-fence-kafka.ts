// How long a customer is fenced during its cut-over when the move also drains the customer's
// messages from the source cell's Kafka, with devices sending ~BENCH_RATE readings/s (default
// 5,000) across BENCH_CUSTOMERS customers (default 200) through the real data path: gateway →
// router → Kafka (a real broker per cell) → ingestion worker (one process per cell) → database.
// The baseline is the same moves with no traffic, measured in the same run, interleaved: each of
// BENCH_ROUNDS rounds (default 2) moves BENCH_MOVES customers (default 10) with no traffic, then
// BENCH_MOVES others while the devices send; one move at a time (as bench:move-fence), every
// customer seeded with BENCH_ROWS readings (default 1,000). The fence of a move is
// cut_over_at - fenced_at from its journal: the write fence, the Kafka drain (the ingestion
// group's committed offsets reaching the end offsets recorded after the fence), the final sync,
// the checks and the cut-over. Prints p50/p99/max of the fence and of its Kafka drain for both,
// the ratio of the p99s (loaded / idle) and the loaded p99 (goal <= 1 s), the rate the devices
// reached, and checks that every reading the gateway acknowledged for a moved customer is a row
// in its new cell, and where the moves spent their time (mean ms per move by action).
import { KafkaAdminOffsets } from '../src/kafka/group-offsets.js';
import type { KafkaDrain } from '../src/data/kafka-drain-state.js';
import { MoveEngine } from '../src/data/move-engine.js';
import { runMoves } from '../src/data/move-pool.js';
import { silentLogger } from '../src/log.js';
import { consumedEverything, GROUP, startDataPathWorld, TOPIC } from '../test/support/data-path.js';
import { httpDevice } from './support/http-devices.js';
import { ActionTimer, customerName, fmt, percentile, placeCustomers, seedReadings } from './support/move-bench.js';

const RATE = Number(process.env.BENCH_RATE ?? 5000);
const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 200);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const MOVES = Number(process.env.BENCH_MOVES ?? 10);
const ROWS = Number(process.env.BENCH_ROWS ?? 1000);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 50);
const BATCH = Number(process.env.BENCH_BATCH ?? 10);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const world = await startDataPathWorld({ names: ['cell-a', 'cell-b'], partitions: 6, holdMs: 30_000 });
const offsets = new KafkaAdminOffsets({ brokers: [], clientId: 'bench-move', ssl: false }, silentLogger());

/**
 * Devices at a steady rate: CONNECTIONS keep-alive connections, each sending a batch of BATCH
 * readings every CONNECTIONS × BATCH / RATE seconds to the next customer in turn (a request held
 * by the gateway for a fenced customer delays only its own connection; a connection that fell
 * behind sends at once, up to one second of backlog).
 */
class Devices {
  readonly acked = new Map<string, number[]>();
  sent = 0;
  refused = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private startedAt = 0;
  private stoppedAt = 0;

  constructor(
    private readonly customers: readonly string[],
    private nextId: number,
  ) {}

  start(): void {
    this.running = true;
    this.sent = 0;
    this.startedAt = performance.now();
    const interval = (CONNECTIONS * BATCH * 1000) / RATE;
    this.loops = Array.from({ length: CONNECTIONS }, async (_, c) => {
      const conn = httpDevice('127.0.0.1', world.gateway.port);
      let due = performance.now() + (interval * c) / CONNECTIONS;
      let k = c;
      try {
        while (this.running) {
          const wait = due - performance.now();
          if (wait > 0) await sleep(wait);
          if (!this.running) break;
          due = Math.max(due + interval, performance.now() - 1000);
          const customer = this.customers[k % this.customers.length] as string;
          k += CONNECTIONS;
          const ids = Array.from({ length: BATCH }, () => this.nextId++);
          const status = await conn.post(`/v1/telemetry/${customer}`, JSON.stringify(ids.map((id) => ({ id, device: `dev-${id % 7}`, value: id % 100 }))));
          if (status === 202) {
            this.sent += BATCH;
            let list = this.acked.get(customer);
            if (!list) this.acked.set(customer, (list = []));
            list.push(...ids);
          } else this.refused++;
        }
      } finally {
        conn.close();
      }
    });
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.stoppedAt = performance.now();
  }

  get rate(): number {
    return this.sent / ((this.stoppedAt - this.startedAt) / 1000);
  }
}


interface Fence {
  ms: number;
  drainMs: number;
  behind: number;
}

try {
  const customers = Array.from({ length: CUSTOMERS }, (_, i) => customerName('fk', i));
  const toMove = customers.slice(0, ROUNDS * MOVES * 2);
  if (toMove.length > customers.length) throw new Error(`BENCH_CUSTOMERS (${CUSTOMERS}) must be at least 2 × BENCH_ROUNDS × BENCH_MOVES (${toMove.length})`);
  await placeCustomers(world.cells.cp, customers, 'cell-a');
  const nextId = await seedReadings(world.cells.pools['cell-a']!, customers, ROWS, 1);
  const devices = new Devices(customers, Math.max(nextId, 100_000_000));
  const timer = new ActionTimer();
  const timers = { idle: new Map<string, number>(), loaded: new Map<string, number>() };
  const engine = new MoveEngine({
    hooks: timer,
    controlPlane: world.cells.cp,
    cells: world.cells.cells,
    settings: { drainWaitMs: 0, settleLagMs: 200, retentionMs: 3_600_000, maxKafkaDrainMs: 30_000 },
    kafka: { offsets, topic: TOPIC, group: GROUP },
  });
  console.log(
    `fence with the Kafka drain: ${CUSTOMERS} customers of ${fmt(ROWS)} readings in cell-a, ${ROUNDS} rounds of ${MOVES} moves to cell-b with no traffic, then ${MOVES} while devices send ${fmt(RATE)} readings/s (${CONNECTIONS} connections, batches of ${BATCH}) through the gateway; one move at a time, drainWait 0`,
  );

  async function moveAll(migration: string, batch: readonly string[], into: Map<string, number>): Promise<Fence[]> {
    timer.reset();
    for (const c of batch) {
      const started = await engine.startMove({ migration, customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b' });
      if (!started.ok) throw new Error(`${c} did not start: ${JSON.stringify(started)}`);
    }
    const results = await runMoves(engine, batch.map((customerId) => ({ migration, customerId })), { concurrency: 1 });
    for (const [kind, ms] of timer.ms) into.set(kind, (into.get(kind) ?? 0) + ms);
    const failed = results.filter((r) => r.move?.state !== 'Cleanup' && r.move?.state !== 'Done');
    if (failed.length > 0) throw new Error(`${failed.length} moves did not cut over: ${JSON.stringify(failed[0]?.move)}`);
    const { rows } = await world.cells.cp.query<{ ms: number; kafka_drain: KafkaDrain | null }>(
      `SELECT extract(epoch FROM cut_over_at - fenced_at) * 1000 AS ms, kafka_drain FROM migration_journal WHERE migration = $1`,
      [migration],
    );
    return rows.map((r) => {
      const d = r.kafka_drain;
      if (!d || d.skipped || !d.drainedAt) throw new Error(`a move of ${migration} did not drain Kafka: ${JSON.stringify(d)}`);
      return { ms: Number(r.ms), drainMs: Date.parse(d.drainedAt) - Date.parse(d.recordedAt), behind: d.behindAtStart };
    });
  }

  const idle: Fence[] = [];
  const loaded: Fence[] = [];
  const rates: number[] = [];
  let refused = 0;
  for (let round = 0; round < ROUNDS; round++) {
    const base = round * MOVES * 2;
    idle.push(...(await moveAll(`idle-${round}`, toMove.slice(base, base + MOVES), timers.idle)));
    devices.start();
    await sleep(3000); // steady state: the ingestion workers keep up before the first fence
    loaded.push(...(await moveAll(`loaded-${round}`, toMove.slice(base + MOVES, base + 2 * MOVES), timers.loaded)));
    await devices.stop();
    rates.push(devices.rate);
    refused += devices.refused;
    console.log(`  round ${round + 1}: devices sent ${fmt(devices.rate)} readings/s while ${MOVES} customers moved`);
    const deadline = Date.now() + 120_000;
    while (!(await consumedEverything(world, offsets))) {
      if (Date.now() > deadline) throw new Error('the ingestion workers did not consume every message within 120 s');
      await sleep(250);
    }
  }

  // Nothing was dropped to keep a fence short: every acknowledged reading of a moved customer is a row in cell-b.
  let missing = 0;
  let acked = 0;
  for (const c of toMove) {
    const ids = devices.acked.get(c) ?? [];
    acked += ids.length;
    const { rows } = await world.cells.pools['cell-b']!.query<{ n: string }>('SELECT count(*) AS n FROM readings WHERE customer_id = $1 AND id = ANY($2::bigint[])', [c, ids]);
    missing += ids.length - Number(rows[0]!.n);
  }

  const line = (name: string, fences: Fence[]) => {
    const ms = fences.map((f) => f.ms);
    const drain = fences.map((f) => f.drainMs);
    console.log(
      `  ${name}: fence p50 ${fmt(percentile(ms, 50))} ms, p99 ${fmt(percentile(ms, 99))} ms, max ${fmt(Math.max(...ms))} ms; Kafka drain p50 ${fmt(percentile(drain, 50))} ms, p99 ${fmt(percentile(drain, 99))} ms, messages behind at the fence p99 ${fmt(percentile(fences.map((f) => f.behind), 99))} (${fences.length} moves)`,
    );
  };
  const actions = (m: Map<string, number>, n: number) =>
    [...m]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6)
      .map(([k, ms]) => `${k} ${fmt(ms / n)}`)
      .join(', ');
  console.log(`  mean ms per move by action, no traffic: ${actions(timers.idle, idle.length)}`);
  console.log(`  mean ms per move by action, with traffic: ${actions(timers.loaded, loaded.length)}`);
  line('no traffic (baseline)', idle);
  line(`devices at ${fmt(percentile(rates, 50))} readings/s`, loaded);
  const p99 = (fences: Fence[]) => percentile(fences.map((f) => f.ms), 99);
  console.log(`devices reached ${rates.map((r) => fmt(r)).join(', ')} readings/s per round (goal ${fmt(RATE)}); ${refused} requests refused`);
  console.log(`acknowledged readings of the moved customers: ${fmt(acked)}, missing in their new cell: ${missing}`);
  console.log(`fence p99 with traffic / without (baseline): ${(p99(loaded) / p99(idle)).toFixed(2)}`);
  console.log(`fence p99 with traffic: ${fmt(p99(loaded))} ms (goal <= 1000 ms)`);
  if (missing > 0) process.exitCode = 1;
} finally {
  await offsets.close();
  await world.stop();
}
