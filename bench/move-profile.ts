// Where a small customer's move spends its time: BENCH_PROFILE_CUSTOMERS (default 50) customers of
// BENCH_PROFILE_ROWS readings (default 200, seeded live) moved one at a time through the whole
// state machine (cleanup included, retention 0), with drainWait BENCH_PROFILE_DRAIN_WAIT_MS
// (default: the default). Prints, per action kind, how often it ran, its mean time and its round
// trips to the control plane, the source and the target (every query of a pg client counted), the
// step's own overhead (journal load, lock) and the waits; against the baseline of one raw binary
// COPY pipe per customer, measured in the same run before and after; and the CPU per move of this
// process (the engine), the control plane's server and the two cells' servers.
// BENCH_PROFILE_STATEMENTS=N (a number) also prints each server's N costliest statements per move,
// planning and execution apart (the servers restarted with pg_stat_statements first).
import pg from 'pg';
import { MoveEngine } from '../src/data/move-engine.js';
import { DEFAULT_MOVE_SETTINGS } from '../src/data/move-settings.js';
import type { MoveAction } from '../src/data/move-decision.js';
import { cpuSplit, describeCpu, sessionsOpened } from './support/process-cpu.js';
import { statementStats } from './support/statement-stats.js';
import { customerName, fmt, placeCustomers, rawPipesInParallel, READINGS_ONLY, seedReadings, startCells } from './support/move-bench.js';

const CUSTOMERS = Number(process.env.BENCH_PROFILE_CUSTOMERS ?? 50);
const ROWS = Number(process.env.BENCH_PROFILE_ROWS ?? 200);
const DRAIN_WAIT = Number(process.env.BENCH_PROFILE_DRAIN_WAIT_MS ?? DEFAULT_MOVE_SETTINGS.drainWaitMs);
const TOP_STATEMENTS = Number(process.env.BENCH_PROFILE_STATEMENTS ?? 0);

type Db = 'cp' | 'source' | 'target';
interface Tally {
  n: number;
  ms: number;
  trips: Record<Db, number>;
}
const tallies = new Map<string, Tally>();
const tally = (kind: string): Tally => {
  let t = tallies.get(kind);
  if (!t) tallies.set(kind, (t = { n: 0, ms: 0, trips: { cp: 0, source: 0, target: 0 } }));
  return t;
};

// One move at a time: the action running now is a plain variable.
let current = 'step (load, lock)';
let started = 0;
const ports = new Map<number, Db>();
const originalQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
(pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }).query = function (this: pg.Client, ...args: unknown[]) {
  const db = ports.get(this.port);
  if (db) tally(current).trips[db] += 1;
  return originalQuery.apply(this, args);
};

const cells = await startCells();
try {
  cells.tenancy = READINGS_ONLY;
  ports.set(cells.controlPlane.port, 'cp');
  ports.set(cells.servers['cell-a']!.port, 'source');
  ports.set(cells.servers['cell-b']!.port, 'target');
  const source = cells.pools['cell-a']!;
  const target = cells.pools['cell-b']!;
  const stats =
    TOP_STATEMENTS > 0
      ? await statementStats({
          'control plane': { server: cells.controlPlane, pool: cells.cp },
          source: { server: cells.servers['cell-a']!, pool: source },
          target: { server: cells.servers['cell-b']!, pool: target },
        })
      : undefined;
  const customers = Array.from({ length: CUSTOMERS }, (_, i) => customerName('profile', i));
  await placeCustomers(cells.cp, customers, 'cell-a');
  await seedReadings(source, customers, ROWS);
  const raw = async (from: pg.Pool, to: pg.Pool): Promise<number> => {
    current = 'raw';
    const r = await rawPipesInParallel(from, to, customers, 1);
    await to.query('TRUNCATE readings');
    await to.query('VACUUM ANALYZE readings');
    return r.ms;
  };
  const before = await raw(source, target);
  tallies.clear();
  current = 'step (load, lock)';
  const hooks = {
    point(p: string, info: { action: MoveAction }) {
      if (p === 'before-action') {
        current = info.action.kind;
        started = performance.now();
      } else if (p === 'after-action') {
        const t = tally(current);
        t.n += 1;
        t.ms += performance.now() - started;
        current = 'step (load, lock)';
      }
    },
  };
  const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { retentionMs: 0, drainWaitMs: DRAIN_WAIT }, hooks });
  const migration = 'bench-profile';
  current = 'startMove';
  for (const c of customers) await engine.startMove({ migration, customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b' });
  current = 'step (load, lock)';
  await stats?.reset();
  const cpu = await cpuSplit({ 'control plane': cells.cp, source, target });
  const sessions = await sessionsOpened({ 'control plane': cells.cp, source, target });
  const t0 = performance.now();
  for (const c of customers) {
    const r = await engine.run({ migration, customerId: c });
    if (r.move?.state !== 'Done') throw new Error(`move of ${c} ended ${r.move?.state}: ${r.lastError ?? r.move?.lastError}`);
  }
  const total = performance.now() - t0;
  const moveCpu = cpu();
  const opened = await sessions();
  const statements = (await stats?.report(CUSTOMERS, TOP_STATEMENTS)) ?? [];
  const after = await raw(target, source);
  const rawMs = (before + after) / 2;
  const per = (ms: number) => fmt(ms / CUSTOMERS, 2);
  console.log(`profile of ${fmt(CUSTOMERS)} moves × ${fmt(ROWS)} rows, one at a time, drainWait ${DRAIN_WAIT} ms, cleanup included`);
  console.log(`  raw pipe: ${per(rawMs)} ms per customer; move: ${per(total)} ms per customer (${(total / rawMs).toFixed(2)}×)`);
  console.log('  per move:         action     runs    ms   trips cp/source/target');
  let acted = 0;
  const rows = [...tallies.entries()].filter(([k]) => k !== 'raw');
  for (const [kind, t] of rows.sort((a, b) => b[1].ms - a[1].ms)) {
    acted += t.ms;
    const runs = (t.n / CUSTOMERS).toFixed(1);
    console.log(`  ${kind.padStart(26)} ${runs.padStart(6)} ${per(t.ms).padStart(6)}   ${[t.trips.cp, t.trips.source, t.trips.target].map((x) => (x / CUSTOMERS).toFixed(1)).join('/')}`);
  }
  console.log(`  ${'waits and the rest'.padStart(26)}        ${per(total - acted).padStart(6)}`);
  console.log(`  CPU ms per move: ${describeCpu(moveCpu, CUSTOMERS)}`);
  console.log(`  connections opened per move: ${describeCpu(opened, CUSTOMERS)}`);
  for (const line of statements) console.log(line);
} finally {
  (pg.Client.prototype as unknown as { query: unknown }).query = originalQuery;
  await cells.stop();
}
