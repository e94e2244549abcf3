// What a customer move does next: a pure function of its journal row, its per-table progress,
// the settings and the time. The executor performs the action and records it; running the
// decider again on the new journal gives the next one, so a crash anywhere resumes exactly there.
import {
  BEFORE_CUT_OVER,
  FENCED_STATES,
  TERMINAL_STATES,
  sameKey,
  settlesByObservation,
  type MoveRecord,
  type MoveState,
  type TableProgress,
} from './move-state.js';
import { kafkaDrainAction } from './kafka-drain-decision.js';
import type { MoveSettings } from './move-settings.js';

/** `source`/`target` are the cells of the direction the move runs in now. */
export type Side = 'source' | 'target';

export type MoveAction =
  /** Nothing to do: the move is finished. */
  | { kind: 'None'; reason: string }
  /** Nothing to do before `until` (drain wait, settle lag, retention). */
  | { kind: 'Wait'; until: Date; reason: string }
  /**
   * Discover and check the tables, check the target holds nothing of the customer, record the plan.
   * A customer with no more append-only rows than a converged catch-up round (convergeRows) is
   * recorded caught up: its next action is the fence, and the final sync copies all its rows.
   */
  | { kind: 'Prepare' }
  /** Observe the customer's newest key on the source (keyset settling); promote the last one if old enough. */
  | { kind: 'Observe'; table: string }
  /**
   * Copy the next keyset page of an append-only table. `verify`: at the same time, count and
   * checksum on both sides the synced rows that earlier pages copied and no check has covered yet
   * (after verifiedKey up to syncedKey), so that the check before the fence is left with the last page.
   */
  | { kind: 'CopyPage'; table: string; verify?: true }
  /** Copy again the rows that were read before they had settled, now that they have. */
  | { kind: 'Resync'; table: string }
  /** Start another catch-up round. */
  | { kind: 'NewRound' }
  /** Count and checksum the settled rows on both sides, before the fence. */
  | { kind: 'PreVerify'; table: string }
  /** Record a state change that has no other effect. */
  | { kind: 'Transition'; to: MoveState }
  /** Fence the customer's placement (the router answers 503) and record it, in one transaction. */
  | { kind: 'Fence' }
  /** After the drain wait: record the end offsets of the source's partitions carrying the customer (kafka-drain-decision.ts). */
  | { kind: 'KafkaDrainStart' }
  /** Check (for a moment) whether the source's ingestion group has committed up to those offsets; record what it has. */
  | { kind: 'KafkaDrainCheck' }
  /**
   * After the drain wait: fence the customer in the source database, waiting (at most maxDrainMs)
   * for the customer's own open transactions only; past the bound the move fails back. Then final sync.
   */
  | { kind: 'Drain' }
  /** Under the fence: replace the target's unverified rows by the source's, checksummed in the same snapshot. */
  | { kind: 'FinalSync'; table: string }
  /** Under the fence: checksum the target's final-synced rows and compare. */
  | { kind: 'Verify'; table: string }
  /** Point the placement at the target, bump its epoch and lift the fence, in one transaction. */
  | { kind: 'CutOver' }
  /**
   * Right after the cut-over (tables still in phase Verify): the target's database stops refusing
   * the customer's writes, the source's refuses them as moved out until cleanup has removed its rows.
   */
  | { kind: 'OpenTarget' }
  /**
   * Cleanup: delete the next batch of the customer's source rows, once the source is checked to
   * hold exactly what was verified under the fence (the database fence kept every later write out).
   */
  | { kind: 'Sweep'; table: string }
  /** Delete a batch of the customer's rows on one side. */
  | { kind: 'Clear'; table: string; side: Side }
  /** Turn an aborted, cut-over move into a reverse move (target back to source). */
  | { kind: 'StartReverse' }
  /** An abort before the cut-over: undo the copy. */
  | { kind: 'Abort' }
  | { kind: 'Fail'; reason: string; message: string }
  /** Record the end of the move (lifting the fence and releasing the reservation if still held). */
  | { kind: 'Finish'; state: 'Done' | 'RolledBack' | 'Failed' };

function later(a: Date | undefined, b: Date): Date {
  return a === undefined || b.getTime() < a.getTime() ? b : a;
}

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

function plus(d: Date, ms: number): Date {
  return new Date(d.getTime() + ms);
}

/** The table's synced prefix has rows past what was checked: a page can check them while it copies. */
function copyPage(t: TableProgress): MoveAction {
  const unchecked = !t.verified && t.syncedKey !== null && !sameKey(t.verifiedKey, t.syncedKey);
  return unchecked ? { kind: 'CopyPage', table: t.table, verify: true } : { kind: 'CopyPage', table: t.table };
}

function copying(tables: readonly TableProgress[], s: MoveSettings, now: Date): MoveAction {
  let wait: Date | undefined;
  for (const t of tables) {
    if (t.mode !== 'AppendOnly' || t.caughtUp) continue;
    if (settlesByObservation(t) && t.settledAt === null) {
      // Pages can only be trusted up to a key observed at least settleLag ago.
      const due = t.observedAt === null ? now : plus(t.observedAt, s.settleLagMs);
      if (due.getTime() <= now.getTime()) return { kind: 'Observe', table: t.table };
      wait = later(wait, due);
      continue;
    }
    return copyPage(t);
  }
  if (wait) return { kind: 'Wait', until: wait, reason: 'waiting for the first observed keys to settle' };
  return { kind: 'Transition', to: 'CatchingUp' };
}

/** A resync has rows to settle: a gap between the synced prefix and the copy cursor, and a newer bound. */
function worthResync(t: TableProgress): boolean {
  return !sameKey(t.syncedKey, t.lastKey) && (!settlesByObservation(t) || t.settledFresh);
}

function catchingUp(move: MoveRecord, tables: readonly TableProgress[], s: MoveSettings, now: Date): MoveAction {
  const appendOnly = tables.filter((t) => t.mode === 'AppendOnly');
  for (const t of appendOnly) {
    const observeDue = t.observedAt === null || plus(t.observedAt, s.settleLagMs).getTime() <= now.getTime();
    if (settlesByObservation(t) && !t.resynced && !t.settledFresh && observeDue) return { kind: 'Observe', table: t.table };
    if (!t.caughtUp) return copyPage(t);
    if (!t.resynced && worthResync(t)) return { kind: 'Resync', table: t.table };
  }
  if (move.roundRows > s.convergeRows && move.catchUpRound < s.maxCatchUpRounds) return { kind: 'NewRound' };
  for (const t of appendOnly) {
    if (!t.verified) return { kind: 'PreVerify', table: t.table };
  }
  return { kind: 'Fence' };
}

function cleanup(move: MoveRecord, tables: readonly TableProgress[], aborting: boolean, now: Date): MoveAction {
  if (tables.some((t) => t.phase === 'Verify')) return { kind: 'OpenTarget' };
  // An abort moves the customer back over its retained copy: nothing is swept first.
  if (aborting) return { kind: 'StartReverse' };
  if (!aborting && move.cleanupAfter && now.getTime() < move.cleanupAfter.getTime()) {
    return { kind: 'Wait', until: move.cleanupAfter, reason: 'keeping the source rows until the retention ends' };
  }
  for (const t of tables) if (!t.swept) return { kind: 'Sweep', table: t.table };
  return { kind: 'Finish', state: move.direction === 'Forward' ? 'Done' : 'RolledBack' };
}

/** The next action of a move. Pure: same inputs, same answer. */
export function nextAction(move: MoveRecord, progress: readonly TableProgress[], s: MoveSettings, now: Date): MoveAction {
  if (TERMINAL_STATES.has(move.state)) return { kind: 'None', reason: `the move is ${move.state}` };
  const tables = [...progress].sort((a, b) => a.position - b.position || a.table.localeCompare(b.table));
  const aborting = move.abortRequestedAt !== null && move.direction === 'Forward';

  if (move.state === 'RollingBack') {
    for (const t of tables) if (!t.cleared) return { kind: 'Clear', table: t.table, side: 'target' };
    return { kind: 'Finish', state: move.failureReason ? 'Failed' : 'RolledBack' };
  }
  if (aborting && move.state === 'Pending') return { kind: 'Finish', state: 'RolledBack' };
  if (aborting && BEFORE_CUT_OVER.has(move.state)) return { kind: 'Abort' };

  if (FENCED_STATES.has(move.state) && move.state !== 'CutOver' && move.fencedAt) {
    const held = now.getTime() - move.fencedAt.getTime();
    if (held >= s.maxFenceMs) {
      return {
        kind: 'Fail',
        reason: 'FenceTimeout',
        message: `the write fence was held ${seconds(held)} in state ${move.state}, longer than the ${seconds(s.maxFenceMs)} allowed (maxFenceMs); lifting it`,
      };
    }
  }

  switch (move.state) {
    case 'Pending':
      return { kind: 'Prepare' };
    case 'Copying':
      return copying(tables, s, now);
    case 'CatchingUp':
      return catchingUp(move, tables, s, now);
    case 'Fenced': {
      const drained = plus(move.fencedAt ?? now, s.drainWaitMs);
      if (now.getTime() < drained.getTime()) return { kind: 'Wait', until: drained, reason: 'draining writes already routed to the source' };
      return kafkaDrainAction(move, s, now) ?? { kind: 'Drain' };
    }
    case 'FinalSync':
      for (const t of tables) if (!t.finalSynced) return { kind: 'FinalSync', table: t.table };
      return { kind: 'Transition', to: 'Verifying' };
    case 'Verifying':
      for (const t of tables) if (!t.checked) return { kind: 'Verify', table: t.table };
      return { kind: 'Transition', to: 'CutOver' };
    case 'CutOver':
      return { kind: 'CutOver' };
    case 'Cleanup':
      return cleanup(move, tables, aborting, now);
    default:
      return { kind: 'None', reason: `no action for state ${move.state}` };
  }
}

/** A short label of an action for logs, metrics and hooks: `CopyPage public.readings`. */
export function describeAction(a: MoveAction): string {
  if ('table' in a) return `${a.kind} ${a.table}${a.kind === 'Clear' ? ` (${a.side})` : ''}`;
  if (a.kind === 'Transition') return `Transition to ${a.to}`;
  if (a.kind === 'Finish') return `Finish as ${a.state}`;
  if (a.kind === 'Fail') return `Fail (${a.reason})`;
  return a.kind;
}
