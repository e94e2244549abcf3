// Verification time against copy time in customer moves: BENCH_MOVE_CUSTOMERS customers ×
// BENCH_MOVE_ROWS readings (default 10 × 20,000) are moved one at a time from cell A to cell B;
// the time of the verification actions (count + order-independent checksum of every row on both
// sides, in parallel: PreVerify before the fence, Verify under it) is compared with the time of
// the copy actions (CopyPage, Resync, FinalSync) of the same moves, in the same run. BENCH_ROUNDS
// runs (default 3), medians. Goal: verification/copy <= 0.2.
import { MoveEngine } from '../src/data/move-engine.js';
import { runMoves } from '../src/data/move-pool.js';
import { ActionTimer, customerName, fmt, percentile, placeCustomers, READINGS_ONLY, seedReadings, startCells } from './support/move-bench.js';

const CUSTOMERS = Number(process.env.BENCH_MOVE_CUSTOMERS ?? 10);
const ROWS = Number(process.env.BENCH_MOVE_ROWS ?? 20_000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);

const cells = await startCells();
try {
  cells.tenancy = READINGS_ONLY;
  const source = cells.pools['cell-a']!;
  const target = cells.pools['cell-b']!;
  const customers = Array.from({ length: CUSTOMERS }, (_, i) => customerName('verify', i));
  await placeCustomers(cells.cp, customers, 'cell-a');
  await seedReadings(source, customers, ROWS);
  console.log(`move verification vs copy: ${CUSTOMERS} customers × ${fmt(ROWS)} rows, one move at a time, ${ROUNDS} rounds`);

  const ratios: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    await target.query('TRUNCATE readings');
    await target.query('VACUUM ANALYZE readings');
    await cells.cp.query(`DELETE FROM migration_journal WHERE migration LIKE 'bench-verify-%'`);
    await cells.cp.query(`UPDATE placements SET cell = 'cell-a', state = 'Active', epoch = 1 WHERE cell <> 'cell-a' OR state <> 'Active'`);
    const timer = new ActionTimer();
    const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { drainWaitMs: 0, retentionMs: 3_600_000 }, hooks: timer });
    const migration = `bench-verify-${round}`;
    for (const c of customers) await engine.startMove({ migration, customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const results = await runMoves(engine, customers.map((customerId) => ({ migration, customerId })), { concurrency: 1 });
    if (results.some((r) => r.move?.state !== 'Cleanup')) throw new Error(`a move did not cut over: ${JSON.stringify(results.find((r) => r.move?.state !== 'Cleanup'))}`);
    const copy = timer.total('CopyPage', 'Resync', 'FinalSync');
    const preVerify = timer.total('PreVerify');
    const verify = timer.total('Verify');
    const ratio = (preVerify + verify) / copy;
    ratios.push(ratio);
    console.log(
      `  copy ${fmt(copy)} ms (${fmt(((CUSTOMERS * ROWS) / copy) * 1000)} rows/s); verification ${fmt(preVerify + verify)} ms (before the fence ${fmt(preVerify)}, under it ${fmt(verify)}); ratio ${ratio.toFixed(3)}`,
    );
  }
  console.log(`ratio verification/copy (median of ${ROUNDS}): ${percentile(ratios, 50).toFixed(3)} (goal <= 0.2)`);
} finally {
  await cells.stop();
}
