// A partitioned (not dead) operator: its control-plane connection goes silent behind a middlebox
// that keeps the socket open (no reset, no FIN, keepalive probes answered), while it still reaches
// the cell databases. The server ends its silent lock session (lockMove's bounds), another
// engine takes the move over within 60 s and finishes it with the fence held less than maxFence,
// and the old owner, resuming the action it was in, is refused by the cells (its owner epoch is
// older than the new owner's): nothing it does after losing the lock lands.
import type pg from 'pg';
import { installFence, liftFence, markCustomer, ownMove, readFence } from '../../../src/data/cell-fence.js';
import { LOST_OWNERSHIP_SQLSTATE } from '../../../src/data/cell-fence-sql.js';
import { MoveEngine, type RunResult } from '../../../src/data/move-engine.js';
import { deleteBatch } from '../../../src/data/range-copy.js';
import { LOCK_SESSION_IDLE_MS } from '../../../src/store/migration-journal.js';
import { startBlackHoleProxy, type BlackHoleProxy } from './black-hole-proxy.js';
import { sleep } from '../../support/router-client.js';
import { placeCustomers, quietPool, rowsOf, seedCustomer, startCells, type Cells } from './cells-fixture.js';

const TIMEOUT = 240_000;
const SETTINGS = { pageRows: 250, settleLagMs: 0, drainWaitMs: 0, retentionMs: 0, convergeRows: 0, maxFenceMs: 50_000 };

let cells: Cells;
let proxy: BlackHoleProxy;
let partitionedCp: pg.Pool;

beforeAll(async () => {
  cells = await startCells();
  proxy = await startBlackHoleProxy({ host: cells.controlPlane.host, port: cells.controlPlane.port });
  partitionedCp = quietPool(proxy.via(cells.controlPlane.url), 4);
}, TIMEOUT);

afterAll(async () => {
  await proxy?.close();
  await partitionedCp?.end().catch(() => undefined);
  await cells?.stop();
}, TIMEOUT);

describe('a move whose operator is partitioned from the control plane', () => {
  it('is taken over within 60 s by another engine, the fence is held less than maxFence, and the old owner can change nothing in the cells afterwards', async () => {
    const c = 'partitioned';
    await placeCustomers(cells.cp, [c], 'cell-a');
    const seeded = await seedCustomer(cells.pools['cell-a']!, c, { readings: 600, events: 60, devices: 5 });
    const key = { migration: 'partition', customerId: c };

    // Engine A goes silent just before its final sync (the customer fenced, the target half-written),
    // and stays inside that action until the test lets it go on.
    let partitionedAt = 0;
    let partitioned!: () => void;
    const whenPartitioned = new Promise<void>((r) => (partitioned = r));
    let resume!: () => void;
    const whenResumed = new Promise<void>((r) => (resume = r));
    const stopA = new AbortController();
    const a = new MoveEngine({
      controlPlane: partitionedCp,
      cells: cells.cells,
      settings: SETTINGS,
      hooks: {
        point: async (p, info) => {
          if (p !== 'before-action' || info.action.kind !== 'FinalSync' || proxy.isBlackHoled) return;
          proxy.blackHole();
          partitionedAt = Date.now();
          partitioned();
          await whenResumed;
        },
      },
    });
    await a.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const runA = a.run(key, { signal: stopA.signal });
    await whenPartitioned;

    // Engine B, with a working control plane, tries the move until the lock is free.
    const b = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: SETTINGS });
    let takenOverAt = 0;
    let result: RunResult | undefined;
    while (Date.now() - partitionedAt < 90_000) {
      result = await b.run(key);
      if (result.outcome !== 'Busy') {
        takenOverAt = Date.now();
        break;
      }
      await sleep(500);
    }
    expect(result?.outcome).toBe('Finished');
    const tookMs = takenOverAt - partitionedAt;
    expect(tookMs).toBeLessThan(60_000);
    expect(tookMs).toBeGreaterThanOrEqual(LOCK_SESSION_IDLE_MS - 6_000); // not before the server ended A's session
    const move = result!.move!;
    expect(move.state).toBe('Done');
    expect(move.cutOverAt!.getTime() - move.fencedAt!.getTime()).toBeLessThan(SETTINGS.maxFenceMs);
    const moved = await rowsOf(cells.pools['cell-b']!, c);
    const expected = { readings: seeded.readings.size, events: seeded.events.size, devices: seeded.devices.size };
    expect({ readings: moved.readings.size, events: moved.events.size, devices: moved.devices.size }).toEqual(expected);
    expect((await rowsOf(cells.pools['cell-a']!, c)).total).toBe(0);

    // A goes on with its final sync as if it still owned the move: the target refuses it.
    resume();
    let timer: NodeJS.Timeout | undefined;
    const outcomeA = await Promise.race([runA, new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), 20_000)))]);
    clearTimeout(timer);
    stopA.abort();
    const after = await rowsOf(cells.pools['cell-b']!, c);
    expect({ readings: after.readings.size, events: after.events.size, devices: after.devices.size }).toEqual(expected);
    expect(outcomeA).toMatchObject({ outcome: 'Busy', lastError: expect.stringMatching(/^LostOwnership: .*owned by another operator now/) });
    const { rows } = await cells.cp.query('SELECT cell, state FROM placements WHERE customer_id = $1', [c]);
    expect(rows).toEqual([{ cell: 'cell-b', state: 'Active' }]);
  }, TIMEOUT);

  it('gives up its own query in flight to a silent control plane within seconds, instead of waiting for TCP, and the move goes on elsewhere', async () => {
    const c = 'partitioned-mid-query';
    await placeCustomers(cells.cp, [c], 'cell-a');
    const seeded = await seedCustomer(cells.pools['cell-a']!, c, { readings: 300, events: 30, devices: 3 });
    const key = { migration: 'partition-mid-query', customerId: c };
    const silent = await startBlackHoleProxy({ host: cells.controlPlane.host, port: cells.controlPlane.port });
    const silentCp = quietPool(silent.via(cells.controlPlane.url), 4);
    try {
      // Engine A's control plane goes silent as A starts the fence, a control-plane transaction
      // on the connection that holds the move's lock: its next query gets no answer, ever.
      let partitionedAt = 0;
      const a = new MoveEngine({
        controlPlane: silentCp,
        cells: cells.cells,
        settings: SETTINGS,
        hooks: {
          point: async (p, info) => {
            if (p !== 'before-action' || info.action.kind !== 'Fence' || silent.isBlackHoled) return;
            silent.blackHole();
            partitionedAt = Date.now();
          },
        },
      });
      await a.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
      let stepA: 'still waiting' | 'settled' = 'still waiting';
      const settledA = (async () => {
        for (let i = 0; i < 50 && partitionedAt === 0; i++) await a.step(key);
      })().then(
        () => (stepA = 'settled'),
        () => (stepA = 'settled'),
      );
      while (partitionedAt === 0 && stepA === 'still waiting') await sleep(100);
      expect(partitionedAt).toBeGreaterThan(0);
      // A notices within its bound (heartbeat unanswered for half the server's idle bound) and
      // fails the query in flight; TCP alone would keep it waiting as long as the middlebox lives.
      await Promise.race([settledA, sleep(LOCK_SESSION_IDLE_MS + 5_000)]);
      expect(stepA).toBe('settled');
      expect(Date.now() - partitionedAt).toBeLessThan(LOCK_SESSION_IDLE_MS + 5_000);

      // Engine B takes the move over once the server has ended A's silent session, and finishes it.
      const b = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: SETTINGS });
      let result: RunResult | undefined;
      while (Date.now() - partitionedAt < 90_000) {
        result = await b.run(key);
        if (result.outcome !== 'Busy') break;
        await sleep(500);
      }
      expect(result?.outcome).toBe('Finished');
      expect(Date.now() - partitionedAt).toBeLessThan(60_000);
      const moved = await rowsOf(cells.pools['cell-b']!, c);
      expect({ readings: moved.readings.size, events: moved.events.size, devices: moved.devices.size }).toEqual({
        readings: seeded.readings.size,
        events: seeded.events.size,
        devices: seeded.devices.size,
      });
    } finally {
      await silent.close();
      await silentCp.end().catch(() => undefined);
    }
  }, TIMEOUT);

  it("refuses every kind of cell change of an owner older than the cell's newest: a cleanup batch, a fence, an unfence", async () => {
    const c = 'stale-owner';
    const pool = cells.pools['cell-a']!;
    await seedCustomer(pool, c, { readings: 20, events: 2, devices: 2 });
    await installFence(pool, 'customer_id', [{ schema: 'public', table: 'readings' }]);
    const stale = { migration: 'stale', customer: c, epoch: '100' };
    const newest = { ...stale, epoch: '200' };
    await markCustomer(pool, c, 'stale', 'MovedOut', undefined, stale);
    await ownMove(pool, newest); // a new owner took the move over
    const refused = (p: Promise<unknown>) => p.then(() => 'done', (e: { code?: string }) => e.code);
    const readings = { schema: 'public', table: 'readings', tenantColumn: 'customer_id', primaryKey: ['customer_id', 'id'] };
    expect(await refused(deleteBatch(pool, readings, c, 100, stale))).toBe(LOST_OWNERSHIP_SQLSTATE);
    expect(await refused(liftFence(pool, c, 'stale', stale))).toBe(LOST_OWNERSHIP_SQLSTATE);
    expect(await refused(markCustomer(pool, c, 'stale', 'Fenced', undefined, stale))).toBe(LOST_OWNERSHIP_SQLSTATE);
    expect((await rowsOf(pool, c)).readings.size).toBe(20);
    expect(await readFence(pool, c)).toMatchObject({ migration: 'stale', role: 'MovedOut' });
    // The newest owner goes on.
    expect(await deleteBatch(pool, readings, c, 100, newest)).toBe(20);
    await liftFence(pool, c, 'stale', newest);
    expect(await readFence(pool, c)).toBeUndefined();
  }, TIMEOUT);
});

