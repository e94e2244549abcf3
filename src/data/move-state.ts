// The state of one customer move as the journal holds it (a migration_journal row and its
// migration_table_progress rows), as plain objects for the pure decider.
import type { KafkaDrain } from './kafka-drain-state.js';
import type { Key } from './table-sql.js';
import type { TableMode } from './tenant-tables.js';

export const MOVE_STATES = [
  'Pending',
  'Copying',
  'CatchingUp',
  'Fenced',
  'FinalSync',
  'Verifying',
  'CutOver',
  'Cleanup',
  'Done',
  'Failed',
  'RollingBack',
  'RolledBack',
] as const;
export type MoveState = (typeof MOVE_STATES)[number];

export const TERMINAL_STATES: ReadonlySet<MoveState> = new Set(['Done', 'Failed', 'RolledBack']);
/** States in which the customer's placement may be Fenced by this move. */
export const FENCED_STATES: ReadonlySet<MoveState> = new Set(['Fenced', 'FinalSync', 'Verifying', 'CutOver']);
/** States before the cut-over: a failure or an abort there undoes the copy. */
export const BEFORE_CUT_OVER: ReadonlySet<MoveState> = new Set(['Pending', 'Copying', 'CatchingUp', 'Fenced', 'FinalSync', 'Verifying']);

/** Forward: source_cell → target_cell. Reverse: an abort after cut-over moving the customer back. */
export type MoveDirection = 'Forward' | 'Reverse';

export interface MoveKey {
  migration: string;
  customerId: string;
}

export interface MoveRecord extends MoveKey {
  sourceCell: string;
  targetCell: string;
  state: MoveState;
  direction: MoveDirection;
  step: number;
  /** Consecutive failed attempts at the current action (reset by a successful one). */
  attempt: number;
  sourceEpoch: number | null;
  rowsCopied: number;
  bytesCopied: number;
  fencedAt: Date | null;
  cutOverAt: Date | null;
  cleanupAfter: Date | null;
  lastError: string | null;
  failureReason: string | null;
  abortRequestedAt: Date | null;
  reservedCell: string | null;
  stateEnteredAt: Date;
  catchUpRound: number;
  roundRows: number;
  startedAt: Date | null;
  finishedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
  /** The Kafka drain under the fence (kafka-drain-decision.ts); null until it starts. */
  kafkaDrain?: KafkaDrain | null;
}

export interface TableProgress {
  table: string;
  position: number;
  mode: TableMode;
  cursor: string[];
  timeCursor: boolean;
  phase: 'Copy' | 'CatchUp' | 'FinalSync' | 'Verify' | 'Cleanup';
  /** The copy cursor: every row up to here has been read at least once. */
  lastKey: Key | null;
  /** Every source row up to here is on the target. */
  syncedKey: Key | null;
  caughtUp: boolean;
  resynced: boolean;
  observedKey: Key | null;
  observedAt: Date | null;
  settledKey: Key | null;
  settledAt: Date | null;
  settledFresh: boolean;
  verified: boolean;
  verifiedKey: Key | null;
  verifiedRows: number | null;
  verifiedChecksum: string | null;
  finalSynced: boolean;
  checked: boolean;
  /** Source side of the final sync range (rows above verifiedKey), taken in the copy's snapshot. */
  sourceRows: number | null;
  sourceChecksum: string | null;
  targetRows: number | null;
  targetChecksum: string | null;
  sweepStarted: boolean;
  sweepKey: Key | null;
  swept: boolean;
  sweptRows: number;
  /** Passes of the cleanup over the source (another one while late rows keep appearing). */
  sweepPasses: number;
  cleared: boolean;
  rowsCopied: number;
  bytesCopied: number;
}

/** The cells of a move in the direction it currently runs. */
export function movingCells(move: Pick<MoveRecord, 'sourceCell' | 'targetCell' | 'direction'>): { from: string; to: string } {
  return move.direction === 'Forward' ? { from: move.sourceCell, to: move.targetCell } : { from: move.targetCell, to: move.sourceCell };
}

/** The key of a table that pages by keyset (AppendOnly) and settles by observation (no time watermark). */
/** A move nothing was done for yet, going forward, no abort asked: the only kind a batch takes (move-batch.ts). */
export function freshMove(move: Pick<MoveRecord, 'state' | 'direction' | 'abortRequestedAt'>): boolean {
  return move.state === 'Pending' && move.direction === 'Forward' && move.abortRequestedAt === null;
}

export function settlesByObservation(t: Pick<TableProgress, 'mode' | 'timeCursor'>): boolean {
  return t.mode === 'AppendOnly' && !t.timeCursor;
}

export function sameKey(a: Key | null, b: Key | null): boolean {
  if (a === null || b === null) return a === b;
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

/** How a move counts in a Migration's status. */
export type MoveOutcome = 'Pending' | 'InFlight' | 'Moved' | 'Failed' | 'MovingBack' | 'MovedBack' | 'RolledBack';

export function moveOutcome(move: Pick<MoveRecord, 'state' | 'direction' | 'abortRequestedAt'>): MoveOutcome {
  return outcomeOf(move.state, move.direction, Boolean(move.abortRequestedAt));
}

/** moveOutcome from the three columns it depends on (for counts grouped by them in SQL). */
export function outcomeOf(state: MoveState, direction: MoveDirection, abortRequested: boolean): MoveOutcome {
  if (direction === 'Reverse') {
    if (state === 'RolledBack') return 'MovedBack';
    if (state === 'Failed') return 'Failed';
    return 'MovingBack';
  }
  switch (state) {
    case 'Pending':
      return 'Pending';
    case 'Cleanup':
      return abortRequested ? 'MovingBack' : 'Moved';
    case 'Done':
      return 'Moved';
    case 'Failed':
      return 'Failed';
    case 'RolledBack':
      return 'RolledBack';
    default:
      return 'InFlight';
  }
}
