// Crash anywhere: an executor stopped dead at every point of every state of a move (before an
// action, between a target commit and its journal record, after an action), then a fresh one
// resumes: the move completes with every acknowledged write in the target, once. Also a restart
// of the source database in the middle of the copy.
import { MoveEngine } from '../../../src/data/move-engine.js';
import { InjectedCrash } from '../../../src/data/move-errors.js';
import type { MovePoint } from '../../../src/data/move-executor.js';
import type { MoveState } from '../../../src/data/move-state.js';
import { missingAcked, placeCustomers, rowsOf, seedCustomer, startCells, unexpectedRows, Writers, type Cells } from './cells-fixture.js';

const TIMEOUT = 180_000;
const SETTINGS = { pageRows: 150, settleLagMs: 50, drainWaitMs: 250, retentionMs: 0, convergeRows: 40, deleteBatchRows: 200 };

let cells: Cells;
let writers: Writers;
const writing: string[] = [];

beforeAll(async () => {
  cells = await startCells();
  writers = new Writers(cells, () => writing, 2);
  writers.start();
}, TIMEOUT);

afterAll(async () => {
  await writers?.stop();
  await cells?.stop();
}, TIMEOUT);

/** The points each state reaches (only data actions have a target commit before their record). */
const CRASH_POINTS: Record<string, MovePoint[]> = {
  Pending: ['before-action', 'after-action'],
  Copying: ['before-action', 'after-target-commit', 'after-action'],
  CatchingUp: ['before-action', 'after-target-commit', 'after-action'],
  Fenced: ['before-action', 'after-action'],
  FinalSync: ['before-action', 'after-target-commit', 'after-action'],
  Verifying: ['before-action', 'after-action'],
  CutOver: ['before-action', 'after-action'],
  Cleanup: ['before-action', 'after-target-commit', 'after-action'],
};

const REPEATING = new Set(['Copying', 'CatchingUp', 'FinalSync', 'Verifying', 'Cleanup']);

async function expectMovedIntact(customer: string, seeded: Awaited<ReturnType<typeof seedCustomer>>): Promise<void> {
  const target = await rowsOf(cells.pools['cell-b']!, customer);
  const missing = missingAcked(writers.acked.get(customer), target);
  if (missing.length > 0) {
    const ids = missing.map((m) => Number(m.split(' ')[1]));
    const src = await cells.pools['cell-a']!.query('SELECT id, received_at FROM readings WHERE id = ANY($1)', [ids]);
    const j = await cells.cp.query('SELECT state, fenced_at, cut_over_at, finished_at FROM migration_journal WHERE customer_id = $1', [customer]);
    const p = await cells.cp.query('SELECT table_name, verified_key, synced_key, last_key, swept_rows FROM migration_table_progress WHERE customer_id = $1', [customer]);
    console.log(customer, missing, JSON.stringify(src.rows), JSON.stringify(j.rows), JSON.stringify(p.rows));
  }
  expect(missing).toEqual([]);
  expect(unexpectedRows(target, seeded, writers.attempted.get(customer))).toEqual([]);
  expect([...seeded.readings].filter((id) => !target.readings.has(id))).toEqual([]);
  expect([...seeded.events].filter((id) => !target.events.has(id))).toEqual([]);
  expect((await rowsOf(cells.pools['cell-a']!, customer)).total).toBe(0);
  const { rows } = await cells.cp.query('SELECT cell, state, epoch::int FROM placements WHERE customer_id = $1', [customer]);
  expect(rows[0]).toEqual({ cell: 'cell-b', state: 'Active', epoch: 2 });
}

describe('a move that crashes', () => {
  it.each(Object.keys(CRASH_POINTS))('completes after a crash at each point of state %s', async (state) => {
    for (const point of CRASH_POINTS[state] as MovePoint[]) {
      const customer = `crash-${state}-${point}`.toLowerCase();
      await placeCustomers(cells.cp, [customer], 'cell-a');
      const seeded = await seedCustomer(cells.pools['cell-a']!, customer, { readings: 500, events: 120, devices: 6 });
      writing.push(customer);
      // In states that repeat an action (a page, a table), crash in the middle: the second time.
      const nth = REPEATING.has(state) ? 2 : 1;
      let reached = 0;
      const crashing = new MoveEngine({
        controlPlane: cells.cp,
        cells: cells.cells,
        settings: SETTINGS,
        hooks: {
          point(p, info) {
            if (p === point && info.state === (state as MoveState) && info.key.customerId === customer && ++reached === nth) {
              throw new InjectedCrash(`crash ${point} in ${state}`);
            }
          },
        },
      });
      const key = { migration: 'crashes', customerId: customer };
      expect((await crashing.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' })).ok).toBe(true);
      await expect(crashing.run(key)).rejects.toThrow(InjectedCrash);

      // A new executor, as a restarted operator would run it (the dead one's lock may linger briefly).
      const fresh = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: SETTINGS });
      let result = await fresh.run(key);
      for (let i = 0; i < 100 && result.outcome === 'Busy'; i++) {
        await new Promise((r) => setTimeout(r, 20));
        result = await fresh.run(key);
      }
      expect([point, result.outcome, result.move?.state]).toEqual([point, 'Finished', 'Done']);
      await new Promise((r) => setTimeout(r, 50)); // a few writes land in the target
      writing.splice(writing.indexOf(customer), 1);
      await writers.quiet(customer);
      await expectMovedIntact(customer, seeded);
    }
  }, TIMEOUT);

  it('completes a move while the source database restarts in the middle of the copy', async () => {
    const customer = 'restart-source';
    await placeCustomers(cells.cp, [customer], 'cell-a');
    const seeded = await seedCustomer(cells.pools['cell-a']!, customer, { readings: 3000, events: 200, devices: 6 });
    writing.push(customer);
    let resumed: Promise<void> | undefined;
    let pages = 0;
    const errorsBefore = writers.errors;
    const engine = new MoveEngine({
      controlPlane: cells.cp,
      cells: cells.cells,
      settings: SETTINGS,
      hooks: {
        async point(p, info) {
          if (p === 'after-action' && info.action.kind === 'CopyPage' && info.state === 'Copying' && ++pages === 3) {
            const source = cells.servers['cell-a']!;
            await source.halt('fast'); // pg_ctl stop: every session of the source is cut
            resumed = new Promise((r) => setTimeout(r, 700)).then(() => source.resume()); // pg_ctl start, while the move retries
          }
        },
      },
    });
    const key = { migration: 'restarts', customerId: customer };
    await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const result = await engine.run(key);
    await resumed;
    if (result.move?.state !== 'Done') console.log(JSON.stringify(result.move), JSON.stringify((await cells.cp.query('SELECT * FROM migration_failures WHERE migration = $1', ['restarts'])).rows));
    await new Promise((r) => setTimeout(r, 50));
    writing.splice(writing.indexOf(customer), 1);
    await writers.quiet(customer);

    expect(resumed).toBeDefined();
    expect([result.outcome, result.move?.state]).toEqual(['Finished', 'Done']);
    expect(writers.errors).toBeGreaterThan(errorsBefore); // the writers saw the outage too
    const { rows } = await cells.cp.query<{ n: string }>('SELECT count(*) AS n FROM migration_journal WHERE migration = $1 AND last_error IS NOT NULL', [
      'restarts',
    ]);
    expect(Number(rows[0]?.n)).toBe(1); // the retried error is on record
    await expectMovedIntact(customer, seeded);
  }, TIMEOUT);
});
