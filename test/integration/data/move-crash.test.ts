// Crash anywhere: an executor stopped dead at every point of every state of a move (before an
// action, between a target commit and its journal record, after an action), then a fresh one
// resumes: the move completes with the target's keys exactly the seeded rows and the acknowledged
// writes of router-driven writers, nothing swept late. Also a restart of the source database in
// the middle of the copy.
import { MoveEngine } from '../../../src/data/move-engine.js';
import { InjectedCrash } from '../../../src/data/move-errors.js';
import type { MovePoint } from '../../../src/data/move-executor.js';
import type { MoveState } from '../../../src/data/move-state.js';
import { keySetProblems, placeCustomers, rowsOf, seedCustomer, startCells, Writers, type Cells } from './cells-fixture.js';

const TIMEOUT = 180_000;
const SETTINGS = { pageRows: 150, settleLagMs: 400, drainWaitMs: 250, retentionMs: 0, convergeRows: 40, deleteBatchRows: 200 };

let cells: Cells;
let writers: Writers;
const writing: string[] = [];

beforeAll(async () => {
  cells = await startCells();
  writers = new Writers(cells, () => writing, 2, 2, true);
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
  // A catch-up round may commit nothing to the target (every row had settled when it was copied:
  // the resync has nothing to do), so a crash between a commit and its record is proven in
  // Copying, FinalSync and Cleanup, not here.
  CatchingUp: ['before-action', 'after-action'],
  Fenced: ['before-action', 'after-action'],
  FinalSync: ['before-action', 'after-target-commit', 'after-action'],
  Verifying: ['before-action', 'after-action'],
  CutOver: ['before-action', 'after-action'],
  Cleanup: ['before-action', 'after-target-commit', 'after-action'],
};

const REPEATING = new Set(['Copying', 'CatchingUp', 'FinalSync', 'Verifying', 'Cleanup']);

async function expectMovedIntact(customer: string, seeded: Awaited<ReturnType<typeof seedCustomer>>, migration: string): Promise<void> {
  const target = await rowsOf(cells.pools['cell-b']!, customer);
  // The target's keys, table by table: the seeded rows and every acknowledged write (deletions
  // included), nothing else; rows whose write failed without an answer may go either way.
  const problems = keySetProblems(target, seeded, writers.ledgers.get(customer));
  if (problems.length > 0) {
    const j = await cells.cp.query('SELECT state, fenced_at, cut_over_at, finished_at FROM migration_journal WHERE customer_id = $1', [customer]);
    const p = await cells.cp.query('SELECT table_name, verified_key, synced_key, last_key, swept_rows FROM migration_table_progress WHERE customer_id = $1', [customer]);
    console.log(customer, problems, JSON.stringify(j.rows), JSON.stringify(p.rows));
  }
  expect(problems).toEqual([]);
  expect(writers.acknowledged(customer)).toBeGreaterThan(0);
  expect((await rowsOf(cells.pools['cell-a']!, customer)).total).toBe(0);
  const { rows } = await cells.cp.query('SELECT cell, state, epoch::int FROM placements WHERE customer_id = $1', [customer]);
  expect(rows[0]).toEqual({ cell: 'cell-b', state: 'Active', epoch: 2 });
  // Nothing reached the source late: the cleanup sweep had nothing to move.
  const swept = await cells.cp.query<{ n: string | null }>('SELECT sum(swept_rows)::text AS n FROM migration_table_progress WHERE migration = $1 AND customer_id = $2', [migration, customer]);
  expect(Number(swept.rows[0]?.n ?? 0)).toBe(0);
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
      await expectMovedIntact(customer, seeded, 'crashes');
    }
    expect({ errors: writers.errors, anomalies: writers.anomalies, messages: writers.errorMessages }).toEqual({ errors: 0, anomalies: [], messages: [] });
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
    await expectMovedIntact(customer, seeded, 'restarts');
    expect(writers.anomalies).toEqual([]);
  }, TIMEOUT);
});
