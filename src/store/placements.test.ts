import pg from 'pg';
import { startPostgres, usePostgres } from '../../test/support/postgres.js';
import { type CellDescription, cordonCell, countCellPlacements, getCell, listCells, releaseCordons, removeCell, syncCell } from './cells.js';
import { createPool } from './connection.js';
import { migrate } from './migrate.js';
import type { PlacementRequest } from './placement-decision.js';
import {
  getPlacement,
  listPlacements,
  placeCustomer,
  placeCustomers,
  type PlaceResult,
  routeChangesSince,
  setPlacementState,
} from './placements.js';
import { ADVISORY_LOCK_CLASS, CELLS_CHANNEL, ROUTES_CHANNEL, ROUTING_WRITE_LOCK_ID } from './schema.js';
import { cellDescription } from '../../test/support/cell-description.js';

const postgres = usePostgres();

const cell = cellDescription;

let lastUrl = '';
async function freshStore(cells: CellDescription[], poolMax = 10): Promise<pg.Pool> {
  lastUrl = await postgres().createDatabase();
  const pool = createPool({ url: lastUrl, poolMax });
  await migrate(pool);
  for (const c of cells) expect((await syncCell(pool, c)).ok).toBe(true);
  return pool;
}

/** The counters in `cells` equal a recount of `placements`. */
async function expectExactCounters(pool: pg.Pool): Promise<void> {
  const recount = await countCellPlacements(pool);
  for (const c of await listCells(pool)) {
    expect({ cell: c.name, customers: c.customers, devices: c.devices }).toEqual({
      cell: c.name,
      customers: recount.get(c.name)?.customers ?? 0,
      devices: recount.get(c.name)?.devices ?? 0,
    });
  }
}

const cellOf = (r: PlaceResult): string | undefined => (r.status === 'Created' || r.status === 'Existing' ? r.placement.cell : undefined);

describe('placing one customer', () => {
  let pool: pg.Pool;
  beforeAll(async () => {
    pool = await freshStore([cell('eu-a'), cell('eu-b'), cell('us-a'), cell('eu-full', { maxCustomers: 1 })]);
  });
  afterAll(() => pool.end());

  it('places a new customer once and answers the same thereafter, reporting what the request would change', async () => {
    const first = await placeCustomer(pool, { customerId: 'acme', region: 'eu-west-1', expectedDevices: 12, labels: { tier: 'gold' } });
    expect(first.status).toBe('Created');
    if (first.status !== 'Created') return;
    expect(first.placement).toMatchObject({ customerId: 'acme', region: 'eu-west-1', state: 'Active', epoch: 1, expectedDevices: 12, labels: { tier: 'gold' } });
    expect(first.placement.cell).toMatch(/^eu-/);

    const again = await placeCustomer(pool, { customerId: 'acme', region: 'eu-west-1', expectedDevices: 50 });
    expect(again).toEqual({
      status: 'Existing',
      placement: first.placement,
      differences: [{ field: 'expectedDevices', requested: 50, actual: 12 }],
    });
    expect((await getCell(pool, first.placement.cell))?.devices).toBe(12);
    await expectExactCounters(pool);
  });

  it('refuses invalid ids before touching the database', async () => {
    for (const customerId of ['', 'x'.repeat(64), "o'brien; DROP TABLE placements", 'Acme', 'caf\u00e9']) {
      const r = await placeCustomer(pool, { customerId });
      expect(r.status).toBe('Invalid');
    }
    expect(await getCell(pool, 'eu-a')).toBeDefined();
  });

  it('is unschedulable in a region with no cells', async () => {
    const r = await placeCustomer(pool, { customerId: 'tokyo-1', region: 'ap-northeast-1' });
    expect(r).toMatchObject({ status: 'Unschedulable', reason: 'no cell in region ap-northeast-1 (cells exist in eu-west-1, us-east-1)' });
    expect(await getPlacement(pool, 'tokyo-1')).toBeUndefined();
  });

  it('refuses pins to an unknown, a full and an other-region cell', async () => {
    await expect(placeCustomer(pool, { customerId: 'p1', cell: 'eu-nowhere' })).resolves.toMatchObject({ status: 'Unschedulable', reason: 'pinned cell eu-nowhere does not exist' });
    await expect(placeCustomer(pool, { customerId: 'p2', cell: 'eu-full' })).resolves.toMatchObject({ status: 'Created' });
    await expect(placeCustomer(pool, { customerId: 'p3', cell: 'eu-full' })).resolves.toMatchObject({ status: 'Unschedulable', reason: 'pinned cell eu-full is full (1/1 customers)' });
    await expect(placeCustomer(pool, { customerId: 'p4', region: 'eu-west-1', cell: 'us-a' })).resolves.toMatchObject({
      status: 'Unschedulable',
      reason: 'pinned cell us-a is in region us-east-1, not eu-west-1',
    });
    await expectExactCounters(pool);
  });

  it('fences and unfences a customer, checking the epoch', async () => {
    await placeCustomer(pool, { customerId: 'fence-me' });
    expect(await setPlacementState(pool, 'fence-me', 'Fenced', 7)).toMatchObject({ state: 'Active' }); // wrong epoch: unchanged
    const fenced = await setPlacementState(pool, 'fence-me', 'Fenced', 1);
    expect(fenced).toMatchObject({ state: 'Fenced', epoch: 1 });
    const active = await setPlacementState(pool, 'fence-me', 'Active');
    expect(active?.state).toBe('Active');
    expect(active!.version).toBeGreaterThan(fenced!.version);
    await expectExactCounters(pool);
  });

  it('selects placements by labels', async () => {
    await placeCustomers(pool, [
      { customerId: 'l1', labels: { tier: 'standard' } },
      { customerId: 'l2', labels: { tier: 'standard', team: 'x' } },
      { customerId: 'l3', labels: { tier: 'enterprise' } },
    ]);
    const standard = await listPlacements(pool, { labels: { tier: 'standard' } });
    expect(standard.map((p) => p.customerId)).toEqual(['l1', 'l2']);
    const page = await listPlacements(pool, { after: 'l1', limit: 1, labels: { tier: 'standard' } });
    expect(page.map((p) => p.customerId)).toEqual(['l2']);
  });
});

describe('concurrent placement', () => {
  it('gives many clients placing the same customer at once one row and one answer', async () => {
    const pool = await freshStore([cell('eu-a'), cell('eu-b'), cell('eu-c')], 20);
    try {
      const results = await Promise.all(Array.from({ length: 40 }, () => placeCustomer(pool, { customerId: 'popular' })));
      const cells = new Set(results.map(cellOf));
      expect(cells.size).toBe(1);
      expect(results.filter((r) => r.status === 'Created')).toHaveLength(1);
      expect(results.filter((r) => r.status === 'Existing')).toHaveLength(39);
      const { rows } = await pool.query("SELECT count(*)::int AS n FROM placements WHERE customer_id = 'popular'");
      expect(rows[0].n).toBe(1);
      await expectExactCounters(pool);
    } finally {
      await pool.end();
    }
  });

  it('never overfills a cell under concurrent placements of different customers', async () => {
    const pool = await freshStore([cell('eu-small', { maxCustomers: 5 }), cell('eu-big', { maxCustomers: 20 })], 20);
    try {
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => placeCustomer(pool, { customerId: `c${i}` })));
      expect(results.filter((r) => r.status === 'Created')).toHaveLength(25);
      expect(results.filter((r) => r.status === 'Unschedulable')).toHaveLength(15);
      expect(await getCell(pool, 'eu-small')).toMatchObject({ customers: 5 });
      expect(await getCell(pool, 'eu-big')).toMatchObject({ customers: 20 });
      await expectExactCounters(pool);
    } finally {
      await pool.end();
    }
  });

  it('lets a follower of the change feed see every change, even when commits race', async () => {
    const pool = await freshStore([cell('eu-a'), cell('eu-b')], 20);
    try {
      const seen = new Map<string, number>();
      let cursor = 0;
      let stop = false;
      const follower = (async () => {
        while (!stop) {
          const changes = await routeChangesSince(pool, cursor, 500);
          for (const c of changes) {
            expect(c.version).toBeGreaterThan(cursor);
            cursor = c.version;
            seen.set(c.customerId, c.version);
          }
          if (changes.length === 0) await new Promise((r) => setTimeout(r, 2));
        }
      })();
      const writers = Array.from({ length: 8 }, (_, w) =>
        (async () => {
          for (let i = 0; i < 40; i++) {
            if (i % 3 === 0) await placeCustomers(pool, [{ customerId: `b${w}-${i}-x` }, { customerId: `b${w}-${i}-y` }]);
            else await placeCustomer(pool, { customerId: `s${w}-${i}` });
          }
        })(),
      );
      await Promise.all(writers);
      await new Promise((r) => setTimeout(r, 50));
      stop = true;
      await follower;
      const { rows } = await pool.query<{ customer_id: string; version: number }>('SELECT customer_id, version FROM placements');
      expect(rows.length).toBeGreaterThan(300);
      for (const r of rows) expect(seen.get(r.customer_id)).toBe(r.version);
    } finally {
      await pool.end();
    }
  });
});

describe('batch placement', () => {
  it('places the good rows and reports the bad ones, one result per row in order', async () => {
    const pool = await freshStore([cell('eu-a'), cell('eu-b'), cell('us-a'), cell('eu-tiny', { maxCustomers: 2, weight: 0 })]);
    try {
      await placeCustomer(pool, { customerId: 'old-timer' });
      const requests: PlacementRequest[] = [
        { customerId: 'n1', region: 'eu-west-1' },
        { customerId: 'BAD ID' },
        { customerId: 'n2', region: 'mars-1' },
        { customerId: 'old-timer' },
        { customerId: 'n3', cell: 'eu-tiny' },
        { customerId: 'n4', cell: 'eu-tiny' },
        { customerId: 'n5', cell: 'eu-tiny' }, // the batch's own placements fill the cell
        { customerId: 'n1', region: 'eu-west-1' }, // duplicate within the batch
        { customerId: 'n6', expectedDevices: -3 },
        { customerId: 'n7', labels: { tier: 'gold' }, expectedDevices: 5 },
      ];
      const results = await placeCustomers(pool, requests);
      expect(results.map((r) => r.status)).toEqual([
        'Created',
        'Invalid',
        'Unschedulable',
        'Existing',
        'Created',
        'Created',
        'Unschedulable',
        'Created',
        'Invalid',
        'Created',
      ]);
      expect(results[6]).toMatchObject({ reason: 'pinned cell eu-tiny is full (2/2 customers)' });
      expect(results[7]).toBe(results[0]);
      expect(cellOf(results[0]!)).toMatch(/^eu-[ab]$/);
      const { rows } = await pool.query('SELECT customer_id FROM placements ORDER BY 1');
      expect(rows.map((r: { customer_id: string }) => r.customer_id)).toEqual(['n1', 'n3', 'n4', 'n7', 'old-timer']);
      await expectExactCounters(pool);
    } finally {
      await pool.end();
    }
  });

  it('answers Existing for a customer placed by someone else while the batch waited for the lock', async () => {
    const pool = await freshStore([cell('eu-a'), cell('eu-b')]);
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, $2)', [ADVISORY_LOCK_CLASS, ROUTING_WRITE_LOCK_ID]);
      const batch = placeCustomers(pool, [{ customerId: 'race-1' }, { customerId: 'race-2', expectedDevices: 4 }]);
      // Once the batch waits for the routing lock, place race-2 ourselves, pinned, and let go.
      for (;;) {
        const { rows } = await pool.query("SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND NOT granted");
        if (rows[0].n > 0) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      await holder.query("INSERT INTO placements (customer_id, cell) VALUES ('race-2', 'eu-b')");
      await holder.query('COMMIT');
      const [one, two] = await batch;
      expect(one).toMatchObject({ status: 'Created' });
      expect(two).toMatchObject({ status: 'Existing', placement: { cell: 'eu-b', expectedDevices: 0 } });
      await expectExactCounters(pool);
      const { rows } = await pool.query('SELECT count(*)::int AS n FROM placements');
      expect(rows[0].n).toBe(2);
    } finally {
      holder.release();
      await pool.end();
    }
  });

  it('gives a customer the same cell in a batch as alone', async () => {
    const cells = [cell('eu-a'), cell('eu-b'), cell('eu-c')];
    const one = await freshStore(cells);
    const many = await freshStore(cells);
    try {
      const ids = Array.from({ length: 200 }, (_, i) => ({ customerId: `same-${i}` }));
      const batch = await placeCustomers(many, ids);
      for (const [i, r] of ids.entries()) expect(cellOf(await placeCustomer(one, r))).toBe(cellOf(batch[i]!));
    } finally {
      await Promise.all([one.end(), many.end()]);
    }
  });

  it('leaves no half-done rows when the database restarts in the middle of a batch', async () => {
    const local = await startPostgres();
    const pool = createPool({ url: local.url, poolMax: 4 });
    try {
      await migrate(pool);
      for (const c of [cell('eu-a', { maxCustomers: 1_000_000 }), cell('eu-b', { maxCustomers: 1_000_000 })]) await syncCell(pool, c);
      const batches = Array.from({ length: 4 }, (_, b) => Array.from({ length: 10_000 }, (_, i) => ({ customerId: `r${b}-${i}`, labels: { b: String(b) } })));
      const outcomes = batches.map((batch) => placeCustomers(pool, batch).then(() => 'committed' as const, (err: Error) => err));
      // Crash the server once the first batch has committed, while the others wait or run.
      const watcher = new pg.Client({ connectionString: local.url });
      await watcher.connect();
      while ((await watcher.query('SELECT count(*)::int AS n FROM placements')).rows[0].n === 0) await new Promise((r) => setTimeout(r, 20));
      await watcher.end();
      await local.restart('immediate');
      const settled = await Promise.all(outcomes);
      expect(settled.filter((s) => s === 'committed').length).toBeGreaterThanOrEqual(1);
      expect(settled.some((s) => s !== 'committed')).toBe(true); // the crash hit at least one batch

      for (const [b, batch] of batches.entries()) {
        const { rows } = await pool.query('SELECT count(*)::int AS n FROM placements WHERE labels @> $1', [JSON.stringify({ b: String(b) })]);
        // each batch is all or nothing; a batch reported committed is all there
        expect([0, batch.length]).toContain(rows[0].n);
        if (settled[b] === 'committed') expect(rows[0].n).toBe(batch.length);
      }
      await expectExactCounters(pool);
      // Re-sending everything places what was lost and changes nothing else.
      for (const batch of batches) {
        const again = await placeCustomers(pool, batch);
        expect(again.every((r) => r.status === 'Created' || r.status === 'Existing')).toBe(true);
      }
      await expectExactCounters(pool);
    } finally {
      await pool.end();
      await local.stop();
    }
  }, 120_000);
});

describe('cells', () => {
  it('keeps counters when a cell is re-synced, refuses a region change and a removal while it holds customers', async () => {
    const pool = await freshStore([cell('eu-a')]);
    try {
      await placeCustomer(pool, { customerId: 'someone', expectedDevices: 3 });
      const resynced = await syncCell(pool, cell('eu-a', { state: 'Cordoned', weight: 10, maxCustomers: 50 }));
      expect(resynced).toMatchObject({ ok: true, cell: { state: 'Cordoned', weight: 10, maxCustomers: 50, customers: 1, devices: 3 } });
      expect(await syncCell(pool, cell('eu-a', { region: 'us-east-1' }))).toMatchObject({
        ok: false,
        reason: 'RegionImmutable',
        message: 'cell eu-a is in region eu-west-1; its region cannot change to us-east-1',
      });
      expect(await removeCell(pool, 'eu-a')).toMatchObject({ removed: false, reason: 'HasCustomers', customers: 1 });
      await pool.query("DELETE FROM placements WHERE customer_id = 'someone'");
      expect(await getCell(pool, 'eu-a')).toMatchObject({ customers: 0, devices: 0 });
      expect(await removeCell(pool, 'eu-a')).toEqual({ removed: true, existed: true });
      expect(await removeCell(pool, 'eu-a')).toEqual({ removed: true, existed: false });
    } finally {
      await pool.end();
    }
  });

  it('refuses a raw insert that would overfill a cell, whoever writes', async () => {
    const pool = await freshStore([cell('eu-a', { maxCustomers: 1 })]);
    try {
      await pool.query("INSERT INTO placements (customer_id, cell) VALUES ('raw-1', 'eu-a')");
      await expect(pool.query("INSERT INTO placements (customer_id, cell) VALUES ('raw-2', 'eu-a')")).rejects.toThrow(/cell eu-a is full/);
      await expect(pool.query("INSERT INTO placements (customer_id, cell) VALUES ('Bad;Id', 'eu-a')")).rejects.toThrow(/check constraint/);
      await expectExactCounters(pool);
    } finally {
      await pool.end();
    }
  });

  it('notifies the routes channel with the version and the cells channel only when a description changes', async () => {
    const pool = await freshStore([cell('eu-a')]);
    const listener = new pg.Client({ connectionString: lastUrl });
    await listener.connect();
    const got: { channel: string; payload?: string }[] = [];
    listener.on('notification', (n) => got.push({ channel: n.channel, payload: n.payload }));
    try {
      await listener.query(`LISTEN ${ROUTES_CHANNEL}`);
      await listener.query(`LISTEN ${CELLS_CHANNEL}`);
      const placed = await placeCustomer(pool, { customerId: 'notify-me' });
      await syncCell(pool, cell('eu-a')); // no change
      await syncCell(pool, cell('eu-a', { ready: false }));
      await new Promise((r) => setTimeout(r, 100));
      const version = placed.status === 'Created' ? placed.placement.version : -1;
      expect(got).toEqual([
        { channel: ROUTES_CHANNEL, payload: String(version) },
        { channel: CELLS_CHANNEL, payload: 'eu-a' },
      ]);
    } finally {
      await listener.end();
      await pool.end();
    }
  });

  it("keeps a drain's cordon across re-syncs of the cell, refuses a second holder and lifts it only for its holder", async () => {
    const pool = await freshStore([cell('eu-a'), cell('eu-b')]);
    try {
      const taken = await cordonCell(pool, 'eu-a', 'drain-a');
      expect(taken).toMatchObject({ cordoned: true, taken: true, cell: { name: 'eu-a', cordonedBy: 'drain-a' } });
      expect(await cordonCell(pool, 'eu-a', 'drain-a')).toMatchObject({ cordoned: true, taken: false });
      // The Cell controller mirrors the spec (Active) again and again: the cordon stays.
      expect(await syncCell(pool, cell('eu-a', { weight: 50 }))).toMatchObject({ ok: true, cell: { state: 'Active', weight: 50, cordonedBy: 'drain-a' } });
      expect(await cordonCell(pool, 'eu-a', 'drain-b')).toEqual(
        expect.objectContaining({ cordoned: false, reason: 'CordonedByOther', holder: 'drain-a', message: 'cell eu-a is already cordoned by Migration drain-a (drain)' }),
      );
      expect(await cordonCell(pool, 'eu-nowhere', 'drain-b')).toMatchObject({ cordoned: false, reason: 'UnknownCell' });
      expect(await releaseCordons(pool, 'drain-b')).toEqual([]);
      expect((await getCell(pool, 'eu-a'))?.cordonedBy).toBe('drain-a');
      // A holder that no longer exists can be replaced by name.
      expect(await cordonCell(pool, 'eu-a', 'drain-b', { replacing: 'drain-a' })).toMatchObject({ cordoned: true, taken: true, cell: { cordonedBy: 'drain-b' } });
      expect(await releaseCordons(pool, 'drain-b')).toEqual(['eu-a']);
      expect(await getCell(pool, 'eu-a')).toMatchObject({ cordonedBy: null, cordonedAt: null });
    } finally {
      await pool.end();
    }
  });

  it('places no new customer in a cordoned cell, one at a time, in batches or pinned', async () => {
    const pool = await freshStore([cell('eu-a'), cell('eu-b')]);
    try {
      await cordonCell(pool, 'eu-a', 'drain-a');
      const one = await Promise.all(Array.from({ length: 30 }, (_, i) => placeCustomer(pool, { customerId: `one-${i}` })));
      const batch = await placeCustomers(pool, Array.from({ length: 200 }, (_, i) => ({ customerId: `batch-${i}` })));
      const leastLoaded = await placeCustomers(pool, Array.from({ length: 20 }, (_, i) => ({ customerId: `least-${i}` })), { strategy: 'LeastLoaded' });
      expect(new Set([...one, ...batch, ...leastLoaded].map(cellOf))).toEqual(new Set(['eu-b']));
      expect(await placeCustomer(pool, { customerId: 'pinned', cell: 'eu-a' })).toMatchObject({
        status: 'Unschedulable',
        reason: 'pinned cell eu-a is cordoned by Migration drain-a (drain), takes no new customers',
      });
      await releaseCordons(pool, 'drain-a');
      expect(await placeCustomer(pool, { customerId: 'pinned', cell: 'eu-a' })).toMatchObject({ status: 'Created', placement: { cell: 'eu-a' } });
      await expectExactCounters(pool);
    } finally {
      await pool.end();
    }
  });

  it('replans an early batch plan when a cordon was taken before the batch got the lock', async () => {
    const pool = await freshStore([cell('eu-a'), cell('eu-b')]);
    const holder = await pool.connect();
    try {
      // The batch plans on the cells as they are, then waits for the routing lock held here while
      // the cell is cordoned: under the lock it must see the cordon and plan again.
      await holder.query('BEGIN');
      await holder.query('SELECT pg_advisory_xact_lock($1, $2)', [ADVISORY_LOCK_CLASS, ROUTING_WRITE_LOCK_ID]);
      const pending = placeCustomers(pool, Array.from({ length: 100 }, (_, i) => ({ customerId: `late-${i}` })));
      await new Promise((r) => setTimeout(r, 200));
      await cordonCell(pool, 'eu-a', 'drain-a');
      await holder.query('COMMIT');
      const results = await pending;
      expect(new Set(results.map(cellOf))).toEqual(new Set(['eu-b']));
      await expectExactCounters(pool);
    } finally {
      holder.release();
      await pool.end();
    }
  });

  it('notifies the cells channel when a cordon is taken or lifted', async () => {
    const pool = await freshStore([cell('eu-a')]);
    const listener = new pg.Client({ connectionString: lastUrl });
    await listener.connect();
    const got: (string | undefined)[] = [];
    listener.on('notification', (n) => got.push(n.payload));
    try {
      await listener.query(`LISTEN ${CELLS_CHANNEL}`);
      await cordonCell(pool, 'eu-a', 'drain-a');
      await cordonCell(pool, 'eu-a', 'drain-a'); // held already: no change
      await releaseCordons(pool, 'drain-a');
      await new Promise((r) => setTimeout(r, 100));
      expect(got).toEqual(['eu-a', 'eu-a']);
    } finally {
      await listener.end();
      await pool.end();
    }
  });

  it('reports deletions in the change feed', async () => {
    const pool = await freshStore([cell('eu-a')]);
    try {
      await placeCustomers(pool, [{ customerId: 'a1' }, { customerId: 'a2' }]);
      await pool.query("DELETE FROM placements WHERE customer_id = 'a1'");
      const changes = await routeChangesSince(pool, 0, 100);
      expect(changes.map((c) => [c.customerId, c.state])).toEqual([
        ['a2', 'Active'],
        ['a1', 'Deleted'],
      ]);
      expect(changes.map((c) => c.version)).toEqual([...changes.map((c) => c.version)].sort((a, b) => a - b));
    } finally {
      await pool.end();
    }
  });
});
