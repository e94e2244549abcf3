// The Migration decider: from the spec, how the selected customers stand (counts by the outcome of
// their moves in the journal, the next ones to start in move order, those bound to another region),
// the two cells and the time, it decides which customers start moving now, whether to abort, and the
// status (step, phase, counts, gates, conditions, ETA). Pure: every fact comes in as an argument.
// The facts about the selection are aggregates, not the list of customers, so that a reconcile of a
// 100k-customer drain reads a few rows (migration-selection.ts counts in SQL); selectionFacts()
// computes the same facts from a plain list, for tests and as the definition the SQL must match.
import { parseDuration } from '../../crds/kube-types.js';
import {
  MIGRATION_CONDITIONS,
  moveTarget,
  type MigrationFailure,
  type MigrationPhase,
  type MigrationSpec,
  type MigrationStatus,
  type MigrationStep,
} from '../../crds/migration.js';
import { setCondition, type Condition, type ConditionInput } from '../../runtime/conditions.js';
import { kubeTime } from '../../runtime/kube-time.js';
import type { MoveOutcome } from '../../data/move-state.js';
import { describeCordon } from '../../store/placement-decision.js';

export interface CellFacts {
  name: string;
  region: string;
  ready: boolean;
  /** maxCustomers minus placed and reserved customers. */
  freeCapacity: number;
  /** The Migration whose drain cordons this cell (closed to new customers); null or absent: none. */
  cordonedBy?: string | null;
}

export interface SelectedCustomer {
  id: string;
  /** The region the customer is bound to, or null. */
  region: string | null;
  /** The outcome of its move in this migration's journal; undefined when it has not started. */
  outcome?: MoveOutcome;
  /** Moved and cleaned up (journal state Done): its source rows are gone, an abort cannot bring it back. */
  cleanedUp?: boolean;
}

/** How many selected customers stand where, by the outcome of their move in this migration. */
export interface SelectionCounts {
  total: number;
  /** Not started: no journal row in this migration. */
  pending: number;
  /** Journal rows not yet running: they hold a concurrency slot. */
  queued: number;
  inFlight: number;
  moved: number;
  failed: number;
  movedBack: number;
  /** Moved customers whose cleanup ended: beyond an abort's reach. */
  cleanedUp: number;
}

/** What the decider needs to know about the selected customers. */
export interface SelectionFacts {
  counts: SelectionCounts;
  /** Customers not started yet that are bound to a region other than the target's (all bound ones when there is no target). */
  outOfRegion: {
    count: number;
    /** The first three of them in move order. */
    examples: { id: string; region: string }[];
  };
  /** The first customers not started yet, in move order; at least spec.maxConcurrent of them when there are that many. */
  next: string[];
}

export function emptyCounts(): SelectionCounts {
  return { total: 0, pending: 0, queued: 0, inFlight: 0, moved: 0, failed: 0, movedBack: 0, cleanedUp: 0 };
}

/** Adds `n` customers with this outcome (undefined: not started) to the counts. */
export function tally(c: SelectionCounts, outcome: MoveOutcome | undefined, cleanedUp: boolean, n = 1): void {
  c.total += n;
  if (cleanedUp) c.cleanedUp += n;
  switch (outcome) {
    case undefined:
      c.pending += n;
      break;
    case 'Pending':
      c.queued += n;
      break;
    case 'InFlight':
    case 'MovingBack':
      c.inFlight += n;
      break;
    case 'Moved':
      c.moved += n;
      break;
    case 'Failed':
    case 'RolledBack':
      c.failed += n;
      break;
    case 'MovedBack':
      c.movedBack += n;
      break;
  }
}

/** The facts about a selection given as a list in move order, keeping the first `nextLimit` customers to start. */
export function selectionFacts(selected: readonly SelectedCustomer[], targetRegion: string | undefined, nextLimit: number): SelectionFacts {
  const counts = emptyCounts();
  const facts: SelectionFacts = { counts, outOfRegion: { count: 0, examples: [] }, next: [] };
  for (const s of selected) {
    tally(counts, s.outcome, s.cleanedUp === true);
    if (s.outcome !== undefined) continue;
    if (facts.next.length < nextLimit) facts.next.push(s.id);
    if (s.region !== null && s.region !== targetRegion) {
      facts.outOfRegion.count++;
      if (facts.outOfRegion.examples.length < 3) facts.outOfRegion.examples.push({ id: s.id, region: s.region });
    }
  }
  return facts;
}

export interface MigrationFacts {
  name: string;
  generation?: number;
  spec: MigrationSpec;
  status?: MigrationStatus;
  /** The selected customers (in the order they move: SmallestFirst, Hash or Listed already applied). */
  selection: SelectionFacts;
  /** Undefined when no such Cell exists. */
  source?: CellFacts;
  target?: CellFacts;
  failures: readonly MigrationFailure[];
  rowsCopied: number;
  /** Mean duration of the moves finished so far, for the ETA; undefined before the first. */
  meanMoveMs?: number;
  /** Other Migrations still moving customers into spec.from (not finished, not aborted). */
  inbound?: readonly string[];
  now: Date;
}

export interface MigrationDecision {
  status: MigrationStatus;
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

/** Why the migration cannot run at all: a condition a person must fix, not an action. */
export function validate(f: MigrationFacts, c: SelectionCounts): { reason: string; message: string } | undefined {
  const cells = cellProblem(f);
  if (cells) return cells;
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

function pauseEnd(step: MigrationStep, startedAt: string | undefined, now: Date): Date | undefined {
  if (!step.pause?.duration) return undefined;
  const start = startedAt ? new Date(startedAt) : now;
  return new Date(start.getTime() + parseDuration(step.pause.duration));
}

export function decideMigration(f: MigrationFacts): MigrationDecision {
  const { spec, now } = f;
  const c = f.selection.counts;
  const steps = effectiveSteps(spec);
  const previous = f.status ?? {};
  const conditions: ConditionInput[] = [];
  const start: string[] = [];
  let requeueAfterMs: number | undefined;
  let phase: MigrationPhase;
  let message: string;
  let step = Math.min(previous.currentStep ?? 0, steps.length);
  let stepStartedAt = previous.currentStepStartedAt;
  const started = c.queued + c.inFlight + c.moved + c.failed + c.movedBack;

  // A finished migration is not judged again: its cells may be gone (a drained cell is deleted next).
  const finished = previous.phase === 'Succeeded' && c.pending + c.queued + c.inFlight === 0;
  const invalid = spec.abort || finished ? undefined : validate(f, c);
  conditions.push(
    invalid
      ? { type: MIGRATION_CONDITIONS.valid, status: 'False', reason: invalid.reason, message: invalid.message }
      : {
          type: MIGRATION_CONDITIONS.valid,
          status: 'True',
          reason: 'Valid',
          message: finished
            ? 'The migration succeeded; its cells are not checked any more.'
            : `The cells exist and the target can take the selection.${f.source?.cordonedBy === f.name ? ` The source cell ${f.source.name} is cordoned by this drain: no new customer lands there.` : ''}`,
        },
  );

  if (spec.abort) {
    const returning = c.queued + c.inFlight + c.moved - c.cleanedUp;
    const stranded = c.cleanedUp > 0 ? ` ${c.cleanedUp} customer(s) stay in ${spec.to}: their cleanup had ended (move them back with a new Migration).` : '';
    phase = returning > 0 ? 'Progressing' : 'Aborted';
    message =
      returning > 0
        ? `Aborting: ${returning} customer(s) are going back to ${spec.from}; ${c.movedBack} moved back so far.${stranded}`
        : `Aborted: ${c.movedBack} customer(s) moved back to ${spec.from}, ${c.failed} rolled back before their cut-over.${stranded}`;
    conditions.push({ type: MIGRATION_CONDITIONS.aborting, status: returning > 0 ? 'True' : 'False', reason: returning > 0 ? 'MovingBack' : 'Aborted', message });
    if (returning > 0) requeueAfterMs = 5_000;
  } else if (invalid) {
    phase = started > 0 ? 'Paused' : 'Pending';
    message = invalid.message;
  } else {
    phase = 'Progressing';
    message = '';
    // Customers that reached a drained source after the last step (another migration's cut-over
    // or abort into it) are moved by that last step, a move: 100%, once more.
    // So are customers retried after the last step (spec.retry): queued again, not failed.
    if (step >= steps.length && c.pending + c.queued + c.inFlight > 0) step = steps.length - 1;
    // Walk forward over the steps that are complete; stop at the first that needs time or work.
    while (step < steps.length) {
      const current = steps[step] as MigrationStep;
      if (current.pause) {
        const end = pauseEnd(current, stepStartedAt, now);
        const promoted = (spec.promotedStep ?? -1) >= step;
        if (promoted || (end && now >= end)) {
          step++;
          stepStartedAt = kubeTime(now);
          continue;
        }
        phase = 'Paused';
        message = end
          ? `Step ${step}: pausing until ${kubeTime(end)} (or promote: spec.promotedStep: ${step}).`
          : `Step ${step}: waiting for a person. Promote with kubectl patch migration ${f.name} --type merge -p '{"spec":{"promotedStep":${step}}}', or abort with spec.abort: true.`;
        conditions.push({ type: MIGRATION_CONDITIONS.paused, status: 'True', reason: end ? 'TimedPause' : 'WaitingForPromotion', message });
        if (end) requeueAfterMs = Math.max(1_000, end.getTime() - now.getTime());
        break;
      }
      const goal = moveTarget(current.move as number | string, c.total);
      if (c.moved >= goal && c.queued + c.inFlight === 0) {
        step++;
        stepStartedAt = kubeTime(now);
        continue;
      }
      const gate = gateFor(f, c, goal - started, step);
      if (gate) {
        phase = 'Paused';
        message = `Step ${step} (move ${current.move}) is held: ${gate.message}`;
        conditions.push({ type: MIGRATION_CONDITIONS.gated, status: 'True', reason: gate.reason, message: gate.message });
        requeueAfterMs = 15_000;
        break;
      }
      if (spec.paused) {
        phase = 'Paused';
        message = `Paused by spec.paused at step ${step}: ${c.queued + c.inFlight} move(s) in flight finish, none start.`;
        conditions.push({ type: MIGRATION_CONDITIONS.paused, status: 'True', reason: 'PausedBySpec', message });
        requeueAfterMs = c.queued + c.inFlight > 0 ? 5_000 : undefined;
        break;
      }
      const slots = Math.max(0, spec.maxConcurrent - c.queued - c.inFlight);
      const wanted = Math.max(0, goal - started);
      start.push(...f.selection.next.slice(0, Math.min(slots, wanted)));
      message = `Step ${step} (move ${current.move}): ${c.moved}/${goal} moved, ${c.queued + c.inFlight + start.length} in flight.`;
      requeueAfterMs = 5_000;
      break;
    }
    if (step >= steps.length) {
      if (c.failed > 0) {
        phase = 'Failed';
        message = `${c.failed} customer(s) could not be moved and stayed in ${spec.from}; see status.latestFailures.`;
      } else {
        phase = 'Succeeded';
        message = `All ${c.moved} customer(s) moved from ${spec.from} to ${spec.to}.`;
      }
    }
  }

  const done = phase === 'Succeeded' || phase === 'Failed' || phase === 'Aborted';
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
  const stalled = invalid ?? (phase === 'Failed' || conditions.some((x) => x.reason === 'CustomersFailed') ? { reason: 'MovesFailed', message } : undefined);
  if (stalled) conditions.push({ type: 'Stalled', status: 'True', reason: stalled.reason, message: stalled.message });
  else if (!done) conditions.push({ type: 'Reconciling', status: 'True', reason: phase, message });

  let merged = (previous.conditions ?? []) as Condition[];
  merged = merged.filter((x) => conditions.some((n) => n.type === x.type));
  for (const input of conditions) merged = setCondition(merged, input, now, f.generation);

  const remaining = c.pending + c.queued + c.inFlight;
  const eta =
    !done && f.meanMoveMs !== undefined && remaining > 0
      ? new Date(now.getTime() + Math.ceil(remaining / spec.maxConcurrent) * f.meanMoveMs)
      : undefined;
  const anyStarted = started + start.length > 0;
  const status: MigrationStatus = {
    phase,
    ...(f.generation !== undefined ? { observedGeneration: f.generation } : {}),
    currentStep: step,
    ...(stepStartedAt ? { currentStepStartedAt: stepStartedAt } : { currentStepStartedAt: kubeTime(now) }),
    progress: `${c.moved}/${c.total}`,
    customers: {
      total: c.total,
      pending: c.pending - start.length,
      inFlight: c.queued + c.inFlight + start.length,
      moved: c.moved,
      failed: c.failed,
      movedBack: c.movedBack,
    },
    rowsCopied: f.rowsCopied,
    ...(eta ? { estimatedCompletionTime: kubeTime(eta) } : {}),
    ...(previous.startedAt ? { startedAt: previous.startedAt } : anyStarted ? { startedAt: kubeTime(now) } : {}),
    ...(done ? { completedAt: previous.completedAt ?? kubeTime(now) } : {}),
    ...(f.failures.length > 0 ? { latestFailures: f.failures.slice(0, 10) } : {}),
    conditions: merged,
    message,
  };
  return { status, start, abort: spec.abort, ...(requeueAfterMs !== undefined && !done ? { requeueAfterMs } : {}) };
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
