// A drain: every customer of cell A (BENCH_DRAIN_CUSTOMERS, default 1,000, with
// BENCH_DRAIN_ROWS readings each, default 200, seeded as a live system has them) is moved to cell B
// by the move engine, BENCH_CONCURRENCY at a time (default 4, a Migration's default
// maxConcurrent), each through the whole state machine including cleanup (retention 0, the
// default drainWait). The baseline, measured in the same run on the same rows, like for like:
// BENCH_CONCURRENCY raw `COPY (SELECT … WHERE customer_id = …) TO STDOUT (FORMAT binary) | COPY …
// FROM STDIN (FORMAT binary)` pipes at once, each taking the next customer, before the drain (A to
// B) and after it (back), averaged. Prints the drain's wall time against the parallel raw copies'
// (and, once, against the serial sum of per-customer pipes, the figure it printed before).
// BENCH_DRAIN_WAIT_MS sets the drainWait (default: the default, 2 s); with the default, the fence
// of each move lasts at least that long, so the drain's floor is customers / (concurrency × batch) × drainWait
// (a batch of small moves, BENCH_BATCH_SIZE, default the engine's 50, waits once for all its members),
// printed beside the ratio. BENCH_DRAIN_WAIT_MS=0 measures the per-move work alone. Also prints
// where the CPU went, per customer: this process (the engine), the control plane's server and the
// two cells' servers (on Citus, their coordinators), for the raw pipes and for the drain.
import { MoveEngine } from '../src/data/move-engine.js';
import { runMoves } from '../src/data/move-pool.js';
import { DEFAULT_MOVE_SETTINGS } from '../src/data/move-settings.js';
import { cpuSplit, describeCpu, serverCpuByKind } from './support/process-cpu.js';
import { ActionTimer, customerName, fmt, placeCustomers, rawPipesInParallel, READINGS_ONLY, seedReadings, startCells } from './support/move-bench.js';

const CUSTOMERS = Number(process.env.BENCH_DRAIN_CUSTOMERS ?? 1000);
const ROWS = Number(process.env.BENCH_DRAIN_ROWS ?? 200);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const DRAIN_WAIT = Number(process.env.BENCH_DRAIN_WAIT_MS ?? DEFAULT_MOVE_SETTINGS.drainWaitMs);

const cells = await startCells();
try {
  cells.tenancy = READINGS_ONLY;
  const source = cells.pools['cell-a']!;
  const target = cells.pools['cell-b']!;
  const customers = Array.from({ length: CUSTOMERS }, (_, i) => customerName('drain', i));
  await placeCustomers(cells.cp, customers, 'cell-a');
  await seedReadings(source, customers, ROWS);
  console.log(`drain of ${fmt(CUSTOMERS)} customers × ${fmt(ROWS)} rows (seeded live), ${CONCURRENCY} moves at a time, drainWait ${DRAIN_WAIT} ms, cleanup included`);

  // Baseline: CONCURRENCY raw pipes at once, one customer each at a time; the serial sum of the
  // same pipes is the old figure.
  const servers = { 'control plane': cells.cp, source, target };
  const rawParallel = async (from: typeof source, to: typeof source): Promise<{ ms: number; pipeMs: number }> => {
    const cpu = await cpuSplit(servers);
    const r = await rawPipesInParallel(from, to, customers, CONCURRENCY);
    if (r.rows !== CUSTOMERS * ROWS) throw new Error(`raw pipes copied ${r.rows} rows, expected ${CUSTOMERS * ROWS}`);
    console.log(`  ${CONCURRENCY} raw pipes at once: ${fmt(r.ms)} ms wall (${fmt(r.pipeMs)} ms summed over the pipes); CPU ms per customer: ${describeCpu(cpu(), CUSTOMERS)}`);
    await to.query('TRUNCATE readings');
    await to.query('VACUUM ANALYZE readings');
    return r;
  };
  const before = await rawParallel(source, target);

  const timer = new ActionTimer();
  const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { retentionMs: 0, drainWaitMs: DRAIN_WAIT, ...(process.env.BENCH_BATCH_SIZE ? { batchSize: Number(process.env.BENCH_BATCH_SIZE) } : {}) }, hooks: timer });
  const migration = 'bench-drain';
  const cpu = await cpuSplit(servers);
  const t0 = performance.now();
  // As the Migration reconciler starts a step's moves: one transaction (the code before: one each).
  await engine.startMoves(customers.map((customerId) => ({ migration, customerId, sourceCell: 'cell-a', targetCell: 'cell-b' })));
  const results = await runMoves(engine, customers.map((customerId) => ({ migration, customerId })), { concurrency: CONCURRENCY });
  const total = performance.now() - t0;
  const drainCpu = cpu();
  const notDone = results.filter((r) => r.move?.state !== 'Done');
  if (notDone.length > 0) throw new Error(`${notDone.length} moves did not finish: ${JSON.stringify(notDone[0]?.move)}`);
  const left = Number((await source.query<{ n: string }>('SELECT count(*) AS n FROM readings')).rows[0]?.n);
  const arrived = Number((await target.query<{ n: string }>('SELECT count(*) AS n FROM readings')).rows[0]?.n);
  if (left !== 0 || arrived !== CUSTOMERS * ROWS) throw new Error(`after the drain: ${left} rows left in the source, ${arrived} in the target`);
  const after = await rawParallel(target, source);
  const rawMs = (before.ms + after.ms) / 2;
  const serialMs = (before.pipeMs + after.pipeMs) / 2;
  const summary = await engine.summarize(migration);
  console.log(`  engine drain: ${fmt(total)} ms (${fmt(total / CUSTOMERS, 2)} ms per customer), moved ${summary.byOutcome.Moved}/${CUSTOMERS}`);
  console.log(`  drain CPU ms per customer: ${describeCpu(drainCpu, CUSTOMERS)} (wall ${fmt(total / CUSTOMERS, 2)} ms per customer, ${CONCURRENCY} at a time)`);
  if (process.env.BENCH_CPU_DETAIL === '1') {
    for (const [name, pool] of Object.entries(servers)) console.log(`    ${name}'s live processes, CPU ms: ${JSON.stringify(await serverCpuByKind(pool))}`);
  }
  const parts = ['Prepare', 'Observe', 'CopyPage', 'Resync', 'PreVerify', 'Fence', 'Drain', 'FinalSync', 'Verify', 'CutOver', 'Sweep', 'Finish'] as const;
  console.log(`  action time summed over moves: ${parts.map((p) => `${p} ${fmt(timer.total(p))}`).join(', ')} ms`);
  console.log(`ratio drain total / ${CONCURRENCY} parallel raw copies (like for like): ${(total / rawMs).toFixed(2)}`);
  console.log(`ratio drain total / serial sum of raw copies (the old figure):        ${(total / serialMs).toFixed(2)}`);
  // Each move holds its fence at least drainWait, and at most CONCURRENCY moves run at once.
  // A batch (move-batch.ts, runMoves' batches) holds one drain wait for all its members.
  const batch = Math.max(1, Math.min(engine.settings.batchSize, Math.ceil(CUSTOMERS / CONCURRENCY)));
  const floorMs = Math.ceil(CUSTOMERS / batch / CONCURRENCY) * DRAIN_WAIT;
  if (DRAIN_WAIT > 0) console.log(`floor from the drain wait alone (${fmt(floorMs)} ms) / parallel raw copies: ${(floorMs / rawMs).toFixed(2)}`);
} finally {
  await cells.stop();
}
