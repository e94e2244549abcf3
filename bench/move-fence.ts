// How long a customer's writes are fenced (the router answers 503) during its cut-over, and
// whether that grows with the customer's size: for each size in BENCH_FENCE_SIZES (readings per
// customer, default 1,000,10,000,50,000), BENCH_FENCE_CUSTOMERS customers (default 20) are moved
// from cell A to cell B, one at a time (BENCH_CONCURRENCY; more lets one customer's fence compete
// with another's copy for the CPU), with drainWait 0 while writers keep writing to them
// (routed by the placements table, retrying on the fence). The fence of a move is cut_over_at -
// fenced_at from its journal. Prints p50/p99/max per size and the growth of p99 from the smallest
// size to the largest (the baseline, measured in the same run). Goal: p99 <= 1 s, no growth.
// The fence includes the one in the cell databases (the trigger, the per-customer drain).
import { MoveEngine } from '../src/data/move-engine.js';
import { runMoves } from '../src/data/move-pool.js';
import { TELEMETRY_TENANCY, Writers } from '../test/integration/data/cells-fixture.js';
import { customerName, fmt, percentile, placeCustomers, seedReadings, startCells } from './support/move-bench.js';

const SIZES = (process.env.BENCH_FENCE_SIZES ?? '1000,10000,50000').split(',').map(Number);
const CUSTOMERS = Number(process.env.BENCH_FENCE_CUSTOMERS ?? 20);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 1);

const cells = await startCells();
try {
  cells.tenancy = TELEMETRY_TENANCY; // readings by watermark, events by key, devices under the fence
  const source = cells.pools['cell-a']!;
  console.log(`write fence per customer: sizes ${SIZES.map((s) => fmt(s)).join(', ')} readings, ${CUSTOMERS} customers each, drainWait 0, ${CONCURRENCY} moves at a time, live writers`);
  const p99s: number[] = [];
  const p50s: number[] = [];
  let nextId = 1;
  for (const size of SIZES) {
    const customers = Array.from({ length: CUSTOMERS }, (_, i) => customerName(`fence-${size}`, i));
    await placeCustomers(cells.cp, customers, 'cell-a');
    nextId = await seedReadings(source, customers, size, nextId);
    await source.query(
      `INSERT INTO devices (customer_id, device_id, name) SELECT c, 'd' || g, 'device ' || g FROM unnest($1::text[]) c, generate_series(0, 9) g`,
      [customers],
    );
    const writers = new Writers(cells, () => customers, 2, 5);
    writers.start();
    const engine = new MoveEngine({
      controlPlane: cells.cp,
      cells: cells.cells,
      // One customer's fence, as before batches (BENCH_BATCH_SIZE: a batch's, which its members share).
      settings: { drainWaitMs: 0, settleLagMs: 200, retentionMs: 3_600_000, batchSize: Number(process.env.BENCH_BATCH_SIZE ?? 1) },
    });
    const migration = `bench-fence-${size}`;
    for (const c of customers) await engine.startMove({ migration, customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const t0 = performance.now();
    const results = await runMoves(engine, customers.map((customerId) => ({ migration, customerId })), { concurrency: CONCURRENCY });
    const elapsed = performance.now() - t0;
    await writers.stop();
    const failed = results.filter((r) => r.move?.state !== 'Cleanup');
    if (failed.length > 0) throw new Error(`${failed.length} moves did not cut over: ${JSON.stringify(failed[0]?.move)}`);
    const { rows } = await cells.cp.query<{ ms: number }>(
      `SELECT extract(epoch FROM cut_over_at - fenced_at) * 1000 AS ms FROM migration_journal WHERE migration = $1`,
      [migration],
    );
    const fences = rows.map((r) => Number(r.ms));
    const p99 = percentile(fences, 99);
    p99s.push(p99);
    p50s.push(percentile(fences, 50));
    console.log(
      `  ${fmt(size).padStart(7)} rows/customer: fence p50 ${fmt(percentile(fences, 50))} ms, p99 ${fmt(p99)} ms, max ${fmt(Math.max(...fences))} ms; moves took ${fmt(elapsed)} ms; writers: ${writers.writes} writes, ${writers.fenced} answered 503`,
    );
  }
  const worst = Math.max(...p99s);
  const growth = (xs: number[]) => ((xs.at(-1) as number) / (xs[0] as number)).toFixed(2);
  console.log(`fence at the largest size / at the smallest (baseline): p50 ${growth(p50s)}, p99 ${growth(p99s)} (goal: no growth, about 1)`);
  console.log(`worst fence p99: ${fmt(worst)} ms (goal <= 1000 ms)`);
} finally {
  await cells.stop();
}
