// Copy throughput of customer moves against a raw pipe: the same rows (BENCH_MOVE_CUSTOMERS
// customers × BENCH_MOVE_ROWS readings, default 10 × 20,000) go from cell A to cell B by one
// `COPY (SELECT … WHERE customer_id IN (…)) TO STDOUT (FORMAT binary) | COPY … FROM STDIN (FORMAT
// binary)`, and by the move engine (BENCH_CONCURRENCY customers at a time, default 4: a Migration's
// default spec.maxConcurrent, as the operator runs them; keyset pages, journal writes,
// settling, pre-fence verification, fence, final sync, cut-over; cleanup excluded). Runs
// alternate raw, engine, raw, … (BENCH_ROUNDS engine runs, default 3) and medians are compared,
// so a busy machine weighs on both. Goal: engine/raw throughput >= 0.8.
import { DEFAULT_MAX_CONCURRENT } from '../src/crds/migration.js';
import { MoveEngine } from '../src/data/move-engine.js';
import { runMoves } from '../src/data/move-pool.js';
import { DEFAULT_MOVE_SETTINGS } from '../src/data/move-settings.js';
import { ActionTimer, customerName, fmt, percentile, placeCustomers, rawPipe, READINGS_ONLY, seedReadings, startCells } from './support/move-bench.js';

const CUSTOMERS = Number(process.env.BENCH_MOVE_CUSTOMERS ?? 10);
const ROWS = Number(process.env.BENCH_MOVE_ROWS ?? 20_000);
const PAGE = Number(process.env.BENCH_MOVE_PAGE ?? DEFAULT_MOVE_SETTINGS.pageRows);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? DEFAULT_MAX_CONCURRENT);

const cells = await startCells();
try {
  cells.tenancy = READINGS_ONLY;
  const source = cells.pools['cell-a']!;
  const target = cells.pools['cell-b']!;
  const customers = Array.from({ length: CUSTOMERS }, (_, i) => customerName('copy', i));
  await placeCustomers(cells.cp, customers, 'cell-a');
  await seedReadings(source, customers, ROWS);
  const total = CUSTOMERS * ROWS;
  console.log(`move copy throughput: ${CUSTOMERS} customers × ${fmt(ROWS)} rows = ${fmt(total)} rows, page ${fmt(PAGE)}, ${CONCURRENCY} moves at a time, ${ROUNDS} rounds`);

  const emptyTarget = async (): Promise<void> => {
    await target.query('TRUNCATE readings');
    await target.query('VACUUM ANALYZE readings');
  };

  const raw = async (): Promise<number> => {
    await emptyTarget();
    const r = await rawPipe(source, target, 'customer_id IN ($VALUES)', customers);
    if (r.rows !== total) throw new Error(`raw pipe copied ${r.rows} rows, expected ${total}`);
    console.log(`  raw pipe: ${fmt(r.ms)} ms, ${fmt((total / r.ms) * 1000)} rows/s`);
    return r.ms;
  };

  const engineRun = async (round: number): Promise<{ whole: number; copy: number; verify: number }> => {
    await emptyTarget();
    // Back to the start: every customer in cell A, no journal (the source rows were never deleted).
    await cells.cp.query(`DELETE FROM migration_journal WHERE migration LIKE 'bench-copy-%'`);
    await cells.cp.query(`UPDATE placements SET cell = 'cell-a', state = 'Active', epoch = 1 WHERE cell <> 'cell-a' OR state <> 'Active'`);
    const timer = new ActionTimer();
    const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { pageRows: PAGE, drainWaitMs: 0, retentionMs: 3_600_000 }, hooks: timer });
    const migration = `bench-copy-${round}`;
    for (const c of customers) await engine.startMove({ migration, customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const t0 = performance.now();
    const results = await runMoves(engine, customers.map((customerId) => ({ migration, customerId })), { concurrency: CONCURRENCY });
    const whole = performance.now() - t0;
    const notCut = results.filter((r) => r.move?.state !== 'Cleanup');
    if (notCut.length > 0) throw new Error(`${notCut.length} moves did not cut over: ${JSON.stringify(notCut[0])}`);
    const copied = Number((await target.query<{ n: string }>('SELECT count(*) AS n FROM readings')).rows[0]?.n);
    if (copied !== total) throw new Error(`the engine left ${copied} rows in the target, expected ${total}`);
    const copy = timer.total('CopyPage', 'Resync', 'FinalSync');
    const verify = timer.total('PreVerify', 'Verify');
    if (process.env.BENCH_DEBUG) console.log(Object.fromEntries([...timer.ms].map(([k, v]) => [k, `${Math.round(v)}ms/${timer.count.get(k)}`])));
    const summed = CONCURRENCY > 1 ? ' summed over concurrent moves' : '';
    console.log(`  engine: ${fmt(whole)} ms whole moves (${fmt((total / whole) * 1000)} rows/s); copy actions ${fmt(copy)} ms${summed}; verification ${fmt(verify)} ms${summed}`);
    return { whole, copy, verify };
  };

  const raws: number[] = [await raw()];
  const runs: { whole: number; copy: number; verify: number }[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    runs.push(await engineRun(round));
    raws.push(await raw());
  }
  const rawMs = percentile(raws, 50);
  const wholeMs = percentile(runs.map((r) => r.whole), 50);
  const copyMs = percentile(runs.map((r) => r.copy), 50);
  console.log(`median raw pipe ${fmt(rawMs)} ms (${fmt((total / rawMs) * 1000)} rows/s)`);
  console.log(`ratio engine/raw throughput, whole moves up to cut-over: ${(rawMs / wholeMs).toFixed(2)} (goal >= 0.8)`);
  if (CONCURRENCY === 1) console.log(`ratio engine/raw throughput, copy actions only:         ${(rawMs / copyMs).toFixed(2)}`);
} finally {
  await cells.stop();
}
