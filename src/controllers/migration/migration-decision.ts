// The Migration decider: from the spec, how the selected customers stand (counts by the outcome of
// their moves in the journal, the next ones to start in move order, those bound to another region),
// the two cells and the time, it decides which customers start moving now, whether to abort, and the
// status (step, phase, counts, gates, conditions, ETA). Pure: every fact comes in as an argument.
// The facts about the selection are aggregates, not the list of customers, so that a reconcile of a
// 100k-customer drain reads a few rows (store/migration-selection.ts counts them in SQL, and defines
// them over a plain list in selectionFacts()).
import {
  DEFAULT_MOVE_BATCH,
  MIGRATION_CONDITIONS,
  type MigrationFailure,
  type RetryingMove,
  type MigrationPhase,
  type MigrationSpec,
  type MigrationStatus,
  type MigrationStep,
} from '../../crds/migration.js';
import { walkCountedSteps } from '../../crds/steps.js';
import { kstatusConditions, replaceConditions, type Condition, type ConditionInput } from '../../runtime/conditions.js';
import { kubeTime } from '../../runtime/kube-time.js';
import type { SelectionCounts, SelectionFacts } from '../../store/migration-selection.js';
import type { StepRecord } from '../../store/migration-steps.js';
import { describeCordon, type CellState } from '../../store/placement-decision.js';

export interface CellFacts {
  name: string;
  region: string;
  ready: boolean;
  /** maxCustomers minus placed and reserved customers. */
  freeCapacity: number;
  /** The Migration whose drain cordons this cell (closed to new customers); null or absent: none. */
  cordonedBy?: string | null;
  /** The Cell's spec.state: only an Active cell takes new customers, by placement or by a move. Absent: Active. */
  state?: CellState;
  /** The Cell's spec.weight (0: placement prefers it for nobody). Absent: not known, judged as above 0. */
  weight?: number;
}

export interface MigrationFacts {
  name: string;
  /** metadata.uid: kept in the step record, so that a later Migration of the same name knows the record is not its own. */
  uid?: string;
  generation?: number;
  spec: MigrationSpec;
  /** Where the migration stands in its steps, from the control-plane database; undefined before its first reconcile. */
  record?: StepRecord;
  /** The conditions the status has now: only to keep their lastTransitionTime while they hold. */
  conditions?: readonly Condition[];
  /** The selected customers (in the order they move: SmallestFirst, Hash or Listed already applied). */
  selection: SelectionFacts;
  /** Undefined when no such Cell exists. */
  source?: CellFacts;
  target?: CellFacts;
  failures: readonly MigrationFailure[];
  /** Unfinished moves retrying after errors (the latest, at most 10) and how many in all. */
  retrying?: { total: number; moves: readonly RetryingMove[] };
  rowsCopied: number;
  /** An executor's mean time per move cut over so far (a batch's time shared by its members: meanMoveMs in the journal), for the ETA; undefined before the first. */
  meanMoveMs?: number;
  /** Other Migrations still moving customers into spec.from (not finished, not aborted). */
  inbound?: readonly string[];
  now: Date;
}

export interface MigrationDecision {
  status: MigrationStatus;
  /** Where the migration stands now: saved in the control-plane database before any move starts. */
  record: StepRecord;
  /** Customers whose move starts now (journal row + capacity reservation). */
  start: string[];
  /** Ask every move of this migration to go back. */
  abort: boolean;
  /** Look again this soon even without an event (a timed pause, moves in flight). */
  requeueAfterMs?: number;
}

/** The steps as run: the spec's, then an implied final `move: 100%`. */
export function effectiveSteps(spec: MigrationSpec): MigrationStep[] {
  const last = spec.steps[spec.steps.length - 1];
  return last?.move === '100%' ? [...spec.steps] : [...spec.steps, { move: '100%' }];
}

/**
 * What is wrong with the cells of a migration, if anything: also asked before a drain cordons its
 * source, so that a drain that cannot run closes no cell to new customers.
 */
export function cellProblem(f: Pick<MigrationFacts, 'name' | 'spec' | 'source' | 'target' | 'inbound'>): { reason: string; message: string } | undefined {
  if (f.spec.from === f.spec.to) return { reason: 'SameCell', message: 'spec.from and spec.to name the same cell.' };
  if (!f.source) return { reason: 'UnknownCell', message: `spec.from: there is no Cell ${f.spec.from}.` };
  if (!f.target) return { reason: 'UnknownCell', message: `spec.to: there is no Cell ${f.spec.to}.` };
  // One drain per cell: a second one would fight the first over the cordon and the customers.
  if (f.spec.customers.all && f.source.cordonedBy && f.source.cordonedBy !== f.name) {
    return {
      reason: 'SourceAlreadyDraining',
      message: `spec.from: cell ${f.source.name} is already ${describeCordon(f.source.cordonedBy)}. This drain starts once that Migration is deleted; delete this one if it is a duplicate.`,
    };
  }
  if (f.target.cordonedBy && f.target.cordonedBy !== f.name) {
    return {
      reason: 'TargetDraining',
      message: `spec.to: cell ${f.target.name} is ${describeCordon(f.target.cordonedBy)}: it is being emptied and takes no customers. Choose another target.`,
    };
  }
  // Cordoned or Draining in Git: a person closed the cell to new customers, moved ones included.
  if (f.target.state && f.target.state !== 'Active') {
    return {
      reason: 'TargetNotActive',
      message: `spec.to: cell ${f.target.name} is ${f.target.state} (its spec.state): it takes no new customers. Set its spec.state to Active to go on, or choose another target.`,
    };
  }
  // A drain does not cordon a cell that other migrations are still filling: they would stall.
  const inbound = f.inbound ?? [];
  if (f.spec.customers.all && f.source.cordonedBy !== f.name && inbound.length > 0) {
    return {
      reason: 'SourceIsATarget',
      message: `spec.from: cell ${f.source.name} is the target of Migration ${inbound.join(', ')}, still moving customers in. This drain starts once ${inbound.length === 1 ? 'it is' : 'they are'} over or aborted.`,
    };
  }
  return undefined;
}

/**
 * A split selects the customers whose placement prefers the target: into a cell of weight 0, none.
 * Judged before its selection is made only: once customers are selected they move whatever the
 * target's weight becomes (weight steers new placements).
 */
export function zeroWeightSplit(f: Pick<MigrationFacts, 'spec' | 'target'>): { reason: string; message: string } | undefined {
  if (!f.spec.customers.preferTarget || f.spec.abort || f.target?.weight !== 0) return undefined;
  return {
    reason: 'TargetWeightZero',
    message: `spec.to: cell ${f.target.name} has spec.weight 0, so placement prefers it for no customer and spec.customers.preferTarget selects nobody. Give it a weight above 0, or select customers with names, selector or all.`,
  };
}

/** How far ahead of the operator's clock spec.retry.failedBefore may be: kubectl cells sets it from the person's. */
export const RETRY_CLOCK_SKEW_MS = 60_000;

/**
 * A spec.retry whose failedBefore is in the future (a typo in Git: the wrong year): every move that
 * fails before then would start again, fail again and be retried again, its customer fenced each
 * time. Not retried; the Valid condition says what to set. Nothing is retried while aborting.
 */
export function retryProblem(spec: MigrationSpec, now: Date, name = 'NAME'): { reason: string; message: string } | undefined {
  if (!spec.retry || spec.abort) return undefined;
  if (new Date(spec.retry.failedBefore).getTime() <= now.getTime() + RETRY_CLOCK_SKEW_MS) return undefined;
  return {
    reason: 'RetryInTheFuture',
    message: `spec.retry.failedBefore is ${spec.retry.failedBefore}, in the future: every move that fails before then would be retried again and again. Set it to the current time (kubectl cells migration retry ${name} does).`,
  };
}

/** Why the migration cannot run at all: a condition a person must fix, not an action. */
export function validate(f: MigrationFacts, c: SelectionCounts): { reason: string; message: string } | undefined {
  const cells = cellProblem(f);
  if (cells) return cells;
  const retry = retryProblem(f.spec, f.now, f.name);
  if (retry) return retry;
  const zero = c.total === 0 ? zeroWeightSplit(f) : undefined;
  if (zero) return zero;
  const target = f.target as CellFacts; // cellProblem found it
  const outOfRegion = f.selection.outOfRegion;
  if (outOfRegion.count > 0) {
    const examples = outOfRegion.examples.map((s) => `${s.id} (${s.region})`).join(', ');
    return {
      reason: 'TargetInOtherRegion',
      message: `spec.to: cell ${target.name} is in region ${target.region}, but ${outOfRegion.count} selected customer(s) are bound to another region: ${examples}. Choose a target in their region.`,
    };
  }
  // Capacity is reserved as each move starts, so only the customers not started yet need room.
  if (c.pending > target.freeCapacity) {
    return {
      reason: 'InsufficientCapacity',
      message: `spec.to: cell ${target.name} has room for ${target.freeCapacity} more customer(s) but ${c.pending} are still to move. Raise its spec.capacity.maxCustomers or select fewer customers.`,
    };
  }
  return undefined;
}

/** Whole seconds, as the status shows times: the record and the status then say the same. */
const second = (d: Date): Date => new Date(kubeTime(d));

/** Whether the cells and the selection let the migration run, as the Valid condition says it. */
export interface Validity {
  invalid?: { reason: string; message: string };
  /** Succeeded before, with nothing left to move: its cells are not judged again (a drained cell is deleted next). */
  finished: boolean;
  condition: ConditionInput;
}

export function judgeValidity(f: MigrationFacts): Validity {
  const c = f.selection.counts;
  const finished = f.record?.phase === 'Succeeded' && c.pending + c.queued + c.inFlight === 0;
  const invalid = f.spec.abort || finished ? undefined : validate(f, c);
  const condition: ConditionInput = invalid
    ? { type: MIGRATION_CONDITIONS.valid, status: 'False', reason: invalid.reason, message: invalid.message }
    : {
        type: MIGRATION_CONDITIONS.valid,
        status: 'True',
        reason: 'Valid',
        message: finished
          ? 'The migration succeeded; its cells are not checked any more.'
          : `The cells exist and the target can take the selection.${f.source?.cordonedBy === f.name ? ` The source cell ${f.source.name} is cordoned by this drain: no new customer lands there.` : ''}`,
      };
  return { ...(invalid ? { invalid } : {}), finished, condition };
}

/** Where the step walker stopped, and what it wants done. */
export interface StepWalk {
  phase: MigrationPhase;
  message: string;
  step: number;
  stepStartedAt: Date;
  /** Customers to start now. */
  start: string[];
  /** Aborting, Paused and Gated, when they hold. */
  conditions: ConditionInput[];
  requeueAfterMs?: number;
}

/**
 * The step walker: from the recorded step, walks forward over the steps that are complete and
 * stops at the first that needs time or work (a pause, a gate, moves to start), or at the end.
 */
export function walkSteps(f: MigrationFacts, validity: Pick<Validity, 'invalid'>): StepWalk {
  const { spec, now } = f;
  const c = f.selection.counts;
  const steps = effectiveSteps(spec);
  const started = c.queued + c.inFlight + c.moved + c.failed + c.movedBack;
  let step = Math.min(f.record?.step ?? 0, steps.length);
  let stepStartedAt = f.record?.stepStartedAt ?? second(now);
  const walk = (phase: MigrationPhase, message: string, more: Partial<StepWalk> = {}): StepWalk => ({ phase, message, step, stepStartedAt, start: [], conditions: [], ...more });

  if (spec.abort) {
    const returning = c.queued + c.inFlight + c.moved - c.cleanedUp;
    const stranded = c.cleanedUp > 0 ? ` ${c.cleanedUp} customer(s) stay in ${spec.to}: their cleanup had ended (move them back with a new Migration).` : '';
    const message =
      returning > 0
        ? `Aborting: ${returning} customer(s) are going back to ${spec.from}; ${c.movedBack} moved back so far.${stranded}`
        : `Aborted: ${c.movedBack} customer(s) moved back to ${spec.from}, ${c.failed} rolled back before their cut-over.${stranded}`;
    const aborting: ConditionInput = { type: MIGRATION_CONDITIONS.aborting, status: returning > 0 ? 'True' : 'False', reason: returning > 0 ? 'MovingBack' : 'Aborted', message };
    return walk(returning > 0 ? 'Progressing' : 'Aborted', message, { conditions: [aborting], ...(returning > 0 ? { requeueAfterMs: 5_000 } : {}) });
  }
  if (validity.invalid) return walk(started > 0 ? 'Paused' : 'Pending', validity.invalid.message);

  // Customers that reached a drained source after the last step (another migration's cut-over
  // or abort into it) are moved by that last step, a move: 100%, once more.
  // So are customers retried after the last step (spec.retry): queued again, not failed.
  if (step >= steps.length && c.pending + c.queued + c.inFlight > 0) step = steps.length - 1;
  const stop = walkCountedSteps(
    steps.map((s) => ({ count: s.move, pause: s.pause })),
    { step, stepStartedAt },
    { now, total: c.total, stepStart: second, complete: (goal) => c.moved >= goal && c.queued + c.inFlight === 0, ...(spec.promotedStep !== undefined ? { promotedStep: spec.promotedStep } : {}) },
  );
  step = stop.step;
  stepStartedAt = stop.stepStartedAt;
  if (stop.kind === 'pause') {
    const { end } = stop;
    const message = end
      ? `Step ${step}: pausing until ${kubeTime(end)} (or promote: spec.promotedStep: ${step}).`
      : `Step ${step}: waiting for a person. Promote with kubectl patch migration ${f.name} --type merge -p '{"spec":{"promotedStep":${step}}}', or abort with spec.abort: true.`;
    const paused: ConditionInput = { type: MIGRATION_CONDITIONS.paused, status: 'True', reason: end ? 'TimedPause' : 'WaitingForPromotion', message };
    return walk('Paused', message, { conditions: [paused], ...(end ? { requeueAfterMs: Math.max(1_000, end.getTime() - now.getTime()) } : {}) });
  }
  if (stop.kind === 'count') {
    const { goal, count } = stop;
    const gate = gateFor(f, c, goal - started, step);
    if (gate) {
      const gated: ConditionInput = { type: MIGRATION_CONDITIONS.gated, status: 'True', reason: gate.reason, message: gate.message };
      return walk('Paused', `Step ${step} (move ${count}) is held: ${gate.message}`, { conditions: [gated], requeueAfterMs: 15_000 });
    }
    if (spec.paused) {
      const message = `Paused by spec.paused at step ${step}: ${c.queued + c.inFlight} move(s) in flight finish, none start.`;
      const paused: ConditionInput = { type: MIGRATION_CONDITIONS.paused, status: 'True', reason: 'PausedBySpec', message };
      return walk('Paused', message, { conditions: [paused], ...(c.queued + c.inFlight > 0 ? { requeueAfterMs: 5_000 } : {}) });
    }
    // Each of maxConcurrent executors moves up to batchSize small customers together (move-batch.ts).
    const batch = spec.batchSize ?? DEFAULT_MOVE_BATCH;
    const slots = Math.max(0, spec.maxConcurrent * batch - c.queued - c.inFlight);
    const wanted = Math.max(0, goal - started);
    const ended = f.selection.lastEndedAt;
    const freeing = ended !== undefined && now.getTime() - ended.getTime() < WHOLE_BATCH_WAIT_MS;
    const start = f.selection.next.slice(0, startNow(slots, wanted, batch, freeing));
    // Only customers another migration is moving are left to start: their starts would be refused.
    const { busy } = f.selection;
    if (start.length === 0 && wanted > 0 && c.queued + c.inFlight === 0 && busy.count > 0) {
      const example = busy.example ? ` (${busy.example.id} by ${busy.example.migration})` : '';
      const message = `${busy.count} selected customer(s) are being moved by another Migration${example}. They start once that move has ended, its cleanup included; a customer it moved out of ${spec.from} then fails with NotInSourceCell.`;
      const gated: ConditionInput = { type: MIGRATION_CONDITIONS.gated, status: 'True', reason: 'CustomersInAnotherMigration', message };
      return walk('Paused', `Step ${step} (move ${count}) is held: ${message}`, { conditions: [gated], requeueAfterMs: 15_000 });
    }
    return walk('Progressing', `Step ${step} (move ${count}): ${c.moved}/${goal} moved, ${c.queued + c.inFlight + start.length} in flight.`, { start, requeueAfterMs: 5_000 });
  }
  return c.failed > 0
    ? walk('Failed', `${c.failed} customer(s) could not be moved and stayed in ${spec.from}; see status.latestFailures.`)
    : walk('Succeeded', c.total === 0 ? `Nothing to move: spec.customers selected no customer of ${spec.from}.` : `All ${c.moved} customer(s) moved from ${spec.from} to ${spec.to}.`);
}

/**
 * While moves of a Migration keep ending (one did within this long), the next slots free soon: small
 * customers wait for a whole batch's slots. Past it (the moves in flight are long: a large
 * customer, one that keeps retrying) whatever is free starts.
 */
export const WHOLE_BATCH_WAIT_MS = 15_000;

/**
 * How many moves to start: as many as wanted and free slots allow, in whole batches while moves are
 * ending (`freeing`). Moves that start together are batched together (move-pool.ts), so starting
 * one per freed slot (as the members of a batch cut short by a restart end one by one) would make
 * batches of one. A step's rest starts when all of it fits.
 */
export function startNow(slots: number, wanted: number, batch: number, freeing: boolean): number {
  const n = Math.min(slots, wanted);
  if (batch <= 1 || n === wanted || !freeing) return n;
  return n - (n % batch); // whole batches: none until a batch's slots are free
}

/** The status and conditions of a walk (with kstatus Reconciling/Stalled), and the record to keep. */
export function migrationStatus(f: MigrationFacts, validity: Validity, w: StepWalk): { status: MigrationStatus; record: StepRecord } {
  const { spec, now } = f;
  const c = f.selection.counts;
  const { phase, message } = w;
  const done = phase === 'Succeeded' || phase === 'Failed' || phase === 'Aborted';
  const conditions: ConditionInput[] = [validity.condition, ...w.conditions];
  if (!conditions.some((x) => x.type === MIGRATION_CONDITIONS.paused)) {
    conditions.push({ type: MIGRATION_CONDITIONS.paused, status: 'False', reason: 'NotPaused', message: 'The migration is not paused.' });
  }
  if (!conditions.some((x) => x.type === MIGRATION_CONDITIONS.gated)) {
    conditions.push({ type: MIGRATION_CONDITIONS.gated, status: 'False', reason: 'GatesOpen', message: 'No gate holds the migration.' });
  }
  conditions.push(
    done
      ? { type: MIGRATION_CONDITIONS.progressing, status: 'False', reason: phase, message }
      : { type: MIGRATION_CONDITIONS.progressing, status: phase === 'Progressing' ? 'True' : 'False', reason: phase, message },
    {
      type: MIGRATION_CONDITIONS.ready,
      status: phase === 'Succeeded' || phase === 'Aborted' ? 'True' : 'False',
      reason: phase,
      message,
    },
  );
  // kstatus: a person must act when the spec is invalid or a move failed.
  const stalled = validity.invalid ?? (phase === 'Failed' || conditions.some((x) => x.reason === 'CustomersFailed') ? { reason: 'MovesFailed', message } : undefined);
  conditions.push(...kstatusConditions(stalled, done ? undefined : { reason: phase, message }));
  const merged = replaceConditions(f.conditions as Condition[] | undefined, conditions, now, f.generation);

  const started = c.queued + c.inFlight + c.moved + c.failed + c.movedBack;
  const remaining = c.pending + c.queued + c.inFlight;
  const eta =
    !done && f.meanMoveMs !== undefined && remaining > 0
      ? new Date(now.getTime() + Math.ceil(remaining / spec.maxConcurrent) * f.meanMoveMs)
      : undefined;
  const record: StepRecord = {
    step: w.step,
    stepStartedAt: w.stepStartedAt,
    phase,
    startedAt: f.record?.startedAt ?? (started + w.start.length > 0 ? second(now) : null),
    completedAt: done ? (f.record?.completedAt ?? second(now)) : null,
    ...(f.uid ? { uid: f.uid } : {}),
  };
  const status: MigrationStatus = {
    phase,
    ...(f.generation !== undefined ? { observedGeneration: f.generation } : {}),
    currentStep: record.step,
    currentStepStartedAt: kubeTime(record.stepStartedAt),
    progress: `${c.moved}/${c.total}`,
    customers: {
      total: c.total,
      pending: c.pending - w.start.length,
      inFlight: c.queued + c.inFlight + w.start.length,
      moved: c.moved,
      failed: c.failed,
      movedBack: c.movedBack,
    },
    rowsCopied: f.rowsCopied,
    ...(eta ? { estimatedCompletionTime: kubeTime(eta) } : {}),
    ...(record.startedAt ? { startedAt: kubeTime(record.startedAt) } : {}),
    ...(record.completedAt ? { completedAt: kubeTime(record.completedAt) } : {}),
    ...(f.failures.length > 0 ? { latestFailures: f.failures.slice(0, 10) } : {}),
    ...(f.retrying && f.retrying.total > 0 ? { retryingMoves: f.retrying.moves.slice(0, 10), retryingTotal: f.retrying.total } : {}),
    conditions: merged,
    message,
  };
  return { status, record };
}

/** The decision of one reconcile: judge the cells, walk the steps, build the status. */
export function decideMigration(f: MigrationFacts): MigrationDecision {
  const validity = judgeValidity(f);
  const walk = walkSteps(f, validity);
  const { status, record } = migrationStatus(f, validity, walk);
  const done = walk.phase === 'Succeeded' || walk.phase === 'Failed' || walk.phase === 'Aborted';
  return { status, record, start: walk.start, abort: f.spec.abort, ...(walk.requeueAfterMs !== undefined && !done ? { requeueAfterMs: walk.requeueAfterMs } : {}) };
}

/** What holds a move step: failures of earlier customers, the target's readiness or room. */
function gateFor(f: MigrationFacts, c: SelectionCounts, toStart: number, step: number): { reason: string; message: string } | undefined {
  // A promotion past this step is a person's decision to go on despite the failures.
  if (c.failed > 0 && (f.spec.promotedStep ?? -1) < step) {
    return {
      reason: 'CustomersFailed',
      message: `${c.failed} customer move(s) failed (see status.latestFailures). Fix the cause and promote past them (spec.promotedStep: ${step}), or abort (spec.abort: true).`,
    };
  }
  if (f.target && !f.target.ready) return { reason: 'TargetNotReady', message: `the target cell ${f.target.name} is not Ready.` };
  if (f.target && toStart > f.target.freeCapacity) {
    return { reason: 'TargetFull', message: `the target cell ${f.target.name} has room for ${f.target.freeCapacity} customer(s), the step needs ${toStart}.` };
  }
  return undefined;
}
