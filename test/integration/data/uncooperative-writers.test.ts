// A move under writers that do not follow the router, against real PostgreSQL with the real engine,
// its owner killed at random points and taken over by a new one: a gateway that caches the route
// for 30 s and asks again only after an error, an ingestion job configured with the source cell's
// database that never asks, a transaction open across the fence, updates and deletes of Mutable
// rows before, during and after the cut-over, and keys that collide with another customer's.
// Every write a database acknowledged is in the final cell exactly once, every other one got the
// fence error, no deleted row comes back, no update is lost, the source keeps nothing.
import type pg from 'pg';
import { InjectedCrash } from '../../../src/data/move-errors.js';
import { MoveEngine, type RunResult } from '../../../src/data/move-engine.js';
import type { MoveKey } from '../../../src/data/move-state.js';
import { sleep } from '../../support/router-client.js';
import { CachingGateway, openTransaction, PinnedWriter, readingsProblems, seededRandom } from '../../support/uncooperative-writers.js';
import { newId, placeCustomers, rowsOf, seedCustomer, startCells, type Cells } from './cells-fixture.js';

const TIMEOUT = 120_000;
const CUSTOMER = 'unruly';
const COLLIDER = 'collider';
let cells: Cells;

beforeAll(async () => {
  cells = await startCells();
}, TIMEOUT);

afterAll(async () => {
  await cells?.stop();
}, TIMEOUT);

async function routeOf(cp: pg.Pool, customer: string): Promise<{ cell: string; state: string }> {
  const { rows } = await cp.query<{ cell: string; state: string }>('SELECT cell, state FROM placements WHERE customer_id = $1', [customer]);
  return rows[0] as { cell: string; state: string };
}

describe('a move under writers that do not follow the router', () => {
  it('loses nothing, duplicates nothing and resurrects nothing, with its owner killed at random points', async () => {
    const a = cells.pools['cell-a']!;
    const b = cells.pools['cell-b']!;
    await placeCustomers(cells.cp, [CUSTOMER], 'cell-a');
    await placeCustomers(cells.cp, [COLLIDER], 'cell-b');
    const seeded = await seedCustomer(a, CUSTOMER, { readings: 2_000, events: 100, devices: 6 });
    // (e) Another customer in the target already uses the very same keys.
    await b.query(
      `INSERT INTO readings (customer_id, id, device, value) SELECT $1, unnest($2::bigint[]), 'collider', 9`,
      [COLLIDER, [...seeded.readings]],
    );
    await b.query(`INSERT INTO devices (customer_id, device_id, name, firmware) SELECT $1, 'd' || g, 'theirs', 42 FROM generate_series(0, 5) g`, [COLLIDER]);

    const gateway = new CachingGateway({
      customer: CUSTOMER,
      devices: ['d0', 'd1', 'd2', 'd3', 'd4', 'd5'],
      route: async () => {
        const r = await routeOf(cells.cp, CUSTOMER);
        return r.state === 'Fenced' ? undefined : r.cell; // 503 while fenced
      },
      pool: (cell) => cells.pools[cell] as pg.Pool,
      nextId: newId,
    });
    const pinned = new PinnedWriter({ customer: CUSTOMER, pool: a, nextId: newId });
    // (c) A transaction open across the fence, committed while the drain waits for it.
    let openTx: Awaited<ReturnType<typeof openTransaction>> | undefined;
    let committed: Promise<void> | undefined;
    const rnd = seededRandom(20261202);
    const crashes: string[] = [];
    let actions = 0;
    let nextCrash = 5 + Math.floor(rnd() * 20);
    const hooks = {
      async point(p: string, info: { state: string; action: { kind: string } }) {
        if (p === 'before-action' && info.action.kind === 'Drain' && !openTx) {
          const tx = await openTransaction(a, CUSTOMER, newId());
          openTx = tx;
          committed = sleep(300).then(() => tx.commit());
        }
        if (p !== 'before-action' && ++actions >= nextCrash && crashes.length < 4) {
          crashes.push(`${p} ${info.action.kind} in ${info.state}`);
          nextCrash = actions + 5 + Math.floor(rnd() * 25);
          throw new InjectedCrash(`owner killed at ${p} of ${info.action.kind}`);
        }
      },
    };
    const settings = { pageRows: 300, settleLagMs: 400, drainWaitMs: 100, maxDrainMs: 3_000, retentionMs: 1_500, deleteBatchRows: 200, convergeRows: 100 };
    const key: MoveKey = { migration: 'unruly-move', customerId: CUSTOMER };
    try {
      await sleep(200);
      let result: RunResult | undefined;
      // Each owner runs until it is killed; a new one (a new engine: a new replica) takes over.
      for (let owner = 0; owner < 20 && result?.move?.state !== 'Done'; owner++) {
        const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings, hooks });
        if (owner === 0) expect((await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' })).ok).toBe(true);
        try {
          result = await engine.run(key, { maxWaitMs: 5_000 });
        } catch (err) {
          if (!(err instanceof InjectedCrash)) throw err;
        }
      }
      expect(result?.move).toMatchObject({ state: 'Done', direction: 'Forward' });
      expect(crashes.length).toBeGreaterThan(0);
      await sleep(300); // writes after the move, to the customer's new cell
    } finally {
      await Promise.all([gateway.stop(), pinned.stop(), committed]);
    }

    expect((await routeOf(cells.cp, CUSTOMER)).cell).toBe('cell-b');
    const final = await rowsOf(b, CUSTOMER);
    const source = await rowsOf(a, CUSTOMER);
    // Every error any writer saw was the fence's.
    const tx = openTx?.result;
    expect([...gateway.readings.otherErrors, ...pinned.readings.otherErrors, ...(tx?.otherErrors ?? [])]).toEqual([]);
    expect(pinned.readings.refused).toBeGreaterThan(0); // it kept trying the old cell
    expect(gateway.readings.acked.size).toBeGreaterThan(0);
    expect(tx?.acked.size).toBe(1);
    // Every acknowledged reading is in the final cell; it holds nothing else (exactly once: the key).
    const acked = [...seeded.readings, ...gateway.readings.acked, ...pinned.readings.acked, ...(tx?.acked ?? [])];
    expect(readingsProblems(acked, final.readings)).toEqual({ missing: [], nobodyAcknowledged: [] });
    expect(final.events).toEqual(seeded.events);
    // Devices: the last acknowledged operation on each wins (no update lost, no delete undone).
    expect(new Map([...final.devices].sort())).toEqual(new Map([...gateway.expectedDevices()].sort()));
    expect(Object.values(gateway.deviceOps).every((n) => n > 0)).toBe(true); // it did update, delete and re-create devices
    // The source keeps nothing, and the other customer's colliding keys are untouched.
    expect(source.total).toBe(0);
    const theirs = await rowsOf(b, COLLIDER);
    expect(theirs.readings).toEqual(seeded.readings);
    expect([...theirs.devices.values()]).toEqual([42, 42, 42, 42, 42, 42]);
  }, TIMEOUT);
});
