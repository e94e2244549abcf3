// Tests that kill mutants of src/data/move-decision.ts that survived a StrykerJS run (npm run
// mutation) and change what a move does with the data: copying during catch-up, observing the
// keys that settle, the table order, the convergence bound and the earliest wait.
import { nextAction } from '../../src/data/move-decision.js';
import { moveSettings } from '../../src/data/move-settings.js';
import type { MoveRecord, TableProgress } from '../../src/data/move-state.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const settings = moveSettings({ drainWaitMs: 2_000, settleLagMs: 1_000, convergeRows: 100, maxCatchUpRounds: 5 });

const move = (o: Partial<MoveRecord> = {}): MoveRecord => ({
  migration: 'm', customerId: 'acme', sourceCell: 'a', targetCell: 'b', state: 'CatchingUp', direction: 'Forward', step: 0, attempt: 0,
  sourceEpoch: 1, rowsCopied: 0, bytesCopied: 0, fencedAt: null, cutOverAt: null, cleanupAfter: null, lastError: null, failureReason: null,
  abortRequestedAt: null, reservedCell: 'b', stateEnteredAt: T0, catchUpRound: 1, roundRows: 0, startedAt: T0, finishedAt: null,
  createdAt: T0, updatedAt: T0, ...o,
});

const table = (name: string, o: Partial<TableProgress> = {}): TableProgress => ({
  table: name, position: 0, mode: 'AppendOnly', cursor: ['id'], timeCursor: false, phase: 'CatchUp', lastKey: ['5'], syncedKey: ['5'],
  caughtUp: true, resynced: true, observedKey: ['10'], observedAt: T0, settledKey: ['5'], settledAt: T0, settledFresh: false, verified: false,
  verifiedKey: null, verifiedRows: null, verifiedChecksum: null, finalSynced: false, checked: false, sourceRows: null, sourceChecksum: null,
  targetRows: null, targetChecksum: null, sweepStarted: false, sweepKey: null, swept: false, sweptRows: 0, sweepPasses: 0, cleared: false,
  rowsCopied: 0, bytesCopied: 0, ...o,
});

describe('the move decider, where a mutation run found it untested', () => {
  it('copies the rows written during catch-up before anything else of the table', () => {
    // A time-watermark table (no observation needed) that has new rows to copy.
    const readings = table('public.readings', { timeCursor: true, cursor: ['received_at', 'id'], caughtUp: false, resynced: false });
    expect(nextAction(move(), [readings], settings, at(0))).toEqual({ kind: 'CopyPage', table: 'public.readings', verify: true });
  });

  it('observes a keyset table that was never observed, at once', () => {
    const events = table('public.events', { observedAt: null, observedKey: null, resynced: false });
    expect(nextAction(move(), [events], settings, at(0))).toEqual({ kind: 'Observe', table: 'public.events' });
    // While copying too: no observation yet means none to wait for.
    const copying = { ...events, caughtUp: false, settledAt: null, settledKey: null };
    expect(nextAction(move({ state: 'Copying' }), [copying], settings, at(0))).toEqual({ kind: 'Observe', table: 'public.events' });
  });

  it('goes through the tables in their planned position, whatever order the journal lists them in', () => {
    const first = table('public.zeta', { position: 0, caughtUp: false });
    const second = table('public.alpha', { position: 1, caughtUp: false });
    expect(nextAction(move({ state: 'Copying' }), [second, first], settings, at(5_000))).toEqual({ kind: 'CopyPage', table: 'public.zeta', verify: true });
  });

  it('starts another catch-up round only when the last one copied more rows than convergeRows', () => {
    const done = table('public.events', { verified: false });
    expect(nextAction(move({ roundRows: 100 }), [done], settings, at(5_000))).toEqual({ kind: 'PreVerify', table: 'public.events' });
    expect(nextAction(move({ roundRows: 101 }), [done], settings, at(5_000))).toEqual({ kind: 'NewRound' });
  });

  it('waits for the earliest of the keys still settling', () => {
    const late = table('public.events', { caughtUp: false, settledAt: null, observedAt: at(500), position: 0 });
    const early = table('public.logs', { caughtUp: false, settledAt: null, observedAt: at(100), position: 1 });
    const action = nextAction(move({ state: 'Copying' }), [late, early], settings, at(200));
    expect(action).toMatchObject({ kind: 'Wait', until: at(1_100) });
  });
});
