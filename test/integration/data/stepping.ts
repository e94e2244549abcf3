// Helpers for tests that race a move against the source's own transactions: a transaction held
// open by the test, and a driver that steps a move on a clock the test owns.
import pg from 'pg';
import type { MoveEngine, StepResult } from '../../../src/data/move-engine.js';
import type { MoveKey } from '../../../src/data/move-state.js';
import type { Tenancy } from '../../../src/data/tenant-tables.js';
import { newId, type Cells } from './cells-fixture.js';

/** events are keyset-settled by observation (on the engine's clock); devices are copied under the fence. */
export const EVENTS_AND_DEVICES: Tenancy = {
  tenantColumn: 'customer_id',
  tables: [
    { name: 'events', mode: 'AppendOnly' },
    { name: 'devices', mode: 'Mutable' },
  ],
};

export interface OpenTransaction {
  /** The event it inserted (a key taken now, committed later). */
  event: number;
  commit(): Promise<void>;
}

/** A source transaction the test holds open: it inserts an event and sets device d0's firmware to 42, then commits when told. */
export async function openTransaction(cells: Cells, customer: string): Promise<OpenTransaction> {
  const client = new pg.Client({ connectionString: cells.servers['cell-a']!.url });
  await client.connect();
  const event = newId();
  await client.query('BEGIN');
  await client.query(`INSERT INTO events (customer_id, seq, kind) VALUES ($1, $2, 'late-commit')`, [customer, event]);
  await client.query(`UPDATE devices SET firmware = 42 WHERE customer_id = $1 AND device_id = 'd0'`, [customer]);
  return {
    event,
    async commit() {
      await client.query('COMMIT');
      await client.end();
    },
  };
}

/** Steps a move (waits are skipped by moving the clock) until `stop` says so. */
export async function stepUntil(engine: MoveEngine, key: MoveKey, clock: { ms: number }, stop: (r: StepResult) => boolean): Promise<StepResult> {
  for (let i = 0; i < 1_000; i++) {
    const r = await engine.step(key);
    if (stop(r)) return r;
    if (r.kind === 'Wait') clock.ms = Math.max(clock.ms, r.until.getTime());
    else if (r.kind === 'Retry') await new Promise((res) => setTimeout(res, 20));
    else if (r.kind !== 'Acted') return r;
  }
  throw new Error('the move did not get there in 1,000 steps');
}
