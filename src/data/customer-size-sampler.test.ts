import type pg from 'pg';
import { usePostgres } from '../../test/support/postgres.js';
import { syncCell } from '../store/cells.js';
import { createPool } from '../store/connection.js';
import { readCellSamples, readSizedCustomers, recordCellSample } from '../store/customer-sizes.js';
import { migrate } from '../store/migrate.js';
import { sampleCellSizes, sizesFromCounts } from './customer-size-sampler.js';

const postgres = usePostgres();
let cellPool: pg.Pool;
let store: pg.Pool;

beforeAll(async () => {
  cellPool = createPool({ url: await postgres().createDatabase(), poolMax: 2 });
  store = createPool({ url: await postgres().createDatabase(), poolMax: 2 });
  await migrate(store);
  await cellPool.query(`
    CREATE TABLE devices (customer_id text NOT NULL, id int NOT NULL, PRIMARY KEY (customer_id, id));
    CREATE TABLE telemetry (customer_id text NOT NULL, id bigint NOT NULL, payload text NOT NULL, PRIMARY KEY (customer_id, id));
    CREATE TABLE not_tenant (id int PRIMARY KEY);
    INSERT INTO devices SELECT 'c' || (i % 3), i FROM generate_series(1, 300) i;
    -- telemetry: c0 holds 60%, c1 30%, c2 10% of 60,000 rows, interleaved on the pages.
    INSERT INTO telemetry SELECT CASE WHEN i % 10 < 6 THEN 'c0' WHEN i % 10 < 9 THEN 'c1' ELSE 'c2' END, i, repeat('x', 40)
      FROM generate_series(1, 60000) i;
    ANALYZE devices; ANALYZE telemetry;
  `);
}, 60_000);

afterAll(async () => {
  await cellPool?.end();
  await store?.end();
});

const tenancy = { tenantColumn: 'customer_id' };

describe('sampleCellSizes', () => {
  it('counts small tables exactly', async () => {
    const s = await sampleCellSizes({ pool: cellPool, tenancy }, { exactBelowRows: 1_000_000, sampleRows: 1000, statementTimeoutMs: 10_000 });
    expect(s.exact).toBe(true);
    expect(s.tables).toBe(2);
    const rows = Object.fromEntries(s.sizes.map((x) => [x.customerId, x.rows]));
    expect(rows).toEqual({ c0: 36000 + 100, c1: 18000 + 100, c2: 6000 + 100 });
    expect(s.bytes).toBeGreaterThan(0);
  });

  it('samples a large table within a few percent, reading only a share of it', async () => {
    const s = await sampleCellSizes({ pool: cellPool, tenancy, }, { exactBelowRows: 1000, sampleRows: 10_000, statementTimeoutMs: 10_000 });
    expect(s.exact).toBe(false);
    const rows = Object.fromEntries(s.sizes.map((x) => [x.customerId, x.rows]));
    expect(Math.abs((rows.c0 as number) / 36100 - 1)).toBeLessThan(0.15);
    expect(Math.abs((rows.c1 as number) / 18100 - 1)).toBeLessThan(0.2);
    expect((rows.c2 as number) / 6100).toBeGreaterThan(0.5);
    expect(s.sizes.map((x) => x.customerId).sort()).toEqual(['c0', 'c1', 'c2']);
  });

  it('measures only the tables a Cell names when it names them', async () => {
    const s = await sampleCellSizes({ pool: cellPool, tenancy: { tenantColumn: 'customer_id', tables: [{ name: 'devices' }] } });
    expect(s.tables).toBe(1);
    expect(s.rows).toBe(300);
  });

  it('scales sampled counts to the table and splits bytes by rows', () => {
    const s = sizesFromCounts([
      { table: 'public.t', counts: new Map([['a', 10], ['b', 30]]), exact: false, sampledRows: 40, totalRows: 4000, totalBytes: 400_000 },
      { table: 'public.u', counts: new Map([['a', 5]]), exact: true, sampledRows: 5, totalRows: 5, totalBytes: 50 },
    ]);
    expect(s.sizes).toEqual([
      { customerId: 'a', rows: 1005, bytes: 100_050 },
      { customerId: 'b', rows: 3000, bytes: 300_000 },
    ]);
    expect(s.exact).toBe(false);
  });
});

describe('the measured sizes in the control plane', () => {
  it('are replaced a cell at a time and read back with each customer of the cell', async () => {
    expect((await syncCell(store, { name: 'eu-a', region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: 100 })).ok).toBe(true);
    await store.query(`INSERT INTO placements (customer_id, region, cell, expected_devices) VALUES ('c0', NULL, 'eu-a', 5), ('c1', 'eu-west-1', 'eu-a', 1), ('c9', NULL, 'eu-a', 0)`);
    const measured = await sampleCellSizes({ pool: cellPool, tenancy });
    const at = new Date('2026-12-02T10:00:00Z');
    await recordCellSample(store, { cell: 'eu-a', sampledAt: at, customers: measured.sizes.length, rows: measured.rows, bytes: measured.bytes, exact: measured.exact, tables: measured.tables, durationMs: 12 }, measured.sizes);
    await recordCellSample(store, { cell: 'eu-a', sampledAt: at, customers: measured.sizes.length, rows: measured.rows, bytes: measured.bytes, exact: measured.exact, tables: measured.tables, durationMs: 12 }, measured.sizes);
    const customers = await readSizedCustomers(store, ['eu-a']);
    const byId = Object.fromEntries(customers.map((c) => [c.id, c]));
    expect(byId.c0).toMatchObject({ cell: 'eu-a', region: null, devices: 5, rows: 36100 });
    expect(byId.c1).toMatchObject({ region: 'eu-west-1', rows: 18100 });
    expect(byId.c9?.rows).toBeUndefined(); // placed, never sampled
    expect((await readCellSamples(store, ['eu-a', 'eu-b'])).get('eu-a')).toMatchObject({ sampledAt: at, customers: 3, rows: 60300, exact: true, tables: 2 });
  });

  it('follow a moved customer: its latest sample counts, wherever it was measured', async () => {
    const later = new Date('2026-12-02T11:00:00Z');
    await recordCellSample(store, { cell: 'eu-b', sampledAt: later, customers: 1, rows: 7, bytes: 70, exact: true, tables: 2, durationMs: 1 }, [{ customerId: 'c1', rows: 7, bytes: 70 }]);
    const byId = Object.fromEntries((await readSizedCustomers(store, ['eu-a'])).map((c) => [c.id, c]));
    expect(byId.c1).toMatchObject({ rows: 7, bytes: 70 });
    expect(byId.c0).toMatchObject({ rows: 36100 });
    // An older sample never overwrites a newer one.
    await recordCellSample(store, { cell: 'eu-c', sampledAt: new Date('2026-12-01T00:00:00Z'), customers: 1, rows: 1, bytes: 1, exact: true, tables: 1, durationMs: 1 }, [{ customerId: 'c1', rows: 1, bytes: 1 }]);
    expect((await readSizedCustomers(store, ['eu-a'])).find((c) => c.id === 'c1')).toMatchObject({ rows: 7 });
  });
});
