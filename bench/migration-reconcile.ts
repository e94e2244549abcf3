// What one reconcile of a Migration costs outside the moves themselves, as its selection grows: the
// reads and the decision the reconciler makes before and around its 10 s drive slice (refresh the
// drain's selection, the two cells, the facts of the selection, summarize the journal, the mean move
// time, decide, and the list of due moves drive() starts from). For each size in BENCH_SIZES (default
// 1000,10000,100000 customers, each in its own database of one throw-away server) a drain is seeded
// mid-way: half the customers Done, a tenth in Cleanup (cut over, waiting for retention), 0.5%
// Failed, maxConcurrent - 2 in flight, the rest not started. BENCH_ROUNDS rounds (default 5) measure
// every size in turn; the figures are medians. Per reconcile: wall ms per part (run one after the
// other), the operator's CPU ms, rows sent by the database, buffer pages the database touched
// (pg_stat_statements), and the JS heap still held by what was read (after a GC). The baseline is
// the smallest size, measured in the same run; the ratios show how the cost grows. Goal: at 100k
// customers a reconcile's overhead stays under 5% of the drive slice (500 ms) and tens of MB.
// Run with --expose-gc: `npm run bench:migration-reconcile`.
import type { Pool, QueryResult } from 'pg';
import { startPostgres } from '../test/support/postgres.js';
import { decideMigration } from '../src/controllers/migration/migration-decision.js';
import { meanMoveMs } from '../src/store/migration-journal.js';
import { freezeSelection, readSelectionFacts } from '../src/store/migration-selection.js';
import type { MigrationSpec } from '../src/crds/migration.js';
import { MoveEngine } from '../src/data/move-engine.js';
import { getCell, syncCell } from '../src/store/cells.js';
import { createPool } from '../src/store/connection.js';
import { migrate } from '../src/store/migrate.js';
import { kubeTime } from '../src/runtime/kube-time.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc --import tsx bench/migration-reconcile.ts');
  process.exit(2);
}
const SIZES = (process.env.BENCH_SIZES ?? '1000,10000,100000').split(',').map(Number);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const MAX_CONCURRENT = 8;
const SOURCE = 'eu-west-1a';
const TARGET = 'eu-west-1b';
const MIGRATION = 'drain-1a';
const DRIVE_SLICE_MS = 10_000;

const spec: MigrationSpec = {
  from: SOURCE,
  to: TARGET,
  customers: { all: true },
  order: 'SmallestFirst',
  steps: [{ move: 1 }, { pause: {} }, { move: '100%' }],
  // Promoted past the canary pause and past the failures: the decider walks to the start loop.
  promotedStep: 2,
  maxConcurrent: MAX_CONCURRENT,
  paused: false,
  abort: false,
  drainWait: '2s',
  retention: '24h',
} as MigrationSpec;

/** Counts what the database sends back to the operator. */
function counting(pool: Pool): { pool: Pool; queries: number; rows: number } {
  const counter = { pool, queries: 0, rows: 0 };
  counter.pool = new Proxy(pool, {
    get(target, prop, receiver) {
      if (prop !== 'query') return Reflect.get(target, prop, receiver) as unknown;
      return async (...args: unknown[]) => {
        const r = (await (target.query as (...a: unknown[]) => Promise<QueryResult>)(...args)) as QueryResult;
        counter.queries += 1;
        counter.rows += r.rows?.length ?? 0;
        return r;
      };
    },
  });
  return counter;
}

/** A drain half done: see the header for the mix. Customer i is `cust-<i>`, in move order. */
async function seed(pool: Pool, n: number): Promise<void> {
  await migrate(pool);
  for (const name of [SOURCE, TARGET]) {
    const r = await syncCell(pool, { name, region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: 10_000_000 });
    if (!r.ok) throw new Error(r.message);
  }
  await pool.query(
    `INSERT INTO placements (customer_id, region, cell, expected_devices, labels)
     SELECT 'cust-' || lpad(i::text, 7, '0'), 'eu-west-1', $2, 10, '{"tier":"standard"}' FROM generate_series(1, $1) i`,
    [n, SOURCE],
  );
  await pool.query('UPDATE cells SET cordoned_by = $2, cordoned_at = now() WHERE name = $1', [SOURCE, MIGRATION]);
  // The selection as freezeSelection makes it (SmallestFirst: devices, then id).
  await freezeSelection(pool, MIGRATION, spec);
  const done = Math.floor(n * 0.5);
  const cleanup = Math.floor(n * 0.1);
  const inFlight = MAX_CONCURRENT - 2;
  const states = ['Copying', 'CatchingUp', 'Fenced', 'FinalSync', 'Verifying', 'Copying'];
  // ord 1..done: Done (every 200th Failed); then Cleanup; then the in-flight ones; the rest not started.
  await pool.query(
    `INSERT INTO migration_journal (migration, customer_id, source_cell, target_cell, state, step, rows_copied, bytes_copied,
                                    source_epoch, started_at, fenced_at, cut_over_at, cleanup_after, finished_at, state_entered_at,
                                    failure_reason, reserved_cell)
     SELECT $1, m.customer_id, $2, $3, s.state, 2, r.rows, r.rows * 120, 1,
            t.started, t.started + interval '20 s', CASE WHEN s.state IN ('Done', 'Cleanup') THEN t.started + interval '21 s' END,
            CASE WHEN s.state IN ('Done', 'Cleanup') THEN t.started + interval '24 h' END,
            CASE WHEN s.state IN ('Done', 'Failed') THEN t.started + interval '22 s' END,
            t.started, CASE WHEN s.state = 'Failed' THEN 'VerificationFailed' END,
            CASE WHEN s.state NOT IN ('Done', 'Cleanup', 'Failed') THEN $3 END
       FROM migration_customers m,
            LATERAL (SELECT CASE WHEN m.ordinal <= $4 AND m.ordinal % 200 = 0 THEN 'Failed'
                                 WHEN m.ordinal <= $4 THEN 'Done'
                                 WHEN m.ordinal <= $4 + $5 THEN 'Cleanup'
                                 ELSE ($6::text[])[m.ordinal - $4 - $5] END AS state) s,
            LATERAL (SELECT 1000 + (m.ordinal * 7919) % 50000 AS rows) r,
            LATERAL (SELECT now() - interval '30 h' + m.ordinal * (interval '30 h' / ($4 + $5 + $7)) AS started) t
      WHERE m.migration = $1 AND m.ordinal <= $4 + $5 + $7`,
    [MIGRATION, SOURCE, TARGET, done, cleanup, states, inFlight],
  );
  await pool.query(
    `UPDATE placements p SET cell = $2 FROM migration_journal j
      WHERE j.migration = $1 AND j.customer_id = p.customer_id AND j.state IN ('Done', 'Cleanup')`,
    [MIGRATION, TARGET],
  );
  await pool.query(
    `INSERT INTO migration_failures (migration, customer_id, state, reason, message, at)
     SELECT migration, customer_id, 'Verifying', 'VerificationFailed', 'readings: 1000 rows on the source, 999 on the target', finished_at
       FROM migration_journal WHERE migration = $1 AND state = 'Failed'`,
    [MIGRATION],
  );
  await pool.query('UPDATE cells SET reserved = $2 WHERE name = $1', [TARGET, inFlight]);
  await pool.query('VACUUM ANALYZE');
}

interface Sample {
  parts: Record<string, number>;
  wallMs: number;
  cpuMs: number;
  queries: number;
  rows: number;
  pages: number;
  heldMb: number;
}

async function reconcileOnce(base: Pool): Promise<Sample> {
  const counter = counting(base);
  const pool = counter.pool;
  const engine = new MoveEngine({ controlPlane: pool, cells: () => Promise.reject(new Error('no cell databases in this bench')) });
  await base.query('SELECT pg_stat_statements_reset()');
  gc!();
  gc!();
  const heap0 = process.memoryUsage().heapUsed;
  const cpu0 = process.cpuUsage();
  const parts: Record<string, number> = {};
  const timed = async <T>(name: string, fn: () => Promise<T> | T): Promise<T> => {
    const t = performance.now();
    const r = await fn();
    parts[name] = performance.now() - t;
    return r;
  };
  const t0 = performance.now();
  const missing = await timed('freezeSelection', () => freezeSelection(pool, MIGRATION, spec));
  const source = await timed('cells', () => getCell(pool, SOURCE));
  const target = await getCell(pool, TARGET);
  const selection = await timed('readSelectionFacts', () => readSelectionFacts(pool, MIGRATION, { targetRegion: target?.region, next: spec.maxConcurrent }));
  const summary = await timed('summarize', () => engine.summarize(MIGRATION));
  const mean = await timed('meanMoveMs', () => meanMoveMs(pool, MIGRATION));
  const now = new Date();
  const decision = await timed('decideMigration', () =>
    decideMigration({
      name: MIGRATION,
      generation: 1,
      spec,
      record: { step: 2, stepStartedAt: now, phase: 'Progressing', startedAt: now, completedAt: null },
      selection,
      source: source && { name: source.name, region: source.region, ready: source.ready, freeCapacity: 0, cordonedBy: source.cordonedBy },
      target: target && { name: target.name, region: target.region, ready: true, freeCapacity: target.maxCustomers - target.customers - target.reserved },
      failures: summary.latestFailures.map((f) => ({ customer: f.customerId, state: f.state, reason: f.reason, message: f.message, time: kubeTime(f.at) })),
      rowsCopied: summary.rowsCopied,
      ...(mean !== undefined ? { meanMoveMs: mean } : {}),
      now,
    }),
  );
  const moves = await timed('listOpenMoves (drive)', () => engine.listOpenMoves(MIGRATION, { dueAt: now }));
  const wallMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  gc!();
  gc!();
  const heldMb = (process.memoryUsage().heapUsed - heap0) / 2 ** 20;
  const { rows } = await base.query<{ pages: string }>(
    `SELECT coalesce(sum(shared_blks_hit + shared_blks_read), 0) AS pages FROM pg_stat_statements
      WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'`,
  );
  if (missing.length !== 0 || decision.start.length !== 2 || moves.length !== MAX_CONCURRENT - 2 || selection.counts.total === 0) {
    throw new Error(`unexpected reconcile: start ${decision.start.length}, ${moves.length} moves due, ${selection.counts.total} selected`);
  }
  return { parts, wallMs, cpuMs: (cpu.user + cpu.system) / 1000, queries: counter.queries, rows: counter.rows, pages: Number(rows[0]?.pages ?? 0), heldMb };
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
};
const fmt = (x: number, digits = 1): string => x.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

const server = await startPostgres({ settings: { shared_preload_libraries: 'pg_stat_statements', shared_buffers: '256MB' } });
const pools: Pool[] = [];
try {
  const stores: { n: number; pool: Pool }[] = [];
  for (const n of SIZES) {
    const pool = createPool({ url: await server.createDatabase(), poolMax: 4 });
    pools.push(pool);
    const t = performance.now();
    await seed(pool, n);
    await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements');
    console.log(`seeded ${fmt(n, 0)} customers in ${fmt((performance.now() - t) / 1000, 1)} s`);
    stores.push({ n, pool });
  }
  const samples = new Map<number, Sample[]>(SIZES.map((n) => [n, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const { n, pool } of stores) samples.get(n)?.push(await reconcileOnce(pool));
  }

  console.log(`\nper reconcile of a drain, medians of ${ROUNDS} rounds (parts run one after the other; the reconciler overlaps some of them):`);
  const partNames = Object.keys(samples.get(SIZES[0] as number)?.[0]?.parts ?? {});
  const header = ['customers', ...partNames, 'total ms', 'CPU ms', 'queries', 'rows read', 'pages', 'held MB'];
  console.log(header.map((h, i) => (i === 0 ? h.padEnd(10) : h.padStart(Math.max(9, h.length)))).join(' '));
  const summary = new Map<number, { wall: number; cpu: number; rows: number; pages: number; held: number }>();
  for (const n of SIZES) {
    const s = samples.get(n) ?? [];
    const row = {
      wall: median(s.map((x) => x.wallMs)),
      cpu: median(s.map((x) => x.cpuMs)),
      rows: median(s.map((x) => x.rows)),
      pages: median(s.map((x) => x.pages)),
      held: median(s.map((x) => x.heldMb)),
    };
    summary.set(n, row);
    const cells = [
      fmt(n, 0).padEnd(10),
      ...partNames.map((p) => fmt(median(s.map((x) => x.parts[p] ?? 0))).padStart(Math.max(9, p.length))),
      fmt(row.wall).padStart(9),
      fmt(row.cpu).padStart(9),
      fmt(median(s.map((x) => x.queries)), 0).padStart(9),
      fmt(row.rows, 0).padStart(9),
      fmt(row.pages, 0).padStart(9),
      fmt(row.held).padStart(9),
    ];
    console.log(cells.join(' '));
  }
  const base = summary.get(SIZES[0] as number);
  if (base) {
    console.log(`\nratio to ${fmt(SIZES[0] as number, 0)} customers (baseline, same run):`);
    for (const n of SIZES.slice(1)) {
      const r = summary.get(n);
      if (!r) continue;
      console.log(
        `  ${fmt(n, 0).padStart(7)} customers (x${fmt(n / (SIZES[0] as number), 0)}): wall ${fmt(r.wall / base.wall, 2)}, CPU ${fmt(r.cpu / base.cpu, 2)}, rows read ${fmt(r.rows / Math.max(1, base.rows), 2)}, pages ${fmt(r.pages / Math.max(1, base.pages), 2)}`,
      );
    }
  }
  const largest = summary.get(SIZES.at(-1) as number);
  if (largest) {
    console.log(
      `at ${fmt(SIZES.at(-1) as number, 0)} customers: ${fmt(largest.wall)} ms per reconcile = ${fmt((100 * largest.wall) / DRIVE_SLICE_MS, 1)}% of the ${DRIVE_SLICE_MS / 1000} s drive slice (goal < 5%), ${fmt(largest.held)} MB held`,
    );
  }
} finally {
  for (const p of pools) await p.end();
  await server.stop();
}
