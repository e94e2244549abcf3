// A customer move carries the customer's messages: devices of many customers send through the
// gateway → router → Kafka → ingestion worker → database while customers move canary-first, the
// ingestion workers are SIGKILLed at random points, and a stale producer keeps writing to the
// source topic after the cut-over. Every reading the gateway acknowledged ends up exactly once in
// the customer's final cell.
import kafkajs from 'kafkajs';
import { KafkaAdminOffsets } from '../../../src/kafka/group-offsets.js';
import { encodeMessage } from '../../../src/kafka/telemetry-message.js';
import { pino } from 'pino';
import { customerPartition } from '../../../src/kafka/partitioning.js';
import { MoveEngine } from '../../../src/data/move-engine.js';
import { InjectedCrash } from '../../../src/data/move-errors.js';
import { runMoves } from '../../../src/data/move-pool.js';
import type { KafkaDrain } from '../../../src/data/kafka-drain-state.js';
import { silentLogger } from '../../../src/log.js';
import { placeCustomers } from '../data/cells-fixture.js';
import { consumedEverything, DeviceFleet, GROUP, startDataPathWorld, TOPIC, type DataPathWorld } from '../../support/data-path.js';

const TIMEOUT = 300_000;
let world: DataPathWorld;
let offsets: KafkaAdminOffsets;

beforeAll(async () => {
  world = await startDataPathWorld({ holdMs: 30_000 });
  offsets = new KafkaAdminOffsets({ brokers: [], clientId: 'move-engine', ssl: false }, silentLogger());
}, TIMEOUT);

afterAll(async () => {
  await offsets?.close();
  await world?.stop();
}, TIMEOUT);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Load and chaos stop when the test ends, pass or fail. */
const running: { stop(): Promise<void> }[] = [];
function stopAfterTest(...parts: { stop(): Promise<void> }[]): void {
  running.push(...parts);
}
afterEach(async () => {
  await Promise.all(running.splice(0).map((p) => p.stop()));
});

async function idsIn(cell: string, customer: string): Promise<number[]> {
  const { rows } = await world.cells.pools[cell]!.query<{ id: string }>('SELECT id FROM readings WHERE customer_id = $1 ORDER BY id', [customer]);
  return rows.map((r) => Number(r.id));
}

/**
 * Once the ingestion workers consumed every message: each customer's acknowledged readings (more
 * than 50) are all in `cell`, and none in `other`.
 */
async function expectReadingsIn(devices: DeviceFleet, customers: readonly string[], cell: string, other: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await consumedEverything(world, offsets))) {
    if (Date.now() > deadline) throw new Error('the ingestion workers did not consume every message within 60 s');
    await sleep(250);
  }
  for (const c of customers) {
    const want = devices.acked.get(c)!;
    expect(want.length).toBeGreaterThan(50);
    const held = await idsIn(cell, c);
    expect(want.filter((id) => !held.includes(id))).toEqual([]);
    expect(await idsIn(other, c)).toEqual([]);
  }
}

/**
 * SIGKILLs the ingestion worker of a random cell every 4-8 s, restarting it a moment later. Each
 * kill stalls the worker's partitions for the group's session timeout (10 s: the killed member
 * never leaves) — Kafka's behaviour, not ours; kills every 1-3 s kept the group rebalancing for
 * good and every drain timed out.
 */
function chaos(): { stop(): Promise<void>; kills: number } {
  let running = true;
  const state = { kills: 0, stop: async () => undefined as void };
  const loop = (async () => {
    while (running) {
      await sleep(4000 + Math.random() * 4000);
      if (!running) break;
      const cell = world.names[Math.floor(Math.random() * world.names.length)]!;
      await world.ingest[cell]!.kill();
      state.kills++;
      await sleep(200 + Math.random() * 800);
      await world.startIngest(cell);
    }
  })();
  state.stop = async () => {
    running = false;
    await loop;
  };
  return state;
}


describe('a customer move on real Kafka', () => {
  it('moves customers canary-first with every acknowledged reading exactly once in their final cell, the ingestion workers killed at random, a stale producer writing to the source', async () => {
    const customers = Array.from({ length: 8 }, (_, i) => `mk-${i}`);
    const moving = customers.slice(0, 4);
    await placeCustomers(world.cells.cp, customers, 'cell-a');
    await sleep(500);
    const devices = new DeviceFleet(world.gateway.url, customers, 20);
    await sleep(1500);
    const killer = chaos();
    stopAfterTest(killer, devices);
    const engine = new MoveEngine({
      controlPlane: world.cells.cp,
      cells: world.cells.cells,
      settings: { pageRows: 500, settleLagMs: 100, drainWaitMs: 300, retentionMs: 3_000, convergeRows: 50, maxKafkaDrainMs: 90_000, maxFenceMs: 150_000 },
      kafka: { offsets, topic: TOPIC, group: GROUP },
    });
    // Canary: one customer, then the rest.
    for (const [step, batch] of [[0, moving.slice(0, 1)], [1, moving.slice(1)]] as const) {
      for (const c of batch) expect((await engine.startMove({ migration: 'kafka-canary', customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b', step })).ok).toBe(true);
      const results = await runMoves(engine, batch.map((customerId) => ({ migration: 'kafka-canary', customerId })), { concurrency: 2, maxWaitMs: 10_000 });
      // The last error rides along so that a failure says why.
      expect(results.map((r) => [r.move?.customerId, r.move?.state, r.move?.state === 'Done' ? null : r.move?.lastError])).toEqual(batch.map((c) => [c, 'Done', null]));
    }
    await sleep(1000);
    await killer.stop();
    await devices.stop();
    expect(killer.kills).toBeGreaterThan(0);

    // A stale producer still sends a moved customer's readings to the source cell's topic, one of them twice.
    const stale = new kafkajs.Kafka({ clientId: 'stale', brokers: [world.brokers['cell-a']!.bootstrap], logLevel: kafkajs.logLevel.NOTHING }).producer({ idempotent: true });
    await stale.connect();
    const staleIds = [5_000_001, 5_000_002, 5_000_001];
    await stale.send({ topic: TOPIC, acks: -1, messages: staleIds.map((id) => ({ key: moving[0]!, value: encodeMessage({ customer: moving[0]!, id, device: 'stale', value: 0 }) })) });
    await stale.disconnect();
    devices.acked.get(moving[0]!)!.push(5_000_001, 5_000_002);

    const deadline = Date.now() + 60_000;
    while (!(await consumedEverything(world, offsets))) {
      if (Date.now() > deadline) throw new Error('the ingestion workers did not consume every message within 60 s');
      await sleep(250);
    }
    for (const c of customers) {
      const final = moving.includes(c) ? 'cell-b' : 'cell-a';
      const other = final === 'cell-a' ? 'cell-b' : 'cell-a';
      const want = [...devices.acked.get(c)!].sort((a, b) => a - b);
      expect(want.length).toBeGreaterThan(50);
      const held = await idsIn(final, c);
      // Acknowledged readings are there, once (the key forbids twice); nothing else is.
      expect(want.filter((id) => !held.includes(id))).toEqual([]);
      expect(await idsIn(other, c)).toEqual([]);
    }
    // The journal says what the drain did.
    const { rows } = await world.cells.cp.query<{ customer_id: string; kafka_drain: KafkaDrain }>(
      `SELECT customer_id, kafka_drain FROM migration_journal WHERE migration = 'kafka-canary' ORDER BY customer_id`,
    );
    expect(rows).toHaveLength(4);
    for (const r of rows) {
      expect(r.kafka_drain).toMatchObject({ cell: 'cell-a', topic: TOPIC, group: GROUP, drainedAt: expect.any(String) });
      expect(r.kafka_drain.skipped).toBeUndefined();
      expect(r.kafka_drain.partitions).toHaveLength(1);
      const p = r.kafka_drain.partitions[0]!;
      expect(BigInt(p.committed ?? '0')).toBeGreaterThanOrEqual(BigInt(p.end));
    }
  });

  // The source's ingestion worker stalls once the batch is fenced, with a reading of a busy customer
  // on partition 0 not yet consumed: paused for 1 s (a slow worker), the drained members wait in the
  // batch and it stays whole; SIGKILLed (partition 0 stalls for the group's session timeout, 10 s),
  // they go on after KAFKA_WAIT_IN_BATCH_MS and the busy ones drain alone.
  it.each([
    ['paused for 1 s: the drained members wait in the batch for the others', 'pause'],
    ['SIGKILLed: the drained members go on after the wait, the others alone', 'kill'],
  ] as const)("moves a batch of small customers with their messages, one fence and one read of the topic for all, each member's own partition drained, every acknowledged reading exactly once; the source's ingestion worker %s", async (_, stall) => {
    // Three busy customers on partition 0, three quiet ones on the others: under the fence the
    // quiet partitions are drained at once, partition 0 only after the killed worker's successor.
    const partitions = (await offsets.topicEnds(world.brokers['cell-a']!.bootstrap, TOPIC)).length;
    const names = Array.from({ length: 40 }, (_, i) => `mkb-${stall}-${i}`);
    const busy = names.filter((c) => customerPartition(c, partitions) === 0).slice(0, 3);
    const quiet = names.filter((c) => customerPartition(c, partitions) !== 0).slice(0, 3);
    const customers = [...busy, ...quiet];
    await placeCustomers(world.cells.cp, customers, 'cell-a');
    await sleep(500);
    const quietDevices = new DeviceFleet(world.gateway.url, quiet, 100, 7_000_001);
    const devices = new DeviceFleet(world.gateway.url, busy, 100, 8_000_001);
    stopAfterTest(quietDevices, devices);
    await sleep(1500);
    await quietDevices.stop();
    for (const deadline = Date.now() + 30_000; !(await consumedEverything(world, offsets)); await sleep(100)) {
      if (Date.now() > deadline) throw new Error('the ingestion workers did not consume every message within 30 s');
    }
    const producer = new kafkajs.Kafka({ clientId: 'late', brokers: [world.brokers['cell-a']!.bootstrap], logLevel: kafkajs.logLevel.NOTHING }).producer({ idempotent: true });
    await producer.connect();
    let restarted: Promise<unknown> | undefined;
    const lines: { msg?: string; action?: string; members?: number; customers?: string[]; why?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    const engine = new MoveEngine({
      controlPlane: world.cells.cp,
      cells: world.cells.cells,
      // Small: every customer's rows within convergeRows, so the six move as one batch.
      settings: { pageRows: 500, settleLagMs: 100, drainWaitMs: 300, retentionMs: 0, convergeRows: 20_000, batchSize: 6, maxKafkaDrainMs: 90_000, maxFenceMs: 150_000 },
      kafka: { offsets, topic: TOPIC, group: GROUP },
      log,
      hooks: {
        // A reading of a busy customer produced to partition 0 while the worker stalls,
        // acknowledged by the broker before the drain reads the ends.
        async point(p, info) {
          if (p === 'after-action' && info.action.kind === 'Fence' && !restarted) {
            const worker = world.ingest['cell-a']!;
            if (stall === 'kill') await worker.kill();
            else worker.child.kill('SIGSTOP');
            await producer.send({ topic: TOPIC, acks: -1, messages: [{ key: busy[0]!, value: encodeMessage({ customer: busy[0]!, id: 9_000_001, device: 'late', value: 0 }) }] });
            devices.acked.get(busy[0]!)!.push(9_000_001);
            restarted = stall === 'kill' ? sleep(500).then(() => world.startIngest('cell-a')) : sleep(1_000).then(() => worker.child.kill('SIGCONT'));
          }
        },
      },
    });
    const keys = customers.map((customerId) => ({ migration: `kafka-batch-${stall}`, customerId }));
    for (const c of customers) expect((await engine.startMove({ migration: `kafka-batch-${stall}`, customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b', step: 0 })).ok).toBe(true);
    const results = await runMoves(engine, keys, { concurrency: 1, maxWaitMs: 10_000 });
    await producer.disconnect();
    expect(results.map((r) => [r.move?.customerId, r.move?.state, r.move?.state === 'Done' ? null : r.move?.lastError])).toEqual(customers.map((c) => [c, 'Done', null]));
    expect(restarted).toBeDefined();
    await restarted;
    await sleep(1000);
    await devices.stop();
    await expectReadingsIn(devices, busy, 'cell-b', 'cell-a');
    await expectReadingsIn(quietDevices, quiet, 'cell-b', 'cell-a');
    // Fenced together, the topic's ends read once for all, each drain on its own customer's partition.
    const { rows } = await world.cells.cp.query<{ customer_id: string; fenced_at: Date; kafka_drain: KafkaDrain }>(
      'SELECT customer_id, fenced_at, kafka_drain FROM migration_journal WHERE migration = $1',
      [`kafka-batch-${stall}`],
    );
    expect(rows).toHaveLength(6);
    expect({ fencedAt: new Set(rows.map((r) => r.fenced_at.getTime())).size, endsReadAt: new Set(rows.map((r) => r.kafka_drain.recordedAt)).size }).toEqual({ fencedAt: 1, endsReadAt: 1 });
    for (const r of rows) {
      expect(r.kafka_drain).toMatchObject({ cell: 'cell-a', drainedAt: expect.any(String), partitions: [{ partition: customerPartition(r.customer_id, partitions) }] });
      expect(BigInt(r.kafka_drain.partitions[0]!.committed ?? '0')).toBeGreaterThanOrEqual(BigInt(r.kafka_drain.partitions[0]!.end));
      // The quiet ones were drained when the ends were read; partition 0 waited for the late reading.
      if (quiet.includes(r.customer_id)) expect(r.kafka_drain.drainedAt).toBe(r.kafka_drain.recordedAt);
      else expect(r.kafka_drain.behindAtStart).toBeGreaterThan(0);
    }
    const alone = lines.filter((l) => l.msg === 'members of a batch go on alone').map((l) => [[...(l.customers ?? [])].sort(), l.why]);
    const actions = lines.filter((l) => l.msg === 'batched action' && (l.action === 'KafkaDrainStart' || l.action === 'Drain')).map((l) => [l.action, l.members]);
    if (stall === 'pause') {
      // One batch from start to end: the drained members waited for the others.
      expect(alone).toEqual([]);
      expect(actions).toEqual([['KafkaDrainStart', 6], ['Drain', 6]]);
    } else {
      expect(alone).toEqual([[[...busy].sort(), 'at another step than the batch (Drain)']]);
      expect(actions).toEqual([['KafkaDrainStart', 6], ['Drain', 3]]);
    }
  });

  it('moves a batch exactly once after the operator dies between reading the topic\'s ends and checking the drain: each member resumes alone at its check, its recorded ends kept', async () => {
    const customers = Array.from({ length: 4 }, (_, i) => `mkc-${i}`);
    await placeCustomers(world.cells.cp, customers, 'cell-a');
    await sleep(500);
    const devices = new DeviceFleet(world.gateway.url, customers, 100, 10_000_001);
    stopAfterTest(devices);
    await sleep(1500);
    const migration = 'kafka-batch-crash';
    const settings = { pageRows: 500, settleLagMs: 100, drainWaitMs: 300, retentionMs: 0, convergeRows: 20_000, batchSize: 4, maxKafkaDrainMs: 90_000, maxFenceMs: 150_000 };
    const kafka = { offsets, topic: TOPIC, group: GROUP };
    let crashed = false;
    const crashing = new MoveEngine({
      controlPlane: world.cells.cp,
      cells: world.cells.cells,
      settings,
      kafka,
      hooks: {
        point(p, info) {
          if (p === 'after-action' && info.action.kind === 'KafkaDrainStart' && !crashed) {
            crashed = true;
            throw new InjectedCrash('crash after KafkaDrainStart');
          }
        },
      },
    });
    const keys = customers.map((customerId) => ({ migration, customerId }));
    for (const c of customers) expect((await crashing.startMove({ migration, customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b', step: 0 })).ok).toBe(true);
    await expect(crashing.runBatch(keys, { maxWaitMs: 10_000 })).rejects.toThrow(InjectedCrash);
    const before = await world.cells.cp.query<{ customer_id: string; state: string; kafka_drain: KafkaDrain }>('SELECT customer_id, state, kafka_drain FROM migration_journal WHERE migration = $1 ORDER BY customer_id', [migration]);
    expect(before.rows.map((r) => [r.customer_id, r.state])).toEqual(customers.map((c) => [c, 'Fenced']));
    const recordedAt = before.rows[0]!.kafka_drain.recordedAt;
    expect(before.rows.map((r) => r.kafka_drain.recordedAt)).toEqual(customers.map(() => recordedAt));
    const fresh = new MoveEngine({ controlPlane: world.cells.cp, cells: world.cells.cells, settings, kafka });
    const results = await runMoves(fresh, keys, { concurrency: 2, maxWaitMs: 10_000 });
    expect(results.map((r) => [r.move?.customerId, r.move?.state, r.move?.state === 'Done' ? null : r.move?.lastError])).toEqual(customers.map((c) => [c, 'Done', null]));
    await sleep(1000);
    await devices.stop();
    await expectReadingsIn(devices, customers, 'cell-b', 'cell-a');
    const after = await world.cells.cp.query<{ kafka_drain: KafkaDrain }>('SELECT kafka_drain FROM migration_journal WHERE migration = $1', [migration]);
    for (const r of after.rows) expect(r.kafka_drain).toMatchObject({ recordedAt, drainedAt: expect.any(String) });
  });

  it('brings an aborted customer back after its cut-over with the readings that reached the target, the Kafka drain running on the target\'s topic', async () => {
    const customers = ['ab-0', 'ab-1', 'ab-2'];
    const moving = customers.slice(0, 2);
    await placeCustomers(world.cells.cp, customers, 'cell-a');
    await sleep(500);
    const devices = new DeviceFleet(world.gateway.url, customers, 20);
    await sleep(1000);
    const killer = chaos();
    stopAfterTest(killer, devices);
    const engine = new MoveEngine({
      controlPlane: world.cells.cp,
      cells: world.cells.cells,
      // A long retention: the moved customers wait in Cleanup, where an abort can still bring them back.
      settings: { pageRows: 500, settleLagMs: 100, drainWaitMs: 300, retentionMs: 600_000, reverseRetentionMs: 2_000, convergeRows: 50, maxKafkaDrainMs: 90_000, maxFenceMs: 150_000 },
      kafka: { offsets, topic: TOPIC, group: GROUP },
    });
    const keys = moving.map((customerId) => ({ migration: 'kafka-abort', customerId }));
    for (const c of moving) expect((await engine.startMove({ migration: 'kafka-abort', customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b', step: 0 })).ok).toBe(true);
    const forward = await runMoves(engine, keys, { concurrency: 2, maxWaitMs: 1_000 });
    expect(forward.map((r) => [r.move?.state, r.outcome, r.move?.state === 'Cleanup' ? null : `${r.move?.failureReason}: ${r.move?.lastError}`])).toEqual(moving.map(() => ['Cleanup', 'Waiting', null]));
    await sleep(2000); // readings now reach the target
    for (const k of keys) expect((await engine.abortMove(k)).ok).toBe(true);
    const back = await runMoves(engine, keys, { concurrency: 2, maxWaitMs: 10_000 });
    expect(back.map((r) => [r.move?.customerId, r.move?.state, r.move?.direction])).toEqual(moving.map((c) => [c, 'RolledBack', 'Reverse']));
    await sleep(1000);
    await killer.stop();
    await devices.stop();
    await expectReadingsIn(devices, customers, 'cell-a', 'cell-b');
    const { rows } = await world.cells.cp.query<{ kafka_drain: KafkaDrain }>(`SELECT kafka_drain FROM migration_journal WHERE migration = 'kafka-abort'`);
    for (const r of rows) expect(r.kafka_drain).toMatchObject({ cell: 'cell-b', drainedAt: expect.any(String) });
  });
});
