// Moves that must not happen, against real PostgreSQL cells: each is refused with a reason a
// person can act on, rolled back if anything was copied, and leaves the customer where it was.
import { MoveEngine } from '../../../src/data/move-engine.js';
import type { MoveHooks } from '../../../src/data/move-executor.js';
import type { MoveSettings } from '../../../src/data/move-settings.js';
import { placeCustomers, rowsOf, seedCustomer, startCells, TELEMETRY_TENANCY, type Cells } from './cells-fixture.js';

const TIMEOUT = 120_000;
const SETTINGS: Partial<MoveSettings> = { pageRows: 200, settleLagMs: 0, drainWaitMs: 0, retentionMs: 0 };

let cells: Cells;

beforeAll(async () => {
  cells = await startCells();
}, TIMEOUT);

afterAll(async () => {
  await cells?.stop();
}, TIMEOUT);

afterEach(() => {
  cells.tenancy = TELEMETRY_TENANCY;
});

async function both(sql: string): Promise<void> {
  await cells.pools['cell-a']!.query(sql);
  await cells.pools['cell-b']!.query(sql);
}

async function moveOnce(customer: string, options: { hooks?: MoveHooks; settings?: Partial<MoveSettings> } = {}) {
  const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { ...SETTINGS, ...options.settings }, ...(options.hooks ? { hooks: options.hooks } : {}) });
  const key = { migration: `refuse-${customer}`, customerId: customer };
  expect((await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' })).ok).toBe(true);
  const result = await engine.run(key);
  const failures = await cells.cp.query<{ reason: string; message: string; state: string }>(
    'SELECT reason, message, state FROM migration_failures WHERE migration = $1 AND customer_id = $2',
    [key.migration, customer],
  );
  return { result, failures: failures.rows };
}

async function expectUntouched(customer: string, sourceRows: number): Promise<void> {
  const { rows } = await cells.cp.query('SELECT cell, state, epoch::int FROM placements WHERE customer_id = $1', [customer]);
  expect(rows[0]).toEqual({ cell: 'cell-a', state: 'Active', epoch: 1 });
  expect((await rowsOf(cells.pools['cell-b']!, customer)).total).toBe(0);
  expect((await rowsOf(cells.pools['cell-a']!, customer)).total).toBe(sourceRows);
  const reserved = await cells.cp.query<{ reserved: string }>(`SELECT reserved FROM cells WHERE name = 'cell-b'`);
  expect(Number(reserved.rows[0]?.reserved)).toBe(0);
}

describe('a move that must not happen', () => {
  it('refuses a tenant table without a primary key, naming it', async () => {
    await both('CREATE TABLE audit_log (customer_id text NOT NULL, note text)');
    try {
      cells.tenancy = { tenantColumn: 'customer_id' }; // every table with the tenant column
      await placeCustomers(cells.cp, ['no-key'], 'cell-a');
      await seedCustomer(cells.pools['cell-a']!, 'no-key', { readings: 10, events: 5, devices: 2 });
      const { result, failures } = await moveOnce('no-key');
      expect(result.move).toMatchObject({ state: 'Failed', failureReason: 'NoPrimaryKey' });
      expect(failures).toEqual([{ state: 'Pending', reason: 'NoPrimaryKey', message: expect.stringContaining('table public.audit_log has no primary key') }]);
      await expectUntouched('no-key', 17);

      // Fixed by a person (the table gets its key): the same move is retried and goes through.
      await both('ALTER TABLE audit_log ADD COLUMN id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY');
      await cells.pools['cell-a']!.query(`INSERT INTO audit_log (customer_id, note) VALUES ('no-key', 'kept')`);
      const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: SETTINGS });
      const key = { migration: 'refuse-no-key', customerId: 'no-key' };
      expect(await engine.retryMove(key)).toMatchObject({ ok: true, move: { state: 'Pending' } });
      expect((await engine.run(key)).move).toMatchObject({ state: 'Done', failureReason: null });
      const moved = await cells.pools['cell-b']!.query(`SELECT note FROM audit_log WHERE customer_id = 'no-key'`);
      expect(moved.rows).toEqual([{ note: 'kept' }]);
    } finally {
      await both('DROP TABLE audit_log');
    }
  }, TIMEOUT);

  it("refuses a target whose columns differ from the source's, listing every difference", async () => {
    await cells.pools['cell-a']!.query('CREATE TABLE notes (customer_id text, id int, body text, PRIMARY KEY (customer_id, id))');
    await cells.pools['cell-b']!.query('CREATE TABLE notes (customer_id text, id int, body varchar(10), extra int, PRIMARY KEY (customer_id, id))');
    try {
      cells.tenancy = { tenantColumn: 'customer_id', tables: [...TELEMETRY_TENANCY.tables!, { name: 'notes' }] };
      await placeCustomers(cells.cp, ['mismatch'], 'cell-a');
      await seedCustomer(cells.pools['cell-a']!, 'mismatch', { readings: 10, events: 5, devices: 2 });
      const { result, failures } = await moveOnce('mismatch');
      expect(result.move).toMatchObject({ state: 'Failed', failureReason: 'ColumnMismatch' });
      expect(failures[0]?.message).toContain('column body is text on the source but character varying(10) on the target');
      expect(failures[0]?.message).toContain('column extra (integer) exists only on the target');
      await expectUntouched('mismatch', 17);
    } finally {
      await both('DROP TABLE notes');
    }
  }, TIMEOUT);

  it('refuses a watermark column that writers supply, naming the fix, and moves once the database stamps it', async () => {
    const table = 'CREATE TABLE samples (customer_id text NOT NULL, id bigint NOT NULL, taken_at timestamptz NOT NULL, PRIMARY KEY (customer_id, id))';
    await both(table);
    try {
      cells.tenancy = { tenantColumn: 'customer_id', tables: [...TELEMETRY_TENANCY.tables!, { name: 'samples', mode: 'AppendOnly', watermarkColumn: 'taken_at' }] };
      await placeCustomers(cells.cp, ['device-clock'], 'cell-a');
      await seedCustomer(cells.pools['cell-a']!, 'device-clock', { readings: 10, events: 5, devices: 2 });
      // The device's own clock, an hour behind: a row that commits now would sort among rows already copied.
      await cells.pools['cell-a']!.query(`INSERT INTO samples VALUES ('device-clock', 1, now() - interval '1 hour')`);
      const { result, failures } = await moveOnce('device-clock');
      expect(result.move).toMatchObject({ state: 'Failed', failureReason: 'UnsafeWatermark' });
      expect(failures).toEqual([
        {
          state: 'Pending',
          reason: 'UnsafeWatermark',
          message: expect.stringContaining('table public.samples: watermark column taken_at has no default and no trigger sets it'),
        },
      ]);
      expect(failures[0]?.message).toContain('give it DEFAULT clock_timestamp()');
      await expectUntouched('device-clock', 17);

      // Fixed by a person: the database stamps the row as it is written.
      await both('ALTER TABLE samples ALTER COLUMN taken_at SET DEFAULT clock_timestamp()');
      const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: SETTINGS });
      const key = { migration: 'refuse-device-clock', customerId: 'device-clock' };
      expect(await engine.retryMove(key)).toMatchObject({ ok: true });
      expect((await engine.run(key)).move).toMatchObject({ state: 'Done', failureReason: null });
    } finally {
      await both('DROP TABLE samples');
    }
  }, TIMEOUT);

  it('never writes over rows the target already holds for the customer', async () => {
    await placeCustomers(cells.cp, ['already-there'], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, 'already-there', { readings: 10, events: 5, devices: 2 });
    await cells.pools['cell-b']!.query(`INSERT INTO devices (customer_id, device_id, name) VALUES ('already-there', 'stray', 'left over')`);
    const { result, failures } = await moveOnce('already-there');
    expect(result.move).toMatchObject({ state: 'Failed', failureReason: 'TargetNotEmpty' });
    expect(failures[0]?.message).toContain('public.devices');
    const stray = await rowsOf(cells.pools['cell-b']!, 'already-there');
    expect([...stray.devices.keys()]).toEqual(['stray']);
    await cells.pools['cell-b']!.query(`DELETE FROM devices WHERE customer_id = 'already-there'`);
    await expectUntouched('already-there', 17);
  }, TIMEOUT);

  it('rolls back a move whose copy was tampered with before the fence (checksum mismatch)', async () => {
    await placeCustomers(cells.cp, ['tampered'], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, 'tampered', { readings: 1000, events: 50, devices: 3 });
    let tampered = false;
    const { result, failures } = await moveOnce('tampered', {
      settings: { convergeRows: 100 }, // fewer than the customer's rows: copied in pages before the fence
      hooks: {
        async point(p, info) {
          if (!tampered && p === 'after-action' && info.action.kind === 'CopyPage' && info.action.table === 'public.readings') {
            tampered = true;
            // Past the target's fence: a superuser with triggers off.
            await cells.pools['cell-b']!.query(
              `BEGIN; SET LOCAL session_replication_role = replica;
               UPDATE readings SET value = value + 1 WHERE customer_id = 'tampered' AND id = (SELECT min(id) FROM readings WHERE customer_id = 'tampered');
               COMMIT`,
            );
          }
        },
      },
    });
    expect(tampered).toBe(true);
    expect(result.move).toMatchObject({ state: 'Failed', failureReason: 'ChecksumMismatch' });
    // Caught by the next page, which checks the rows the first one synced (pages of 200 rows).
    expect(failures).toEqual([{ state: 'Copying', reason: 'ChecksumMismatch', message: expect.stringMatching(/table public\.readings: .* differ between the cells: source 200 rows .* target 200 rows/) }]);
    await expectUntouched('tampered', 1053);
  }, TIMEOUT);

  it('rolls back and lifts the fence when the final-synced rows do not verify', async () => {
    await placeCustomers(cells.cp, ['tampered-late'], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, 'tampered-late', { readings: 100, events: 20, devices: 3 });
    const { result, failures } = await moveOnce('tampered-late', {
      hooks: {
        async point(p, info) {
          if (p === 'after-action' && info.action.kind === 'FinalSync' && info.action.table === 'public.devices') {
            await cells.pools['cell-b']!.query(
              `BEGIN; SET LOCAL session_replication_role = replica; UPDATE devices SET name = 'changed' WHERE customer_id = 'tampered-late' AND device_id = 'd1'; COMMIT`,
            );
          }
        },
      },
    });
    expect(result.move).toMatchObject({ state: 'Failed', failureReason: 'ChecksumMismatch' });
    expect(failures[0]).toMatchObject({ state: 'Verifying', message: expect.stringContaining('table public.devices') });
    await expectUntouched('tampered-late', 123);
  }, TIMEOUT);

  it('rolls back a move whose table gained a column on both cells after it was planned, naming the column', async () => {
    await placeCustomers(cells.cp, ['new-column'], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, 'new-column', { readings: 40, events: 10, devices: 2 });
    try {
      const { result, failures } = await moveOnce('new-column', {
        hooks: {
          async point(p, info) {
            // Copied already, as planned; a column the copy did not carry would be lost with the cut-over.
            if (p === 'after-action' && info.action.kind === 'FinalSync' && info.action.table === 'public.devices') await both(`ALTER TABLE devices ADD COLUMN note text DEFAULT 'x'`);
          },
        },
      });
      expect(result.move).toMatchObject({ state: 'Failed', failureReason: 'SchemaChanged' });
      expect(failures).toEqual([
        { state: 'Verifying', reason: 'SchemaChanged', message: expect.stringMatching(/^table public\.devices changed during the move: its columns are now \(.*, note\), it was planned with \(/) },
      ]);
      await expectUntouched('new-column', 52);
    } finally {
      await both('ALTER TABLE devices DROP COLUMN IF EXISTS note');
    }
  }, TIMEOUT);

  it('lifts a fence held longer than allowed and rolls the move back', async () => {
    await placeCustomers(cells.cp, ['slow-fence'], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, 'slow-fence', { readings: 50, events: 5, devices: 2 });
    const { result, failures } = await moveOnce('slow-fence', {
      settings: { maxFenceMs: 200 },
      hooks: {
        async point(p, info) {
          if (p === 'before-action' && info.state === 'Fenced') await new Promise((r) => setTimeout(r, 300)); // a stalled executor
        },
      },
    });
    expect(result.move).toMatchObject({ state: 'Failed', failureReason: 'FenceTimeout' });
    expect(failures[0]?.message).toMatch(/write fence was held .* longer than the 0.2s allowed/);
    await expectUntouched('slow-fence', 57);
  }, TIMEOUT);
});
