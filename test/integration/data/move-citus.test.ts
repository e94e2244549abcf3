// Customer moves on real Citus: between two Citus cells (a coordinator and two workers each, the
// tenant tables distributed and co-located by the operator's own code) and out of a plain
// PostgreSQL cell into a Citus cell (adopting a legacy database), under live writes: every row
// exactly once, the rows physically in the target's worker shards, none left on the source's.
import pg from 'pg';
import { MoveEngine } from '../../../src/data/move-engine.js';
import { runMoves } from '../../../src/data/move-pool.js';
import { keySetProblems, placeCustomers, rowsOf, seedCustomer, startCells, Writers, type Cells, type Seeded } from './cells-fixture.js';

const TIMEOUT = 300_000;

let cells: Cells;

beforeAll(async () => {
  cells = await startCells(['legacy', 'citus-a', 'citus-b'], undefined, { citus: ['citus-a', 'citus-b'], shardCount: 8 });
}, TIMEOUT);

const running: Writers[] = [];
afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop()));
});

afterAll(async () => {
  await cells?.stop();
}, TIMEOUT);

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

async function placement(customer: string) {
  const { rows } = await cells.cp.query<{ cell: string; state: string }>('SELECT cell, state FROM placements WHERE customer_id = $1', [customer]);
  return rows[0];
}

/**
 * The customer's rows of `table` counted where Citus keeps them: in the shard the customer hashes
 * to, read directly on the worker that holds it (not through the coordinator).
 */
async function rowsOnWorker(cell: string, table: string, customer: string): Promise<{ port: number; rows: number }> {
  const pool = cells.pools[cell]!;
  const { rows } = await pool.query<{ shard: string; port: number }>(
    `SELECT s.shardid::text AS shard, n.nodeport AS port
       FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid JOIN pg_dist_shard s ON s.shardid = p.shardid
      WHERE p.shardid = get_shard_id_for_distribution_column($1::regclass, $2::text)`,
    [table, customer],
  );
  const placementRow = rows[0]!;
  const worker = new pg.Client({ host: '127.0.0.1', port: placementRow.port, user: 'postgres', database: 'postgres' });
  await worker.connect();
  try {
    const shardTable = `${table}_${placementRow.shard}`;
    const counted = await worker.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${pg.escapeIdentifier(shardTable)} WHERE customer_id = $1`, [customer]);
    return { port: placementRow.port, rows: counted.rows[0]?.n ?? -1 };
  } finally {
    await worker.end();
  }
}

async function moveUnderWrites(migration: string, moving: string[], from: string, to: string, rows: { readings: number; events: number; devices: number }) {
  await placeCustomers(cells.cp, moving, from);
  const seeded = new Map<string, Seeded>();
  for (const c of moving) seeded.set(c, await seedCustomer(cells.pools[from]!, c, rows));
  const writers = new Writers(cells, () => moving, 3);
  writers.start();
  running.push(writers);
  await sleep(200);
  const engine = new MoveEngine({
    controlPlane: cells.cp,
    cells: cells.cells,
    settings: { pageRows: 400, settleLagMs: 100, drainWaitMs: 300, retentionMs: 0, convergeRows: 50 },
  });
  for (const c of moving) expect((await engine.startMove({ migration, customerId: c, sourceCell: from, targetCell: to, step: 0 })).ok).toBe(true);
  const results = await runMoves(engine, moving.map((customerId) => ({ migration, customerId })), { concurrency: 2 });
  await sleep(300); // writes now land in the target
  await writers.stop();
  expect(results.map((r) => [r.move?.customerId, r.outcome, r.move?.state, r.move?.failureReason ?? null])).toEqual(moving.map((c) => [c, 'Finished', 'Done', null]));
  expect(writers.fenced).toBeGreaterThan(0);
  // Every write either landed or was refused by a fence and routed again: none failed otherwise.
  expect({ errors: writers.errors, anomalies: writers.anomalies, messages: writers.errorMessages.slice(0, 3) }).toEqual({ errors: 0, anomalies: [], messages: [] });
  expect(writers.writes).toBeGreaterThan(0);
  for (const c of moving) {
    expect(await placement(c)).toEqual({ cell: to, state: 'Active' });
    const target = await rowsOf(cells.pools[to]!, c);
    // Target = seeded + acknowledged, and nothing else.
    expect(keySetProblems(target, seeded.get(c)!, writers.ledgers.get(c))).toEqual([]);
    expect((await rowsOf(cells.pools[from]!, c)).total).toBe(0);
  }
  return { writers, engine };
}

describe('moving customers on Citus', () => {
  it('moves customers between two Citus cells with every row exactly once while writes continue, into the target workers\' shards and off the source\'s', async () => {
    const moving = ['citus-1', 'citus-2', 'citus-3'];
    await moveUnderWrites('citus', moving, 'citus-a', 'citus-b', { readings: 1500, events: 300, devices: 12 });
    const targetWorkers = new Set<number>();
    for (const c of moving) {
      const target = await rowsOnWorker('citus-b', 'readings', c);
      const viaCoordinator = (await cells.pools['citus-b']!.query<{ n: number }>('SELECT count(*)::int AS n FROM readings WHERE customer_id = $1', [c])).rows[0]?.n;
      expect(target.rows).toBe(viaCoordinator);
      expect(target.rows).toBeGreaterThanOrEqual(1500);
      targetWorkers.add(target.port);
      // Cleanup reached the source's worker: its shard holds none of the customer's rows.
      expect((await rowsOnWorker('citus-a', 'readings', c)).rows).toBe(0);
      expect((await rowsOnWorker('citus-a', 'events', c)).rows).toBe(0);
    }
    expect(targetWorkers.size).toBeGreaterThanOrEqual(1);
  }, TIMEOUT);

  it('moves customers out of a plain PostgreSQL cell into a Citus cell while writes continue', async () => {
    const moving = ['legacy-1', 'legacy-2'];
    await moveUnderWrites('adopt', moving, 'legacy', 'citus-b', { readings: 2000, events: 200, devices: 8 });
    for (const c of moving) {
      const onWorker = await rowsOnWorker('citus-b', 'events', c);
      const viaCoordinator = (await cells.pools['citus-b']!.query<{ n: number }>('SELECT count(*)::int AS n FROM events WHERE customer_id = $1', [c])).rows[0]?.n;
      expect(onWorker.rows).toBe(viaCoordinator);
      expect(onWorker.rows).toBeGreaterThanOrEqual(200);
    }
  }, TIMEOUT);
});
