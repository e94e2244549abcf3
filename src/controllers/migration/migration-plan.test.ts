import type { MigrationSpec } from '../../crds/migration.js';
import type { CellFacts } from './migration-decision.js';
import {
  CORDON_RETRY_MS,
  DRIVEN_REQUEUE_MS,
  leftoverStatus,
  planAdmission,
  planDeletion,
  planLeftovers,
  requeueAfter,
  sourceAfterCordon,
  type AdmissionFacts,
  type OpenMove,
} from './migration-plan.js';

const t0 = new Date('2026-12-01T10:00:00Z');
const spec = (over: Partial<MigrationSpec> = {}): MigrationSpec =>
  ({ from: 'a', to: 'b', customers: { all: true }, order: 'SmallestFirst', steps: [{ move: '100%' }], maxConcurrent: 4, paused: false, abort: false, ...over }) as MigrationSpec;
const cell = (name: string, cordonedBy: string | null = null): CellFacts => ({ name, region: 'eu', ready: true, freeCapacity: 100, cordonedBy });
const drain = (over: Partial<AdmissionFacts> = {}): AdmissionFacts => ({ name: 'drain-a', spec: spec(), source: cell('a'), target: cell('b'), inbound: [], ...over });

describe('planAdmission', () => {
  it('freezes the selection of a migration that is no drain, and leaves every cordon alone', () => {
    expect(planAdmission(drain({ spec: spec({ customers: { names: ['x'] } }) }))).toEqual({ cordon: { kind: 'keep' }, freeze: true, refused: false });
  });

  it('does not freeze a split into a target that takes no new customers: it would select nobody, for good', () => {
    const split = spec({ customers: { preferTarget: true } });
    expect(planAdmission(drain({ spec: split, target: { ...cell('b'), state: 'Cordoned' } }))).toEqual({ cordon: { kind: 'keep' }, freeze: false, refused: true });
    expect(planAdmission(drain({ spec: split }))).toEqual({ cordon: { kind: 'keep' }, freeze: true, refused: false });
    // Nor one into a cell of weight 0, which placement prefers for nobody: it is frozen once the weight is raised.
    expect(planAdmission(drain({ spec: split, target: { ...cell('b'), weight: 0 } }))).toEqual({ cordon: { kind: 'keep' }, freeze: false, refused: true });
    expect(planAdmission(drain({ spec: split, target: { ...cell('b'), weight: 1 } }))).toMatchObject({ freeze: true, refused: false });
    // A selection by names or labels comes from the source alone: frozen, and the decider holds it.
    expect(planAdmission(drain({ spec: spec({ customers: { names: ['c1'] } }), target: { ...cell('b'), state: 'Cordoned' } }))).toMatchObject({ freeze: true, refused: false });
  });

  it('takes the cordon of a drain before freezing its selection', () => {
    expect(planAdmission(drain())).toEqual({ cordon: { kind: 'take' }, freeze: true, refused: false });
    expect(planAdmission(drain({ source: cell('a', 'drain-a') }))).toEqual({ cordon: { kind: 'take' }, freeze: true, refused: false });
  });

  it('lifts the cordon of an aborted drain and takes no more late arrivals', () => {
    expect(planAdmission(drain({ spec: spec({ abort: true }), source: cell('a', 'drain-a') }))).toEqual({ cordon: { kind: 'release' }, freeze: false, refused: false });
  });

  it('closes no cell for a drain that cannot run', () => {
    expect(planAdmission(drain({ target: undefined }))).toEqual({ cordon: { kind: 'keep' }, freeze: false, refused: true });
    expect(planAdmission(drain({ inbound: ['fill-a'] }))).toEqual({ cordon: { kind: 'keep' }, freeze: false, refused: true });
    expect(planAdmission(drain({ target: cell('b', 'drain-b') }))).toEqual({ cordon: { kind: 'keep' }, freeze: false, refused: true });
  });

  it('waits for another drain of the same cell, but takes over the cordon of one that is gone', () => {
    expect(planAdmission(drain({ source: cell('a', 'other'), holderDrainsSource: true }))).toEqual({ cordon: { kind: 'keep' }, freeze: false, refused: true });
    expect(planAdmission(drain({ source: cell('a', 'other'), holderDrainsSource: false }))).toEqual({ cordon: { kind: 'take', replacing: 'other' }, freeze: true, refused: false });
  });
});

describe('sourceAfterCordon', () => {
  it('shows the source as the cordon left it', () => {
    expect(sourceAfterCordon(cell('a'), 'drain-a', { kind: 'take' }, true)).toEqual(cell('a', 'drain-a'));
    expect(sourceAfterCordon(cell('a', 'x'), 'drain-a', { kind: 'take' }, false)).toEqual(cell('a', 'x'));
    expect(sourceAfterCordon(cell('a', 'drain-a'), 'drain-a', { kind: 'release' }, false)).toEqual(cell('a', null));
    expect(sourceAfterCordon(undefined, 'drain-a', { kind: 'take' }, true)).toBeUndefined();
  });
});

describe('planDeletion', () => {
  const move = (customerId: string, over: Partial<OpenMove> = {}): OpenMove => ({ migration: 'm', customerId, state: 'Copying', cutOverAt: null, abortRequestedAt: null, cleanupAfter: null, ...over });

  it('finishes (archive, release, finalizer) when no move is open', () => {
    expect(planDeletion([], t0)).toEqual({ kind: 'finish' });
  });

  it('rolls back the moves before their cut-over and looks again in a second', () => {
    const plan = planDeletion([move('c1'), move('c2', { abortRequestedAt: t0 }), move('c3', { state: 'Cleanup', cutOverAt: t0, cleanupAfter: new Date(t0.getTime() + 3_600_000) })], t0);
    expect(plan).toEqual({
      kind: 'wait',
      abort: [{ migration: 'm', customerId: 'c1' }],
      message:
        'Deletion waits for 3 customer move(s) to finish. The source keeps the rows of 1 moved customer(s) until 2026-12-01T11:00:00Z, as spec.retention said at their cut-over; changing spec.retention now does not bring that forward.',
      requeueAfterMs: 1_000,
    });
  });

  it('with only cleanups left, comes back when the first is due, at least every minute', () => {
    const cleanup = (customerId: string, inMs: number) => move(customerId, { state: 'Cleanup', cutOverAt: t0, cleanupAfter: new Date(t0.getTime() + inMs) });
    expect(planDeletion([cleanup('c1', 20_000), cleanup('c2', 40_000)], t0)).toMatchObject({ kind: 'wait', abort: [], requeueAfterMs: 20_000 });
    expect(planDeletion([cleanup('c1', 3_600_000)], t0)).toMatchObject({ requeueAfterMs: 60_000 });
  });

  it('says when the last cleanup is due, and does not promise that a shorter spec.retention hastens it', () => {
    // The cleanup time is fixed in the journal at the cut-over: a person who shortened
    // spec.retention, as the old message advised, waited just as long.
    const cleanup = (customerId: string, inMs: number) => move(customerId, { state: 'Cleanup', cutOverAt: t0, cleanupAfter: new Date(t0.getTime() + inMs) });
    const plan = planDeletion([cleanup('c2', 86_400_000), cleanup('c1', 3_600_000)], t0);
    expect(plan).toMatchObject({ kind: 'wait', requeueAfterMs: 60_000 });
    const message = plan.kind === 'wait' ? plan.message : '';
    expect(message).toContain('2 moved customer(s) until 2026-12-02T10:00:00Z');
    expect(message).not.toMatch(/shorten spec\.retention/);
  });
});

describe('planLeftovers', () => {
  const move = (customerId: string, over: Partial<OpenMove> = {}): OpenMove => ({ migration: 'm', customerId, state: 'Copying', cutOverAt: null, abortRequestedAt: null, cleanupAfter: null, ...over });

  it('leaves a record of this Migration, or one kept before uids were, alone', () => {
    expect(planLeftovers('m', 'uid-new', 'uid-new', [move('c1')], t0)).toEqual({ kind: 'none' });
    expect(planLeftovers('m', 'uid-new', null, [move('c1')], t0)).toEqual({ kind: 'none' });
    expect(planLeftovers('m', 'uid-new', undefined, [], t0)).toEqual({ kind: 'none' });
  });

  it('archives the rows of an earlier Migration of the same name whose moves have all ended', () => {
    expect(planLeftovers('m', 'uid-new', 'uid-old', [], t0)).toEqual({ kind: 'archive', uid: 'uid-old' });
  });

  it('finishes the open moves of an earlier namesake first, as its deletion would have, and says so', () => {
    const plan = planLeftovers('m', 'uid-new', 'uid-old', [move('c1'), move('c2', { state: 'Cleanup', cutOverAt: t0, cleanupAfter: new Date(t0.getTime() + 3_600_000) })], t0);
    expect(plan).toMatchObject({ kind: 'wait', uid: 'uid-old', abort: [{ migration: 'm', customerId: 'c1' }], requeueAfterMs: 1_000 });
    const message = plan.kind === 'wait' ? plan.message : '';
    expect(message).toBe(
      'A Migration named m that was deleted before (uid uid-old, its finalizer removed by hand) left 2 customer move(s) unfinished; they are being finished first. The source keeps the rows of 1 moved customer(s) until 2026-12-01T11:00:00Z, as spec.retention said at their cut-over; changing spec.retention now does not bring that forward. This Migration starts once they end; to start now, give it another name.',
    );
    const status = leftoverStatus(undefined, 1, message, t0);
    expect(status).toMatchObject({ phase: 'Pending', observedGeneration: 1, message });
    expect(status.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`)).toEqual(['Gated=True/NameHasUnfinishedMoves', 'Ready=False/Pending', 'Reconciling=True/NameHasUnfinishedMoves']);
  });
});

describe('requeueAfter', () => {
  it('comes back soon after driving moves, later for a refused drain, else as decided or at the next cleanup', () => {
    expect(requeueAfter({ driven: 2, refused: true, decided: 5_000, now: t0 })).toBe(DRIVEN_REQUEUE_MS);
    expect(requeueAfter({ driven: 0, refused: true, decided: 5_000, now: t0 })).toBe(CORDON_RETRY_MS);
    expect(requeueAfter({ driven: 0, refused: false, decided: 5_000, now: t0 })).toBe(5_000);
    expect(requeueAfter({ driven: 0, refused: false, nextCleanupAt: new Date(t0.getTime() + 90_000), now: t0 })).toBe(90_000);
    expect(requeueAfter({ driven: 0, refused: false, nextCleanupAt: new Date(t0.getTime() + 86_400_000), now: t0 })).toBe(3_600_000);
    expect(requeueAfter({ driven: 0, refused: false, now: t0 })).toBeUndefined();
  });
});
