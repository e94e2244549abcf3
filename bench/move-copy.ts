// Copy throughput of customer moves against raw COPY pipes, like for like: the same rows
// (BENCH_MOVE_CUSTOMERS customers × BENCH_MOVE_ROWS readings, default 10 × 20,000, seeded as a live
// system has them: the newest just received, so they must settle) go from cell A to cell B
//   - by the move engine, N customers at a time (keyset pages, journal writes, settling,
//     pre-fence verification, fence with the default drainWait (BENCH_DRAIN_WAIT_MS sets another), final sync, cut-over; cleanup
//     excluded), and
//   - by N raw `COPY (SELECT … WHERE customer_id = …) TO STDOUT (FORMAT binary) | COPY … FROM
//     STDIN (FORMAT binary)` pipes at once, each taking the next customer (the baseline),
// for every N in BENCH_CONCURRENCY (default "1,4": one, and a Migration's default maxConcurrent).
// Runs alternate raw, engine, raw, … (BENCH_ROUNDS engine runs, default 3); medians compared.
// Prints per concurrency: the aggregate ratio (rows/s of the whole run, engine over raw), the
// per-stream ratio (rows/s of one move over one pipe) and the copy-only ratio (the time of the
// engine's copy actions, summed over its moves, against the time of the pipes, summed over its
// pipes). Also, once, the old figure: N moves against ONE raw pipe over all customers, on rows
// seeded a day old (pre-settled), drainWait 0. Goal (issue #15): engine/raw throughput >= 0.9.
// Each run also prints the CPU it took, in core-seconds per million rows, of this process (the engine
// or the pipe), the source's server, the target's and the control plane's: what a run needs of the
// machine's cores, whatever their number, against how long it took.
import type { MoveAction } from '../src/data/move-decision.js';
import { MoveEngine } from '../src/data/move-engine.js';
import { runMoves } from '../src/data/move-pool.js';
import { DEFAULT_MOVE_SETTINGS } from '../src/data/move-settings.js';
import { cpuSplit, describeCpu } from './support/process-cpu.js';
import { ActionTimer, customerName, fmt, percentile, placeCustomers, rawPipe, rawPipesInParallel, READINGS_ONLY, seedReadings, startCells } from './support/move-bench.js';

const CUSTOMERS = Number(process.env.BENCH_MOVE_CUSTOMERS ?? 10);
const ROWS = Number(process.env.BENCH_MOVE_ROWS ?? 20_000);
const PAGE = Number(process.env.BENCH_MOVE_PAGE ?? DEFAULT_MOVE_SETTINGS.pageRows);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCIES = (process.env.BENCH_CONCURRENCY ?? '1,4').split(',').map(Number);
const OLD_STYLE = process.env.BENCH_OLD_STYLE !== '0';
/** The moves' drainWait (BENCH_DRAIN_WAIT_MS); unset: the default. */
const DRAIN_WAIT_MS = process.env.BENCH_DRAIN_WAIT_MS === undefined ? undefined : Number(process.env.BENCH_DRAIN_WAIT_MS);

const cells = await startCells();
try {
  cells.tenancy = READINGS_ONLY;
  const source = cells.pools['cell-a']!;
  const target = cells.pools['cell-b']!;
  const customers = Array.from({ length: CUSTOMERS }, (_, i) => customerName('copy', i));
  await placeCustomers(cells.cp, customers, 'cell-a');
  const total = CUSTOMERS * ROWS;
  const servers = { 'control plane': cells.cp, source, target };
  type CpuSplit = Record<string, number | undefined>;
  /** The parts of a run (cpuSplit's own process also counts its system time apart, already in its total). */
  const parts = (used: CpuSplit): CpuSplit => Object.fromEntries(Object.entries(used).filter(([k]) => k !== 'operator (system)'));
  /** Core-seconds of every part of a run. */
  const coreSeconds = (used: CpuSplit): number => Object.values(parts(used)).reduce((sum: number, ms) => sum + (ms ?? 0), 0) / 1000;
  /** Each part's core-seconds per million rows (ms per thousand rows), and the cores the run kept busy on average. */
  const describeUse = (used: CpuSplit, wallMs: number): string =>
    `${describeCpu(parts(used), total / 1000)} core-s per million rows; ${(coreSeconds(used) / (wallMs / 1000)).toFixed(2)} cores busy`;
  const rate = (rows: number, ms: number) => (rows / ms) * 1000;

  const emptyTarget = async (): Promise<void> => {
    await target.query('TRUNCATE readings');
    await target.query('VACUUM ANALYZE readings');
  };
  const reseed = async (live: boolean): Promise<void> => {
    await source.query('TRUNCATE readings');
    await seedReadings(source, customers, ROWS, 1, { live });
  };

  const engineRun = async (label: string, concurrency: number, live: boolean, drainWaitMs?: number): Promise<{ whole: number; copy: number; cpu: number }> => {
    // No fence left by the last run: the source keeps refusing a customer it moved out, the reseed among its writes.
    for (const pool of [source, target]) {
      await pool.query(`DO $$ BEGIN IF to_regclass('cell_operator.fenced_customers') IS NOT NULL THEN DELETE FROM cell_operator.fenced_customers; END IF; END $$`);
    }
    await emptyTarget();
    await reseed(live); // fresh rows each run: live ones must settle again
    // Back to the start: every customer in cell A, no journal (the source rows were never deleted).
    await cells.cp.query(`DELETE FROM migration_journal WHERE migration LIKE 'bench-copy-%'`);
    await cells.cp.query(`UPDATE placements SET cell = 'cell-a', state = 'Active', epoch = 1 WHERE cell <> 'cell-a' OR state <> 'Active'`);
    const timer = new ActionTimer();
    const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { pageRows: PAGE, retentionMs: 3_600_000, drainWaitMs }, hooks: timer });
    const migration = `bench-copy-${label}`;
    for (const c of customers) await engine.startMove({ migration, customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const cpu = await cpuSplit(servers);
    const t0 = performance.now();
    const results = await runMoves(engine, customers.map((customerId) => ({ migration, customerId })), { concurrency });
    const whole = performance.now() - t0;
    const used = cpu();
    const notCut = results.filter((r) => r.move?.state !== 'Cleanup');
    if (notCut.length > 0) throw new Error(`${notCut.length} moves did not cut over: ${JSON.stringify(notCut[0])}`);
    const copied = Number((await target.query<{ n: string }>('SELECT count(*) AS n FROM readings')).rows[0]?.n);
    if (copied !== total) throw new Error(`the engine left ${copied} rows in the target, expected ${total}`);
    const copy = timer.total('CopyPage', 'Resync', 'FinalSync');
    console.log(`    engine, ${concurrency} at a time: ${fmt(whole)} ms (${fmt(rate(total, whole))} rows/s); copy actions ${fmt(copy)} ms summed over the moves`);
    // Where the move's time went: each action kind (summed over the moves, and how often it ran),
    // and what is outside every action (each step's journal read and decision, the move's lock).
    const actions = [...timer.ms].map(([k, v]) => `${k} ${fmt(v)} ms/${timer.count.get(k)}`).join(', ');
    const outside = concurrency === 1 ? `; outside the actions ${fmt(whole - timer.total(...(timer.ms.keys() as Iterable<MoveAction['kind']>)))} ms` : '';
    console.log(`      per action: ${actions}${outside}`);
    console.log(`      CPU: ${describeUse(used, whole)}`);
    return { whole, copy, cpu: coreSeconds(used) };
  };

  const rawRun = async (streams: number): Promise<{ ms: number; pipeMs: number; cpu: number }> => {
    await emptyTarget();
    const cpu = await cpuSplit(servers);
    const r = await rawPipesInParallel(source, target, customers, streams);
    const used = cpu();
    if (r.rows !== total) throw new Error(`raw pipes copied ${r.rows} rows, expected ${total}`);
    console.log(`    raw, ${streams} pipes at once: ${fmt(r.ms)} ms (${fmt(rate(total, r.ms))} rows/s); ${fmt(r.pipeMs)} ms summed over the pipes; CPU: ${describeUse(used, r.ms)}`);
    return { ...r, cpu: coreSeconds(used) };
  };

  console.log(`move copy throughput: ${CUSTOMERS} customers × ${fmt(ROWS)} rows = ${fmt(total)} rows, page ${fmt(PAGE)}, rows seeded live, drainWait ${DRAIN_WAIT_MS === undefined ? 'the default' : `${DRAIN_WAIT_MS} ms`}, default settleLag, ${ROUNDS} rounds`);
  const lines: string[] = [];
  for (const n of CONCURRENCIES) {
    console.log(`  ${n} at a time:`);
    await reseed(true);
    const raws = [await rawRun(n)];
    const runs: { whole: number; copy: number; cpu: number }[] = [];
    for (let round = 0; round < ROUNDS; round++) {
      runs.push(await engineRun(`${n}-${round}`, n, true, DRAIN_WAIT_MS));
      raws.push(await rawRun(n));
    }
    const rawMs = percentile(raws.map((r) => r.ms), 50);
    const rawPipeMs = percentile(raws.map((r) => r.pipeMs), 50);
    const wholeMs = percentile(runs.map((r) => r.whole), 50);
    const copyMs = percentile(runs.map((r) => r.copy), 50);
    // One stream: a move copies one customer at a time, as a pipe does: rows per second of each.
    const perMove = rate(total / CUSTOMERS, (wholeMs * Math.min(n, CUSTOMERS)) / CUSTOMERS);
    const perPipe = rate(total / CUSTOMERS, rawPipeMs / CUSTOMERS);
    lines.push(
      `  N=${n}: aggregate engine/raw ${(rawMs / wholeMs).toFixed(2)} (engine ${fmt(rate(total, wholeMs))} rows/s, ${n} raw pipes ${fmt(rate(total, rawMs))} rows/s); ` +
        `per stream ${(perMove / perPipe).toFixed(2)} (a move ${fmt(perMove)} rows/s, a pipe ${fmt(perPipe)} rows/s); copy actions only ${(rawPipeMs / copyMs).toFixed(2)}`,
    );
    // The work itself, whatever the wall clock: CPU of the pipe over CPU of the move (1: the move
    // costs the machine what the pipe does; below 1, the share of the move's CPU the pipe also spends).
    const rawCpu = percentile(raws.map((r) => r.cpu), 50);
    const moveCpu = percentile(runs.map((r) => r.cpu), 50);
    lines.push(`  N=${n}: CPU raw/engine ${(rawCpu / moveCpu).toFixed(2)} (core-seconds per million rows: engine ${((moveCpu * 1e6) / total).toFixed(2)}, raw pipes ${((rawCpu * 1e6) / total).toFixed(2)})`);
  }

  if (OLD_STYLE) {
    // The figure this benchmark printed before: N moves against ONE raw pipe over every customer, rows a day old.
    const n = CONCURRENCIES.at(-1) as number;
    console.log(`  old style (${n} moves against one raw pipe, rows seeded a day old, drainWait 0):`);
    await reseed(false);
    await emptyTarget();
    const one = await rawPipe(source, target, 'customer_id IN ($VALUES)', customers);
    const old = await engineRun(`old-${n}`, n, false, 0);
    lines.push(`  old style, N=${n} against one pipe, pre-settled rows, drainWait 0: engine/raw ${(one.ms / old.whole).toFixed(2)}`);
  }
  console.log('ratios (engine/raw throughput; goal >= 0.9):');
  for (const l of lines) console.log(l);
} finally {
  await cells.stop();
}
