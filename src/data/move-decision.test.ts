import { nextAction } from './move-decision.js';
import { moveSettings } from './move-settings.js';
import { moveOutcome, type MoveRecord, type TableProgress } from './move-state.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const settings = moveSettings({ drainWaitMs: 2_000, settleLagMs: 1_000, maxFenceMs: 30_000, retentionMs: 3_600_000, convergeRows: 100, maxCatchUpRounds: 5 });

function move(overrides: Partial<MoveRecord> = {}): MoveRecord {
  return {
    migration: 'm',
    customerId: 'acme',
    sourceCell: 'a',
    targetCell: 'b',
    state: 'Pending',
    direction: 'Forward',
    step: 0,
    attempt: 0,
    sourceEpoch: 1,
    rowsCopied: 0,
    bytesCopied: 0,
    fencedAt: null,
    cutOverAt: null,
    cleanupAfter: null,
    lastError: null,
    failureReason: null,
    abortRequestedAt: null,
    reservedCell: 'b',
    stateEnteredAt: T0,
    catchUpRound: 0,
    roundRows: 0,
    startedAt: T0,
    finishedAt: null,
    createdAt: T0,
    updatedAt: T0,
    ...overrides,
  };
}

function table(name: string, overrides: Partial<TableProgress> = {}): TableProgress {
  return {
    table: name,
    position: 0,
    mode: 'AppendOnly',
    cursor: ['id'],
    timeCursor: false,
    phase: 'Copy',
    lastKey: null,
    syncedKey: null,
    caughtUp: false,
    resynced: false,
    observedKey: ['10'],
    observedAt: T0,
    settledKey: null,
    settledAt: null,
    settledFresh: false,
    verified: false,
    verifiedKey: null,
    verifiedRows: null,
    verifiedChecksum: null,
    finalSynced: false,
    checked: false,
    sourceRows: null,
    sourceChecksum: null,
    targetRows: null,
    targetChecksum: null,
    sweepStarted: false,
    sweepKey: null,
    swept: false,
    sweptRows: 0,
    sweepPasses: 0,
    cleared: false,
    rowsCopied: 0,
    bytesCopied: 0,
    ...overrides,
  };
}

const readings = (o: Partial<TableProgress> = {}) => table('public.readings', { timeCursor: true, cursor: ['received_at', 'id'], position: 1, ...o });
const events = (o: Partial<TableProgress> = {}) => table('public.events', { position: 0, ...o });
const devices = (o: Partial<TableProgress> = {}) => table('public.devices', { mode: 'Mutable', position: 2, observedKey: null, observedAt: null, ...o });

describe('nextAction', () => {
  it('prepares a pending move', () => {
    expect(nextAction(move(), [], settings, T0)).toEqual({ kind: 'Prepare' });
  });

  it('copies time-watermarked tables at once but waits for a keyset observation to settle', () => {
    const tables = [events(), readings(), devices()];
    expect(nextAction(move({ state: 'Copying' }), tables, settings, at(10))).toEqual({ kind: 'CopyPage', table: 'public.readings' });
    const copied = [events(), readings({ caughtUp: true }), devices()];
    expect(nextAction(move({ state: 'Copying' }), copied, settings, at(10))).toEqual({ kind: 'Wait', until: at(1_000), reason: expect.any(String) });
    expect(nextAction(move({ state: 'Copying' }), copied, settings, at(1_000))).toEqual({ kind: 'Observe', table: 'public.events' });
    const settled = [events({ settledAt: at(1_000), settledKey: ['10'] }), readings({ caughtUp: true }), devices()];
    expect(nextAction(move({ state: 'Copying' }), settled, settings, at(1_001))).toEqual({ kind: 'CopyPage', table: 'public.events' });
  });

  it('checks the rows earlier pages synced while it copies the next page, once each', () => {
    const copying = move({ state: 'Copying' });
    // Nothing synced yet, or everything synced already checked: a plain page.
    expect(nextAction(copying, [readings({ lastKey: ['t1', '5'] })], settings, at(10))).toEqual({ kind: 'CopyPage', table: 'public.readings' });
    const checked = readings({ lastKey: ['t2', '9'], syncedKey: ['t2', '9'], verifiedKey: ['t2', '9'], verifiedRows: 9, verifiedChecksum: '3' });
    expect(nextAction(copying, [checked], settings, at(10))).toEqual({ kind: 'CopyPage', table: 'public.readings' });
    // Synced past the checked prefix: the page checks the rest.
    const unchecked = readings({ lastKey: ['t3', '12'], syncedKey: ['t3', '12'], verifiedKey: ['t2', '9'], verifiedRows: 9, verifiedChecksum: '3' });
    expect(nextAction(copying, [unchecked], settings, at(10))).toEqual({ kind: 'CopyPage', table: 'public.readings', verify: true });
    const neverChecked = readings({ lastKey: ['t3', '12'], syncedKey: ['t3', '12'] });
    expect(nextAction(move({ state: 'CatchingUp', catchUpRound: 1 }), [neverChecked], settings, at(10))).toEqual({ kind: 'CopyPage', table: 'public.readings', verify: true });
    // Once verified before the fence (a later round's pages), the final sync covers the rest.
    const verified = readings({ lastKey: ['t3', '12'], syncedKey: ['t3', '12'], verified: true, verifiedKey: ['t2', '9'] });
    expect(nextAction(move({ state: 'CatchingUp', catchUpRound: 2 }), [verified], settings, at(10))).toEqual({ kind: 'CopyPage', table: 'public.readings' });
  });

  it('leaves mutable tables to the final sync and starts catching up once every append-only table is caught up', () => {
    const tables = [events({ caughtUp: true, settledAt: T0 }), readings({ caughtUp: true }), devices()];
    expect(nextAction(move({ state: 'Copying' }), tables, settings, at(5))).toEqual({ kind: 'Transition', to: 'CatchingUp' });
  });

  it('runs catch-up rounds until one copies few rows, then verifies the settled rows and fences', () => {
    const round = (o: Partial<TableProgress> = {}) => [
      events({ caughtUp: true, resynced: true, settledAt: T0, ...o }),
      readings({ caughtUp: true, resynced: true, ...o }),
      devices(),
    ];
    const busy = move({ state: 'CatchingUp', catchUpRound: 1, roundRows: 5_000 });
    expect(nextAction(busy, round(), settings, at(5))).toEqual({ kind: 'NewRound' });
    expect(nextAction({ ...busy, catchUpRound: 5 }, round(), settings, at(5))).toEqual({ kind: 'PreVerify', table: 'public.events' });
    const quiet = move({ state: 'CatchingUp', catchUpRound: 2, roundRows: 40 });
    expect(nextAction(quiet, round(), settings, at(5))).toEqual({ kind: 'PreVerify', table: 'public.events' });
    expect(nextAction(quiet, round({ verified: true }), settings, at(5))).toEqual({ kind: 'Fence' });
  });

  it('observes a keyset table again each round once its last observation has settled, before resyncing it', () => {
    const gap = { lastKey: ['20'], syncedKey: ['10'] };
    const tables = [events({ caughtUp: true, observedAt: T0, settledAt: T0, ...gap }), readings({ caughtUp: true, resynced: true }), devices()];
    const m = move({ state: 'CatchingUp', catchUpRound: 1, roundRows: 500 });
    // Nothing newer has settled yet: no resync, the round is over.
    expect(nextAction(m, tables, settings, at(500))).toEqual({ kind: 'NewRound' });
    expect(nextAction(m, tables, settings, at(1_000))).toEqual({ kind: 'Observe', table: 'public.events' });
    const fresh = [events({ caughtUp: true, observedAt: at(1_000), settledFresh: true, ...gap }), readings({ caughtUp: true, resynced: true }), devices()];
    expect(nextAction(m, fresh, settings, at(1_000))).toEqual({ kind: 'Resync', table: 'public.events' });
    // No gap: the synced prefix already reaches the copy cursor.
    const whole = [events({ caughtUp: true, observedAt: at(1_000), settledFresh: true }), readings({ caughtUp: true, resynced: true }), devices()];
    expect(nextAction(m, whole, settings, at(1_000))).toEqual({ kind: 'NewRound' });
  });

  it('waits for the drain, then drains in-flight transactions, final-syncs every table, verifies and cuts over', () => {
    const fenced = move({ state: 'Fenced', fencedAt: T0 });
    expect(nextAction(fenced, [], settings, at(1_999))).toMatchObject({ kind: 'Wait', until: at(2_000) });
    expect(nextAction(fenced, [], settings, at(2_000))).toEqual({ kind: 'KafkaDrainStart' });
    const kafkaDrained = { cell: 'a', topic: 'telemetry', group: 'cell-ingest', partitions: [], recordedAt: at(2_000).toISOString(), drainedAt: at(2_050).toISOString(), behindAtStart: 0 };
    expect(nextAction({ ...fenced, kafkaDrain: kafkaDrained }, [], settings, at(2_100))).toEqual({ kind: 'Drain' });
    const all = [events({ verified: true }), readings({ verified: true }), devices()];
    expect(nextAction(move({ state: 'FinalSync', fencedAt: T0 }), all, settings, at(2_100))).toEqual({ kind: 'FinalSync', table: 'public.events' });
    const synced = all.map((t) => ({ ...t, finalSynced: true }));
    expect(nextAction(move({ state: 'FinalSync', fencedAt: T0 }), synced, settings, at(2_100))).toEqual({ kind: 'Transition', to: 'Verifying' });
    expect(nextAction(move({ state: 'Verifying', fencedAt: T0 }), synced, settings, at(2_100))).toEqual({ kind: 'Verify', table: 'public.events' });
    const checked = synced.map((t) => ({ ...t, checked: true }));
    expect(nextAction(move({ state: 'Verifying', fencedAt: T0 }), checked, settings, at(2_100))).toEqual({ kind: 'Transition', to: 'CutOver' });
    expect(nextAction(move({ state: 'CutOver', fencedAt: T0 }), checked, settings, at(2_100))).toEqual({ kind: 'CutOver' });
  });

  it('fails a move whose fence outlived maxFenceMs, but never once the cut-over is recorded', () => {
    const stuck = move({ state: 'FinalSync', fencedAt: T0 });
    expect(nextAction(stuck, [devices()], settings, at(30_000))).toMatchObject({ kind: 'Fail', reason: 'FenceTimeout' });
    expect(nextAction({ ...stuck, state: 'CutOver' }, [devices()], settings, at(30_000))).toEqual({ kind: 'CutOver' });
  });

  it('opens the target to the customer right after the cut-over, before anything else', () => {
    const cutOver = move({ state: 'Cleanup', fencedAt: T0, cutOverAt: T0, cleanupAfter: at(3_600_000) });
    expect(nextAction(cutOver, [events({ phase: 'Verify' }), devices({ phase: 'Verify' })], settings, at(10))).toEqual({ kind: 'OpenTarget' });
    expect(nextAction(cutOver, [events({ phase: 'Cleanup' }), devices({ phase: 'Cleanup' })], settings, at(10))).toMatchObject({ kind: 'Wait' });
  });

  it('keeps the source rows until the retention ends, then moves them out table by table and finishes', () => {
    const kept = move({ state: 'Cleanup', cutOverAt: T0, cleanupAfter: at(3_600_000) });
    expect(nextAction(kept, [events(), devices()], settings, at(10))).toMatchObject({ kind: 'Wait', until: at(3_600_000) });
    expect(nextAction(kept, [events(), devices()], settings, at(3_600_000))).toEqual({ kind: 'Sweep', table: 'public.events' });
    const swept = [events({ swept: true }), devices({ swept: true })];
    expect(nextAction(kept, swept, settings, at(3_600_000))).toEqual({ kind: 'Finish', state: 'Done' });
    expect(nextAction({ ...kept, direction: 'Reverse' }, swept, settings, at(3_600_000))).toEqual({ kind: 'Finish', state: 'RolledBack' });
  });

  it('undoes an abort before the cut-over, and moves the customer back after it without waiting for the retention', () => {
    const aborted = { abortRequestedAt: at(5) };
    expect(nextAction(move({ ...aborted }), [], settings, at(10))).toEqual({ kind: 'Finish', state: 'RolledBack' });
    expect(nextAction(move({ ...aborted, state: 'CatchingUp' }), [events()], settings, at(10))).toEqual({ kind: 'Abort' });
    expect(nextAction(move({ ...aborted, state: 'CutOver', fencedAt: T0 }), [events()], settings, at(10))).toEqual({ kind: 'CutOver' });
    const cleanup = move({ ...aborted, state: 'Cleanup', cleanupAfter: at(3_600_000) });
    // The retained copy is caught up in reverse: nothing is swept into the target first.
    expect(nextAction(cleanup, [events()], settings, at(10))).toEqual({ kind: 'StartReverse' });
    expect(nextAction(cleanup, [events({ sweepStarted: true })], settings, at(10))).toEqual({ kind: 'StartReverse' });
    expect(nextAction(cleanup, [events({ phase: 'Verify' })], settings, at(10))).toEqual({ kind: 'OpenTarget' });
    // The reverse move itself is not aborted again.
    expect(nextAction(move({ ...aborted, direction: 'Reverse' }), [], settings, at(10))).toEqual({ kind: 'Prepare' });
  });

  it('rolls back by clearing the target table by table, ending Failed after a failure and RolledBack after an abort', () => {
    const rolling = move({ state: 'RollingBack', failureReason: 'ChecksumMismatch' });
    expect(nextAction(rolling, [events(), devices()], settings, T0)).toEqual({ kind: 'Clear', table: 'public.events', side: 'target' });
    const cleared = [events({ cleared: true }), devices({ cleared: true })];
    expect(nextAction(rolling, cleared, settings, T0)).toEqual({ kind: 'Finish', state: 'Failed' });
    expect(nextAction({ ...rolling, failureReason: null }, cleared, settings, T0)).toEqual({ kind: 'Finish', state: 'RolledBack' });
  });

  it('does nothing for a finished move', () => {
    for (const state of ['Done', 'Failed', 'RolledBack'] as const) expect(nextAction(move({ state }), [], settings, T0).kind).toBe('None');
  });
});

describe('moveOutcome', () => {
  it('counts a move the way a Migration status does', () => {
    expect(moveOutcome(move({ state: 'Copying' }))).toBe('InFlight');
    expect(moveOutcome(move({ state: 'Cleanup' }))).toBe('Moved');
    expect(moveOutcome(move({ state: 'Cleanup', abortRequestedAt: T0 }))).toBe('MovingBack');
    expect(moveOutcome(move({ state: 'Copying', direction: 'Reverse' }))).toBe('MovingBack');
    expect(moveOutcome(move({ state: 'RolledBack', direction: 'Reverse' }))).toBe('MovedBack');
    expect(moveOutcome(move({ state: 'RolledBack' }))).toBe('RolledBack');
    expect(moveOutcome(move({ state: 'Failed' }))).toBe('Failed');
  });
});
