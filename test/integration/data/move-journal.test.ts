// The journal's combined write (a table's progress and a state change in one statement) against
// the real control-plane schema: both happen, or neither, and a move that is no longer where the
// executor read it is a conflict.
import { MoveConflict } from '../../../src/data/move-errors.js';
import { insertMove, loadMove, lockMove, recordPlan, replaceProgress, transition, unlockMoveAndRelease, updateProgressAndState } from '../../../src/store/migration-journal.js';
import { placeCustomers, useCells } from './cells-fixture.js';

const TIMEOUT = 120_000;

const cells = useCells({ timeoutMs: TIMEOUT });

async function copyingMove(customerId: string) {
  await placeCustomers(cells().cp, [customerId], 'cell-a');
  const started = await insertMove(cells().cp, { migration: 'journal', customerId, sourceCell: 'cell-a', targetCell: 'cell-b' });
  if (!started.ok) throw new Error(started.message);
  const key = { migration: 'journal', customerId };
  await replaceProgress(cells().cp, key, [
    { table: 'public.readings', position: 0, mode: 'AppendOnly', cursor: ['received_at', 'id'], timeCursor: true },
    { table: 'public.events', position: 1, mode: 'AppendOnly', cursor: ['seq'], timeCursor: false },
  ]);
  await transition(cells().cp, started.move, 'Copying', new Date());
  const loaded = await loadMove(cells().cp, key);
  if (!loaded) throw new Error('no move');
  return loaded;
}

describe('recording a table and a state change together', () => {
  it('records the last page, the new state and a new round of every append-only table at once', async () => {
    const { move } = await copyingMove('together');
    await cells().cp.query(`UPDATE migration_table_progress SET resynced = true WHERE customer_id = 'together'`);
    await updateProgressAndState(
      cells().cp,
      'public.readings',
      { lastKey: ['2026-01-01 00:00:00+00', '7'], caughtUp: true, resynced: false, phase: 'CatchUp' },
      { rows: 7, bytes: 300 },
      { move, to: 'CatchingUp', at: new Date(), fields: { catchUpRound: 1, roundRows: 0 }, resetOtherTables: true },
    );
    const after = await loadMove(cells().cp, move);
    expect(after?.move).toMatchObject({ state: 'CatchingUp', catchUpRound: 1, roundRows: 0, rowsCopied: 7, bytesCopied: 300, attempt: 0 });
    const readings = after?.tables.find((t) => t.table === 'public.readings');
    const events = after?.tables.find((t) => t.table === 'public.events');
    expect(readings).toMatchObject({ lastKey: ['2026-01-01 00:00:00+00', '7'], caughtUp: true, resynced: false, phase: 'CatchUp', rowsCopied: 7 });
    expect(events).toMatchObject({ caughtUp: false, resynced: false, phase: 'CatchUp', rowsCopied: 0 });
  }, TIMEOUT);

  it('writes nothing when the move is no longer in the state the executor read', async () => {
    const { move } = await copyingMove('moved-on');
    await transition(cells().cp, move, 'CatchingUp', new Date()); // someone else got there first
    await expect(
      updateProgressAndState(cells().cp, 'public.readings', { caughtUp: true }, { rows: 5, bytes: 50 }, { move, to: 'CatchingUp', at: new Date() }),
    ).rejects.toBeInstanceOf(MoveConflict);
    const after = await loadMove(cells().cp, move);
    expect(after?.move).toMatchObject({ state: 'CatchingUp', rowsCopied: 0 });
    expect(after?.tables.find((t) => t.table === 'public.readings')).toMatchObject({ caughtUp: false, rowsCopied: 0 });
  }, TIMEOUT);

  it('writes nothing when the table has no progress row', async () => {
    const { move } = await copyingMove('no-table');
    await expect(
      updateProgressAndState(cells().cp, 'public.devices', { finalSynced: true }, { rows: 1, bytes: 10 }, { move, to: 'Verifying', at: new Date() }),
    ).rejects.toBeInstanceOf(MoveConflict);
    expect((await loadMove(cells().cp, move))?.move).toMatchObject({ state: 'Copying', rowsCopied: 0 });
  }, TIMEOUT);
});

describe('recording a move\'s plan with its state change (Prepare)', () => {
  it('replaces whatever progress rows the move had by the plan, and records the state, in one statement', async () => {
    await placeCustomers(cells().cp, ['plan'], 'cell-a');
    const started = await insertMove(cells().cp, { migration: 'journal', customerId: 'plan', sourceCell: 'cell-a', targetCell: 'cell-b' });
    if (!started.ok) throw new Error(started.message);
    // A leftover row of the same table and one of a table no longer planned: both replaced.
    await replaceProgress(cells().cp, started.move, [
      { table: 'public.readings', position: 0, mode: 'AppendOnly', cursor: ['id'], timeCursor: false },
      { table: 'public.gone', position: 1, mode: 'Mutable', cursor: ['id'], timeCursor: false },
    ]);
    const observedAt = new Date('2026-01-02T03:04:05.000Z');
    await recordPlan(
      cells().cp,
      started.move,
      [
        { table: 'public.readings', position: 0, mode: 'AppendOnly', cursor: ['received_at', 'id'], timeCursor: true, underFence: true },
        { table: 'public.events', position: 1, mode: 'AppendOnly', cursor: ['seq'], timeCursor: false, observedKey: ['41'], observedAt },
        { table: 'public.devices', position: 2, mode: 'Mutable', cursor: ['id'], timeCursor: false },
      ],
      'Copying',
      new Date(),
      { sourceEpoch: 3 },
    );
    const after = await loadMove(cells().cp, started.move);
    expect(after?.move).toMatchObject({ state: 'Copying', sourceEpoch: 3, attempt: 0 });
    expect(after?.tables.map((t) => t.table)).toEqual(['public.readings', 'public.events', 'public.devices']);
    expect(after?.tables[0]).toMatchObject({ phase: 'FinalSync', cursor: ['received_at', 'id'], timeCursor: true, caughtUp: true, resynced: true, verified: true, verifiedRows: 0, verifiedChecksum: '0' });
    expect(after?.tables[1]).toMatchObject({ phase: 'Copy', observedKey: ['41'], observedAt, caughtUp: false, verified: false, verifiedRows: null });
    expect(after?.tables[2]).toMatchObject({ phase: 'FinalSync', mode: 'Mutable', caughtUp: false });
  }, TIMEOUT);

  it('writes nothing when the move is no longer in the state the executor read', async () => {
    await placeCustomers(cells().cp, ['plan-late'], 'cell-a');
    const started = await insertMove(cells().cp, { migration: 'journal', customerId: 'plan-late', sourceCell: 'cell-a', targetCell: 'cell-b' });
    if (!started.ok) throw new Error(started.message);
    await transition(cells().cp, started.move, 'Copying', new Date()); // someone else got there first
    await expect(
      recordPlan(cells().cp, started.move, [{ table: 'public.readings', position: 0, mode: 'AppendOnly', cursor: ['id'], timeCursor: false }], 'Copying', new Date()),
    ).rejects.toBeInstanceOf(MoveConflict);
    expect((await loadMove(cells().cp, started.move))?.tables).toEqual([]);
  }, TIMEOUT);
});

describe('starting a move', () => {
  const start = (customerId: string, migration = 'starts', targetCell = 'cell-b') => insertMove(cells().cp, { migration, customerId, sourceCell: 'cell-a', targetCell });
  const reserved = async (cell: string) => Number((await cells().cp.query<{ reserved: string }>('SELECT reserved FROM cells WHERE name = $1', [cell])).rows[0]?.reserved);

  it('records the move and reserves its room once; starting it again returns it and reserves nothing more', async () => {
    await placeCustomers(cells().cp, ['starts-1'], 'cell-a');
    const before = await reserved('cell-b');
    const first = await start('starts-1');
    expect(first).toMatchObject({ ok: true, created: true, move: { state: 'Pending', sourceCell: 'cell-a', targetCell: 'cell-b', reservedCell: 'cell-b' } });
    expect(await start('starts-1')).toMatchObject({ ok: true, created: false, move: { state: 'Pending', customerId: 'starts-1' } });
    expect(await reserved('cell-b')).toBe(before + 1);
    expect(await insertMove(cells().cp, { migration: 'starts', customerId: 'starts-1', sourceCell: 'cell-b', targetCell: 'cell-a' })).toMatchObject({ ok: false, reason: 'Conflict' });
    expect(await start('starts-1', 'another')).toMatchObject({ ok: false, reason: 'MoveInProgress' });
    expect(await start('starts-1', 'elsewhere', 'cell-z')).toMatchObject({ ok: false, reason: 'UnknownCell' });
    expect(await reserved('cell-b')).toBe(before + 1);
  }, TIMEOUT);

  it('refuses a full target and leaves nothing behind', async () => {
    await placeCustomers(cells().cp, ['starts-full'], 'cell-a');
    const { rows } = await cells().cp.query<{ max: string }>(`SELECT max_customers AS max FROM cells WHERE name = 'cell-b'`);
    await cells().cp.query(`UPDATE cells SET max_customers = customers + reserved WHERE name = 'cell-b'`);
    try {
      const before = await reserved('cell-b');
      expect(await start('starts-full')).toMatchObject({ ok: false, reason: 'TargetFull' });
      expect(await loadMove(cells().cp, { migration: 'starts', customerId: 'starts-full' })).toBeUndefined();
      expect(await reserved('cell-b')).toBe(before);
    } finally {
      await cells().cp.query(`UPDATE cells SET max_customers = $1 WHERE name = 'cell-b'`, [rows[0]?.max]);
    }
  }, TIMEOUT);
});

describe('the move lock', () => {
  it('is taken with its session bounded and an epoch that grows, refused to a second session, and released with the session as it was', async () => {
    const key = { migration: 'locks', customerId: 'lock-1' };
    const [a, b] = await Promise.all([cells().cp.connect(), cells().cp.connect()]);
    try {
      const show = async (name: string) => (await a.query<Record<string, string>>(`SHOW ${name}`)).rows[0]?.[name];
      const unbounded = [await show('idle_session_timeout'), await show('idle_in_transaction_session_timeout')];
      const first = await lockMove(a, key);
      expect(first).toMatch(/^[0-9]+$/);
      expect([await show('idle_session_timeout'), await show('idle_in_transaction_session_timeout')]).toEqual(['20s', '20s']);
      expect(await lockMove(b, key)).toBeUndefined(); // another executor holds it
      expect((await b.query<{ idle_session_timeout: string }>(`SHOW idle_session_timeout`)).rows[0]).toEqual({ idle_session_timeout: unbounded[0] }); // not bounded
      await unlockMoveAndRelease(a, key);
      expect([await show('idle_session_timeout'), await show('idle_in_transaction_session_timeout')]).toEqual(unbounded);
      const second = await lockMove(b, key);
      expect(BigInt(second ?? '0')).toBeGreaterThan(BigInt(first ?? '0'));
      await unlockMoveAndRelease(b, key);
      const { rows } = await a.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND classid = $1::oid`, [0x6d6f7665]);
      expect(rows[0]?.n).toBe(0);
    } finally {
      a.release();
      b.release();
    }
  }, TIMEOUT);
});
