// A move under writers that do not follow the router, against real PostgreSQL with the real engine,
// its owner killed at random points and taken over by a new one: a gateway that caches the route
// for 30 s and asks again only after an error, an ingestion job configured with the source cell's
// database that never asks, a transaction open across the fence, updates and deletes of Mutable
// rows before, during and after the cut-over, and keys that collide with another customer's.
// Every write a database acknowledged is in the final cell exactly once, every other one got the
// fence error, no deleted row comes back, no update is lost, the source keeps nothing.
import type pg from 'pg';
import { FENCE_SQLSTATE } from '../../../src/data/cell-fence-sql.js';
import { InjectedCrash } from '../../../src/data/move-errors.js';
import { MoveEngine, type RunResult } from '../../../src/data/move-engine.js';
import type { MoveKey } from '../../../src/data/move-state.js';
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

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

/** Seeded pseudo-random numbers: the crash points are the same on every run with the same seed. */
function random(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

interface Outcome {
  /** Reading ids acknowledged (COMMIT returned). */
  acked: Set<number>;
  /** Errors that were not the fence's (or a retry-me 40001): must stay empty. */
  otherErrors: string[];
  refused: number;
}

function outcome(): Outcome {
  return { acked: new Set(), otherErrors: [], refused: 0 };
}

function classify(o: Outcome, err: unknown): void {
  const code = (err as { code?: string }).code;
  if (code === FENCE_SQLSTATE) o.refused++;
  else o.otherErrors.push(`${code}: ${(err as Error).message}`);
}

async function routeOf(cp: pg.Pool, customer: string): Promise<{ cell: string; state: string }> {
  const { rows } = await cp.query<{ cell: string; state: string }>('SELECT cell, state FROM placements WHERE customer_id = $1', [customer]);
  return rows[0] as { cell: string; state: string };
}

/**
 * (a) + (d): a gateway that caches the route for 30 s and asks again only after an error. Besides
 * readings it updates, deletes and re-creates devices (Mutable), one at a time, so the expected
 * final state of every device is the last acknowledged operation on it.
 */
class CachingGateway {
  readonly readings = outcome();
  /** Device → firmware, or null once deleted; only acknowledged operations. */
  readonly devices = new Map<string, number | null>();
  asked = 0;
  private cached: { cell: string; until: number } | undefined;
  private running = true;
  private readonly done: Promise<void>;

  constructor(initialDevices: readonly string[]) {
    for (const d of initialDevices) this.devices.set(d, 0);
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async route(): Promise<string | undefined> {
    if (this.cached && Date.now() < this.cached.until) return this.cached.cell;
    this.asked++;
    const r = await routeOf(cells.cp, CUSTOMER);
    if (r.state === 'Fenced') return undefined; // 503: ask again after Retry-After
    this.cached = { cell: r.cell, until: Date.now() + 30_000 };
    return r.cell;
  }

  private async loop(): Promise<void> {
    let n = 0;
    while (this.running) {
      const cell = await this.route();
      if (!cell) {
        await sleep(20);
        continue;
      }
      const pool = cells.pools[cell] as pg.Pool;
      n++;
      const device = `d${n % 6}`;
      const known = this.devices.get(device);
      try {
        if (n % 3 === 0) {
          if (known === null || known === undefined) {
            await pool.query(`INSERT INTO devices (customer_id, device_id, name, firmware) VALUES ($1, $2, 'again', 100)`, [CUSTOMER, device]);
            this.devices.set(device, 100);
          } else if (n % 2 === 0) {
            const r = await pool.query(`DELETE FROM devices WHERE customer_id = $1 AND device_id = $2`, [CUSTOMER, device]);
            if (r.rowCount !== 1) throw new Error(`device ${device} was not there to delete`);
            this.devices.set(device, null);
          } else {
            const r = await pool.query<{ firmware: number }>(
              `UPDATE devices SET firmware = firmware + 1 WHERE customer_id = $1 AND device_id = $2 RETURNING firmware`,
              [CUSTOMER, device],
            );
            if (r.rows[0]?.firmware !== known + 1) throw new Error(`device ${device} had firmware ${String(r.rows[0]?.firmware)}, expected ${known + 1}: an update was lost`);
            this.devices.set(device, known + 1);
          }
        } else {
          const id = newId();
          await pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'gw', 1)`, [CUSTOMER, id]);
          this.readings.acked.add(id);
        }
      } catch (err) {
        classify(this.readings, err);
        this.cached = undefined; // only an error makes it ask again
      }
      await sleep(3);
    }
  }
}

/** (b): an ingestion job configured with the source cell's database, which never asks the router. */
class PinnedWriter {
  readonly readings = outcome();
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly pool: pg.Pool) {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const id = newId();
      try {
        await this.pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'pinned', 2)`, [CUSTOMER, id]);
        this.readings.acked.add(id);
      } catch (err) {
        classify(this.readings, err);
      }
      await sleep(5);
    }
  }
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

    const gateway = new CachingGateway(['d0', 'd1', 'd2', 'd3', 'd4', 'd5']);
    const pinned = new PinnedWriter(a);
    // (c) A transaction open across the fence, committed while the drain waits for it.
    const openTx = outcome();
    let opened = false;
    const rnd = random(20261202);
    const crashes: string[] = [];
    let actions = 0;
    let nextCrash = 5 + Math.floor(rnd() * 20);
    const hooks = {
      async point(p: string, info: { state: string; action: { kind: string } }) {
        if (p === 'before-action' && info.action.kind === 'Drain' && !opened) {
          opened = true;
          const c = await a.connect();
          await c.query('BEGIN');
          const id = newId();
          await c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'open-tx', 3)`, [CUSTOMER, id]);
          setTimeout(() => {
            c.query('COMMIT').then(
              () => openTx.acked.add(id),
              (err: unknown) => classify(openTx, err),
            ).finally(() => c.release());
          }, 300);
        }
        if (p !== 'before-action' && ++actions >= nextCrash && crashes.length < 4) {
          crashes.push(`${p} ${info.action.kind} in ${info.state}`);
          nextCrash = actions + 5 + Math.floor(rnd() * 25);
          throw new InjectedCrash(`owner killed at ${p} of ${info.action.kind}`);
        }
      },
    };
    const settings = { pageRows: 300, settleLagMs: 50, drainWaitMs: 100, maxDrainMs: 3_000, retentionMs: 1_500, deleteBatchRows: 200, convergeRows: 100 };
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
      await Promise.all([gateway.stop(), pinned.stop()]);
    }

    expect((await routeOf(cells.cp, CUSTOMER)).cell).toBe('cell-b');
    const final = await rowsOf(b, CUSTOMER);
    const source = await rowsOf(a, CUSTOMER);
    // Every error any writer saw was the fence's.
    expect([...gateway.readings.otherErrors, ...pinned.readings.otherErrors, ...openTx.otherErrors]).toEqual([]);
    expect(pinned.readings.refused).toBeGreaterThan(0); // it kept trying the old cell
    expect(gateway.readings.acked.size).toBeGreaterThan(0);
    expect(opened && openTx.acked.size).toBe(1);
    // Every acknowledged reading is in the final cell; it holds nothing else (exactly once: the key).
    const acked = new Set([...seeded.readings, ...gateway.readings.acked, ...pinned.readings.acked, ...openTx.acked]);
    expect([...acked].filter((id) => !final.readings.has(id))).toEqual([]);
    expect([...final.readings].filter((id) => !acked.has(id))).toEqual([]);
    expect(final.events).toEqual(seeded.events);
    // Devices: the last acknowledged operation on each wins (no update lost, no delete undone).
    const expected = new Map([...gateway.devices].filter(([, v]) => v !== null) as [string, number][]);
    expect(new Map([...final.devices].sort())).toEqual(new Map([...expected].sort()));
    expect([...gateway.devices.values()].some((v) => v === null) || [...gateway.devices.values()].some((v) => (v ?? 0) > 0)).toBe(true);
    // The source keeps nothing, and the other customer's colliding keys are untouched.
    expect(source.total).toBe(0);
    const theirs = await rowsOf(b, COLLIDER);
    expect(theirs.readings).toEqual(seeded.readings);
    expect([...theirs.devices.values()]).toEqual([42, 42, 42, 42, 42, 42]);
  }, TIMEOUT);
});
