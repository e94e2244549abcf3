// Out-of-order commits, deterministically: stepped one action at a time on the engine's clock, a
// source transaction that took a key stays open while a copy page passes it (a later key commits
// first), then commits just before the fence, within the settle lag. Its row and its update must
// be in the target at the cut-over, before the cleanup sweep could fill in what the move missed.
import { MoveEngine } from '../../../src/data/move-engine.js';
import type { MoveHooks } from '../../../src/data/move-executor.js';
import { newId, placeCustomers, rowsOf, seedCustomer, useCells } from './cells-fixture.js';
import { sweptRows } from './live-moves.js';
import { EVENTS_AND_DEVICES, openTransaction, stepUntil, type OpenTransaction } from './stepping.js';

const TIMEOUT = 120_000;
const SETTLE_MS = 2_000;

const cells = useCells({ timeoutMs: TIMEOUT, prepare: (c) => (c.tenancy = EVENTS_AND_DEVICES) });

async function lastKey(migration: string, customer: string, table: string): Promise<string | null> {
  const { rows } = await cells().cp.query<{ last_key: string[] | null }>(
    'SELECT last_key FROM migration_table_progress WHERE migration = $1 AND customer_id = $2 AND table_name = $3',
    [migration, customer, table],
  );
  return rows[0]?.last_key?.[0] ?? null;
}

describe('a source transaction that commits out of order', () => {
  it('brings a row whose transaction commits after a copy page passed its key to the target before the cut-over', async () => {
    const customer = 'out-of-order';
    const migration = 'ordering';
    await placeCustomers(cells().cp, [customer], 'cell-a');
    await seedCustomer(cells().pools['cell-a']!, customer, { readings: 0, events: 200, devices: 3 });
    const clock = { ms: Date.now() };
    let late: OpenTransaction | undefined;
    let passed: { lastKey: string | null; lateKey: number } | undefined;
    const hooks: MoveHooks = {
      async point(p, { action }) {
        // The transaction commits right before the fence: after every page and resync, and well
        // within the settle lag of taking its key (the clock has not moved since).
        if (p === 'before-action' && action.kind === 'Fence' && late) {
          passed = { lastKey: await lastKey(migration, customer, 'public.events'), lateKey: late.event };
          await late.commit();
          late = undefined;
        }
      },
    };
    const engine = new MoveEngine({
      controlPlane: cells().cp,
      cells: cells().cells,
      clock: { now: () => clock.ms },
      hooks,
      // convergeRows fewer than the customer's rows: it is copied by keyset pages before the fence.
      settings: { settleLagMs: SETTLE_MS, retentionMs: 3_600_000, pageRows: 1_000, convergeRows: 100 },
    });
    const key = { migration, customerId: customer };
    expect((await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' })).ok).toBe(true);
    // Prepare observes the newest key; then a transaction takes a higher one and stays open while
    // a later one commits above it.
    expect(await stepUntil(engine, key, clock, (r) => r.kind === 'Acted' && r.action.kind === 'Prepare')).toMatchObject({ state: 'Copying' });
    late = await openTransaction(cells(), customer);
    const above = newId();
    await cells().pools['cell-a']!.query(`INSERT INTO events (customer_id, seq, kind) VALUES ($1, $2, 'committed-first')`, [customer, above]);
    clock.ms += SETTLE_MS; // the key observed at Prepare settles: pages may start

    const cut = await stepUntil(engine, key, clock, (r) => r.kind === 'Acted' && r.action.kind === 'CutOver');
    expect(cut).toMatchObject({ kind: 'Acted', state: 'Cleanup' });
    // The copy had passed the late row's key while its transaction was open.
    expect(passed).toBeDefined();
    expect(Number(passed!.lastKey)).toBeGreaterThan(passed!.lateKey);
    // At the cut-over, before any sweep: the late row and the late update are in the target.
    const target = await rowsOf(cells().pools['cell-b']!, customer);
    expect([target.events.has(passed!.lateKey), target.events.has(above), target.events.size]).toEqual([true, true, 202]);
    expect(target.devices.get('d0')).toBe(42);

    clock.ms += 3_600_000; // past the retention: cleanup
    expect(await stepUntil(engine, key, clock, (r) => r.kind === 'Finished')).toMatchObject({ state: 'Done' });
    expect(await sweptRows(cells(), migration)).toBe(0);
  }, TIMEOUT);
});
