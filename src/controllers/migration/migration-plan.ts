// The Migration reconciler's plans, pure: what to do with a drain's cordon and the selection before
// counting it (admission), what a deletion does, what the rows of an earlier Migration of the same
// name need, and when to look again. With decideMigration (the
// moves to start, aborts, status) they are everything a reconcile decides; the reconciler reads the
// facts, calls these, and acts in a fixed order (migration-reconciler.ts).
import { MIGRATION_CONDITIONS, type MigrationSpec, type MigrationStatus } from '../../crds/migration.js';
import type { MoveKey } from '../../data/move-state.js';
import { kstatusConditions, replaceConditions, type Condition, type ConditionInput } from '../../runtime/conditions.js';
import { kubeTime } from '../../runtime/kube-time.js';
import { cellProblem, zeroWeightSplit, type CellFacts } from './migration-decision.js';

/** What to do with the source's cordon: take it (or take over a stale one), lift it, or leave it. */
export type CordonPlan = { kind: 'take'; replacing?: string } | { kind: 'release' } | { kind: 'keep' };

export interface AdmissionFacts {
  name: string;
  spec: MigrationSpec;
  source?: CellFacts;
  target?: CellFacts;
  /** Other Migrations still moving customers into spec.from. */
  inbound: readonly string[];
  /** When another Migration holds the source's cordon: whether it (still) drains that cell. A gone one does not. */
  holderDrainsSource?: boolean;
}

export interface Admission {
  cordon: CordonPlan;
  /** Freeze (or, for a drain, extend) the selection before counting it. */
  freeze: boolean;
  /** A drain that may not take its cordon now: it selects nobody, and looks again later. */
  refused: boolean;
}

/**
 * A drain cordons its source before its selection is first frozen, so that every customer placed
 * before the cordon is selected and every later one goes elsewhere. A drain that cannot run (no
 * such target, a target being emptied, a source still being filled) closes no cell; one held off by
 * another drain waits, unless that drain's Migration is gone or no longer drains the cell (a stale
 * cordon, taken over). An aborted drain lifts its cordon and takes no more late arrivals.
 */
export function planAdmission(f: AdmissionFacts): Admission {
  if (!f.spec.customers.all) {
    // A split's selection asks placement, which sends nobody to a closed target: frozen now, it would stay empty.
    const unplaceable = f.spec.customers.preferTarget === true && !f.spec.abort && (cellProblem(f) !== undefined || zeroWeightSplit(f) !== undefined);
    return { cordon: { kind: 'keep' }, freeze: !unplaceable, refused: unplaceable };
  }
  if (f.spec.abort) return { cordon: { kind: 'release' }, freeze: false, refused: false };
  const problem = cellProblem({ name: f.name, spec: f.spec, source: f.source, target: f.target, inbound: f.inbound });
  if (problem && problem.reason !== 'SourceAlreadyDraining') return { cordon: { kind: 'keep' }, freeze: false, refused: true };
  const holder = f.source?.cordonedBy;
  if (holder && holder !== f.name) {
    if (f.holderDrainsSource) return { cordon: { kind: 'keep' }, freeze: false, refused: true };
    return { cordon: { kind: 'take', replacing: holder }, freeze: true, refused: false };
  }
  return { cordon: { kind: 'take' }, freeze: true, refused: false };
}

/** The source as it stands after the cordon was acted on: the decider judges the cells with it. */
export function sourceAfterCordon(source: CellFacts | undefined, name: string, cordon: CordonPlan, held: boolean): CellFacts | undefined {
  if (!source) return source;
  if (cordon.kind === 'release' && source.cordonedBy === name) return { ...source, cordonedBy: null };
  if (cordon.kind === 'take' && held) return { ...source, cordonedBy: name };
  return source;
}

/** A move as deletion sees it. */
export interface OpenMove extends MoveKey {
  state: string;
  cutOverAt: Date | null;
  abortRequestedAt: Date | null;
  cleanupAfter: Date | null;
}

export type DeletionPlan =
  /** Roll back the moves before their cut-over, drive the rest, say what deletion waits for. */
  | { kind: 'wait'; abort: MoveKey[]; message: string; requeueAfterMs: number }
  /** Nothing open: archive the journal, lift the cordon, remove the finalizer. */
  | { kind: 'finish' };

/** Deletion stops new moves, rolls back those before their cut-over, and waits for the rest to finish. */
export function planDeletion(open: readonly OpenMove[], now: Date): DeletionPlan {
  if (open.length === 0) return { kind: 'finish' };
  const abort = open.filter((m) => !m.cutOverAt && !m.abortRequestedAt).map((m) => ({ migration: m.migration, customerId: m.customerId }));
  const cleanup = open.filter((m) => m.state === 'Cleanup' && m.cleanupAfter);
  // The journal fixed each cleanup time at the cut-over: a spec.retention edited now changes none.
  const last = cleanup.length > 0 ? new Date(Math.max(...cleanup.map((m) => (m.cleanupAfter as Date).getTime()))) : undefined;
  const kept = last
    ? ` The source keeps the rows of ${cleanup.length} moved customer(s) until ${kubeTime(last)}, as spec.retention said at their cut-over; changing spec.retention now does not bring that forward.`
    : '';
  const message = `Deletion waits for ${open.length} customer move(s) to finish.${kept}`;
  if (cleanup.length < open.length) return { kind: 'wait', abort, message, requeueAfterMs: 1_000 };
  // Only cleanups are left: come back when the first is due (at least every minute).
  const due = Math.min(...cleanup.map((m) => (m.cleanupAfter as Date).getTime())) - now.getTime();
  return { kind: 'wait', abort, message, requeueAfterMs: Math.min(60_000, Math.max(1_000, due)) };
}

/**
 * What the rows an earlier Migration of the same name left behind need: that one was deleted with
 * its finalizer removed by hand, so its step record, selection and journal are still kept under
 * the name. Its open moves are finished as its deletion would have (rolled back before their
 * cut-over, cleaned up after); then its rows are archived under `<name>@<its uid>` and this
 * Migration starts from nothing, never taking them as its own.
 */
export type LeftoverPlan =
  /** Nothing is left of another Migration: reconcile as usual. */
  | { kind: 'none' }
  /** Archive the earlier Migration's rows under its uid, then reconcile as usual. */
  | { kind: 'archive'; uid: string }
  /** Its moves are still open: finish them (roll back `abort`), and say why this one waits. */
  | { kind: 'wait'; uid: string; abort: MoveKey[]; message: string; requeueAfterMs: number };

export function planLeftovers(name: string, uid: string | undefined, recordUid: string | null | undefined, open: readonly OpenMove[], now: Date): LeftoverPlan {
  // A record without a uid was kept before uids were: this Migration's own, as before.
  if (!recordUid || !uid || recordUid === uid) return { kind: 'none' };
  const finishing = planDeletion(open, now);
  if (finishing.kind === 'finish') return { kind: 'archive', uid: recordUid };
  const message =
    `A Migration named ${name} that was deleted before (uid ${recordUid}, its finalizer removed by hand) left ${open.length} customer move(s) unfinished;` +
    ` they are being finished first.${finishing.message.replace(/^Deletion waits for \d+ customer move\(s\) to finish\./, '')}` +
    ` This Migration starts once they end; to start now, give it another name.`;
  return { kind: 'wait', uid: recordUid, abort: finishing.abort, message, requeueAfterMs: finishing.requeueAfterMs };
}

/** The status of a Migration that waits for the moves an earlier one of its name left (planLeftovers). */
export function leftoverStatus(previous: MigrationStatus | undefined, generation: number | undefined, message: string, now: Date): MigrationStatus {
  const inputs: ConditionInput[] = [
    // Gated, not Valid=False: the spec is fine, and Argo CD shows it Progressing, not Degraded.
    { type: MIGRATION_CONDITIONS.gated, status: 'True', reason: 'NameHasUnfinishedMoves', message },
    { type: MIGRATION_CONDITIONS.ready, status: 'False', reason: 'Pending', message },
    // It clears on its own when those moves end: work in progress, not a dead end.
    ...kstatusConditions(undefined, { reason: 'NameHasUnfinishedMoves', message }),
  ];
  return {
    phase: 'Pending',
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    conditions: replaceConditions(previous?.conditions as Condition[] | undefined, inputs, now, generation),
    message,
  };
}

/** How often a drive of moves in flight comes back, and a refused drain looks at its cordon again. */
export const DRIVEN_REQUEUE_MS = 500;
export const CORDON_RETRY_MS = 30_000;

/**
 * When to reconcile again: soon while moves were driven, later for a refused drain, when the
 * decider asked, else when the next cleanup is due (at most an hour away).
 */
export function requeueAfter(r: { driven: number; refused: boolean; decided?: number; nextCleanupAt?: Date; now: Date }): number | undefined {
  if (r.driven > 0) return DRIVEN_REQUEUE_MS;
  if (r.refused) return CORDON_RETRY_MS;
  if (r.decided !== undefined) return r.decided;
  if (r.nextCleanupAt === undefined) return undefined;
  return Math.max(1_000, Math.min(r.nextCleanupAt.getTime() - r.now.getTime(), 3_600_000));
}
