// Errors of a customer move as values with a reason: a refusal that fails the move (and rolls it
// back), a transient database error that is retried, and the crash a test injects. Database errors
// are classified by store/database-errors.ts, the same way everywhere.
import { classifyDatabaseError, isTransientDatabaseError } from '../store/database-errors.js';

/** A move that must not go on: it is failed with this PascalCase reason and rolled back. */
export class MoveRefusal extends Error {
  constructor(
    readonly reason: string,
    message: string,
  ) {
    super(message);
    this.name = 'MoveRefusal';
  }
}

/** Thrown by a test hook to stop an executor dead, as a SIGKILL would: nothing is recorded. */
export class InjectedCrash extends Error {
  constructor(message = 'injected crash') {
    super(message);
    this.name = 'InjectedCrash';
  }
}

/** Another executor holds the move (its advisory lock), or changed its state meanwhile. */
export class MoveConflict extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MoveConflict';
  }
}

/**
 * A cell's database cannot be resolved right now (its Cell not in the cache yet, its Secret
 * unreadable): the move waits and retries instead of rolling back.
 */
export class CellUnavailable extends Error {
  readonly code = 'CELL_UNAVAILABLE';
}

/** True when retrying the same action later may succeed: a transient database error, or a cell not resolvable yet. Pure. */
export function isTransientError(err: unknown): boolean {
  // Duck-typed: errors from another realm (node internals under a VM test runner) fail instanceof.
  if ((err as { code?: unknown } | null)?.code === 'CELL_UNAVAILABLE') return true;
  return isTransientDatabaseError(err);
}

/** The PascalCase reason a permanent error fails a move with (KeyConflict, SchemaChanged, …). Pure. */
export function permanentErrorReason(err: unknown): string {
  return classifyDatabaseError(err).reason;
}
