// Customer moves on real Citus: between two Citus cells (a coordinator and two workers each, the
// tenant tables distributed and co-located by the operator's own code) and out of a plain
// PostgreSQL cell into a Citus cell (adopting a legacy database), under live writes: every row
// exactly once, the rows physically in the target's worker shards, none left on the source's.
import pg from 'pg';
import { pino, type Logger } from 'pino';
import { MoveEngine, type RunResult } from '../../../src/data/move-engine.js';
import { InjectedCrash } from '../../../src/data/move-errors.js';
import type { MoveHooks } from '../../../src/data/move-executor.js';
import { runMoves } from '../../../src/data/move-pool.js';
import type { MoveSettings } from '../../../src/data/move-settings.js';
import type { MoveKey } from '../../../src/data/move-state.js';
import { readCellCatalog } from '../../../src/data/cell-catalog.js';
import { countManySql } from '../../../src/data/table-sql.js';
import { countUpToMany } from '../../../src/data/range-copy.js';
import { planTables } from '../../../src/data/tenant-tables.js';
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

interface MoveOptions {
  settings?: Partial<MoveSettings>;
  hooks?: MoveHooks;
  log?: Logger;
  /** Rows of particular customers (the others: moveUnderWrites' `rows`). */
  rowsOf?: Record<string, { readings: number; events: number; devices: number }>;
  /** Runs the moves once the engine is made (default: runMoves, two executors); what it returns is checked. */
  run?: (engine: MoveEngine, keys: MoveKey[]) => Promise<RunResult[]>;
}

async function moveUnderWrites(migration: string, moving: string[], from: string, to: string, rows: { readings: number; events: number; devices: number }, options: MoveOptions = {}) {
  await placeCustomers(cells.cp, moving, from);
  const seeded = new Map<string, Seeded>();
  for (const c of moving) seeded.set(c, await seedCustomer(cells.pools[from]!, c, options.rowsOf?.[c] ?? rows));
  const writers = new Writers(cells, () => moving, 3);
  writers.start();
  running.push(writers);
  await sleep(200);
  const engine = new MoveEngine({
    controlPlane: cells.cp,
    cells: cells.cells,
    settings: { pageRows: 400, settleLagMs: 100, drainWaitMs: 300, retentionMs: 0, convergeRows: 50, ...options.settings },
    ...(options.hooks ? { hooks: options.hooks } : {}),
    ...(options.log ? { log: options.log } : {}),
  });
  for (const c of moving) expect((await engine.startMove({ migration, customerId: c, sourceCell: from, targetCell: to, step: 0 })).ok).toBe(true);
  const keys = moving.map((customerId) => ({ migration, customerId }));
  const results = await (options.run ?? ((e, k) => runMoves(e, k, { concurrency: 2 })))(engine, keys);
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

  /** How many distinct fence instants the moves have: a batch fences all its members at one instant. */
  async function fenceInstants(migration: string): Promise<number> {
    const { rows } = await cells.cp.query<{ n: number }>('SELECT count(DISTINCT fenced_at)::int AS n FROM migration_journal WHERE migration = $1', [migration]);
    return rows[0]!.n;
  }

  const SMALL = { readings: 40, events: 10, devices: 3 };
  const BATCHED = { convergeRows: 400, batchSize: 4 };

  it('moves small customers between two Citus cells in batches, one fence change a batch, every row exactly once while writes continue; a large one leaves its batch and moves alone', async () => {
    // The large one first: it shares the first batch (over convergeRows) and leaves it at Prepare.
    const large = 'citus-large';
    const moving = [large, ...Array.from({ length: 7 }, (_, i) => `citus-small-${i}`)];
    const lines: { msg?: string; action?: string; members?: number; customers?: string[]; why?: string }[] = [];
    const log = pino({ level: 'info' }, { write: (line: string) => void lines.push(JSON.parse(line) as (typeof lines)[number]) });
    await moveUnderWrites('citus-batched', moving, 'citus-a', 'citus-b', SMALL, { settings: BATCHED, log, rowsOf: { [large]: { readings: 2_000, events: 10, devices: 3 } } });
    // Two batches of three and four (two executors), each fenced and drained at once on the Citus source; the large one alone.
    expect(await fenceInstants('citus-batched')).toBe(3);
    expect(lines.filter((l) => l.msg === 'batched action' && l.action === 'Drain').map((l) => l.members).sort()).toEqual([3, 4]);
    expect(lines.filter((l) => l.msg === 'members of a batch go on alone').map((l) => [l.customers, l.why])).toEqual([[[large], 'not small, or the target holds rows of it']]);
    for (const c of moving) {
      expect((await rowsOnWorker('citus-b', 'readings', c)).rows).toBeGreaterThanOrEqual(c === large ? 2_000 : SMALL.readings);
      expect((await rowsOnWorker('citus-a', 'readings', c)).rows).toBe(0);
    }
  }, TIMEOUT);

  it("counts a batch's customers up to the limit in one grouped query, and the same one by one when that query runs past its time", async () => {
    const pool = cells.pools['citus-a']!;
    const customers = ['count-0', 'count-1', 'count-2', 'count-big'];
    for (const c of customers) await seedCustomer(pool, c, c === 'count-big' ? { readings: 1_000, events: 1, devices: 1 } : SMALL);
    const planned = planTables(await readCellCatalog(pool), await readCellCatalog(cells.pools['citus-b']!), cells.tenancy);
    if (!planned.ok) throw new Error('the tables are refused');
    const readings = planned.tables.find((t) => t.table === 'readings')!;
    const want = new Map([['count-0', SMALL.readings], ['count-1', SMALL.readings], ['count-2', SMALL.readings], ['count-big', 401]]);
    expect(await countUpToMany(pool, readings, customers, 401)).toEqual(want);
    // 1 ms: the grouped query is cancelled (it is, below) and every customer is counted on its own.
    expect(await countUpToMany(pool, readings, customers, 401, { groupedTimeoutMs: 1 })).toEqual(want);
    const c = await pool.connect();
    try {
      await c.query('BEGIN; SET LOCAL statement_timeout = 1');
      const st = countManySql(readings, customers);
      await expect(c.query(st.text, st.values)).rejects.toMatchObject({ code: '57014' });
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
  }, TIMEOUT);

  it.each(['Drain', 'Sweep'] as const)('moves a batch between Citus cells exactly once after a crash after its %s, resumed alone by a fresh engine', async (kind) => {
    const migration = `citus-crash-${kind.toLowerCase()}`;
    const moving = [0, 1, 2].map((i) => `${migration}-${i}`);
    const crashed: string[] = [];
    await moveUnderWrites(migration, moving, 'citus-a', 'citus-b', SMALL, {
      settings: BATCHED,
      hooks: {
        point(p, info) {
          if (p === 'after-action' && info.action.kind === kind && crashed.length === 0 && info.key.customerId === moving[0]) {
            crashed.push(kind);
            throw new InjectedCrash(`crash after ${kind}`);
          }
        },
      },
      run: async (engine, keys) => {
        await expect(engine.runBatch(keys)).rejects.toThrow(InjectedCrash);
        const fresh = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { ...engine.settings } });
        return runMoves(fresh, keys, { concurrency: 2 });
      },
    });
    expect(crashed).toEqual([kind]);
    expect(await fenceInstants(migration)).toBe(1); // fenced together before the crash
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
