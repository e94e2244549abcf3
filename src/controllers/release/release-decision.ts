// The CellRelease decider: from the release (its spec, and its status.cells as its journal), the
// cells as they stand (labels, workloads, Ready, the release their Deployments run), the other
// releases, the latest analyses and the time, it decides which cells the release reaches, which it
// judges Ready, updated or failed, which it rolls back, and the status. Pure: every fact comes in
// as an argument. The status is the journal: a cell counts as reached once the status naming it is
// written, and the Cell controller overlays the versions on the cells it names (release-overlay.ts).
import {
  RELEASE_CONDITIONS,
  type CellReleaseSpec,
  type CellReleaseStatus,
  type ReleaseCellStatus,
  type ReleasePhase,
} from '../../crds/cell-release.js';
import { parseDuration } from '../../crds/kube-types.js';
import { countTarget, pauseEnd, walkCountedSteps, type CountedStep } from '../../crds/steps.js';
import { kstatusConditions, replaceConditions, type Condition, type ConditionInput } from '../../runtime/conditions.js';
import { kubeTime } from '../../runtime/kube-time.js';
import { inSelection, releaseOrder } from './release-selection.js';

/** A Cell as the release sees it. */
export interface ObservedCell {
  name: string;
  labels: Readonly<Record<string, string>>;
  /** spec.workloads[].name of the Cell. */
  workloads: readonly string[];
  /** The Cell's Ready condition is True for its current generation. */
  ready: boolean;
  /** The Ready condition's message, to say why a cell is not Ready. */
  readyMessage?: string;
  /** status.release of the Cell: the release its Deployments carry now. */
  running?: { name: string; version: string };
}

/** Another CellRelease, for supersession. */
export interface OtherRelease {
  name: string;
  createdAt: Date;
  spec: Pick<CellReleaseSpec, 'cells'>;
  /** Failed or Aborted: its cells went back, it supersedes nothing. */
  rolledBack: boolean;
  /** Its Valid condition is False (it cannot run on these cells): it supersedes nothing. */
  invalid?: boolean;
}

export interface AnalysisResult {
  result: 'Passed' | 'Failed' | 'Inconclusive';
  at: Date;
  message: string;
}

export interface ReleaseFacts {
  name: string;
  generation?: number;
  createdAt: Date;
  spec: CellReleaseSpec;
  /** The version the release brings (spec.version or the name). */
  version: string;
  /** The status as stored: status.cells and the step position are the journal. */
  status?: CellReleaseStatus;
  cells: readonly ObservedCell[];
  others: readonly OtherRelease[];
  /** The release is being deleted: its cells go back as on an abort, then its finalizer goes. */
  deleting?: boolean;
  /** Analyses run since the last decision, by cell. */
  analyses?: ReadonlyMap<string, AnalysisResult>;
  now: Date;
}

/**
 * What a decision does, each recorded in the status it returns (writing that status is the act;
 * the reconciler then emits one event per action):
 * - Reach: the cell gets the release's versions (state Updating).
 * - Ready: the cell is Ready with them; its bake starts (Baking).
 * - Updated: the cell baked (and passed the analysis): it counts towards the steps.
 * - Fail: the cell was not Ready in time or failed the analysis; the release rolls back.
 * - RollBack: the versions are withdrawn from the cell (the last reached first).
 * - RolledBack: the cell runs its previous versions again.
 */
export type ReleaseAction =
  | { kind: 'Reach'; cell: string }
  | { kind: 'Ready'; cell: string }
  | { kind: 'Updated'; cell: string }
  | { kind: 'Fail'; cell: string; reason: string; message: string }
  | { kind: 'RollBack'; cell: string }
  | { kind: 'RolledBack'; cell: string };

export interface ReleaseDecision {
  status: CellReleaseStatus;
  actions: ReleaseAction[];
  /** Look again this soon even without an event (a bake, a timed pause, a deadline). */
  requeueAfterMs?: number;
}

const second = (d: Date): Date => new Date(kubeTime(d));
const at = (text: string | undefined, fallback: Date): Date => (text ? new Date(text) : fallback);

/** The steps as run: the spec's, then an implied final `cells: 100%`. */
export function effectiveReleaseSteps(spec: Pick<CellReleaseSpec, 'steps'>): CountedStep[] {
  const steps: CountedStep[] = spec.steps.map((s) => (s.pause ? { pause: s.pause } : { count: s.cells as number | string }));
  const last = steps[steps.length - 1];
  return last?.count === '100%' ? steps : [...steps, { count: '100%' }];
}

/** Why the release cannot run on these cells: only the cluster's state can tell (the API server checked the rest). */
export function releaseProblem(f: Pick<ReleaseFacts, 'spec' | 'cells'>): { reason: string; message: string } | undefined {
  const selected = f.cells.filter((c) => inSelection(c, f.spec.cells));
  if (selected.length === 0) {
    const how = f.spec.cells?.names ? `spec.cells.names: none of ${f.spec.cells.names.join(', ')} exists` : f.spec.cells?.selector ? 'spec.cells.selector: no Cell has matching labels' : 'there is no Cell';
    return { reason: 'NoCells', message: `${how}; the release has nothing to update. Fix the selection or create the cells.` };
  }
  const missingNames = (f.spec.cells?.names ?? []).filter((n) => !f.cells.some((c) => c.name === n));
  if (missingNames.length > 0) return { reason: 'UnknownCell', message: `spec.cells.names: there is no Cell ${missingNames.join(', ')}. Remove it from the list or create it.` };
  for (const [i, w] of f.spec.workloads.entries()) {
    if (!selected.some((c) => c.workloads.includes(w.name))) {
      return { reason: 'UnknownWorkload', message: `spec.workloads[${i}].name: no selected cell has a workload named ${w.name}. Name a workload of the cells' spec.workloads.` };
    }
  }
  for (const [i, s] of f.spec.steps.entries()) {
    if (typeof s.cells === 'number' && s.cells > selected.length) {
      return { reason: 'StepsExceedCells', message: `spec.steps[${i}].cells: ${s.cells} cells, but only ${selected.length} are selected. Count fewer cells or use a percentage.` };
    }
  }
  if (f.spec.canary && !selected.some((c) => inSelection(c, f.spec.canary))) {
    return { reason: 'NoCanaryCell', message: 'spec.canary: no selected cell is a canary; the release would have no canary. Label a cell or fix spec.canary.' };
  }
  return undefined;
}

/** The newer releases that select a cell this one selects: the newest wins every cell it selects. */
export function supersededBy(f: Pick<ReleaseFacts, 'name' | 'createdAt' | 'spec' | 'cells' | 'others'>): string[] {
  const mine = new Set(f.cells.filter((c) => inSelection(c, f.spec.cells)).map((c) => c.name));
  const newer = (o: OtherRelease) => o.createdAt.getTime() > f.createdAt.getTime() || (o.createdAt.getTime() === f.createdAt.getTime() && o.name > f.name);
  return f.others
    .filter((o) => !o.rolledBack && !o.invalid && newer(o) && f.cells.some((c) => mine.has(c.name) && inSelection(c, o.spec.cells)))
    .map((o) => o.name)
    .sort();
}

/** The cells whose analysis is due now: Baking, with an analysis, last run longer ago than its interval. */
export function analysesDue(spec: CellReleaseSpec, status: CellReleaseStatus | undefined, now: Date): string[] {
  if (!spec.analysis) return [];
  const interval = parseDuration(spec.analysis.interval);
  return (status?.cells ?? [])
    .filter((e) => e.state === 'Baking' && (!e.analysis || now.getTime() - new Date(e.analysis.at).getTime() >= interval))
    .map((e) => e.name);
}

interface Walk {
  phase: ReleasePhase;
  message: string;
  step: number;
  stepStartedAt: Date;
  conditions: ConditionInput[];
  requeueAfterMs?: number;
}

export function decideRelease(f: ReleaseFacts): ReleaseDecision {
  const { spec, now } = f;
  const actions: ReleaseAction[] = [];
  const byName = new Map(f.cells.map((c) => [c.name, c]));
  // Entries of cells deleted since: nothing is left there to update or roll back.
  let entries: ReleaseCellStatus[] = (f.status?.cells ?? []).filter((e) => byName.has(e.name)).map((e) => ({ ...e }));
  let failure = f.status?.failure;
  const deadline = parseDuration(spec.progressDeadline);
  const bake = parseDuration(spec.bakeTime);
  const runs = (c: ObservedCell | undefined) => c?.running?.name === f.name && c.running.version === f.version;
  const set = (e: ReleaseCellStatus, state: ReleaseCellStatus['state'], more: Partial<ReleaseCellStatus> = {}) => {
    Object.assign(e, { state, since: kubeTime(now), ...more });
    if (!('message' in more)) delete e.message;
  };
  const steps = effectiveReleaseSteps(spec);
  const position = { step: Math.min(f.status?.currentStep ?? 0, steps.length), stepStartedAt: at(f.status?.currentStepStartedAt, second(now)) };
  const problem = releaseProblem(f);
  const supersedingNames = supersededBy(f);
  const aborting = spec.abort || f.deleting === true;
  const rollingBack = aborting || failure !== undefined;

  // 1. Cells being updated: Ready with the versions, baked, or failed.
  if (!rollingBack && supersedingNames.length === 0) {
    for (const e of entries) {
      const cell = byName.get(e.name);
      const since = new Date(e.since);
      if (e.state === 'Updating') {
        if (runs(cell) && cell?.ready) {
          set(e, 'Baking', { readySince: kubeTime(now) });
          actions.push({ kind: 'Ready', cell: e.name });
        } else if (now.getTime() >= since.getTime() + deadline) {
          const message = `cell ${e.name} is not Ready with version ${f.version} after spec.progressDeadline ${spec.progressDeadline}: ${cell?.readyMessage ?? (runs(cell) ? 'not Ready' : 'its Deployments do not carry the release yet')}`;
          set(e, 'Failed', { message });
          actions.push({ kind: 'Fail', cell: e.name, reason: 'ProgressDeadlineExceeded', message });
          failure ??= { cell: e.name, reason: 'ProgressDeadlineExceeded', message, at: kubeTime(now) };
        }
      } else if (e.state === 'Baking') {
        const analysis = f.analyses?.get(e.name);
        if (analysis) e.analysis = { result: analysis.result, at: kubeTime(analysis.at), message: analysis.message.slice(0, 1024) };
        if (!(runs(cell) && cell?.ready)) {
          set(e, 'Updating', { message: `was Ready, is not any more (${cell?.readyMessage ?? 'not Ready'}); the bake starts again once it is` });
          delete e.readySince;
        } else if (e.analysis?.result === 'Failed') {
          const message = `cell ${e.name} failed the analysis: ${e.analysis.message}`;
          set(e, 'Failed', { message });
          actions.push({ kind: 'Fail', cell: e.name, reason: 'AnalysisFailed', message });
          failure ??= { cell: e.name, reason: 'AnalysisFailed', message, at: kubeTime(now) };
        } else if (now.getTime() >= since.getTime() + bake && (!spec.analysis || (e.analysis?.result === 'Passed' && new Date(e.analysis.at) >= since))) {
          set(e, 'Updated');
          actions.push({ kind: 'Updated', cell: e.name });
        }
      }
    }
  }

  const selected = releaseOrder(spec, f.cells);
  const inFlight = () => entries.filter((e) => e.state === 'Updating' || e.state === 'Baking').length;
  const updated = () => entries.filter((e) => e.state === 'Updated' && byName.has(e.name) && inSelection(byName.get(e.name) as ObservedCell, spec.cells)).length;
  let w: Walk;
  if (aborting || failure !== undefined) {
    w = rollBack();
  } else if (problem && entries.length === 0) {
    // Nothing reached and nothing it can reach: what to fix matters more than who is newer.
    w = { phase: 'Pending', message: problem.message, ...position, conditions: [] };
  } else if (supersedingNames.length > 0) {
    const message = `Superseded by the newer CellRelease ${supersedingNames.join(', ')}, which now releases cells this one selects. This release stops where it is; the cells it reached keep its versions beneath the newer one's. Delete it once the newer one succeeded.`;
    w = { phase: 'Superseded', message, ...position, conditions: [{ type: RELEASE_CONDITIONS.superseded, status: 'True', reason: 'NewerRelease', message }] };
  } else if (problem) {
    w = { phase: entries.length > 0 ? 'Paused' : 'Pending', message: problem.message, ...position, conditions: [] };
  } else {
    w = forward();
  }

  function rollBack(): Walk {
    for (const e of entries.filter((x) => x.state === 'RollingBack')) {
      const cell = byName.get(e.name);
      const back = !runs(cell) && cell?.ready;
      if (back || now.getTime() >= new Date(e.since).getTime() + deadline) {
        set(e, 'RolledBack', back ? {} : { message: `withdrawn, but not Ready after spec.progressDeadline: ${cell?.readyMessage ?? 'not Ready'}` });
        actions.push({ kind: 'RolledBack', cell: e.name });
      }
    }
    const waiting = entries.filter((x) => x.state === 'RollingBack').length;
    const next = entries
      .filter((x) => x.state === 'Updating' || x.state === 'Baking' || x.state === 'Updated' || x.state === 'Failed')
      .sort((a, b) => b.order - a.order)
      .slice(0, Math.max(0, spec.maxUnavailable - waiting));
    for (const e of next) {
      set(e, 'RollingBack', e.state === 'Failed' && e.message ? { message: e.message } : {});
      actions.push({ kind: 'RollBack', cell: e.name });
    }
    const left = entries.filter((x) => x.state !== 'RolledBack');
    const why = f.deleting ? 'Deleted: its versions are withdrawn before it goes' : spec.abort ? 'Aborted by spec.abort' : `Cell ${failure?.cell} failed (${failure?.reason}): ${failure?.message}`;
    if (left.length > 0) {
      const message = `${why}. Rolling back, the last reached cell first: ${left.map((x) => x.name).join(', ')} still to go back.`;
      return { phase: 'RollingBack', message, ...position, conditions: [{ type: RELEASE_CONDITIONS.rolledBack, status: 'True', reason: aborting ? 'Aborted' : 'CellFailed', message }], requeueAfterMs: 5_000 };
    }
    const count = entries.length;
    const message = aborting
      ? `${f.deleting ? 'Deleted' : 'Aborted'}: ${count} cell(s) went back to their previous versions.`
      : `${why}. ${count} reached cell(s) went back to their previous versions. Fix the version and create a new CellRelease.`;
    return { phase: aborting ? 'Aborted' : 'Failed', message, ...position, conditions: [{ type: RELEASE_CONDITIONS.rolledBack, status: 'False', reason: aborting ? 'Aborted' : 'CellFailed', message }] };
  }

  function forward(): Walk {
    let start = position;
    // Cells selected after the last step (a new Cell with the labels) are reached by it once more.
    const unreached = selected.filter((c) => !entries.some((e) => e.name === c.name));
    if (start.step >= steps.length && (unreached.length > 0 || inFlight() > 0)) start = { ...start, step: steps.length - 1 };
    const stop = walkCountedSteps(steps, start, {
      now,
      total: selected.length,
      stepStart: second,
      complete: (goal) => updated() >= goal && inFlight() === 0,
      ...(spec.promotedStep !== undefined ? { promotedStep: spec.promotedStep } : {}),
    });
    const here = { step: stop.step, stepStartedAt: stop.stepStartedAt };
    if (stop.kind === 'end') return { phase: 'Succeeded', message: `All ${selected.length} cell(s) run version ${f.version}.`, ...here, conditions: [] };
    if (stop.kind === 'pause') {
      const message = stop.end
        ? `Step ${stop.step}: pausing until ${kubeTime(stop.end)} (or promote: kubectl cells release promote ${f.name}).`
        : `Step ${stop.step}: waiting for a person. Promote with kubectl cells release promote ${f.name} (spec.promotedStep: ${stop.step}), or abort with kubectl cells release abort ${f.name}.`;
      const paused: ConditionInput = { type: RELEASE_CONDITIONS.paused, status: 'True', reason: stop.end ? 'TimedPause' : 'WaitingForPromotion', message };
      return { phase: 'Paused', message, ...here, conditions: [paused], ...(stop.end ? { requeueAfterMs: Math.max(1_000, stop.end.getTime() - now.getTime()) } : {}) };
    }
    const label = `Step ${stop.step} (cells ${stop.count})`;
    const unready = entries.filter((e) => e.state === 'Updated' && !byName.get(e.name)?.ready).map((e) => e.name);
    if (unready.length > 0) {
      const message = `${label} is held: cell(s) ${unready.join(', ')} run version ${f.version} but are not Ready. Look at them (kubectl get cell ${unready[0]}), or abort with kubectl cells release abort ${f.name}.`;
      return { phase: 'Paused', message, ...here, conditions: [{ type: RELEASE_CONDITIONS.gated, status: 'True', reason: 'UpdatedCellNotReady', message }], requeueAfterMs: 15_000 };
    }
    const flying = inFlight();
    if (spec.paused) {
      const message = `Paused by spec.paused at step ${stop.step}: ${flying} cell(s) being updated finish, none is reached. Resume with kubectl cells release resume ${f.name}.`;
      return { phase: 'Paused', message, ...here, conditions: [{ type: RELEASE_CONDITIONS.paused, status: 'True', reason: 'PausedBySpec', message }], ...(flying > 0 ? { requeueAfterMs: 5_000 } : {}) };
    }
    const wanted = Math.max(0, stop.goal - updated() - flying);
    const slots = Math.max(0, spec.maxUnavailable - flying);
    const candidates = selected.filter((c) => !entries.some((e) => e.name === c.name)).slice(0, Math.min(wanted, slots));
    const notReady = candidates.find((c) => !c.ready);
    const reach = notReady ? candidates.slice(0, candidates.indexOf(notReady)) : candidates;
    for (const c of reach) {
      entries.push({ name: c.name, state: 'Updating', order: entries.reduce((m, e) => Math.max(m, e.order + 1), 0), reachedAt: kubeTime(now), since: kubeTime(now) });
      actions.push({ kind: 'Reach', cell: c.name });
    }
    const pace = `${updated()}/${stop.goal} updated, ${inFlight()} being updated`;
    if (notReady && inFlight() === 0) {
      const message = `${label} is held: cell ${notReady.name} is not Ready before the release reaches it (${notReady.readyMessage ?? 'not Ready'}). Fix it, or leave it out of spec.cells.`;
      return { phase: 'Paused', message, ...here, conditions: [{ type: RELEASE_CONDITIONS.gated, status: 'True', reason: 'CellNotReady', message }], requeueAfterMs: 15_000 };
    }
    return { phase: 'Progressing', message: `${label}: ${pace}.`, ...here, conditions: [], requeueAfterMs: Math.min(5_000, Math.max(1_000, bake)) };
  }

  entries = entries.sort((a, b) => a.order - b.order);
  return { status: releaseStatus(f, w, entries, failure, selected.length, steps), actions, ...(w.requeueAfterMs !== undefined ? { requeueAfterMs: w.requeueAfterMs } : {}) };
}

const DONE: ReadonlySet<ReleasePhase> = new Set(['Succeeded', 'Failed', 'Aborted']);

function describeStep(s: CountedStep): string {
  if (s.pause) return s.pause.duration ? `pause: ${s.pause.duration}` : 'pause: {}';
  return `cells: ${s.count}`;
}

function releaseStatus(
  f: ReleaseFacts,
  w: Walk,
  entries: ReleaseCellStatus[],
  failure: CellReleaseStatus['failure'],
  total: number,
  steps: CountedStep[],
): CellReleaseStatus {
  const { now, spec } = f;
  const problem = releaseProblem(f);
  const done = DONE.has(w.phase);
  const updated = entries.filter((e) => e.state === 'Updated').length;
  const conditions: ConditionInput[] = [
    problem && !spec.abort
      ? { type: RELEASE_CONDITIONS.valid, status: 'False', reason: problem.reason, message: problem.message }
      : { type: RELEASE_CONDITIONS.valid, status: 'True', reason: 'Valid', message: 'The selected cells exist and have the workloads the release names.' },
    ...w.conditions,
  ];
  const fill = (type: string, reason: string, message: string) => {
    if (!conditions.some((c) => c.type === type)) conditions.push({ type, status: 'False', reason, message });
  };
  fill(RELEASE_CONDITIONS.paused, 'NotPaused', 'The release is not paused.');
  fill(RELEASE_CONDITIONS.gated, 'GatesOpen', 'No gate holds the release.');
  fill(RELEASE_CONDITIONS.superseded, 'Newest', 'No newer CellRelease selects these cells.');
  fill(RELEASE_CONDITIONS.rolledBack, 'NotRollingBack', 'Nothing is being rolled back.');
  const settled = done || w.phase === 'Superseded';
  conditions.push(
    { type: RELEASE_CONDITIONS.progressing, status: w.phase === 'Progressing' || w.phase === 'RollingBack' ? 'True' : 'False', reason: w.phase, message: w.message },
    { type: RELEASE_CONDITIONS.ready, status: w.phase === 'Succeeded' || w.phase === 'Aborted' || w.phase === 'Superseded' ? 'True' : 'False', reason: w.phase, message: w.message },
  );
  // kstatus: a person must act on an invalid release or a failed one.
  const stalled =
    problem && !spec.abort && !settled ? problem : w.phase === 'Failed' ? { reason: failure?.reason ?? 'CellFailed', message: w.message } : undefined;
  conditions.push(...kstatusConditions(stalled, settled ? undefined : { reason: w.phase, message: w.message }));
  const merged = replaceConditions(f.status?.conditions as Condition[] | undefined, conditions, now, f.generation);

  const startedAt = f.status?.startedAt ?? (entries.length > 0 ? kubeTime(now) : undefined);
  const completedAt = done ? (f.status?.completedAt ?? kubeTime(now)) : undefined;
  const eta = !settled && w.phase !== 'RollingBack' ? estimate(f, w, entries, total, steps) : undefined;
  return {
    phase: w.phase,
    ...(f.generation !== undefined ? { observedGeneration: f.generation } : {}),
    version: f.version,
    currentStep: w.step,
    currentStepStartedAt: kubeTime(w.stepStartedAt),
    progress: `${updated}/${total}`,
    steps: steps.map((s, index) => ({
      index,
      step: describeStep(s),
      state: index < w.step || w.phase === 'Succeeded' ? 'Done' : index === w.step && !settled ? 'Running' : 'Pending',
      ...(s.count !== undefined ? { cells: countTarget(s.count, total) } : {}),
    })),
    ...(entries.length > 0 ? { cells: entries } : {}),
    ...(failure ? { failure } : {}),
    ...(startedAt ? { startedAt } : {}),
    ...(completedAt ? { completedAt } : {}),
    ...(eta ? { estimatedCompletionTime: kubeTime(eta) } : {}),
    conditions: merged,
    message: w.message,
  };
}

/** At the pace of the cells updated so far, with the timed pauses ahead; none before the first cell is updated. */
function estimate(f: ReleaseFacts, w: Walk, entries: ReleaseCellStatus[], total: number, steps: CountedStep[]): Date | undefined {
  const times = entries.filter((e) => e.state === 'Updated').map((e) => new Date(e.since).getTime() - new Date(e.reachedAt).getTime());
  if (times.length === 0) return undefined;
  const perCell = times.reduce((a, b) => a + b, 0) / times.length;
  const remaining = Math.max(0, total - times.length);
  let ms = Math.ceil(remaining / f.spec.maxUnavailable) * perCell;
  for (const [i, s] of steps.entries()) {
    if (i < w.step || !s.pause?.duration) continue;
    const end = i === w.step ? pauseEnd(s, w.stepStartedAt) : undefined;
    ms += end ? Math.max(0, end.getTime() - f.now.getTime()) : parseDuration(s.pause.duration);
  }
  return new Date(f.now.getTime() + ms);
}
