// The drain, deterministically: a write routed to the source before the fence is still running
// (its transaction open) when the fence is taken, and commits 500 ms later, after the drain wait
// has run out on the engine's clock. The move must wait for it and final-sync its rows (or, with
// the fence enforced in the database, refuse to go on and move back) - never cut over without them.
import { MoveEngine } from '../../../src/data/move-engine.js';
import type { MoveHooks } from '../../../src/data/move-executor.js';
import { placeCustomers, rowsOf, seedCustomer, useCells } from './cells-fixture.js';
import { sweptRows } from './live-moves.js';
import { EVENTS_AND_DEVICES, openTransaction, stepUntil, type OpenTransaction } from './stepping.js';

const TIMEOUT = 120_000;
const cells = useCells({ timeoutMs: TIMEOUT, prepare: (c) => (c.tenancy = EVENTS_AND_DEVICES) });

describe('the drain of a fenced customer', () => {
  it('waits in the drain for a source transaction that was open across the fence, and final-syncs its rows', async () => {
    const customer = 'open-across-fence';
    const migration = 'drain-wait';
    await placeCustomers(cells().cp, [customer], 'cell-a');
    await seedCustomer(cells().pools['cell-a']!, customer, { readings: 0, events: 150, devices: 3 });
    const clock = { ms: Date.now() };
    const held: { tx?: OpenTransaction } = {};
    let committing: Promise<void> | undefined;
    const hooks: MoveHooks = {
      async point(p, { action }) {
        // A write routed before the fence, still running: it opens just before the fence is taken
        // and commits 500 ms after, well after the drain wait (skipped on the test's clock) has run out.
        if (p === 'before-action' && action.kind === 'Fence' && !held.tx) {
          const tx = await openTransaction(cells(), customer);
          held.tx = tx;
          committing = new Promise((r) => setTimeout(r, 500)).then(() => tx.commit());
        }
      },
    };
    const engine = new MoveEngine({
      controlPlane: cells().cp,
      cells: cells().cells,
      clock: { now: () => clock.ms },
      hooks,
      settings: { settleLagMs: 0, retentionMs: 3_600_000 }, // the default drainWait and maxDrainMs
    });
    const key = { migration, customerId: customer };
    await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const end = await stepUntil(engine, key, clock, (r) => (r.kind === 'Acted' && r.action.kind === 'CutOver') || r.kind === 'Finished' || r.kind === 'Refused');
    await committing;
    const target = await rowsOf(cells().pools['cell-b']!, customer);
    if (end.kind === 'Acted') {
      // Moved: the transaction's row and update made it into the final sync.
      expect(end.state).toBe('Cleanup');
      expect([target.events.has(held.tx!.event), target.events.size, target.devices.get('d0')]).toEqual([true, 151, 42]);
      clock.ms += 3_600_000;
      expect(await stepUntil(engine, key, clock, (r) => r.kind === 'Finished')).toMatchObject({ state: 'Done' });
      expect(await sweptRows(cells(), migration)).toBe(0);
    } else {
      // The enforced fence may refuse to go on instead: then the move went back, never on.
      await stepUntil(engine, key, clock, (r) => r.kind === 'Finished');
      const { rows } = await cells().cp.query<{ cell: string; state: string }>('SELECT cell, state FROM placements WHERE customer_id = $1', [customer]);
      expect(rows[0]).toEqual({ cell: 'cell-a', state: 'Active' });
      expect(target.total).toBe(0);
    }
  }, TIMEOUT);
});
