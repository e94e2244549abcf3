import type pg from 'pg';
import { usePostgres } from '../../test/support/postgres.js';
import { MoveEngine } from '../data/move-engine.js';
import { moveOutcome, TERMINAL_STATES, type MoveOutcome, type MoveRecord, type MoveState } from '../data/move-state.js';
import type { MigrationSpec } from '../crds/migration.js';
import { syncCell } from './cells.js';
import { createPool } from './connection.js';
import { migrate } from './migrate.js';
import { dropSelection, freezeSelection, readSelection, readSelectionFacts, selectionFacts } from './migration-selection.js';

const postgres = usePostgres();
let pool: pg.Pool;
let engine: MoveEngine;
const now = new Date('2026-11-28T12:00:00Z');
const hours = (n: number) => new Date(now.getTime() + n * 3_600_000);

const spec = {
  from: 'eu-west-1a',
  to: 'eu-west-1b',
  customers: { all: true },
  order: 'SmallestFirst',
  steps: [{ move: '100%' }],
  maxConcurrent: 4,
  paused: false,
  abort: false,
  drainWait: '2s',
  retention: '24h',
} as MigrationSpec;

/** A journal row of `migration` for customer `id`, in the given state. */
async function journal(
  migration: string,
  id: string,
  state: MoveState,
  over: { direction?: 'Forward' | 'Reverse'; abort?: boolean; cleanupAfter?: Date; startedAt?: Date; cutOverAt?: Date; rows?: number } = {},
): Promise<void> {
  await pool.query(
    `INSERT INTO migration_journal (migration, customer_id, source_cell, target_cell, state, direction, abort_requested_at, cleanup_after,
                                    started_at, cut_over_at, rows_copied, bytes_copied)
     VALUES ($1, $2, 'eu-west-1a', 'eu-west-1b', $3, $4, $5, $6, $7, $8, $9::bigint, $9::bigint * 10)`,
    [migration, id, state, over.direction ?? 'Forward', over.abort ? now : null, over.cleanupAfter ?? null, over.startedAt ?? null, over.cutOverAt ?? null, over.rows ?? 0],
  );
}

beforeAll(async () => {
  pool = createPool({ url: await postgres().createDatabase(), poolMax: 4 });
  await migrate(pool);
  for (const [name, region] of [
    ['eu-west-1a', 'eu-west-1'],
    ['eu-west-1b', 'eu-west-1'],
  ] as const) {
    expect((await syncCell(pool, { name, region, state: 'Active', ready: true, weight: 100, maxCustomers: 1000 })).ok).toBe(true);
  }
  // 30 customers in move order c00..c29 (SmallestFirst: fewest devices first); some bound to us-east-1 or eu-west-1.
  await pool.query(
    `INSERT INTO placements (customer_id, region, cell, expected_devices)
     SELECT 'c' || lpad(i::text, 2, '0'), CASE WHEN i % 7 = 3 THEN 'us-east-1' WHEN i % 5 = 0 THEN 'eu-west-1' END, 'eu-west-1a', i
       FROM generate_series(0, 29) i`,
  );
  expect(await freezeSelection(pool, 'drain', spec)).toEqual([]);
  // Started in move order, with holes (c05, c09 refused at start) and every kind of outcome.
  const t = (h: number) => ({ startedAt: hours(h - 1), cutOverAt: hours(h) });
  await journal('drain', 'c00', 'Done', { ...t(-30), rows: 100 });
  await journal('drain', 'c01', 'Done', { ...t(-29), rows: 50 });
  await journal('drain', 'c02', 'Failed', { startedAt: hours(-28) });
  await journal('drain', 'c03', 'RolledBack', { startedAt: hours(-27) });
  await journal('drain', 'c04', 'Cleanup', { ...t(-5), cleanupAfter: hours(19), rows: 7 });
  await journal('drain', 'c06', 'Cleanup', { ...t(-4), cleanupAfter: hours(-1) });
  await journal('drain', 'c07', 'Cleanup', { ...t(-3), cleanupAfter: hours(21), abort: true });
  await journal('drain', 'c08', 'RolledBack', { direction: 'Reverse', ...t(-3) });
  await journal('drain', 'c10', 'Copying', { direction: 'Reverse' });
  await journal('drain', 'c11', 'Failed', { direction: 'Reverse' });
  await journal('drain', 'c12', 'Done', { direction: 'Reverse' });
  await journal('drain', 'c13', 'Fenced', { startedAt: hours(-1) });
  await journal('drain', 'c14', 'Pending');
  await journal('drain', 'c15', 'Copying', { abort: true });
  // A journal row of a customer no longer selected (a Migration of the same name deleted and made
  // again), and the moves of another migration: neither counts.
  await journal('drain', 'gone', 'Done');
  await journal('other', 'c20', 'Copying');
  await journal('other', 'c21', 'Cleanup', { cleanupAfter: hours(-10) });
  engine = new MoveEngine({ controlPlane: pool, cells: () => Promise.reject(new Error('no cells here')) });
}, 60_000);

afterAll(async () => {
  await pool?.end();
});

describe('the facts of a selection, counted in SQL', () => {
  it('equal selectionFacts over the whole list, for any target region and number of next customers', async () => {
    const list = await readSelection(pool, 'drain');
    expect(list).toHaveLength(30);
    for (const targetRegion of ['eu-west-1', 'us-east-1', undefined]) {
      for (const next of [0, 1, 4, 100]) {
        // The list carries no times; the journal's last cut-over is 3 h ago (c07, and c08 moving back).
        expect(await readSelectionFacts(pool, 'drain', { targetRegion, next })).toEqual({ ...selectionFacts(list, targetRegion, next), lastEndedAt: hours(-3) });
      }
    }
  });

  it('lists the customers refused at their start first, then the rest in move order', async () => {
    const facts = await readSelectionFacts(pool, 'drain', { targetRegion: 'eu-west-1', next: 4 });
    expect(facts.next).toEqual(['c05', 'c09', 'c16', 'c17']);
    expect(facts.outOfRegion).toEqual({
      count: 2,
      examples: [
        { id: 'c17', region: 'us-east-1' },
        { id: 'c24', region: 'us-east-1' },
      ],
    });
  });

  it('leaves out of the next ones, and counts, the customers another migration is moving', async () => {
    // 'other' is moving c20 (Copying) and cleaning up c21: starting either here would be refused
    // (one open move per customer), and would hold the step's slots meanwhile.
    const facts = await readSelectionFacts(pool, 'drain', { targetRegion: 'eu-west-1', next: 100 });
    expect(facts.next).not.toContain('c20');
    expect(facts.next).not.toContain('c21');
    expect(facts.busy).toEqual({ count: 2, example: { id: 'c20', migration: 'other' } });
    expect(facts.counts.pending).toBe(facts.next.length + 2);
  });

  it('has nothing to start once every selected customer has a move', async () => {
    await pool.query(`INSERT INTO migration_customers (migration, customer_id, ordinal) VALUES ('all-started', 'c20', 1), ('all-started', 'c21', 2)`);
    await journal('all-started', 'c20', 'Done');
    await journal('all-started', 'c21', 'Failed');
    const facts = await readSelectionFacts(pool, 'all-started', { targetRegion: 'eu-west-1', next: 4 });
    expect(facts).toEqual(selectionFacts(await readSelection(pool, 'all-started'), 'eu-west-1', 4));
    expect(facts.next).toEqual([]);
  });

  it('say when a move last left flight: its cut-over (not the end of its cleanup, later), or the end of one that failed', async () => {
    const at = (minutes: number) => new Date(now.getTime() + minutes * 60_000);
    await pool.query(`INSERT INTO migration_customers (migration, customer_id, ordinal) VALUES ('ended', 'e20', 1), ('ended', 'e21', 2), ('ended', 'e22', 3)`);
    await journal('ended', 'e20', 'Copying');
    await pool.query(
      `INSERT INTO migration_journal (migration, customer_id, source_cell, target_cell, state, cut_over_at, finished_at)
       VALUES ('ended', 'e21', 'eu-west-1a', 'eu-west-1b', 'Done', $1, $2)`,
      [at(-10), at(0)],
    );
    expect((await readSelectionFacts(pool, 'ended', { targetRegion: 'eu-west-1', next: 4 })).lastEndedAt).toEqual(at(-10));
    await pool.query(`INSERT INTO migration_journal (migration, customer_id, source_cell, target_cell, state, finished_at) VALUES ('ended', 'e22', 'eu-west-1a', 'eu-west-1b', 'Failed', $1)`, [at(-5)]);
    expect((await readSelectionFacts(pool, 'ended', { targetRegion: 'eu-west-1', next: 4 })).lastEndedAt).toEqual(at(-5));
  });

  it('are empty for a migration that selected nobody', async () => {
    expect(await readSelectionFacts(pool, 'nobody', { targetRegion: 'eu-west-1', next: 4 })).toEqual(selectionFacts([], 'eu-west-1', 4));
  });
});

describe('freezing a selection', () => {
  it('is done once, also when it selects nobody: a customer placed later does not join a Migration that ended', async () => {
    const named = { ...spec, customers: { names: ['late-1'] } } as MigrationSpec;
    expect(await freezeSelection(pool, 'named-empty', named)).toEqual(['late-1']);
    await pool.query(`INSERT INTO placements (customer_id, cell, expected_devices) VALUES ('late-1', 'eu-west-1a', 1)`);
    try {
      // Still said missing (the status keeps saying so), and not selected now: it was selected anew at every reconcile.
      expect(await freezeSelection(pool, 'named-empty', named)).toEqual(['late-1']);
      expect(await readSelection(pool, 'named-empty')).toEqual([]);
      // A drain still takes late arrivals; a Migration made again after its records were dropped selects anew.
      const drain = { ...spec, customers: { all: true } } as MigrationSpec;
      await freezeSelection(pool, 'drain-late', drain);
      const before = (await readSelection(pool, 'drain-late')).length;
      await pool.query(`INSERT INTO placements (customer_id, cell, expected_devices) VALUES ('late-2', 'eu-west-1a', 1)`);
      await freezeSelection(pool, 'drain-late', drain);
      expect((await readSelection(pool, 'drain-late')).map((c) => c.id)).toContain('late-2');
      expect((await readSelection(pool, 'drain-late')).length).toBe(before + 1);
      await dropSelection(pool, 'named-empty');
      await freezeSelection(pool, 'named-empty', named);
      expect((await readSelection(pool, 'named-empty')).map((c) => c.id)).toEqual(['late-1']);
    } finally {
      await pool.query(`DELETE FROM migration_customers WHERE migration IN ('named-empty', 'drain-late')`);
      await pool.query(`DELETE FROM migration_selections WHERE migration IN ('named-empty', 'drain-late')`);
      await pool.query(`DELETE FROM placements WHERE customer_id IN ('late-1', 'late-2')`);
    }
  });
});

describe('the moves a reconcile reads from the journal', () => {
  const open = (moves: MoveRecord[]) => moves.filter((m) => !TERMINAL_STATES.has(m.state));

  it('lists the unfinished moves in the order of all moves', async () => {
    const all = await engine.listMoves('drain');
    expect(await engine.listOpenMoves('drain')).toEqual(open(all));
    expect((await engine.listOpenMoves('drain')).map((m) => m.customerId).sort()).toEqual(['c04', 'c06', 'c07', 'c10', 'c13', 'c14', 'c15']);
  });

  it('leaves out, when asked for the due ones, the moves waiting for their cleanup unless an abort asks them back', async () => {
    const due = await engine.listOpenMoves('drain', { dueAt: now });
    const waiting = (m: MoveRecord) => m.state === 'Cleanup' && !m.abortRequestedAt && m.cleanupAfter !== null && m.cleanupAfter > now;
    expect(due).toEqual(open(await engine.listMoves('drain')).filter((m) => !waiting(m)));
    expect(due.map((m) => m.customerId).sort()).toEqual(['c06', 'c07', 'c10', 'c13', 'c14', 'c15']);
  });

  it('says when the next cleanup is due', async () => {
    expect(await engine.nextCleanupAt('drain')).toEqual(hours(-1));
    expect(await engine.nextCleanupAt('nobody')).toBeUndefined();
  });

  it('summarizes the journal as a count of every move would', async () => {
    const moves = await engine.listMoves('drain');
    const byOutcome: Record<MoveOutcome, number> = { Pending: 0, InFlight: 0, Moved: 0, Failed: 0, MovingBack: 0, MovedBack: 0, RolledBack: 0 };
    const byState: Partial<Record<MoveState, number>> = {};
    for (const m of moves) {
      byOutcome[moveOutcome(m)] += 1;
      byState[m.state] = (byState[m.state] ?? 0) + 1;
    }
    const summary = await engine.summarize('drain');
    expect(summary).toMatchObject({
      total: moves.length,
      byOutcome,
      byState,
      rowsCopied: moves.reduce((n, m) => n + m.rowsCopied, 0),
      bytesCopied: moves.reduce((n, m) => n + m.bytesCopied, 0),
    });
    expect(summary.rowsCopied).toBe(157);
  });
});
