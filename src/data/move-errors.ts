// Errors of a customer move as values with a reason: a refusal that fails the move (and rolls it
// back), a transient database error that is retried, and the crash a test injects.

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

const TRANSIENT_NODE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'CELL_UNAVAILABLE']);

/**
 * A cell's database cannot be resolved right now (its Cell not in the cache yet, its Secret
 * unreadable): the move waits and retries instead of rolling back.
 */
export class CellUnavailable extends Error {
  readonly code = 'CELL_UNAVAILABLE';
}
// SQLSTATE classes and codes worth retrying: connection (08), resources (53), operator
// intervention (57: shutdown, crash), serialization and deadlocks, lock timeouts, and the
// read-only state of a standby being promoted.
const TRANSIENT_SQLSTATE_PREFIXES = ['08', '53', '57'];
const TRANSIENT_SQLSTATES = new Set(['40001', '40P01', '55P03', '55006', '25006']);

/** True when retrying the same action later may succeed. Pure. */
export function isTransientError(err: unknown): boolean {
  // Duck-typed: errors from another realm (node internals under a VM test runner) fail instanceof.
  if (typeof err !== 'object' || err === null) return false;
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (TRANSIENT_NODE_CODES.has(code)) return true;
    if (/^[0-9A-Z]{5}$/.test(code)) {
      return TRANSIENT_SQLSTATE_PREFIXES.some((p) => code.startsWith(p)) || TRANSIENT_SQLSTATES.has(code);
    }
  }
  const m = String((err as { message?: unknown }).message ?? '');
  return (
    /Connection terminated|Connection ended|connection timeout|Client has encountered a connection error|timeout exceeded when trying to connect|the database system is (starting up|shutting down|in recovery)|terminating connection|server closed the connection|write after end|Client was closed/i.test(
      m,
    )
  );
}

/** The PascalCase reason of a permanent database error, from its SQLSTATE class. Pure. */
export function permanentErrorReason(err: unknown): string {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (typeof code === 'string') {
    if (code === '23505') return 'KeyConflict';
    if (code === 'ZF001') return 'CustomerFenced'; // another migration's fence in a cell database (cell-fence-sql.ts)
    if (code.startsWith('23')) return 'ConstraintViolation';
    if (code.startsWith('22')) return 'DataError';
    if (code === '42P01' || code === '42703') return 'SchemaChanged';
    if (code.startsWith('42')) return 'SqlError';
    if (code.startsWith('28')) return 'AuthenticationFailed';
  }
  return 'UnexpectedError';
}

export function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    const { message, code } = err as { message: string; code?: unknown };
    return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? `${message} (SQLSTATE ${code})` : message;
  }
  return String(err);
}
