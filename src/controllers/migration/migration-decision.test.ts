import type { MigrationSpec } from '../../crds/migration.js';
import { selectionFacts, type SelectedCustomer } from '../../store/migration-selection.js';
import type { StepRecord } from '../../store/migration-steps.js';
import { cellProblem, decideMigration, effectiveSteps, judgeValidity, migrationStatus, retryProblem, startNow, walkSteps, WHOLE_BATCH_WAIT_MS, type MigrationFacts } from './migration-decision.js';

const t0 = new Date('2026-11-28T10:00:00Z');
const seconds = (n: number) => new Date(t0.getTime() + n * 1000);

const spec = (over: Partial<MigrationSpec> = {}): MigrationSpec => ({
  from: 'eu-west-1a',
  to: 'eu-west-1b',
  customers: { all: true },
  order: 'SmallestFirst',
  steps: [{ move: 1 }, { pause: { duration: '5s' } }, { move: '50%' }, { pause: {} }, { move: '100%' }],
  maxConcurrent: 4,
  paused: false,
  abort: false,
  drainWait: '2s',
  retention: '24h',
  ...over,
} as MigrationSpec);

const customers = (n: number, outcome?: SelectedCustomer['outcome']): SelectedCustomer[] =>
  Array.from({ length: n }, (_, i) => ({ id: `c${String(i).padStart(2, '0')}`, region: 'eu-west-1', ...(outcome ? { outcome } : {}) }));

/** The facts of a migration whose selection is given as a list (in move order), as the tests write it. */
function facts(over: Partial<MigrationFacts> & { selected?: SelectedCustomer[] } = {}): MigrationFacts {
  const { selected = customers(20), selection, ...rest } = over;
  const f: Omit<MigrationFacts, 'selection'> = {
    name: 'm',
    generation: 1,
    spec: spec(),
    source: { name: 'eu-west-1a', region: 'eu-west-1', ready: true, freeCapacity: 100 },
    target: { name: 'eu-west-1b', region: 'eu-west-1', ready: true, freeCapacity: 100 },
    failures: [],
    rowsCopied: 0,
    now: t0,
    ...rest,
  };
  return { ...f, selection: selection ?? selectionFacts(selected, f.target?.region, f.spec.maxConcurrent) };
}

/** The record of a migration that reached `step` at `since` (the start of the test by default). */
const atStep = (step: number, since = t0): StepRecord => ({ step, stepStartedAt: since, phase: 'Progressing', startedAt: t0, completedAt: null });

const cond = (d: ReturnType<typeof decideMigration>, type: string) => d.status.conditions?.find((c) => c.type === type);

describe('decideMigration', () => {
  it('starts with one canary customer, the first in move order', () => {
    const d = decideMigration(facts());
    expect(d.start).toEqual(['c00']);
    expect(d.status).toMatchObject({ phase: 'Progressing', currentStep: 0, progress: '0/20', customers: { total: 20, inFlight: 1, pending: 19 } });
  });

  it('starts nobody else while the canary is in flight', () => {
    const selected = customers(20);
    selected[0] = { ...selected[0]!, outcome: 'InFlight' };
    const d = decideMigration(facts({ selected }));
    expect(d.start).toEqual([]);
    expect(d.status.phase).toBe('Progressing');
  });

  it('pauses for the timed pause once the canary has moved, and goes on when it ends', () => {
    const selected = customers(20);
    selected[0] = { ...selected[0]!, outcome: 'Moved' };
    const paused = decideMigration(facts({ selected }));
    expect(paused.status).toMatchObject({ phase: 'Paused', currentStep: 1 });
    expect(paused.start).toEqual([]);
    expect(paused.requeueAfterMs).toBe(5000);
    const later = decideMigration(facts({ selected, record: paused.record, conditions: paused.status.conditions, now: seconds(6) }));
    expect(later.status.currentStep).toBe(2);
    // 50% of 20 is 10 customers; 1 moved, at most maxConcurrent=4 at once.
    expect(later.start).toEqual(['c01', 'c02', 'c03', 'c04']);
  });

  it('waits at pause: {} until a person promotes that step', () => {
    const selected = customers(20).map((c, i) => (i < 10 ? { ...c, outcome: 'Moved' as const } : c));
    const waiting = decideMigration(facts({ selected, record: atStep(2, new Date('2026-11-28T09:00:00Z')), now: seconds(3600) }));
    expect(waiting.status).toMatchObject({ phase: 'Paused', currentStep: 3 });
    expect(cond(waiting, 'Paused')).toMatchObject({ status: 'True', reason: 'WaitingForPromotion' });
    expect(waiting.status.message).toContain('"promotedStep":3');
    const promoted = decideMigration(facts({ selected, spec: spec({ promotedStep: 3 }), record: waiting.record, conditions: waiting.status.conditions, now: seconds(3601) }));
    expect(promoted.status).toMatchObject({ phase: 'Progressing', currentStep: 4 });
    expect(promoted.start).toHaveLength(4);
  });

  it('succeeds when every selected customer has moved', () => {
    const d = decideMigration(facts({ selected: customers(20, 'Moved'), record: atStep(4) }));
    expect(d.status).toMatchObject({ phase: 'Succeeded', currentStep: 5, progress: '20/20' });
    expect(cond(d, 'Ready')?.status).toBe('True');
    expect(d.status.completedAt).toBeDefined();
    expect(d.requeueAfterMs).toBeUndefined();
  });

  it('shows the moves retrying after errors, and nothing of them when there are none', () => {
    const retrying = { total: 12, moves: [{ customer: 'c1', state: 'Pending', attempts: 4, lastError: 'FenceSchemaNewer: upgrade this operator', time: '2026-01-01T00:00:00Z' }] };
    const status = decideMigration(facts({ retrying })).status;
    expect(status).toMatchObject({ retryingMoves: retrying.moves, retryingTotal: 12 });
    const quiet = decideMigration(facts({ retrying: { total: 0, moves: [] } })).status;
    expect(quiet).not.toHaveProperty('retryingMoves');
    expect(quiet).not.toHaveProperty('retryingTotal');
  });

  it('holds the next step when a customer of the previous one failed, and says what to do', () => {
    const selected = customers(20);
    selected[0] = { ...selected[0]!, outcome: 'Failed' };
    const d = decideMigration(facts({ selected, record: atStep(2) }));
    expect(d.start).toEqual([]);
    expect(d.status.phase).toBe('Paused');
    expect(cond(d, 'Gated')).toMatchObject({ status: 'True', reason: 'CustomersFailed' });
    expect(cond(d, 'Stalled')?.status).toBe('True');
    const promoted = decideMigration(facts({ selected, spec: spec({ promotedStep: 2 }), record: atStep(2) }));
    expect(promoted.start.length).toBeGreaterThan(0);
  });

  it('is Progressing again when a failed customer is retried after the last step, and succeeds once it moved', () => {
    const failedAtEnd: StepRecord = { step: 5, stepStartedAt: new Date('2026-01-01T00:00:00Z'), phase: 'Failed', startedAt: null, completedAt: null };
    const selected = customers(20).map((c, i) => ({ ...c, outcome: i === 0 ? ('Pending' as const) : ('Moved' as const) }));
    const retried = decideMigration(facts({ selected, spec: spec({ promotedStep: 3 }), record: failedAtEnd }));
    expect(retried.status).toMatchObject({ phase: 'Progressing', currentStep: 4, customers: { failed: 0 } });
    const done = selected.map((c) => ({ ...c, outcome: 'Moved' as const }));
    expect(decideMigration(facts({ selected: done, spec: spec({ promotedStep: 3 }), record: retried.record })).status).toMatchObject({ phase: 'Succeeded', currentStep: 5 });
  });

  it('holds a move step while the target cell is not Ready', () => {
    const d = decideMigration(facts({ target: { name: 'eu-west-1b', region: 'eu-west-1', ready: false, freeCapacity: 100 } }));
    expect(d.start).toEqual([]);
    expect(cond(d, 'Gated')).toMatchObject({ status: 'True', reason: 'TargetNotReady' });
  });

  it('starts nobody into a target whose spec.state closes it to new customers, and says how to open it', () => {
    for (const state of ['Cordoned', 'Draining'] as const) {
      const selected = customers(20).map((c, i) => (i === 0 ? { ...c, outcome: 'Moved' as const } : c));
      const d = decideMigration(facts({ selected, record: atStep(2), target: { name: 'eu-west-1b', region: 'eu-west-1', ready: true, freeCapacity: 100, state } }));
      expect(d.start).toEqual([]);
      expect(d.status.phase).toBe('Paused');
      expect(cond(d, 'Valid')).toMatchObject({ status: 'False', reason: 'TargetNotActive' });
      expect(cond(d, 'Valid')?.message).toBe(`spec.to: cell eu-west-1b is ${state} (its spec.state): it takes no new customers. Set its spec.state to Active to go on, or choose another target.`);
    }
    // An abort still moves everyone back: the source's state is no reason to keep them.
    const aborting = decideMigration(facts({ spec: spec({ abort: true }), selected: [{ id: 'c00', region: 'eu-west-1', outcome: 'Moved' }], source: { name: 'eu-west-1a', region: 'eu-west-1', ready: true, freeCapacity: 100, state: 'Cordoned' } }));
    expect(cond(aborting, 'Valid')?.status).toBe('True');
  });

  it('starts small customers in whole batches while moves keep ending, so that a batch cut short by a restart does not leave batches of one behind', () => {
    // maxConcurrent 4 × batchSize 20 = 80 slots; `endedAgo`: how long ago a move of the migration last left flight (null: none has).
    const at = (inFlight: number, { total = 99, endedAgo = 2_000 as number | null } = {}) => {
      const s = customers(total).map((c, i) => (i < inFlight ? { ...c, outcome: 'InFlight' as const } : c));
      const f = facts({ selected: s, spec: spec({ batchSize: 20, steps: [{ move: '100%' }] }) });
      const selection = { ...selectionFacts(s, 'eu-west-1', 80), ...(endedAgo === null ? {} : { lastEndedAt: new Date(t0.getTime() - endedAgo) }) };
      return decideMigration({ ...f, selection }).start.length;
    };
    expect(at(0, { endedAgo: null })).toBe(80);
    expect(at(61)).toBe(0); // 19 free while moves end: the next batch comes soon (one per freed slot made batches of one)
    expect(at(60)).toBe(20);
    expect(at(17)).toBe(60); // 17 members of a killed batch going on alone: three whole batches beside them
    expect(at(60, { total: 75 })).toBe(15); // the last 15 of the step fit: started together
    expect(at(70, { total: 85 })).toBe(0); // 15 left, 10 free: wait for room for them all
    // Nothing ended for WHOLE_BATCH_WAIT_MS (long moves in flight: a large customer, one retrying): no waiting.
    expect(at(61, { endedAgo: WHOLE_BATCH_WAIT_MS })).toBe(19);
    expect(at(61, { endedAgo: null })).toBe(19);
    // The rule itself: one at a time is unchanged.
    expect(startNow(3, 10, 1, true)).toBe(3);
    expect(startNow(19, 98, 20, false)).toBe(19);
    expect(startNow(3, 5, 20, true)).toBe(0);
    expect(startNow(5, 5, 20, true)).toBe(5);
    expect(startNow(45, 100, 20, true)).toBe(40);
  });

  it('holds a split into a weight-0 target and says why it would select nobody; an empty selection elsewhere says nothing was selected', () => {
    const zero = { name: 'eu-west-1b', region: 'eu-west-1', ready: true, freeCapacity: 100, weight: 0 };
    const split = decideMigration(facts({ selected: [], spec: spec({ customers: { preferTarget: true } }), target: zero }));
    expect(split.start).toEqual([]);
    expect(split.status.phase).toBe('Pending'); // not Succeeded 0/0, as before
    expect(cond(split, 'Valid')).toMatchObject({ status: 'False', reason: 'TargetWeightZero' });
    expect(cond(split, 'Valid')?.message).toBe(
      'spec.to: cell eu-west-1b has spec.weight 0, so placement prefers it for no customer and spec.customers.preferTarget selects nobody. Give it a weight above 0, or select customers with names, selector or all.',
    );
    // Named customers go to a weight-0 cell as asked (weight only steers new placements).
    const named = decideMigration(facts({ spec: spec({ customers: { names: ['c00'] } }), selected: customers(1), target: zero }));
    expect(cond(named, 'Valid')?.status).toBe('True');
    expect(named.start).toEqual(['c00']);
    // Once a split has selected its customers, the target's weight (new placements only) no longer matters.
    const frozen = decideMigration(facts({ selected: customers(20).map((c, i) => (i < 5 ? { ...c, outcome: 'Moved' as const } : c)), spec: spec({ customers: { preferTarget: true }, steps: [{ move: '100%' }] }), target: zero }));
    expect(cond(frozen, 'Valid')?.status).toBe('True');
    expect(frozen.start.length).toBeGreaterThan(0);
    // A split whose target does win nobody (its weight is above 0) ends, and says nothing was selected.
    const empty = decideMigration(facts({ selected: [], spec: spec({ customers: { preferTarget: true }, steps: [{ move: 1 }, { move: '100%' }] }), target: { ...zero, weight: 5 } }));
    expect(empty.status.phase).toBe('Succeeded');
    expect(cond(empty, 'Ready')?.message).toBe('Nothing to move: spec.customers selected no customer of eu-west-1a.');
  });

  it('refuses a spec.retry.failedBefore in the future, which would retry every failure again and again', () => {
    const selected = customers(20).map((c, i) => (i === 0 ? { ...c, outcome: 'Failed' as const } : c));
    const typo = decideMigration(facts({ selected, spec: spec({ retry: { failedBefore: '2027-11-28T10:00:00Z' } }) }));
    expect(typo.start).toEqual([]);
    expect(cond(typo, 'Valid')).toMatchObject({ status: 'False', reason: 'RetryInTheFuture' });
    expect(cond(typo, 'Valid')?.message).toBe(
      'spec.retry.failedBefore is 2027-11-28T10:00:00Z, in the future: every move that fails before then would be retried again and again. Set it to the current time (kubectl cells migration retry m does).',
    );
    expect(retryProblem(spec({ retry: { failedBefore: '2027-11-28T10:00:00Z' } }), t0)).toBeDefined();
    // A clock a little ahead (the person's laptop) is no typo; nor is anything while aborting.
    expect(retryProblem(spec({ retry: { failedBefore: '2026-11-28T10:00:30Z' } }), t0)).toBeUndefined();
    expect(retryProblem(spec({ abort: true, retry: { failedBefore: '2027-11-28T10:00:00Z' } }), t0)).toBeUndefined();
  });

  it('starts the customers no other migration is moving, and waits, saying for which, when only those are left', () => {
    const selected: SelectedCustomer[] = [
      { id: 'c00', region: 'eu-west-1', busyIn: 'other' },
      { id: 'c01', region: 'eu-west-1' },
    ];
    const d = decideMigration(facts({ selected, spec: spec({ steps: [{ move: 1 }] }) }));
    expect(d.start).toEqual(['c01']);
    const onlyBusy = decideMigration(facts({ selected: [selected[0]!], spec: spec({ steps: [{ move: 1 }] }) }));
    expect(onlyBusy.start).toEqual([]);
    expect(onlyBusy.status).toMatchObject({ phase: 'Paused', customers: { inFlight: 0, pending: 1 } });
    expect(cond(onlyBusy, 'Gated')).toMatchObject({ status: 'True', reason: 'CustomersInAnotherMigration' });
    expect(onlyBusy.status.message).toBe(
      'Step 0 (move 1) is held: 1 selected customer(s) are being moved by another Migration (c00 by other). They start once that move has ended, its cleanup included; a customer it moved out of eu-west-1a then fails with NotInSourceCell.',
    );
  });

  it('refuses, as a condition, a target in another region for region-bound customers', () => {
    const d = decideMigration(facts({ target: { name: 'us-east-1a', region: 'us-east-1', ready: true, freeCapacity: 100 } }));
    expect(d.start).toEqual([]);
    expect(d.status.phase).toBe('Pending');
    expect(cond(d, 'Valid')).toMatchObject({ status: 'False', reason: 'TargetInOtherRegion' });
    expect(cond(d, 'Valid')?.message).toContain('c00 (eu-west-1)');
  });

  it('refuses an unknown cell, naming the field', () => {
    const d = decideMigration(facts({ target: undefined }));
    expect(cond(d, 'Valid')).toMatchObject({ status: 'False', reason: 'UnknownCell' });
    expect(cond(d, 'Valid')?.message).toContain('spec.to');
  });

  it('refuses a target without room for the selection', () => {
    const d = decideMigration(facts({ target: { name: 'eu-west-1b', region: 'eu-west-1', ready: true, freeCapacity: 5 } }));
    expect(d.start).toEqual([]);
    expect(cond(d, 'Valid')).toMatchObject({ status: 'False', reason: 'InsufficientCapacity' });
  });

  it('refuses a second drain of a cell another Migration has cordoned, naming it', () => {
    const d = decideMigration(facts({ selected: [], source: { name: 'eu-west-1a', region: 'eu-west-1', ready: true, freeCapacity: 100, cordonedBy: 'first-drain' } }));
    expect(d.start).toEqual([]);
    expect(d.status.phase).toBe('Pending');
    expect(cond(d, 'Valid')).toMatchObject({ status: 'False', reason: 'SourceAlreadyDraining' });
    expect(cond(d, 'Valid')?.message).toContain('cell eu-west-1a is already cordoned by Migration first-drain (drain)');
    expect(cond(d, 'Stalled')).toMatchObject({ status: 'True', reason: 'SourceAlreadyDraining' });
  });

  it('says on the Valid condition that its own drain cordons the source, and runs', () => {
    const d = decideMigration(facts({ source: { name: 'eu-west-1a', region: 'eu-west-1', ready: true, freeCapacity: 100, cordonedBy: 'm' } }));
    expect(d.start).toEqual(['c00']);
    expect(cond(d, 'Valid')?.message).toContain('The source cell eu-west-1a is cordoned by this drain');
  });

  it('lets a selection (not a drain) leave a cell that a drain has cordoned', () => {
    const d = decideMigration(
      facts({ spec: spec({ customers: { names: ['c00'] } }), source: { name: 'eu-west-1a', region: 'eu-west-1', ready: true, freeCapacity: 100, cordonedBy: 'other' } }),
    );
    expect(cond(d, 'Valid')).toMatchObject({ status: 'True' });
  });

  it('refuses to move customers into a cell that a drain is emptying', () => {
    const d = decideMigration(facts({ target: { name: 'eu-west-1b', region: 'eu-west-1', ready: true, freeCapacity: 100, cordonedBy: 'drain-1b' } }));
    expect(d.start).toEqual([]);
    expect(cond(d, 'Valid')).toMatchObject({ status: 'False', reason: 'TargetDraining' });
    expect(cond(d, 'Valid')?.message).toContain('spec.to: cell eu-west-1b is cordoned by Migration drain-1b (drain)');
  });

  it('does not drain a cell other migrations are still filling, and says which', () => {
    const d = decideMigration(facts({ inbound: ['into-1a', 'more-into-1a'] }));
    expect(d.start).toEqual([]);
    expect(cond(d, 'Valid')).toMatchObject({ status: 'False', reason: 'SourceIsATarget' });
    expect(cond(d, 'Valid')?.message).toContain('cell eu-west-1a is the target of Migration into-1a, more-into-1a');
    // cellProblem is what the reconciler asks before it cordons: the same answer.
    expect(cellProblem({ name: 'm', spec: spec(), source: facts().source, target: facts().target, inbound: ['into-1a'] })?.reason).toBe('SourceIsATarget');
    // A drain that already holds the cordon is not stopped by a newcomer into its cell.
    const holding = decideMigration(facts({ inbound: ['late'], source: { name: 'eu-west-1a', region: 'eu-west-1', ready: true, freeCapacity: 100, cordonedBy: 'm' } }));
    expect(cond(holding, 'Valid')).toMatchObject({ status: 'True' });
    // Only a drain cares.
    expect(cellProblem({ name: 'm', spec: spec({ customers: { names: ['c00'] } }), source: facts().source, target: facts().target, inbound: ['into-1a'] })).toBeUndefined();
  });

  it('stays Succeeded when its cells are gone afterwards (a drained cell is deleted next)', () => {
    const selected = customers(3, 'Moved');
    const done = decideMigration(facts({ selected, record: atStep(5) }));
    expect(done.status.phase).toBe('Succeeded');
    const later = decideMigration(facts({ selected, record: done.record, conditions: done.status.conditions, source: undefined, now: seconds(600) }));
    expect(later.status.phase).toBe('Succeeded');
    expect(cond(later, 'Valid')).toMatchObject({ status: 'True', message: 'The migration succeeded; its cells are not checked any more.' });
    expect(cond(later, 'Stalled')).toBeUndefined();
  });

  it('moves a customer that reached the drained source after the last step', () => {
    const selected = [...customers(3, 'Moved'), { id: 'late', region: 'eu-west-1' }];
    const done = decideMigration(facts({ selected: customers(3, 'Moved'), record: atStep(5) }));
    expect(done.status.phase).toBe('Succeeded');
    const again = decideMigration(facts({ selected, record: done.record, conditions: done.status.conditions, now: seconds(60) }));
    expect(again.start).toEqual(['late']);
    expect(again.status).toMatchObject({ phase: 'Progressing', currentStep: 4 });
  });

  it('starts no new move while spec.paused, letting those in flight finish', () => {
    const d = decideMigration(facts({ spec: spec({ paused: true }) }));
    expect(d.start).toEqual([]);
    expect(cond(d, 'Paused')).toMatchObject({ status: 'True', reason: 'PausedBySpec' });
  });

  it('aborts: asks every move back, and ends Aborted once all are back', () => {
    const selected = customers(4).map((c, i) => ({ ...c, outcome: (i < 2 ? 'Moved' : 'InFlight') as SelectedCustomer['outcome'] }));
    const aborting = decideMigration(facts({ selected, spec: spec({ abort: true }) }));
    expect(aborting.abort).toBe(true);
    expect(aborting.start).toEqual([]);
    expect(aborting.status.phase).toBe('Progressing');
    expect(cond(aborting, 'Aborting')?.status).toBe('True');
    const back = customers(4).map((c, i) => ({ ...c, outcome: (i < 2 ? 'MovedBack' : 'RolledBack') as SelectedCustomer['outcome'] }));
    const aborted = decideMigration(facts({ selected: back, spec: spec({ abort: true }) }));
    expect(aborted.status.phase).toBe('Aborted');
    expect(aborted.status.message).toContain('2 customer(s) moved back');
  });

  it('does not wait forever for customers whose cleanup had already ended before the abort', () => {
    const selected = customers(2).map((c) => ({ ...c, outcome: 'Moved' as const, cleanedUp: true }));
    const d = decideMigration(facts({ selected, spec: spec({ abort: true }) }));
    expect(d.status.phase).toBe('Aborted');
    expect(d.status.message).toContain('2 customer(s) stay in eu-west-1b');
  });

  it('estimates completion from the measured time per move and the concurrency', () => {
    const selected = customers(20).map((c, i) => (i < 4 ? { ...c, outcome: 'Moved' as const } : c));
    const d = decideMigration(facts({ selected, spec: spec({ steps: [{ move: '100%' }] }), meanMoveMs: 10_000 }));
    // 16 left, 4 at a time, 10 s each: 40 s.
    expect(d.status.estimatedCompletionTime).toBe('2026-11-28T10:00:40Z');
  });

  it('implies a final move: 100% after the last step', () => {
    expect(effectiveSteps(spec({ steps: [{ move: 1 }] }))).toEqual([{ move: 1 }, { move: '100%' }]);
    expect(effectiveSteps(spec({ steps: [{ move: '100%' }] }))).toEqual([{ move: '100%' }]);
  });

  it('starts the next customers it is given, without the list of the whole selection', () => {
    const counts = { total: 100_000, pending: 40_000, queued: 0, inFlight: 6, moved: 59_994, failed: 0, movedBack: 0, cleanedUp: 50_000 };
    const d = decideMigration(
      facts({
        spec: spec({ steps: [{ move: '100%' }], maxConcurrent: 8 }),
        target: { name: 'eu-west-1b', region: 'eu-west-1', ready: true, freeCapacity: 50_000 },
        selection: { counts, outOfRegion: { count: 0, examples: [] }, next: ['c60000', 'c60001', 'c60002', 'c60003', 'c60004', 'c60005', 'c60006', 'c60007'], busy: { count: 0 } },
      }),
    );
    expect(d.start).toEqual(['c60000', 'c60001']);
    expect(d.status).toMatchObject({ progress: '59994/100000', customers: { total: 100_000, pending: 39_998, inFlight: 8, moved: 59_994 } });
  });

  it('starts maxConcurrent × batchSize customers when moves go in batches', () => {
    const selected = customers(30);
    const d = decideMigration(
      facts({ spec: spec({ steps: [{ move: '100%' }], maxConcurrent: 2, batchSize: 5 }), selection: selectionFacts(selected, 'eu-west-1', 10) }),
    );
    expect(d.start).toEqual(selected.slice(0, 10).map((c) => c.id));
  });

  it('starts maxConcurrent customers when spec.batchSize is not given (one customer a batch)', () => {
    const selected = customers(100);
    const d = decideMigration(facts({ spec: spec({ steps: [{ move: '100%' }], maxConcurrent: 2 }), selection: selectionFacts(selected, 'eu-west-1', 60) }));
    expect(d.start).toEqual(selected.slice(0, 2).map((c) => c.id));
  });

  it('keeps lastTransitionTime of unchanged conditions across reconciles', () => {
    const first = decideMigration(facts());
    const again = decideMigration(facts({ record: first.record, conditions: first.status.conditions, now: seconds(30) }));
    expect(cond(again, 'Valid')?.lastTransitionTime).toBe(cond(first, 'Valid')?.lastTransitionTime);
  });
});

describe('selectionFacts', () => {
  const list: SelectedCustomer[] = [
    { id: 'a', region: 'eu-west-1', outcome: 'Moved', cleanedUp: true },
    { id: 'b', region: null, outcome: 'Failed' },
    { id: 'c', region: 'us-east-1' },
    { id: 'd', region: null, outcome: 'InFlight' },
    { id: 'e', region: null },
    { id: 'f', region: 'us-east-1', outcome: 'Pending' },
    { id: 'g', region: 'eu-west-1' },
    { id: 'h', region: 'us-east-1' },
    { id: 'i', region: 'ap-south-1' },
    { id: 'j', region: 'us-east-1' },
    { id: 'k', region: null, outcome: 'MovingBack' },
    { id: 'l', region: null, outcome: 'MovedBack' },
    { id: 'm', region: null, outcome: 'RolledBack' },
  ];

  it('counts the customers by the outcome of their moves', () => {
    expect(selectionFacts(list, 'eu-west-1', 4).counts).toEqual({ total: 13, pending: 6, queued: 1, inFlight: 2, moved: 1, failed: 2, movedBack: 1, cleanedUp: 1 });
  });

  it('lists the first customers not started, in move order, up to the limit', () => {
    expect(selectionFacts(list, 'eu-west-1', 4).next).toEqual(['c', 'e', 'g', 'h']);
    expect(selectionFacts(list, 'eu-west-1', 100).next).toEqual(['c', 'e', 'g', 'h', 'i', 'j']);
  });

  it('counts the customers not started that are bound to another region, with the first three', () => {
    expect(selectionFacts(list, 'eu-west-1', 4).outOfRegion).toEqual({
      count: 4,
      examples: [
        { id: 'c', region: 'us-east-1' },
        { id: 'h', region: 'us-east-1' },
        { id: 'i', region: 'ap-south-1' },
      ],
    });
    expect(selectionFacts(list, undefined, 4).outOfRegion.count).toBe(5);
  });
});

describe('walkSteps and migrationStatus, apart', () => {
  it('the walker steps over a moved canary and stops at the timed pause, with the time it started', () => {
    const selected = customers(20);
    selected[0] = { ...selected[0]!, outcome: 'Moved' };
    const f = facts({ selected, record: atStep(0), now: seconds(2) });
    expect(walkSteps(f, {})).toEqual({
      phase: 'Paused',
      message: 'Step 1: pausing until 2026-11-28T10:00:07Z (or promote: spec.promotedStep: 1).',
      step: 1,
      stepStartedAt: seconds(2),
      start: [],
      conditions: [{ type: 'Paused', status: 'True', reason: 'TimedPause', message: 'Step 1: pausing until 2026-11-28T10:00:07Z (or promote: spec.promotedStep: 1).' }],
      requeueAfterMs: 5_000,
    });
  });

  it('the status mirrors the walk and the record, which keeps when the migration first started', () => {
    const f = facts({ record: { step: 0, stepStartedAt: t0, phase: 'Progressing', startedAt: t0, completedAt: null }, now: seconds(1) });
    const walk = { phase: 'Progressing' as const, message: 'Step 0 (move 1): 0/1 moved, 1 in flight.', step: 0, stepStartedAt: t0, start: ['c00'], conditions: [] };
    const { status, record } = migrationStatus(f, judgeValidity(f), walk);
    expect(record).toEqual({ step: 0, stepStartedAt: t0, phase: 'Progressing', startedAt: t0, completedAt: null });
    expect({ ...status, conditions: status.conditions?.map((c) => `${c.type}=${c.status}/${c.reason}`) }).toEqual({
      phase: 'Progressing',
      observedGeneration: 1,
      currentStep: 0,
      currentStepStartedAt: '2026-11-28T10:00:00Z',
      progress: '0/20',
      customers: { total: 20, pending: 19, inFlight: 1, moved: 0, failed: 0, movedBack: 0 },
      rowsCopied: 0,
      startedAt: '2026-11-28T10:00:00Z',
      conditions: ['Valid=True/Valid', 'Paused=False/NotPaused', 'Gated=False/GatesOpen', 'Progressing=True/Progressing', 'Ready=False/Progressing', 'Reconciling=True/Progressing'],
      message: 'Step 0 (move 1): 0/1 moved, 1 in flight.',
    });
  });

  it('a Succeeded record is not judged again, though its cells are gone', () => {
    const f = facts({ selected: customers(3, 'Moved'), record: { ...atStep(5), phase: 'Succeeded' }, source: undefined });
    expect(judgeValidity(f)).toMatchObject({ finished: true, condition: { status: 'True', reason: 'Valid' } });
    expect(judgeValidity({ ...f, record: atStep(5) })).toMatchObject({ finished: false, invalid: { reason: 'UnknownCell' } });
  });
});
