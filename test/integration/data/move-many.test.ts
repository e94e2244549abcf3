// A hundred small customer moves at once (a Migration's maxConcurrent at its maximum, 100) through
// pools of the operator's own sizes (8 connections per cell, 10 to the control plane): moves wait
// for a connection instead of failing, and every one finishes with every row in the target.
import pg from 'pg';
import { MoveEngine } from '../../../src/data/move-engine.js';
import { runMoves } from '../../../src/data/move-pool.js';
import { placeCustomers, rowsOf, seedCustomer, useCells } from './cells-fixture.js';

const cells = useCells();

function productionPool(url: string, max: number): pg.Pool {
  // The sizes and the connect timeout of src/data/cell-pools.ts and src/store/connection.ts.
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 10_000 });
  pool.on('error', () => undefined);
  return pool;
}

it('moves 100 customers at once through pools of 8 and 10 connections, every move Done and every row in the target', async () => {
  const { cp, servers, tenancy } = cells();
  const customers = Array.from({ length: 100 }, (_, i) => `many-${String(i).padStart(3, '0')}`);
  await placeCustomers(cp, customers, 'cell-a');
  const seeded = new Map<string, number>();
  for (const c of customers) {
    const s = await seedCustomer(cells().pools['cell-a']!, c, { readings: 20, events: 5, devices: 2 });
    seeded.set(c, s.readings.size + s.events.size + s.devices.size);
  }
  const controlPlane = productionPool(cells().controlPlane.url, 10);
  const cellPools = { 'cell-a': productionPool(servers['cell-a']!.url, 8), 'cell-b': productionPool(servers['cell-b']!.url, 8) };
  try {
    const engine = new MoveEngine({
      controlPlane,
      cells: (cell) => ({ pool: cellPools[cell as 'cell-a' | 'cell-b'], tenancy }),
      settings: { drainWaitMs: 50, settleLagMs: 50, retentionMs: 0 },
    });
    for (const c of customers) expect((await engine.startMove({ migration: 'many', customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b', step: 0 })).ok).toBe(true);
    const results = await runMoves(engine, customers.map((customerId) => ({ migration: 'many', customerId })), { concurrency: 100 });
    const notDone = results.filter((r) => r.move?.state !== 'Done').map((r) => `${r.move?.customerId}: ${r.move?.state} ${r.move?.failureReason ?? ''} ${r.move?.lastError ?? ''}`);
    expect(notDone).toEqual([]);
    for (const c of customers) expect((await rowsOf(cells().pools['cell-b']!, c)).total).toBe(seeded.get(c));
    const { rows } = await cp.query<{ n: number }>(`SELECT count(*)::int AS n FROM placements WHERE cell = 'cell-b' AND state = 'Active' AND customer_id LIKE 'many-%'`);
    expect(rows[0]?.n).toBe(100);
  } finally {
    await Promise.all([controlPlane.end(), ...Object.values(cellPools).map((p) => p.end())]);
  }
}, 600_000);
