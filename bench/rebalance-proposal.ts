// What a rebalance proposal costs at N customers (default 1,000,000; BENCH_CUSTOMERS) over 10
// cells, against the baseline the reconciler pays anyway: reading the customers with their sizes
// once (store/customer-sizes.ts readSizedCustomers, placements LEFT JOIN customer_sizes) from a
// throw-away PostgreSQL server in the same run. Time (wall ms, medians of BENCH_ROUNDS, default 3)
// and memory (JS heap + ArrayBuffers held after a GC) of the proposal, each as a ratio to the read.
// The fleet is skewed: two cells hold 40% of the customers. Goal: the proposal costs less than the
// read, in time and in memory (ratios < 1).
// Run with --expose-gc: `npm run bench:rebalance-proposal`.
import type { Pool } from 'pg';
import { startPostgres } from '../test/support/postgres.js';
import { proposeRebalance, type RebalanceCell, type RebalanceCustomer } from '../src/controllers/rebalance/rebalance-proposal.js';
import { syncCell } from '../src/store/cells.js';
import { createPool } from '../src/store/connection.js';
import { readSizedCustomers } from '../src/store/customer-sizes.js';
import { migrate } from '../src/store/migrate.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc --import tsx bench/rebalance-proposal.ts');
  process.exit(2);
}
const N = Number(process.env.BENCH_CUSTOMERS ?? 1_000_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const CELLS = Array.from({ length: 10 }, (_, i) => `eu-west-1-${i}`);

function used(): number {
  gc!();
  gc!();
  return heap();
}
/** Without a GC first: right after a call, what it allocated is still counted (young-generation scavenges aside). */
function heap(): number {
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;

async function seed(pool: Pool): Promise<void> {
  await migrate(pool);
  for (const name of CELLS) {
    const r = await syncCell(pool, { name, region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: N });
    if (!r.ok) throw new Error(r.message);
  }
  // Skewed: cells 0 and 1 hold 20% each, the other eight 7.5% each. Sizes: a long tail of rows.
  await pool.query(
    `INSERT INTO placements (customer_id, region, cell, expected_devices)
     SELECT 'cust-' || lpad(i::text, 7, '0'), CASE WHEN i % 3 = 0 THEN 'eu-west-1' END,
            'eu-west-1-' || CASE WHEN i % 40 < 16 THEN (i % 2)::text ELSE (2 + (i % 40 - 16) / 3)::text END,
            1 + (i::bigint * 7919) % 50
       FROM generate_series(0, $1::int - 1) i`,
    [N],
  );
  for (const cell of CELLS) {
    await pool.query(
      `INSERT INTO customer_sizes (customer_id, cell, rows, bytes, sampled_at)
       SELECT customer_id, cell, (1 + (hashtext(customer_id) & 1023))::bigint * (1 + (hashtext(customer_id) & 7)), 0, now()
         FROM placements WHERE cell = $1`,
      [cell],
    );
  }
  await pool.query('ANALYZE');
}

async function main(): Promise<void> {
  const server = await startPostgres();
  const pool = createPool({ url: server.url, poolMax: 2 });
  try {
    const t0 = performance.now();
    await seed(pool);
    console.log(`rebalance proposal at ${N} customers over 10 cells (seeded in ${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    const cells: RebalanceCell[] = CELLS.map((name) => ({ name, region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: N, customers: 0 }));

    const readMs: number[] = [];
    const proposeMs: number[] = [];
    let readBytes = 0;
    let readAllocated = 0;
    let proposeBytes = 0;
    let proposeAllocated = 0;
    let moves = 0;
    let skew = '';
    for (let round = 0; round < ROUNDS; round++) {
      let before = used();
      let t = performance.now();
      const rows = await readSizedCustomers(pool, CELLS);
      readMs.push(performance.now() - t);
      readAllocated = heap() - before;
      readBytes = used() - before;
      const customers: RebalanceCustomer[] = rows.map((r) => ({ ...r, pinned: false }));
      before = used();
      t = performance.now();
      const proposal = proposeRebalance(cells, customers, { metric: 'Rows', maxSkewPercent: 10, maxMoves: 500, minCustomersPerCell: 0 });
      proposeMs.push(performance.now() - t);
      proposeAllocated = heap() - before;
      // What the proposal holds on to while it is alive: measured with it still referenced.
      proposeBytes = used() - before;
      moves = proposal.moves.length;
      skew = `${proposal.skewBefore}% -> ${proposal.skewAfter}% (goal <= 10%, at most 500 moves)`;
      if (proposal.id === 'never') console.log(proposal.id);
    }
    const r = median(readMs);
    const p = median(proposeMs);
    const per = (b: number) => (b / N).toFixed(1).padStart(6);
    console.log(`  baseline read (readSizedCustomers)  ${r.toFixed(0).padStart(7)} ms  held ${per(readBytes)} B/customer  allocated ${per(readAllocated)} B/customer`);
    console.log(`  proposal (Rows, 10 cells)           ${p.toFixed(0).padStart(7)} ms  held ${per(proposeBytes)} B/customer  allocated ${per(proposeAllocated)} B/customer`);
    console.log(`  ${moves} moves, skew ${skew}`);
    console.log(`  ratio proposal/read: time ${(p / r).toFixed(3)}, memory allocated ${(proposeAllocated / readAllocated).toFixed(3)}, held ${(proposeBytes / readBytes).toFixed(4)}   (goal < 1)`);
  } finally {
    await pool.end();
    await server.stop();
  }
}

await main();
