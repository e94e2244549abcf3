import type pg from 'pg';
import { usePostgres } from '../../test/support/postgres.js';
import type { MigrationSpec } from '../crds/migration.js';
import { listCells, syncCell } from './cells.js';
import { createPool } from './connection.js';
import { migrate } from './migrate.js';
import { freezeSelection, readSelection } from './migration-selection.js';
import { decidePlacement } from './placement-decision.js';
import { placeCustomers } from './placements.js';
import { preferenceCells, preferredCell } from './placement-preference.js';

const postgres = usePostgres();
let pool: pg.Pool;

const split = (from: string, order: MigrationSpec['order'] = 'SmallestFirst') =>
  ({
    from,
    to: 'eu-west-1c',
    customers: { preferTarget: true },
    order,
    steps: [{ move: 1 }, { move: '100%' }],
    maxConcurrent: 4,
    paused: false,
    abort: false,
    drainWait: '2s',
    retention: '24h',
  }) as MigrationSpec;

const cell = (name: string, region: string, weight = 100) => ({ name, region, state: 'Active' as const, ready: true, weight, maxCustomers: 10_000 });

beforeAll(async () => {
  pool = createPool({ url: await postgres().createDatabase(), poolMax: 4 });
  await migrate(pool);
  for (const c of [cell('eu-west-1a', 'eu-west-1'), cell('eu-west-1b', 'eu-west-1', 60), cell('us-east-1a', 'us-east-1')]) {
    expect((await syncCell(pool, c)).ok).toBe(true);
  }
  // 2000 customers placed by the router's own code: a third bound to eu-west-1, a sixth to us-east-1, some pinned.
  const requests = Array.from({ length: 2000 }, (_, i) => ({
    customerId: `cust-${i}`,
    region: i % 3 === 0 ? 'eu-west-1' : i % 6 === 1 ? 'us-east-1' : null,
    cell: i % 50 === 2 ? 'eu-west-1a' : null,
    expectedDevices: i % 17,
  }));
  const placed = await placeCustomers(pool, requests);
  expect(placed.filter((r) => r.status !== 'Created')).toEqual([]);
  // The split: a new cell in eu-west-1.
  expect((await syncCell(pool, cell('eu-west-1c', 'eu-west-1', 80))).ok).toBe(true);
}, 60_000);

afterAll(async () => {
  await pool?.end();
});

describe('a split (customers.preferTarget)', () => {
  it('freezes exactly the customers of the source that the placement function now sends to the new cell', async () => {
    const pinned = new Set(Array.from({ length: 2000 }, (_, i) => i).filter((i) => i % 50 === 2).map((i) => `cust-${i}`));
    const cells = preferenceCells(await listCells(pool));
    for (const from of ['eu-west-1a', 'eu-west-1b', 'us-east-1a']) {
      await freezeSelection(pool, `split-${from}`, split(from), { pinned });
      const selected = (await readSelection(pool, `split-${from}`)).map((s) => s.id);
      const { rows } = await pool.query<{ customer_id: string; region: string | null; expected_devices: string }>(
        'SELECT customer_id, region, expected_devices FROM placements WHERE cell = $1 ORDER BY expected_devices, customer_id',
        [from],
      );
      const expected = rows.filter((r) => !pinned.has(r.customer_id) && preferredCell({ id: r.customer_id, region: r.region }, cells) === 'eu-west-1c').map((r) => r.customer_id);
      // Same customers, in the Migration's order (SmallestFirst).
      expect(selected).toEqual(expected);
      expect(selected.length).toBeGreaterThan(0);
      for (const id of selected) {
        expect(pinned.has(id)).toBe(false);
        const region = rows.find((r) => r.customer_id === id)?.region;
        expect(region === null || region === 'eu-west-1').toBe(true);
        // From another region's cell only customers bound to no region may come.
        if (from === 'us-east-1a') expect(region).toBeNull();
        // And it is where a new customer with that id and binding would land today.
        const d = decidePlacement({ customerId: id, region: region ?? null }, cells);
        expect(d.kind === 'Placed' && d.cell).toBe('eu-west-1c');
      }
    }
  });

  it('is computed once: a later change of weights does not change a frozen selection', async () => {
    const before = await readSelection(pool, 'split-eu-west-1a');
    expect((await syncCell(pool, cell('eu-west-1c', 'eu-west-1', 200))).ok).toBe(true);
    await freezeSelection(pool, 'split-eu-west-1a', split('eu-west-1a'));
    expect(await readSelection(pool, 'split-eu-west-1a')).toEqual(before);
  });
});
