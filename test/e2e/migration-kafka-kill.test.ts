// A customer move carries the customer's messages, proved with the real operator process: devices
// of six customers send readings at a steady pace through the gateway → the real router → each
// cell's real Kafka 4.1.1 broker → the cell's ingestion worker (a child process) → the cell's
// database, while a canary migration moves four of them and the operator is SIGKILLed at seeded
// random points (at least once while a move waits in its Kafka drain, under the fence) and the
// source cell's ingestion worker is SIGKILLed too; then a second migration, its fence right after
// another SIGKILL of the source's worker and no operator kill, is aborted after its cut-over. The
// seed is printed and replays with KILL_SEED=<seed>.
//
// Checked at the moment each must hold:
// - at every cut-over, before cleanup could sweep anything over, the customer's new cell holds
//   every reading the gateway acknowledged from the old cell's topic before the fence (what the
//   Kafka drain is for: without it those rows arrive later, forwarded, or not at all);
// - at the end, with every group caught up: every acknowledged reading is a row in the
//   customer's final cell (once: the key is the reading's id) and none in the other cell, and
//   every cell's ingestion group has consumed its whole topic (nothing left unconsumed).
import { KafkaAdminOffsets } from '../../src/kafka/group-offsets.js';
import type { KafkaDrain } from '../../src/data/kafka-drain-state.js';
import { silentLogger } from '../../src/log.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import { consumedEverything, DeviceFleet, startIngestProcess, TOPIC, waitForIngestGroup, type IngestProcess } from '../support/data-path.js';
import { createTopic, startKafka, type KafkaBroker } from '../support/kafka.js';
import { prng } from '../support/prng.js';
import { reportRealBroker } from './support/kafka-status.js';
import { apply, kubectl, waitFor } from './support/kube.js';
import { migrationManifest, sql, startMigrationWorld, type MigrationWorld } from './support/migration-world.js';

const CANARY = 'kkill-canary';
const ABORTED = 'kkill-abort';
const SEED = Number(process.env.KILL_SEED ?? Math.floor(Math.random() * 2 ** 31));
const random = prng(SEED);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// A move waits in its Kafka drain: under the fence, the end offsets recorded, the ingestion group not yet there.
const IN_KAFKA_DRAIN = `state = 'Fenced' AND kafka_drain IS NOT NULL AND kafka_drain->>'skipped' IS NULL AND kafka_drain->>'drainedAt' IS NULL`;

describe('a migration on real Kafka with the gateway and ingestion running, the operator and an ingestion worker SIGKILLed', () => {
  let world: MigrationWorld;
  let gateway: Gateway | undefined;
  let offsets: KafkaAdminOffsets;
  const brokers: Record<string, KafkaBroker> = {};
  const ingest: Record<string, IngestProcess> = {};
  let devices: DeviceFleet | undefined;
  let watch: { stop(): Promise<unknown> } | undefined;

  const cellDb = (cell: string) => (cell === world.sourceCell ? world.source : world.target);
  const startIngest = (cell: string) =>
    (ingest[cell] = startIngestProcess({ cell, bootstrap: brokers[cell]!.bootstrap, databaseUrl: cellDb(cell).url, routerUrl: world.router.url }));
  const idsIn = async (cell: string, customer: string) =>
    (await sql<{ id: string }>(cellDb(cell), 'SELECT id FROM readings WHERE customer_id = $1', [customer])).map((r) => Number(r.id));

  beforeAll(async () => {
    process.stdout.write(`[migration-kafka-kill] KILL_SEED=${SEED}\n`);
    // Small customers: the moves are quick, the Kafka drain is what they wait for. A drain may wait
    // 40 s (KAFKA_MAX_DRAIN_SECONDS, inside the default maxFence): a SIGKILLed ingestion member keeps
    // its partitions for the group's 10 s session timeout, and on a loaded machine the restarts of
    // the worker and the operator add seconds to that (the default 15 s failed the canary back).
    const [started, ...started2] = await Promise.all([
      startMigrationWorld({ prefix: 'kkill', region: 'eu-south-9', customers: 6, readingsPerCustomer: 20, operator: { env: { KAFKA_DRAIN: 'true', KAFKA_MAX_DRAIN_SECONDS: '40' } } }),
      startKafka({ name: 'kkill-src' }),
      startKafka({ name: 'kkill-dst' }),
    ]);
    world = started;
    [brokers[world.sourceCell], brokers[world.targetCell]] = started2 as [KafkaBroker, KafkaBroker];
    offsets = new KafkaAdminOffsets({ brokers: [], clientId: 'e2e-offsets', ssl: false }, silentLogger());
    for (const cell of [world.sourceCell, world.targetCell]) {
      // The ingestion worker's table: readings with the device that sent them.
      await sql(cellDb(cell), 'ALTER TABLE readings ADD COLUMN device text');
      await createTopic(brokers[cell]!.bootstrap, TOPIC, 3);
      await reportRealBroker(cell, brokers[cell]!.bootstrap);
    }
    await waitFor(
      async () => {
        const rows = await sql<{ name: string; bootstrap: string }>(world.controlPlane, `SELECT name, endpoints->>'kafkaBootstrap' AS bootstrap FROM cells WHERE name = ANY($1)`, [Object.keys(brokers)]);
        return rows.length === 2 && rows.every((r) => r.bootstrap === brokers[r.name]!.bootstrap);
      },
      { timeoutMs: 60_000, description: 'the routing table to hold both real brokers' },
    );
    for (const cell of Object.keys(brokers)) startIngest(cell);
    for (const cell of Object.keys(brokers)) await waitForIngestGroup(cell, brokers[cell]!.bootstrap);
    gateway = await startGateway({ routerUrl: world.router.url, kafka: { brokers: [], clientId: 'e2e-gateway', ssl: false }, topic: TOPIC, host: '127.0.0.1', port: 0, holdMs: 20_000, routeTtlMs: 200, log: silentLogger() });
  }, 300_000);

  afterAll(async () => {
    await watch?.stop();
    await devices?.stop();
    await gateway?.close();
    await Promise.allSettled(Object.values(ingest).map((i) => i.kill()));
    await offsets?.close();
    await world?.cleanup([CANARY, ABORTED]);
    await Promise.allSettled(
      Object.values(brokers).map(async (b) => {
        await b.kill();
        await b.stop();
      }),
    );
  }, 120_000);

  /**
   * Watches the journal; at every cut-over it sees before cleanup begins (a move in Cleanup, no
   * sweep started), checks that the customer's new cell holds every reading acknowledged from the
   * old cell before the fence. Returns the problems per cut-over and the cut-overs seen too late.
   */
  function watchCutOvers(fleet: DeviceFleet) {
    const checked = new Map<string, string[]>();
    const missed: string[] = [];
    let running = true;
    const loop = (async () => {
      while (running) {
        const moves = await sql<{ customer_id: string; migration: string; direction: string; fenced_at: Date; cut_over_at: Date; cell: string; swept: boolean }>(
          world.controlPlane,
          `SELECT j.customer_id, j.migration, j.direction, j.fenced_at, j.cut_over_at, p.cell,
                  EXISTS (SELECT 1 FROM migration_table_progress t WHERE t.migration = j.migration AND t.customer_id = j.customer_id AND t.sweep_started) AS swept
             FROM migration_journal j JOIN placements p USING (customer_id)
            WHERE j.cut_over_at IS NOT NULL AND j.state = 'Cleanup'`,
        ).catch(() => []);
        for (const m of moves) {
          const id = `${m.migration}/${m.customer_id}/${m.direction}@${m.cut_over_at.toISOString()}`;
          if (checked.has(id) || missed.includes(id)) continue;
          if (m.swept) {
            missed.push(id);
            continue;
          }
          const from = m.cell === world.sourceCell ? world.targetCell : world.sourceCell;
          const fencedAt = m.fenced_at.getTime();
          const must = fleet.log.filter((a) => a.customer === m.customer_id && a.cell === from && a.at < fencedAt).flatMap((a) => a.ids);
          const held = new Set(await idsIn(m.cell, m.customer_id));
          const missing = must.filter((i) => !held.has(i));
          checked.set(id, missing.length ? [`${missing.length} of ${must.length} readings acknowledged from ${from} before the fence are not in ${m.cell} at the cut-over (${missing.slice(0, 5).join(', ')})`] : []);
        }
        await sleep(50);
      }
    })();
    return {
      async stop() {
        running = false;
        await loop;
        return { checked, missed };
      },
    };
  }

  /** The states of the migration's moves now (as a dead operator left them), and whether one waits in its Kafka drain. */
  async function journalStates(migration: string): Promise<string[]> {
    const rows = await sql<{ state: string; draining: boolean }>(world.controlPlane, `SELECT state, (${IN_KAFKA_DRAIN}) AS draining FROM migration_journal WHERE migration = $1`, [migration]);
    return [...new Set(rows.map((r) => (r.draining ? 'Fenced (Kafka drain)' : r.state)))].sort();
  }

  /** SIGKILLs the operator, notes where the kill landed, and starts a new one. */
  async function killOperator(migration: string, atDeath: string[][]): Promise<void> {
    await world.operator.stop('SIGKILL');
    atDeath.push(await journalStates(migration));
    await world.restartOperator();
  }

  it('keeps every acknowledged reading exactly once in the customer\'s final cell, through a canary migration with kills and an abort after the cut-over', async () => {
    const src = world.sourceCell;
    const dst = world.targetCell;
    const canary = world.customers.slice(0, 4);
    const aborted = world.customers[4]!;
    const stays = world.customers[5]!;
    devices = new DeviceFleet(gateway!.url, world.customers, 100, 1_000_000);
    const cutOverWatch = watchCutOvers(devices);
    watch = cutOverWatch;
    await waitFor(() => world.customers.every((c) => (devices!.acked.get(c)?.length ?? 0) >= 20), { timeoutMs: 60_000, description: 'every customer\'s readings to flow' });

    // The source cell's ingestion worker is SIGKILLed and started again: the dead member keeps its
    // partitions for the group's session timeout (10 s), so the canary's Kafka drain, under the
    // fence, waits for it while readings keep arriving.
    await ingest[src]!.kill();
    startIngest(src);
    await sleep(Math.floor(random() * 500));
    // The canary migration: one customer, a short pause, then the other three.
    await apply(
      migrationManifest(world, CANARY, {
        customers: { names: canary },
        order: 'Listed',
        steps: [{ move: 1 }, { pause: { duration: '1s' } }, { move: '100%' }],
        maxConcurrent: 3,
        drainWait: '200ms',
        retention: '3s',
      }),
    );
    // The operator is SIGKILLed at a seeded moment of the canary's Kafka drain, then at a seeded
    // moment of the rest of the migration, wherever the moves are then.
    const atDeath: string[][] = [];
    await waitFor(async () => Number((await sql<{ n: string }>(world.controlPlane, `SELECT count(*)::text AS n FROM migration_journal WHERE migration = $1 AND ${IN_KAFKA_DRAIN}`, [CANARY]))[0]?.n) > 0, {
      timeoutMs: 120_000,
      intervalMs: 20,
      description: 'the canary move to wait in its Kafka drain',
    });
    await sleep(Math.floor(random() * 300));
    await killOperator(CANARY, atDeath);
    await sleep(Math.floor(random() * 4000));
    await killOperator(CANARY, atDeath);
    process.stdout.write(`[migration-kafka-kill] the operator was killed with its moves in ${JSON.stringify(atDeath)}\n`);
    expect({ seed: SEED, killedInKafkaDrain: atDeath[0]!.includes('Fenced (Kafka drain)'), atDeath }).toEqual({ seed: SEED, killedInKafkaDrain: true, atDeath });
    await waitFor(async () => ((await world.migration(CANARY)).status?.phase === 'Succeeded' ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: 'the canary migration to succeed after the kills',
    });

    // The second migration is aborted after its cut-over, with readings produced to the target's
    // topic in between. No operator kill here, so nothing but the Kafka drain keeps its fence
    // until the source's ingestion, stalled again by a SIGKILL, has written the readings sent
    // before the fence (an operator restart would give the worker that time by itself).
    await ingest[src]!.kill();
    startIngest(src);
    await apply(migrationManifest(world, ABORTED, { customers: { names: [aborted] }, steps: [{ move: '100%' }], drainWait: '200ms', retention: '1h' }));
    await waitFor(async () => (await sql(world.controlPlane, `SELECT 1 FROM migration_journal WHERE migration = $1 AND state = 'Cleanup'`, [ABORTED])).length > 0, {
      timeoutMs: 120_000,
      intervalMs: 100,
      description: 'the second migration\'s customer to be cut over',
    });
    const sentToTarget = () => devices!.log.filter((a) => a.customer === aborted && a.cell === dst).length;
    await waitFor(() => sentToTarget() >= 10, { timeoutMs: 30_000, description: 'readings of the cut-over customer to go to the target\'s topic' });
    await kubectl(['patch', 'migration', ABORTED, '--type', 'merge', '-p', '{"spec":{"abort":true}}']);
    await waitFor(async () => ((await world.migration(ABORTED)).status?.phase === 'Aborted' ? true : undefined), {
      timeoutMs: 120_000,
      intervalMs: 500,
      description: 'the second migration to end Aborted',
    });

    await sleep(1000);
    await devices.stop();
    const cutOvers = await cutOverWatch.stop();
    watch = undefined;
    // Every group catches up with its whole topic: nothing is left unconsumed in either cell.
    const cells = { names: [src, dst], brokers };
    await waitFor(() => consumedEverything(cells, offsets), { timeoutMs: 90_000, intervalMs: 250, description: 'every cell\'s ingestion group to consume its whole topic' });

    const final = (c: string) => (canary.includes(c) ? dst : src);
    // The cleanups end: the moved customers' rows leave the cell they left.
    await waitFor(
      async () => {
        for (const c of world.customers) if ((await idsIn(final(c) === src ? dst : src, c)).length > 0) return false;
        return true;
      },
      { timeoutMs: 90_000, description: 'no customer to have rows left in the cell it does not live in' },
    );
    for (const c of world.customers) {
      const want = devices.acked.get(c)!;
      const held = new Set(await idsIn(final(c), c));
      expect({ customer: c, acknowledged: want.length > 100, missing: want.filter((id) => !held.has(id)).slice(0, 10) }).toEqual({ customer: c, acknowledged: true, missing: [] });
      // The seeded rows came along too.
      expect(Array.from({ length: 20 }, (_, i) => i + 1).filter((id) => !held.has(id))).toEqual([]);
    }
    const placements = await sql<{ customer_id: string; cell: string }>(world.controlPlane, 'SELECT customer_id, cell FROM placements WHERE customer_id = ANY($1) ORDER BY customer_id', [world.customers]);
    expect(placements.map((p) => [p.customer_id, p.cell])).toEqual(world.customers.map((c) => [c, final(c)]));
    expect(devices.log.some((a) => a.customer === stays && a.cell === src)).toBe(true);

    process.stdout.write(`[migration-kafka-kill] cut-overs checked: ${JSON.stringify(Object.fromEntries(cutOvers.checked))}; seen after cleanup began: ${cutOvers.missed.join(', ') || 'none'}\n`);
    // At every cut-over checked, the new cell held what the drain must have brought over…
    expect(Object.fromEntries(cutOvers.checked)).toEqual(Object.fromEntries([...cutOvers.checked.keys()].map((k) => [k, []])));
    // …and every forward cut-over was checked before cleanup: the canary's four and the aborted
    // customer's (its way back is checked when seen: a reverse move's cleanup may begin at once).
    expect(cutOvers.missed.filter((k) => !k.includes('/Reverse@'))).toEqual([]);
    expect([...cutOvers.checked.keys()].filter((k) => k.startsWith(`${CANARY}/`))).toHaveLength(4);
    expect([...cutOvers.checked.keys()].filter((k) => k.startsWith(`${ABORTED}/`) && k.includes('/Forward@'))).toHaveLength(1);

    // The journal: every canary move drained the source's topic (really, not skipped).
    const journal = await sql<{ customer_id: string; kafka_drain: KafkaDrain }>(world.controlPlane, 'SELECT customer_id, kafka_drain FROM migration_journal WHERE migration = $1 ORDER BY customer_id', [CANARY]);
    expect(journal).toHaveLength(4);
    for (const r of journal) {
      expect(r.kafka_drain).toMatchObject({ cell: src, bootstrap: brokers[src]!.bootstrap, drainedAt: expect.any(String) });
      expect(r.kafka_drain.skipped).toBeUndefined();
    }
  }, 420_000);
});
