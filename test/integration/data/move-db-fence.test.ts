// The move engine with the fence in the cell databases, against real PostgreSQL: the drain waits
// only for the moving customer's transactions, fails the move back past its bound and unfences at
// once; a transaction that commits within the bound is moved; an abort during cleanup moves the
// customer back over its retained copy.
import type pg from 'pg';
import { installFence, readFence } from '../../../src/data/cell-fence.js';
import { MoveEngine } from '../../../src/data/move-engine.js';
import type { MoveSettings } from '../../../src/data/move-settings.js';
import { placeCustomers, rowsOf, seedCustomer, startCells, type Cells } from './cells-fixture.js';

const TIMEOUT = 60_000;
let cells: Cells;

beforeAll(async () => {
  cells = await startCells();
  // As a Cell's database check does when the cell comes up: the trigger is in place before any
  // long transaction (CREATE TRIGGER waits for the table's open writers).
  const tables = ['readings', 'events', 'devices'].map((table) => ({ schema: 'public', table }));
  for (const pool of Object.values(cells.pools)) await installFence(pool, 'customer_id', tables);
}, TIMEOUT);

afterAll(async () => {
  await cells?.stop();
}, TIMEOUT);

async function placement(customer: string) {
  const { rows } = await cells.cp.query<{ cell: string; state: string }>('SELECT cell, state FROM placements WHERE customer_id = $1', [customer]);
  return rows[0];
}

const FAST: Partial<MoveSettings> = { pageRows: 500, settleLagMs: 0, drainWaitMs: 0, retentionMs: 3600_000 };

function engine(settings: Partial<MoveSettings> = {}, hooks?: ConstructorParameters<typeof MoveEngine>[0]['hooks']) {
  return new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { ...FAST, ...settings }, ...(hooks ? { hooks } : {}) });
}

/** A transaction on `pool` that wrote one reading of `customer` and stays open until `end`. */
async function openWriter(pool: pg.Pool, customer: string, id: number) {
  const c = await pool.connect();
  await c.query('BEGIN');
  await c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'open', 1)`, [customer, id]);
  return {
    async end(how: 'COMMIT' | 'ROLLBACK') {
      try {
        await c.query(how);
      } finally {
        c.release();
      }
    },
  };
}

describe('the database fence during a move', () => {
  it("fences at once while another customer's transaction stays open for the whole move", async () => {
    await placeCustomers(cells.cp, ['busy-neighbour', 'quick'], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, 'quick', { readings: 300, events: 20, devices: 3 });
    const neighbour = await openWriter(cells.pools['cell-a']!, 'busy-neighbour', 1);
    try {
      const e = engine({ maxDrainMs: 1_000 });
      const key = { migration: 'neighbour', customerId: 'quick' };
      await e.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
      const r = await e.run(key);
      expect(r.move).toMatchObject({ state: 'Cleanup', failureReason: null });
      expect(await placement('quick')).toEqual({ cell: 'cell-b', state: 'Active' });
      expect((await rowsOf(cells.pools['cell-b']!, 'quick')).total).toBe(323);
    } finally {
      await neighbour.end('COMMIT');
    }
  }, TIMEOUT);

  it("fails the move back when the customer's own transaction outlasts the drain bound, and unfences it in the same breath", async () => {
    await placeCustomers(cells.cp, ['stuck-writer'], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, 'stuck-writer', { readings: 300, events: 20, devices: 3 });
    const writer = await openWriter(cells.pools['cell-a']!, 'stuck-writer', 2);
    const seenAtRollback: unknown[] = [];
    const e = engine({ maxDrainMs: 300 }, {
      async point(p, info) {
        // The first step of the rollback: the customer must already be writable everywhere it lives.
        if (p === 'before-action' && info.state === 'RollingBack' && seenAtRollback.length === 0) {
          seenAtRollback.push(await placement('stuck-writer'), (await readFence(cells.pools['cell-a']!, 'stuck-writer')) ?? 'no fence');
        }
      },
    });
    const key = { migration: 'stuck', customerId: 'stuck-writer' };
    try {
      await e.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
      const r = await e.run(key);
      expect(r.move).toMatchObject({ state: 'Failed', failureReason: 'DrainTimeout' });
      expect(r.move?.lastError).toMatch(/a transaction writing customer stuck-writer's rows in cell cell-a was still open 300 ms \(maxDrainMs\)/);
      expect(seenAtRollback).toEqual([{ cell: 'cell-a', state: 'Active' }, 'no fence']);
      await writer.end('COMMIT'); // never refused: the customer was not left fenced
      expect(await placement('stuck-writer')).toEqual({ cell: 'cell-a', state: 'Active' });
      expect(await readFence(cells.pools['cell-b']!, 'stuck-writer')).toBeUndefined();
      expect((await rowsOf(cells.pools['cell-a']!, 'stuck-writer')).total).toBe(324);
      expect((await rowsOf(cells.pools['cell-b']!, 'stuck-writer')).total).toBe(0);
    } finally {
      await writer.end('ROLLBACK').catch(() => undefined);
    }
  }, TIMEOUT);

  it("waits for the customer's transaction open across the fence and moves its rows when it commits within the bound", async () => {
    await placeCustomers(cells.cp, ['slow-writer'], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, 'slow-writer', { readings: 300, events: 20, devices: 3 });
    let writer: Awaited<ReturnType<typeof openWriter>> | undefined;
    const e = engine({ maxDrainMs: 5_000 }, {
      async point(p, info) {
        if (p === 'before-action' && info.action.kind === 'Fence' && !writer) {
          writer = await openWriter(cells.pools['cell-a']!, 'slow-writer', 3);
          setTimeout(() => void writer?.end('COMMIT'), 800); // commits while the drain waits
        }
      },
    });
    const key = { migration: 'slow', customerId: 'slow-writer' };
    await e.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const r = await e.run(key);
    expect(r.move).toMatchObject({ state: 'Cleanup' });
    const moved = await rowsOf(cells.pools['cell-b']!, 'slow-writer');
    expect(moved.readings.has(3)).toBe(true);
    expect(moved.total).toBe(324);
  }, TIMEOUT);

  it('moves the customer back over its retained copy when aborted in the middle of cleanup', async () => {
    await placeCustomers(cells.cp, ['half-clean'], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, 'half-clean', { readings: 600, events: 40, devices: 4 });
    const key = { migration: 'half', customerId: 'half-clean' };
    const first = engine();
    await first.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    expect((await first.run(key)).move?.state).toBe('Cleanup');
    await cells.pools['cell-b']!.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('half-clean', 4, 'new', 4)`);
    // Past the retention, cleanup deletes two batches of the source's rows, then a person aborts.
    let batches = 0;
    const later = new MoveEngine({
      controlPlane: cells.cp,
      cells: cells.cells,
      settings: { ...FAST, deleteBatchRows: 100 },
      clock: { now: () => Date.now() + 2 * 3600_000 },
      hooks: {
        async point(p, info) {
          if (p === 'after-action' && info.action.kind === 'Sweep' && ++batches === 2) await later.abortMove(key);
        },
      },
    });
    const back = await later.run(key);
    expect(batches).toBeGreaterThanOrEqual(2);
    expect(back.move).toMatchObject({ state: 'RolledBack', direction: 'Reverse' });
    expect(await placement('half-clean')).toEqual({ cell: 'cell-a', state: 'Active' });
    const home = await rowsOf(cells.pools['cell-a']!, 'half-clean');
    expect(home.total).toBe(645);
    expect(home.readings.has(4)).toBe(true);
    expect((await rowsOf(cells.pools['cell-b']!, 'half-clean')).total).toBe(0);
    expect(await readFence(cells.pools['cell-a']!, 'half-clean')).toBeUndefined();
    expect(await readFence(cells.pools['cell-b']!, 'half-clean')).toMatchObject({ role: 'MovedOut' }); // it left cell-b
  }, TIMEOUT);
});
