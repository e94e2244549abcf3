// Migrations on real Citus through the operator process (issue 15): a canary Migration between two
// Citus cells (a coordinator and two workers each, the external-database form naming the workers,
// which the operator registers; readings and devices distributed by customer_id), and a Migration
// out of a plain PostgreSQL cell into a Citus cell (adopting a legacy database). Both run under
// live writes with the operator SIGKILLed at journal states (Copying and Fenced between Citus cells,
// Fenced out of the plain cell) and restarted. Gateway-like writers ask the router; an ingestion
// job pinned to the Citus source never asks, and the database fence on the distributed tables
// refuses it with the fence's SQLSTATE. At the end every acknowledged row is in the target exactly
// once, and the source (read on its workers' shards too) holds nothing of the moved customers.
import pg from 'pg';
import { FENCE_SQLSTATE } from '../../src/data/cell-fence-sql.js';
import type { CitusCluster } from '../support/citus.js';
import { PinnedWriter, readingsProblems } from '../support/uncooperative-writers.js';
import { apply, waitFor, WaitAborted } from './support/kube.js';
import {
  endMigrationTest,
  gatewayPools,
  type GatewayPools,
  GatewayWriter,
  keySetProblems,
  killAtJournalStates,
  untilEveryWriterWroteTo,
  migrationManifest,
  type MigrationWorld,
  sql,
  startMigrationWorld,
  sweptRows,
  watchCutOvers,
} from './support/migration-world.js';

/**
 * Small customers, so that the file runs within a few minutes (CI runs every e2e file), but with
 * enough readings that a move spends a while in Copying, where a kill must land.
 */
const SIZE = { customers: 4, readingsPerCustomer: 30_000, devicesPerCustomer: 1000 };

/** The customers' rows of `table` read directly in the shards on every worker (not through the coordinator). */
async function rowsOnWorkers(cluster: CitusCluster, table: string, customers: string[]): Promise<number> {
  const shards = await sql<{ shard_name: string; nodeport: number }>(
    cluster.coordinator,
    `SELECT shard_name::text, nodeport FROM citus_shards WHERE table_name = $1::regclass AND nodeport <> $2`,
    [table, cluster.coordinator.port],
  );
  if (shards.length === 0) throw new Error(`${table} has no shards on the workers: not distributed`);
  let rows = 0;
  for (const worker of cluster.workers) {
    for (const s of shards.filter((x) => x.nodeport === worker.port)) {
      const [counted] = await sql<{ n: number }>(worker, `SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(s.shard_name)} WHERE customer_id = ANY($1::text[])`, [customers]);
      rows += counted?.n ?? 0;
    }
  }
  return rows;
}

const distributed = (db: MigrationWorld['source']) =>
  sql<{ t: string; type: string }>(db, "SELECT table_name::text AS t, citus_table_type AS type FROM citus_tables WHERE table_name::text IN ('readings', 'devices') ORDER BY 1");

/** Waits for the migration to succeed, failing at once if it fails. */
async function waitForSuccess(world: MigrationWorld, migration: string): Promise<void> {
  await waitFor(
    async () => {
      const status = (await world.migration(migration)).status;
      if (status?.phase === 'Failed') throw new WaitAborted(`the migration failed: ${status.message}`);
      return status?.phase === 'Succeeded';
    },
    { timeoutMs: 180_000, intervalMs: 500, description: `migration ${migration} to succeed after the kills` },
  );
}

/** Every gateway writer: no error, every write acknowledged in the source before and in the target after, the target exactly right. */
async function expectWritersExactlyOnce(world: MigrationWorld, writers: GatewayWriter[]): Promise<void> {
  for (const w of writers) {
    expect({ customer: w.customer, errors: w.errors, anomalies: w.anomalies, routeFailures: w.routeFailures }).toEqual({ customer: w.customer, errors: [], anomalies: [], routeFailures: 0 });
    expect([w.acknowledgedIn.has(world.sourceCell), w.acknowledgedIn.has(world.targetCell)]).toEqual([true, true]);
    expect({ customer: w.customer, problems: await keySetProblems(world.target, world, w) }).toEqual({ customer: w.customer, problems: [] });
  }
}

describe('a canary migration between two Citus cells under live writes, the operator killed', () => {
  const MIGRATION = 'citus-canary-e2e';
  let world: MigrationWorld;
  let pools: GatewayPools;
  let stopWriters: (() => Promise<void>) | undefined;
  let watch: ReturnType<typeof watchCutOvers> | undefined;

  beforeAll(async () => {
    world = await startMigrationWorld({ prefix: 'citusmv', region: 'eu-citus-1', ...SIZE, citus: { source: true, target: true } });
    // The ingestion job writes a device with each reading (uncooperative-writers.ts's tables).
    const column = `ALTER TABLE readings ADD COLUMN device text NOT NULL DEFAULT 'seeded'`;
    await Promise.all([sql(world.source, column), sql(world.target, column)]);
    pools = gatewayPools(world);
  }, 240_000);

  afterAll(() => endMigrationTest({ stopWriters, watch, pools, world }, [MIGRATION]), 120_000);

  it('keeps every acknowledged write exactly once through SIGKILLs in Copying and Fenced, the fence refusing a writer that does not ask the router', async () => {
    expect([await distributed(world.source), await distributed(world.target)]).toEqual([
      [{ t: 'devices', type: 'distributed' }, { t: 'readings', type: 'distributed' }],
      [{ t: 'devices', type: 'distributed' }, { t: 'readings', type: 'distributed' }],
    ]);
    // The first customer's readings also come from an ingestion job pinned to the source's coordinator.
    const [pinnedCustomer, ...routed] = world.customers as [string, ...string[]];
    let nextId = 2_000_000; // above the seeded readings and the gateway writers' ids
    const pinned = new PinnedWriter({ customer: pinnedCustomer, pool: pools.cells.get(world.sourceCell) as pg.Pool, nextId: () => nextId++, pauseMs: 10 });
    const writers = routed.map((c) => new GatewayWriter(pools, c));
    stopWriters = async () => void (await Promise.all([pinned.stop(), ...writers.map((w) => w.stop())]));
    watch = watchCutOvers(world, MIGRATION, writers);
    await apply(
      migrationManifest(world, MIGRATION, {
        customers: { all: true },
        steps: [{ move: 1 }, { pause: { duration: '1s' } }, { move: '100%' }],
        maxConcurrent: 2,
        drainWait: '500ms',
        retention: '3s',
      }),
    );

    const kills = await killAtJournalStates(world, MIGRATION, ['Copying', 'Fenced']);
    expect(kills).toEqual({ killedIn: ['Copying', 'Fenced'], atDeath: kills.atDeath });

    await waitForSuccess(world, MIGRATION);
    await untilEveryWriterWroteTo(writers, world.targetCell); // writes go on in the target
    await stopWriters();
    await waitFor(async () => Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings'))[0]?.n) === 0, {
      timeoutMs: 60_000,
      description: 'the source to be cleaned up',
    });
    const cutOvers = await watch!.stop();
    process.stderr.write(`[citus e2e] kills ${JSON.stringify(kills.atDeath)}; pinned ${pinned.readings.acked.size} acknowledged, ${pinned.readings.refused} refused\n`);

    // At every cut-over, before cleanup, the target alone held every acknowledged write...
    expect(cutOvers.missed).toEqual([]);
    expect([...cutOvers.checked.values()].flat()).toEqual([]);
    expect(cutOvers.checked.size).toBe(writers.length);
    expect(await sweptRows(world, MIGRATION)).toBe(0);
    await expectWritersExactlyOnce(world, writers);
    // ...the writer that never asks the router was refused by the fence on the distributed tables, with its SQLSTATE only...
    expect({ otherErrors: pinned.readings.otherErrors, refusedWith: FENCE_SQLSTATE }).toEqual({ otherErrors: [], refusedWith: 'ZF001' });
    expect(pinned.readings.refused).toBeGreaterThan(0);
    expect(pinned.readings.acked.size).toBeGreaterThan(0);
    const pinnedHeld = new Set((await sql<{ id: string }>(world.target, 'SELECT id FROM readings WHERE customer_id = $1', [pinnedCustomer])).map((r) => Number(r.id)));
    const seeded = Array.from({ length: world.readingsPerCustomer }, (_, i) => i + 1);
    expect(readingsProblems([...seeded, ...pinned.readings.acked], pinnedHeld)).toEqual({ missing: [], nobodyAcknowledged: [] });
    // ...and the source holds nothing of the moved customers, through its coordinator and on its workers' shards.
    const source = world.citus.source as CitusCluster;
    expect(await sql(world.source, 'SELECT (SELECT count(*) FROM readings)::int AS r, (SELECT count(*) FROM devices)::int AS d')).toEqual([{ r: 0, d: 0 }]);
    expect({ readings: await rowsOnWorkers(source, 'readings', world.customers), devices: await rowsOnWorkers(source, 'devices', world.customers) }).toEqual({ readings: 0, devices: 0 });
    // The target's rows are in its workers' shards.
    const target = world.citus.target as CitusCluster;
    expect(await rowsOnWorkers(target, 'readings', world.customers)).toBe(Number((await sql<{ n: string }>(world.target, 'SELECT count(*) AS n FROM readings'))[0]?.n));
  }, 400_000);
});

describe('a migration out of a plain PostgreSQL cell into a Citus cell under live writes, the operator killed', () => {
  const MIGRATION = 'citus-adopt-e2e';
  let world: MigrationWorld;
  let pools: GatewayPools;
  let writers: GatewayWriter[] = [];
  let watch: ReturnType<typeof watchCutOvers> | undefined;

  beforeAll(async () => {
    world = await startMigrationWorld({ prefix: 'adopt', region: 'eu-citus-2', ...SIZE, customers: 3, readingsPerCustomer: 5000, citus: { target: true } });
    pools = gatewayPools(world);
  }, 240_000);

  afterAll(() => endMigrationTest({ stopWriters: () => Promise.all(writers.map((w) => w.stop())), watch, pools, world }, [MIGRATION]), 120_000);

  it('moves every customer into the Citus cell with every acknowledged write exactly once through a SIGKILL under the fence', async () => {
    writers = world.customers.map((c) => new GatewayWriter(pools, c));
    watch = watchCutOvers(world, MIGRATION, writers);
    await apply(migrationManifest(world, MIGRATION, { customers: { all: true }, steps: [{ move: '100%' }], maxConcurrent: 1, drainWait: '500ms', retention: '3s' }));

    const kills = await killAtJournalStates(world, MIGRATION, ['Fenced']);
    expect(kills).toEqual({ killedIn: ['Fenced'], atDeath: kills.atDeath });

    await waitForSuccess(world, MIGRATION);
    await untilEveryWriterWroteTo(writers, world.targetCell); // writes go on in the target
    await Promise.all(writers.map((w) => w.stop()));
    await waitFor(async () => Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings'))[0]?.n) === 0, {
      timeoutMs: 60_000,
      description: 'the plain source to be cleaned up',
    });
    const cutOvers = await watch!.stop();

    expect(cutOvers.missed).toEqual([]);
    expect([...cutOvers.checked.values()].flat()).toEqual([]);
    expect(cutOvers.checked.size).toBe(writers.length);
    expect(await sweptRows(world, MIGRATION)).toBe(0);
    await expectWritersExactlyOnce(world, writers);
    expect(await sql(world.source, 'SELECT (SELECT count(*) FROM readings)::int AS r, (SELECT count(*) FROM devices)::int AS d')).toEqual([{ r: 0, d: 0 }]);
    // In the Citus cell the moved rows are in the workers' shards.
    const target = world.citus.target as CitusCluster;
    const total = Number((await sql<{ n: string }>(world.target, 'SELECT count(*) AS n FROM readings'))[0]?.n);
    expect(total).toBeGreaterThanOrEqual(world.customers.length * world.readingsPerCustomer);
    expect(await rowsOnWorkers(target, 'readings', world.customers)).toBe(total);
  }, 400_000);
});
