// The Migration reconciler's plans, pure: what to do with a drain's cordon and the selection before
// counting it (admission), what a deletion does, and when to look again. With decideMigration (the
// moves to start, aborts, status) they are everything a reconcile decides; the reconciler reads the
// facts, calls these, and acts in a fixed order (migration-reconciler.ts).
import type { MigrationSpec } from '../../crds/migration.js';
import type { MoveKey } from '../../data/move-state.js';
import { kubeTime } from '../../runtime/kube-time.js';
import { cellProblem, type CellFacts } from './migration-decision.js';

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
  if (!f.spec.customers.all) return { cordon: { kind: 'keep' }, freeze: true, refused: false };
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
