// The owner of the migration journal (one row per customer move), its per-table progress and the
// failure history: the control-plane side of a customer move. The customer's placement (fence,
// cut-over) belongs to placements.ts and the capacity reservation to cells.ts. Every statement is
// parameterised.
import { escapeLiteral, type Pool, type PoolClient } from 'pg';
import { knownCells, reserveCapacity } from './cells.js';
import { BEGIN_ROUTING_WRITES } from './placements.js';
import { inTransaction, withClient, type Queryable } from './transactions.js';
import { MoveConflict } from '../data/move-errors.js';
import { MOVE_STATES, TERMINAL_STATES, type MoveDirection, type MoveKey, type MoveRecord, type MoveState, type TableProgress } from '../data/move-state.js';
import type { Key } from '../data/table-sql.js';
import type { KafkaDrain } from '../data/kafka-drain-state.js';

interface JournalRow {
  migration: string;
  customer_id: string;
  source_cell: string;
  target_cell: string;
  state: MoveState;
  direction: MoveDirection;
  step: number;
  attempt: number;
  source_epoch: string | number | null;
  rows_copied: string | number;
  bytes_copied: string | number;
  fenced_at: Date | null;
  cut_over_at: Date | null;
  cleanup_after: Date | null;
  last_error: string | null;
  failure_reason: string | null;
  abort_requested_at: Date | null;
  reserved_cell: string | null;
  state_entered_at: Date;
  catch_up_round: number;
  round_rows: string | number;
  started_at: Date | null;
  finished_at: Date | null;
  created_at: Date;
  updated_at: Date;
  kafka_drain: KafkaDrain | null;
}

const num = (v: string | number | null): number | null => (v === null ? null : Number(v));

export function moveFromRow(r: JournalRow): MoveRecord {
  return {
    migration: r.migration,
    customerId: r.customer_id,
    sourceCell: r.source_cell,
    targetCell: r.target_cell,
    state: r.state,
    direction: r.direction,
    step: r.step,
    attempt: r.attempt,
    sourceEpoch: num(r.source_epoch),
    rowsCopied: Number(r.rows_copied),
    bytesCopied: Number(r.bytes_copied),
    fencedAt: r.fenced_at,
    cutOverAt: r.cut_over_at,
    cleanupAfter: r.cleanup_after,
    lastError: r.last_error,
    failureReason: r.failure_reason,
    abortRequestedAt: r.abort_requested_at,
    reservedCell: r.reserved_cell,
    stateEnteredAt: r.state_entered_at,
    catchUpRound: r.catch_up_round,
    roundRows: Number(r.round_rows),
    startedAt: r.started_at,
    finishedAt: r.finished_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    kafkaDrain: r.kafka_drain ?? null,
  };
}

interface ProgressRow {
  table_name: string;
  position: number;
  mode: TableProgress['mode'];
  cursor_columns: string[];
  time_cursor: boolean;
  phase: TableProgress['phase'];
  last_key: Key | null;
  synced_key: Key | null;
  caught_up: boolean;
  resynced: boolean;
  observed_key: Key | null;
  observed_at: Date | null;
  settled_key: Key | null;
  settled_at: Date | null;
  settled_fresh: boolean;
  verified: boolean;
  verified_key: Key | null;
  verified_rows: string | number | null;
  verified_checksum: string | null;
  final_synced: boolean;
  checked: boolean;
  source_rows: string | number | null;
  source_checksum: string | null;
  target_rows: string | number | null;
  target_checksum: string | null;
  sweep_started: boolean;
  sweep_key: Key | null;
  swept: boolean;
  swept_rows: string | number;
  sweep_passes: number;
  cleared: boolean;
  rows_copied: string | number;
  bytes_copied: string | number;
}

function progressFromRow(r: ProgressRow): TableProgress {
  return {
    table: r.table_name,
    position: r.position,
    mode: r.mode,
    cursor: r.cursor_columns,
    timeCursor: r.time_cursor,
    phase: r.phase,
    lastKey: r.last_key,
    syncedKey: r.synced_key,
    caughtUp: r.caught_up,
    resynced: r.resynced,
    observedKey: r.observed_key,
    observedAt: r.observed_at,
    settledKey: r.settled_key,
    settledAt: r.settled_at,
    settledFresh: r.settled_fresh,
    verified: r.verified,
    verifiedKey: r.verified_key,
    verifiedRows: num(r.verified_rows),
    verifiedChecksum: r.verified_checksum,
    finalSynced: r.final_synced,
    checked: r.checked,
    sourceRows: num(r.source_rows),
    sourceChecksum: r.source_checksum,
    targetRows: num(r.target_rows),
    targetChecksum: r.target_checksum,
    sweepStarted: r.sweep_started,
    sweepKey: r.sweep_key,
    swept: r.swept,
    sweptRows: Number(r.swept_rows),
    sweepPasses: r.sweep_passes,
    cleared: r.cleared,
    rowsCopied: Number(r.rows_copied),
    bytesCopied: Number(r.bytes_copied),
  };
}

export interface LoadedMove {
  move: MoveRecord;
  tables: TableProgress[];
}

/** Advisory-lock class of customer moves: 0x6d6f7665 = 'move' (the key is hashtext of the move). */
export const MOVE_LOCK_CLASS = 0x6d6f7665;

/**
 * How long the server keeps the lock's session when its operator falls silent (partitioned, not
 * dead: a middlebox may keep the socket alive, so TCP keepalive never ends it): idle, or idle in a
 * transaction, longer than this, the server ends the session and the lock is free for another
 * replica. The owner proves it is alive with a query every LOCK_HEARTBEAT_MS.
 */
export const LOCK_SESSION_IDLE_MS = 20_000;
export const LOCK_HEARTBEAT_MS = 5_000;

/**
 * Takes the move's executor lock on this session (it dies with the connection, so a crashed
 * executor never keeps a move locked), in one round trip: the lock first (a subquery evaluated
 * before the rest), then, only if it was taken, the session's silence bounded
 * (LOCK_SESSION_IDLE_MS) and this owner's epoch: a new transaction id of the control-plane
 * database, assigned after the lock was taken, so a later owner's epoch is above every earlier
 * one's (the cells keep the highest, see data/cell-fence-sql.ts schema step 5). Undefined when
 * another executor holds the move.
 */
export async function lockMove(client: PoolClient, key: MoveKey): Promise<string | undefined> {
  const bound = `${LOCK_SESSION_IDLE_MS}ms`;
  const { rows } = await client.query<{ locked: boolean; epoch: string | null }>(
    `SELECT l.locked,
            CASE WHEN l.locked THEN set_config('idle_session_timeout', $4, false) || set_config('idle_in_transaction_session_timeout', $4, false) END AS bounded,
            CASE WHEN l.locked THEN pg_current_xact_id()::text END AS epoch
       FROM (SELECT pg_try_advisory_lock($1, hashtext($2 || '/' || $3)) AS locked OFFSET 0) l`,
    [MOVE_LOCK_CLASS, key.migration, key.customerId, bound],
  );
  if (rows[0]?.locked !== true) return undefined;
  const epoch = rows[0].epoch;
  if (!epoch) throw new Error('the control-plane database gave no transaction id for the move owner epoch');
  return epoch;
}

/**
 * Releases the move's lock, the session going back to the pool without lockMove's bounds (RESET),
 * in one round trip: several statements in one message (the simple query protocol, the key an
 * escaped literal). Reading the values to restore from pg_settings instead cost about a millisecond
 * of the server's CPU a move (the view computes every setting).
 */
export async function unlockMoveAndRelease(client: PoolClient, key: MoveKey): Promise<void> {
  await client.query(
    `RESET idle_session_timeout; RESET idle_in_transaction_session_timeout; SELECT pg_advisory_unlock(${MOVE_LOCK_CLASS}, hashtext(${escapeLiteral(`${key.migration}/${key.customerId}`)}))`,
  );
}

/** The journal row and its progress rows, in one round trip. */
/** Journal rows `j` with their progress rows (LoadedRow); the caller adds its WHERE. */
const LOADED_MOVES_SQL = `SELECT j.*, coalesce((SELECT json_agg(p ORDER BY p.position, p.table_name) FROM migration_table_progress p
                            WHERE p.migration = j.migration AND p.customer_id = j.customer_id), '[]') AS progress
       FROM migration_journal j`;

export async function loadMove(db: Queryable, key: MoveKey): Promise<LoadedMove | undefined> {
  const { rows } = await db.query<LoadedRow>(`${LOADED_MOVES_SQL} WHERE j.migration = $1 AND j.customer_id = $2`, [key.migration, key.customerId]);
  const row = rows[0];
  return row ? loadedFromRow(row) : undefined;
}

/** A journal row with its progress rows as json_agg renders them (loadMove, and the writes' RETURNING). */
type LoadedRow = JournalRow & { progress: ProgressJson[] };

function loadedFromRow(row: LoadedRow): LoadedMove {
  return { move: moveFromRow(row), tables: row.progress.map((p) => progressFromRow(progressFromJson(p))) };
}

/**
 * The move's progress rows after a write, as its RETURNING hands them back with the journal row
 * (so the executor's next decision needs no read): those the statement wrote, from the CTEs
 * `written` (RETURNING *), the others as its snapshot has them (only the move's executor writes
 * them). $1 and $2 are the move's migration and customer.
 */
function progressAfter(written: readonly string[] = []): string {
  const mine = written.map((w) => `SELECT * FROM ${w}`);
  const others = `SELECT x.* FROM migration_table_progress x WHERE x.migration = $1 AND x.customer_id = $2${
    written.length > 0 ? ` AND x.table_name NOT IN (${written.map((w) => `SELECT table_name FROM ${w}`).join(' UNION ALL ')})` : ''
  }`;
  return `coalesce((SELECT json_agg(a ORDER BY a.position, a.table_name) FROM (${[...mine, others].join(' UNION ALL ')}) a), '[]')`;
}

/** A progress row as json_agg renders it: timestamps as ISO text. */
type ProgressJson = Omit<ProgressRow, 'observed_at' | 'settled_at'> & { observed_at: string | null; settled_at: string | null };

function progressFromJson(p: ProgressJson): ProgressRow {
  return { ...p, observed_at: p.observed_at === null ? null : new Date(p.observed_at), settled_at: p.settled_at === null ? null : new Date(p.settled_at) };
}

export async function listMoves(db: Queryable, migration: string): Promise<MoveRecord[]> {
  const { rows } = await db.query<JournalRow>('SELECT * FROM migration_journal WHERE migration = $1 ORDER BY step, created_at, customer_id', [
    migration,
  ]);
  return rows.map(moveFromRow);
}

const OPEN_STATES = MOVE_STATES.filter((s) => !TERMINAL_STATES.has(s));

/**
 * The moves of a migration that are not finished (not Done, Failed or RolledBack), in listMoves'
 * order. With `dueAt`, without those in Cleanup that wait for their retention to end after it
 * (unless an abort asks them back, or the target's database fence is still to be lifted). A drain of 100k customers has a few of these, not 100k.
 */
export async function listOpenMoves(db: Queryable, migration: string, options: { dueAt?: Date } = {}): Promise<MoveRecord[]> {
  const waiting = options.dueAt
    ? `AND NOT (state = 'Cleanup' AND abort_requested_at IS NULL AND cleanup_after IS NOT NULL
           AND NOT EXISTS (SELECT 1 FROM migration_table_progress p WHERE p.migration = migration_journal.migration
                             AND p.customer_id = migration_journal.customer_id AND p.phase = 'Verify') AND cleanup_after > $3)`
    : '';
  const { rows } = await db.query<JournalRow>(
    `SELECT * FROM migration_journal WHERE migration = $1 AND state = ANY($2::text[]) ${waiting} ORDER BY step, created_at, customer_id`,
    options.dueAt ? [migration, OPEN_STATES, options.dueAt] : [migration, OPEN_STATES],
  );
  return rows.map(moveFromRow);
}

/**
 * The Failed moves of a migration that failed before `before` (a Migration's spec.retry), only those
 * of `customers` when given; at most `limit` per call, the next reconcile takes the rest.
 */
export async function listFailedMoves(db: Queryable, migration: string, before: Date, customers?: readonly string[], limit = 100): Promise<MoveKey[]> {
  const { rows } = await db.query<{ customer_id: string }>(
    `SELECT customer_id FROM migration_journal
      WHERE migration = $1 AND state = 'Failed' AND coalesce(finished_at, updated_at) < $2 AND ($3::text[] IS NULL OR customer_id = ANY($3::text[]))
      ORDER BY customer_id LIMIT $4`,
    [migration, before, customers ? [...customers] : null, limit],
  );
  return rows.map((r) => ({ migration, customerId: r.customer_id }));
}

/**
 * A Migration's retention made shorter: the moves waiting for their cleanup (forward, in Cleanup)
 * are cleaned up `retentionMs` after their cut-over instead of at the later time fixed then.
 * Never later: a move whose sweep has begun must not be held again (its time passed already), and
 * a longer retention applies to the customers cut over after it. Returns the moves brought forward.
 */
export async function shortenRetention(db: Queryable, migration: string, retentionMs: number): Promise<string[]> {
  const { rows } = await db.query<{ customer_id: string }>(
    `UPDATE migration_journal SET cleanup_after = cut_over_at + $2 * interval '1 millisecond', updated_at = now()
      WHERE migration = $1 AND state = 'Cleanup' AND direction = 'Forward' AND cut_over_at IS NOT NULL
        AND cleanup_after > cut_over_at + $2 * interval '1 millisecond'
      RETURNING customer_id`,
    [migration, retentionMs],
  );
  return rows.map((r) => r.customer_id);
}

/** When the earliest cleanup of a migration's moves in Cleanup is due; undefined if none waits. */
export async function nextCleanupAt(db: Queryable, migration: string): Promise<Date | undefined> {
  const { rows } = await db.query<{ at: Date | null }>(
    `SELECT min(cleanup_after) AS at FROM migration_journal WHERE migration = $1 AND state = 'Cleanup'`,
    [migration],
  );
  return rows[0]?.at ?? undefined;
}

/** A migration's moves counted by state, direction and abort request, with their rows and bytes copied. */
export async function countMoves(
  db: Queryable,
  migration: string,
): Promise<{ state: MoveState; direction: MoveDirection; aborting: boolean; n: number; rowsCopied: number; bytesCopied: number }[]> {
  const { rows } = await db.query<{ state: MoveState; direction: MoveDirection; aborting: boolean; n: number; rows_copied: string; bytes_copied: string }>(
    `SELECT state, direction, abort_requested_at IS NOT NULL AS aborting, count(*)::int AS n,
            sum(rows_copied) AS rows_copied, sum(bytes_copied) AS bytes_copied
       FROM migration_journal WHERE migration = $1 GROUP BY 1, 2, 3`,
    [migration],
  );
  return rows.map((r) => ({ state: r.state, direction: r.direction, aborting: r.aborting, n: r.n, rowsCopied: Number(r.rows_copied), bytesCopied: Number(r.bytes_copied) }));
}

// --- Journal writes ----------------------------------------------------------------------------

const JOURNAL_COLUMNS = {
  sourceEpoch: 'source_epoch',
  fencedAt: 'fenced_at',
  cutOverAt: 'cut_over_at',
  cleanupAfter: 'cleanup_after',
  lastError: 'last_error',
  failureReason: 'failure_reason',
  reservedCell: 'reserved_cell',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  catchUpRound: 'catch_up_round',
  roundRows: 'round_rows',
  direction: 'direction',
  attempt: 'attempt',
  abortRequestedAt: 'abort_requested_at',
  kafkaDrain: 'kafka_drain',
} as const satisfies Partial<Record<keyof MoveRecord, string>>;

/** Journal columns written as jsonb. */
const JOURNAL_JSON = new Set(['kafka_drain']);

export type JournalFields = Partial<Pick<MoveRecord, keyof typeof JOURNAL_COLUMNS>>;

function setClauses(fields: Record<string, unknown>, columns: Record<string, string>, values: unknown[], jsonColumns: ReadonlySet<string> = new Set()): string[] {
  const sets: string[] = [];
  for (const [field, value] of Object.entries(fields)) {
    if (value === undefined) continue;
    const column = columns[field];
    if (!column) throw new Error(`unknown journal field ${field}`);
    if (jsonColumns.has(column)) {
      values.push(value === null ? null : JSON.stringify(value));
      sets.push(`${column} = $${values.length}::jsonb`);
    } else {
      values.push(value);
      sets.push(`${column} = $${values.length}`);
    }
  }
  return sets;
}

/**
 * Records a state change (and other fields) if the move is still in `from`: the write that makes
 * a transition happen before its effect. Throws MoveConflict when someone else moved it meanwhile
 * (or, with `unlessAborted`, asked for an abort). Returns the move as written (the journal row as the
 * UPDATE left it, the abort request of the latest committed version included), for the next decision.
 */
export async function transition(
  db: Queryable,
  move: Pick<MoveRecord, 'migration' | 'customerId' | 'state' | 'direction'>,
  to: MoveState,
  at: Date,
  fields: JournalFields = {},
  options: { unlessAborted?: boolean } = {},
): Promise<LoadedMove> {
  const values: unknown[] = [move.migration, move.customerId, move.state, move.direction, to, at];
  const sets = ['state = $5', 'state_entered_at = $6', 'updated_at = now()', 'attempt = 0', ...setClauses(fields, JOURNAL_COLUMNS, values, JOURNAL_JSON)];
  const unlessAborted = options.unlessAborted ? ' AND abort_requested_at IS NULL' : '';
  const { rows } = await db.query<LoadedRow>(
    `UPDATE migration_journal SET ${sets.join(', ')} WHERE migration = $1 AND customer_id = $2 AND state = $3 AND direction = $4${unlessAborted}
     RETURNING *, ${progressAfter()} AS progress`,
    values,
  );
  const row = rows[0];
  if (!row) {
    const why = options.unlessAborted ? ` (or an abort was asked for)` : '';
    throw new MoveConflict(`move ${move.migration}/${move.customerId} is no longer ${move.direction} ${move.state}${why}; not recording ${to}`);
  }
  return loadedFromRow(row);
}

/** Updates journal fields without a state change (e.g. catch-up round counters). */
export async function updateJournal(db: Queryable, key: MoveKey, fields: JournalFields): Promise<LoadedMove | undefined> {
  const values: unknown[] = [key.migration, key.customerId];
  const sets = setClauses(fields, JOURNAL_COLUMNS, values, JOURNAL_JSON);
  if (sets.length === 0) return undefined;
  const { rows } = await db.query<LoadedRow>(
    `UPDATE migration_journal SET ${sets.join(', ')}, updated_at = now() WHERE migration = $1 AND customer_id = $2 RETURNING *, ${progressAfter()} AS progress`,
    values,
  );
  return rows[0] ? loadedFromRow(rows[0]) : undefined;
}

/** A failed attempt that will be retried: the error for people, the count for backoff. */
export async function recordError(db: Queryable, key: MoveKey, message: string): Promise<void> {
  await db.query(
    'UPDATE migration_journal SET last_error = $3, attempt = attempt + 1, updated_at = now() WHERE migration = $1 AND customer_id = $2',
    [key.migration, key.customerId, message.slice(0, 4000)],
  );
}

/** Adds a failure to the migration's history (the latest are shown in its status). */
export async function recordFailure(db: Queryable, key: MoveKey, state: MoveState, reason: string, message: string): Promise<void> {
  await db.query('INSERT INTO migration_failures (migration, customer_id, state, reason, message) VALUES ($1, $2, $3, $4, $5)', [
    key.migration,
    key.customerId,
    state,
    reason,
    message.slice(0, 4000),
  ]);
}

export interface FailureRecord {
  customerId: string;
  state: string;
  reason: string;
  message: string;
  at: Date;
}

export async function latestFailures(db: Queryable, migration: string, limit = 10): Promise<FailureRecord[]> {
  const { rows } = await db.query<{ customer_id: string; state: string; reason: string; message: string; at: Date }>(
    'SELECT customer_id, state, reason, message, at FROM migration_failures WHERE migration = $1 ORDER BY at DESC, id DESC LIMIT $2',
    [migration, limit],
  );
  return rows.map((r) => ({ customerId: r.customer_id, state: r.state, reason: r.reason, message: r.message, at: r.at }));
}

/** An unfinished move whose last attempt failed and is being retried. */
export interface RetryingRecord {
  customerId: string;
  state: string;
  /** Failed attempts since its last successful action. */
  attempts: number;
  error: string;
  at: Date;
}

/**
 * The unfinished moves of a migration that are retrying after errors (a failed attempt since their
 * last successful action), the most recently failed first, and how many there are in all.
 */
export async function retryingMoves(db: Queryable, migration: string, limit = 10): Promise<{ total: number; moves: RetryingRecord[] }> {
  const { rows } = await db.query<{ customer_id: string; state: string; attempt: number; last_error: string; updated_at: Date; total: number }>(
    `SELECT customer_id, state, attempt, last_error, updated_at, count(*) OVER ()::int AS total
       FROM migration_journal
      WHERE migration = $1 AND attempt > 0 AND last_error IS NOT NULL AND state NOT IN ('Done', 'Failed', 'RolledBack')
      ORDER BY updated_at DESC, customer_id LIMIT $2`,
    [migration, limit],
  );
  return {
    total: rows[0]?.total ?? 0,
    moves: rows.map((r) => ({ customerId: r.customer_id, state: r.state, attempts: r.attempt, error: r.last_error, at: r.updated_at })),
  };
}

// --- Progress ---------------------------------------------------------------------------------

const PROGRESS_COLUMNS = {
  phase: 'phase',
  lastKey: 'last_key',
  syncedKey: 'synced_key',
  caughtUp: 'caught_up',
  resynced: 'resynced',
  observedKey: 'observed_key',
  observedAt: 'observed_at',
  settledKey: 'settled_key',
  settledAt: 'settled_at',
  settledFresh: 'settled_fresh',
  verified: 'verified',
  verifiedKey: 'verified_key',
  verifiedRows: 'verified_rows',
  verifiedChecksum: 'verified_checksum',
  finalSynced: 'final_synced',
  checked: 'checked',
  sourceRows: 'source_rows',
  sourceChecksum: 'source_checksum',
  targetRows: 'target_rows',
  targetChecksum: 'target_checksum',
  sweepStarted: 'sweep_started',
  sweepKey: 'sweep_key',
  swept: 'swept',
  sweepPasses: 'sweep_passes',
  cleared: 'cleared',
} as const satisfies Partial<Record<keyof TableProgress, string>>;

const JSON_PROGRESS_COLUMNS: ReadonlySet<string> = new Set(['last_key', 'synced_key', 'observed_key', 'settled_key', 'verified_key', 'sweep_key']);

export type ProgressFields = Partial<Pick<TableProgress, keyof typeof PROGRESS_COLUMNS>>;

export interface CopyCounts {
  rows: number;
  bytes: number;
  /** Count the rows towards the catch-up round (CopyPage, Resync). */
  inRound?: boolean;
  /** Rows the sweep brought over. */
  swept?: number;
}

/** Records a table's progress, and adds its copy counts to the table and the journal, atomically. */
export async function updateProgress(db: Queryable, key: MoveKey, table: string, fields: ProgressFields, counts?: CopyCounts): Promise<LoadedMove> {
  const values: unknown[] = [key.migration, key.customerId, table];
  const sets = setClauses(fields, PROGRESS_COLUMNS, values, JSON_PROGRESS_COLUMNS);
  values.push(counts?.rows ?? 0, counts?.bytes ?? 0, counts?.swept ?? 0);
  const [r, b, s] = [values.length - 2, values.length - 1, values.length];
  sets.push(`rows_copied = p.rows_copied + $${r}`, `bytes_copied = p.bytes_copied + $${b}`, `swept_rows = p.swept_rows + $${s}`, 'updated_at = now()');
  const round = counts?.inRound ? `, round_rows = j.round_rows + $${r}` : '';
  const { rows } = await db.query<LoadedRow>(
    `WITH p AS (
       UPDATE migration_table_progress p SET ${sets.join(', ')}
        WHERE p.migration = $1 AND p.customer_id = $2 AND p.table_name = $3
       RETURNING p.*
     )
     UPDATE migration_journal j SET rows_copied = j.rows_copied + $${r}, bytes_copied = j.bytes_copied + $${b}${round}, attempt = 0, updated_at = now()
      WHERE j.migration = $1 AND j.customer_id = $2 AND EXISTS (SELECT 1 FROM p)
     RETURNING j.*, ${progressAfter(['p'])} AS progress`,
    values,
  );
  const row = rows[0];
  if (!row) throw new MoveConflict(`no progress row for table ${table} of move ${key.migration}/${key.customerId}`);
  return loadedFromRow(row);
}

/** A state change recorded together with a table's progress (see updateProgressAndState). */
export interface StateChange {
  /** The move as the executor read it: the change only happens if it is still in this state and direction. */
  move: Pick<MoveRecord, 'migration' | 'customerId' | 'state' | 'direction'>;
  to: MoveState;
  at: Date;
  fields?: JournalFields;
  /** Also start a new catch-up round for the move's other append-only tables (see resetRound, keepCaughtUp). */
  resetOtherTables?: boolean;
  /** Only if no abort was asked for (else MoveConflict), see transition. */
  unlessAborted?: boolean;
}

/**
 * updateProgress and transition in one statement, so one round trip instead of a transaction of
 * four: the journal row changes state only if it is still in `change.move.state` (else
 * MoveConflict), and the progress row only if the journal row did. The table's own part of a
 * round reset (`resetOtherTables`) goes into `fields` of the caller.
 */
export async function updateProgressAndState(
  db: Queryable,
  table: string,
  fields: ProgressFields,
  counts: CopyCounts | undefined,
  change: StateChange,
): Promise<LoadedMove> {
  const { move } = change;
  const values: unknown[] = [move.migration, move.customerId, table, move.state, move.direction, change.to, change.at];
  const progressSets = setClauses(fields, PROGRESS_COLUMNS, values, JSON_PROGRESS_COLUMNS);
  const journalSets = setClauses(change.fields ?? {}, JOURNAL_COLUMNS, values, JOURNAL_JSON);
  values.push(counts?.rows ?? 0, counts?.bytes ?? 0, counts?.swept ?? 0);
  const [r, b, s] = [values.length - 2, values.length - 1, values.length];
  progressSets.push(`rows_copied = p.rows_copied + $${r}`, `bytes_copied = p.bytes_copied + $${b}`, `swept_rows = p.swept_rows + $${s}`, 'updated_at = now()');
  // round_rows is either counted or set by the change's fields, never both.
  const round = counts?.inRound && change.fields?.roundRows === undefined ? [`round_rows = j.round_rows + $${r}`] : [];
  journalSets.push(
    'state = $6',
    'state_entered_at = $7',
    'attempt = 0',
    `rows_copied = j.rows_copied + $${r}`,
    `bytes_copied = j.bytes_copied + $${b}`,
    ...round,
    'updated_at = now()',
  );
  const reset = change.resetOtherTables
    ? `, o AS (
         UPDATE migration_table_progress o SET resynced = false, phase = 'CatchUp', updated_at = now()
          WHERE o.migration = $1 AND o.customer_id = $2 AND o.table_name <> $3 AND o.mode = 'AppendOnly' AND EXISTS (SELECT 1 FROM j)
         RETURNING o.*
       )`
    : '';
  const { rows } = await db.query<LoadedRow & { progressed: boolean }>(
    `WITH j AS (
       UPDATE migration_journal j SET ${journalSets.join(', ')}
        WHERE j.migration = $1 AND j.customer_id = $2 AND j.state = $4 AND j.direction = $5${change.unlessAborted ? ' AND j.abort_requested_at IS NULL' : ''}
          AND EXISTS (SELECT 1 FROM migration_table_progress x WHERE x.migration = $1 AND x.customer_id = $2 AND x.table_name = $3)
       RETURNING j.*
     ), p AS (
       UPDATE migration_table_progress p SET ${progressSets.join(', ')}
        WHERE p.migration = $1 AND p.customer_id = $2 AND p.table_name = $3 AND EXISTS (SELECT 1 FROM j)
       RETURNING p.*
     )${reset}
     SELECT j.*, EXISTS (SELECT 1 FROM p) AS progressed, ${progressAfter(change.resetOtherTables ? ['p', 'o'] : ['p'])} AS progress FROM j`,
    values,
  );
  const row = rows[0];
  if (!row || row.progressed !== true) {
    const why = change.unlessAborted ? ' (or an abort was asked for)' : '';
    throw new MoveConflict(`move ${move.migration}/${move.customerId} is no longer ${move.direction} ${move.state} with a progress row for table ${table}${why}; not recording ${change.to}`);
  }
  return loadedFromRow(row);
}

export interface NewProgress {
  table: string;
  position: number;
  mode: TableProgress['mode'];
  cursor: string[];
  timeCursor: boolean;
  observedKey?: Key | null;
  observedAt?: Date | null;
  /**
   * An append-only table copied only under the fence: recorded caught up, resynced and verified
   * with nothing (the final sync then replaces all of the customer's rows, and Verify checks them all).
   */
  underFence?: boolean;
}

export async function replaceProgress(db: Queryable, key: MoveKey, tables: readonly NewProgress[]): Promise<void> {
  await db.query('DELETE FROM migration_table_progress WHERE migration = $1 AND customer_id = $2', [key.migration, key.customerId]);
  for (const t of tables) {
    await db.query(
      `INSERT INTO migration_table_progress (migration, customer_id, table_name, phase, position, mode, cursor_columns, time_cursor, observed_key, observed_at,
                                             caught_up, resynced, verified, verified_rows, verified_checksum)
       VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8, $9::jsonb, $10, $11, $11, $11, CASE WHEN $11 THEN 0 END, CASE WHEN $11 THEN '0' END)`,
      [
        key.migration,
        key.customerId,
        t.table,
        t.mode === 'AppendOnly' && !t.underFence ? 'Copy' : 'FinalSync',
        t.position,
        t.mode,
        JSON.stringify(t.cursor),
        t.timeCursor,
        t.observedKey === undefined || t.observedKey === null ? null : JSON.stringify(t.observedKey),
        t.observedAt ?? null,
        t.underFence === true,
      ],
    );
  }
}

/** A row of replaceProgress's INSERT, for jsonb_to_recordset. */
function progressInsertRow(t: NewProgress) {
  return {
    table_name: t.table,
    phase: t.mode === 'AppendOnly' && !t.underFence ? 'Copy' : 'FinalSync',
    position: t.position,
    mode: t.mode,
    cursor_columns: t.cursor,
    time_cursor: t.timeCursor,
    observed_key: t.observedKey ?? null,
    observed_at: t.observedAt ? t.observedAt.toISOString() : null,
    under_fence: t.underFence === true,
  };
}

/**
 * The plan of a move recorded with its state change, in one statement (was a transaction of
 * replaceProgress and transition): the journal row changes state only if it is still in
 * `move.state` and direction (else MoveConflict), and only then are its progress rows replaced by
 * `tables` (the old ones deleted first: the insert reads a count of the delete, which makes it run
 * to its end before the first row goes in).
 */
export async function recordPlan(
  db: Queryable,
  move: Pick<MoveRecord, 'migration' | 'customerId' | 'state' | 'direction'>,
  tables: readonly NewProgress[],
  to: MoveState,
  at: Date,
  fields: JournalFields = {},
): Promise<LoadedMove> {
  const values: unknown[] = [move.migration, move.customerId, move.state, move.direction, to, at, JSON.stringify(tables.map(progressInsertRow))];
  const sets = ['state = $5', 'state_entered_at = $6', 'updated_at = now()', 'attempt = 0', ...setClauses(fields, JOURNAL_COLUMNS, values, JOURNAL_JSON)];
  const { rows } = await db.query<LoadedRow>(
    `WITH j AS (
       UPDATE migration_journal SET ${sets.join(', ')} WHERE migration = $1 AND customer_id = $2 AND state = $3 AND direction = $4 RETURNING *
     ), d AS (
       DELETE FROM migration_table_progress WHERE migration = $1 AND customer_id = $2 AND EXISTS (SELECT 1 FROM j) RETURNING 1
     ), i AS (
       INSERT INTO migration_table_progress (migration, customer_id, table_name, phase, position, mode, cursor_columns, time_cursor, observed_key, observed_at,
                                             caught_up, resynced, verified, verified_rows, verified_checksum)
       SELECT $1, $2, t.table_name, t.phase, t.position, t.mode, t.cursor_columns, t.time_cursor, t.observed_key, t.observed_at,
              t.under_fence, t.under_fence, t.under_fence, CASE WHEN t.under_fence THEN 0 END, CASE WHEN t.under_fence THEN '0' END
         FROM jsonb_to_recordset($7::jsonb) AS t(table_name text, phase text, position integer, mode text, cursor_columns jsonb, time_cursor boolean,
                                                 observed_key jsonb, observed_at timestamptz, under_fence boolean)
        WHERE EXISTS (SELECT 1 FROM j) AND (SELECT count(*) FROM d) >= 0
       RETURNING *
     )
     SELECT j.*, coalesce((SELECT json_agg(a ORDER BY a.position, a.table_name) FROM i a), '[]') AS progress FROM j`,
    values,
  );
  const row = rows[0];
  if (!row) throw new MoveConflict(`move ${move.migration}/${move.customerId} is no longer ${move.direction} ${move.state}; not recording ${to}`);
  return loadedFromRow(row);
}

/**
 * Every table of the move still in phase Verify goes to Cleanup (the target was opened after the
 * cut-over), and the move's failed attempts are reset as after any successful action: one statement.
 */
export async function leaveVerifyPhase(db: Queryable, key: MoveKey): Promise<LoadedMove | undefined> {
  const { rows } = await db.query<LoadedRow>(
    `WITH p AS (
       UPDATE migration_table_progress SET phase = 'Cleanup', updated_at = now() WHERE migration = $1 AND customer_id = $2 AND phase = 'Verify'
       RETURNING *
     )
     UPDATE migration_journal SET attempt = 0, updated_at = now() WHERE migration = $1 AND customer_id = $2
     RETURNING *, ${progressAfter(['p'])} AS progress`,
    [key.migration, key.customerId],
  );
  return rows[0] ? loadedFromRow(rows[0]) : undefined;
}

/** Resets the per-round flags of every table (a new catch-up round). */
export async function resetRound(db: Queryable, key: MoveKey, options: { keepCaughtUp?: boolean } = {}): Promise<void> {
  await db.query(
    `UPDATE migration_table_progress SET caught_up = caught_up AND $3, resynced = false, phase = 'CatchUp', updated_at = now()
      WHERE migration = $1 AND customer_id = $2 AND mode = 'AppendOnly'`,
    [key.migration, key.customerId, options.keepCaughtUp === true],
  );
}

// --- Starting, aborting, retrying -------------------------------------------------------------

export interface StartMoveRequest extends MoveKey {
  sourceCell: string;
  targetCell: string;
  /** The Migration step that started this customer. */
  step?: number;
}

export type StartMoveResult =
  | { ok: true; created: boolean; move: MoveRecord }
  | { ok: false; reason: 'SameCell' | 'MoveInProgress' | 'TargetFull' | 'UnknownCell' | 'Conflict'; message: string };

/**
 * Records a customer's move (state Pending) and reserves one customer of capacity on the target,
 * in one transaction. Idempotent: starting a move that exists returns it (the insert finds it and
 * writes nothing; then it is read).
 */
export async function insertMove(pool: Pool, req: StartMoveRequest): Promise<StartMoveResult> {
  if (req.sourceCell === req.targetCell) {
    return { ok: false, reason: 'SameCell', message: `customer ${req.customerId}: source and target are both ${req.sourceCell}` };
  }
  try {
    // The store's lock order: the routing lock (sent with the BEGIN), cells, placement rows.
    const created = await withClient(pool, (c) =>
      inTransaction(
        c,
        async (): Promise<StartMoveResult | undefined> => {
          const known = await knownCells(c, [req.sourceCell, req.targetCell]);
          for (const cell of [req.sourceCell, req.targetCell]) {
            if (!known.has(cell)) throw new StartRefused('UnknownCell', `cell ${cell} is not in the routing table`);
          }
          const { rows } = await c.query<JournalRow>(
            `INSERT INTO migration_journal (migration, customer_id, source_cell, target_cell, step, reserved_cell)
             VALUES ($1, $2, $3, $4, $5, $4) ON CONFLICT (migration, customer_id) DO NOTHING RETURNING *`,
            [req.migration, req.customerId, req.sourceCell, req.targetCell, req.step ?? 0],
          );
          if (!rows[0]) return undefined; // the move exists: nothing written, read below
          if (!(await reserveCapacity(c, req.targetCell, { withinCapacity: true }))) {
            throw new StartRefused('TargetFull', `cell ${req.targetCell} has no capacity left for customer ${req.customerId}`); // the insert rolls back
          }
          return { ok: true as const, created: true, move: moveFromRow(rows[0]) };
        },
        BEGIN_ROUTING_WRITES,
      ),
    );
    if (created) return created;
  } catch (err) {
    if (err instanceof StartRefused) return { ok: false, reason: err.reason, message: err.message };
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505' && e.constraint === 'migration_journal_one_open_move_idx') {
      return { ok: false, reason: 'MoveInProgress', message: `customer ${req.customerId} is already being moved by another migration` };
    }
    throw err;
  }
  const existing = await loadMove(pool, req);
  if (!existing) throw new MoveConflict(`move ${req.migration}/${req.customerId} was there at its insert and is gone now`);
  const m = existing.move;
  if (m.sourceCell !== req.sourceCell || m.targetCell !== req.targetCell) {
    return { ok: false, reason: 'Conflict', message: `move ${req.migration}/${req.customerId} already exists from ${m.sourceCell} to ${m.targetCell}` };
  }
  return { ok: true, created: false, move: m };
}

/**
 * insertMove for many customers of one migration between the same two cells, in one transaction
 * (a Migration starting a step's moves, a drain): the moves that exist are returned as they are, new
 * ones are recorded Pending with one customer of room reserved on the target each, in request order
 * while the target has room (those past it: TargetFull, not recorded). Results in `requests`' order.
 * A customer with an open move of another migration makes the whole statement fail: then each is
 * inserted alone (insertMove says which).
 */
export async function insertMoves(pool: Pool, requests: readonly StartMoveRequest[]): Promise<StartMoveResult[]> {
  const first = requests[0];
  if (!first) return [];
  // One at a time, where insertMove says what is wrong with each.
  const each = async (): Promise<StartMoveResult[]> => {
    const out: StartMoveResult[] = [];
    for (const r of requests) out.push(await insertMove(pool, r));
    return out;
  };
  if (requests.some((r) => r.migration !== first.migration || r.sourceCell !== first.sourceCell || r.targetCell !== first.targetCell || r.sourceCell === r.targetCell)) return each();
  let created: Map<string, MoveRecord>;
  let full: Set<string>;
  try {
    [created, full] = await withClient(pool, (c) =>
      inTransaction(
        c,
        async (): Promise<[Map<string, MoveRecord>, Set<string>]> => {
          const known = await knownCells(c, [first.sourceCell, first.targetCell]);
          for (const cell of [first.sourceCell, first.targetCell]) {
            if (!known.has(cell)) throw new StartRefused('UnknownCell', `cell ${cell} is not in the routing table`);
          }
          // The room left, under the cell's row lock (the routing lock is held too): new moves take it in request order.
          const room = await c.query<{ left: number }>('SELECT greatest(max_customers - customers - reserved, 0)::int AS left FROM cells WHERE name = $1 FOR UPDATE', [first.targetCell]);
          const existing = await c.query<{ customer_id: string }>('SELECT customer_id FROM migration_journal WHERE migration = $1 AND customer_id = ANY($2::text[])', [
            first.migration,
            requests.map((r) => r.customerId),
          ]);
          const there = new Set(existing.rows.map((r) => r.customer_id));
          const fresh = [...new Map(requests.filter((r) => !there.has(r.customerId)).map((r) => [r.customerId, r])).values()];
          const fits = fresh.slice(0, room.rows[0]?.left ?? 0);
          const { rows } = await c.query<JournalRow>(
            `INSERT INTO migration_journal (migration, customer_id, source_cell, target_cell, step, reserved_cell)
             SELECT $1, r.customer_id, $2, $3, r.step, $3 FROM unnest($4::text[], $5::int[]) AS r(customer_id, step)
             ON CONFLICT (migration, customer_id) DO NOTHING RETURNING *`,
            [first.migration, first.sourceCell, first.targetCell, fits.map((r) => r.customerId), fits.map((r) => r.step ?? 0)],
          );
          if (rows.length > 0) await c.query('UPDATE cells SET reserved = reserved + $2 WHERE name = $1', [first.targetCell, rows.length]);
          return [new Map(rows.map((r) => [r.customer_id, moveFromRow(r)])), new Set(fresh.slice(fits.length).map((r) => r.customerId))];
        },
        BEGIN_ROUTING_WRITES,
      ),
    );
  } catch (err) {
    if (err instanceof StartRefused) return requests.map(() => ({ ok: false, reason: err.reason, message: err.message }));
    const e = err as { code?: string; constraint?: string };
    if (e.code === '23505' && e.constraint === 'migration_journal_one_open_move_idx') return each();
    throw err;
  }
  const others = requests.filter((r) => !created.has(r.customerId) && !full.has(r.customerId)).map((r) => r.customerId);
  const loaded = new Map((await loadMoves(pool, first.migration, others)).map((l) => [l.move.customerId, l.move]));
  return requests.map((r): StartMoveResult => {
    const made = created.get(r.customerId);
    if (made) return { ok: true, created: true, move: made };
    if (full.has(r.customerId)) return { ok: false, reason: 'TargetFull', message: `cell ${r.targetCell} has no capacity left for customer ${r.customerId}` };
    const m = loaded.get(r.customerId);
    if (!m) throw new MoveConflict(`move ${r.migration}/${r.customerId} was there at its insert and is gone now`);
    if (m.sourceCell !== r.sourceCell || m.targetCell !== r.targetCell) {
      return { ok: false, reason: 'Conflict', message: `move ${r.migration}/${r.customerId} already exists from ${m.sourceCell} to ${m.targetCell}` };
    }
    return { ok: true, created: false, move: m };
  });
}

class StartRefused extends Error {
  constructor(
    readonly reason: 'TargetFull' | 'UnknownCell',
    message: string,
  ) {
    super(message);
  }
}

/**
 * Puts a Failed move back to Pending for another attempt (same direction): its per-table progress
 * is dropped and its room is reserved on `reservedCell` again by the caller. Undefined when the
 * move is not Failed (any more). Throws unique_violation (23505) when the customer has another
 * open move meanwhile.
 */
export async function resetFailedMove(db: Queryable, key: MoveKey, at: Date, reservedCell: string): Promise<MoveRecord | undefined> {
  await db.query('DELETE FROM migration_table_progress WHERE migration = $1 AND customer_id = $2', [key.migration, key.customerId]);
  const { rows } = await db.query<JournalRow>(
    `UPDATE migration_journal SET state = 'Pending', state_entered_at = $3, failure_reason = NULL, finished_at = NULL,
            source_epoch = NULL, fenced_at = NULL, cut_over_at = NULL, cleanup_after = NULL, catch_up_round = 0,
            round_rows = 0, attempt = 0, reserved_cell = $4, updated_at = now()
      WHERE migration = $1 AND customer_id = $2 AND state = 'Failed' RETURNING *`,
    [key.migration, key.customerId, at, reservedCell],
  );
  return rows[0] ? moveFromRow(rows[0]) : undefined;
}

/** Asks for an abort; the executor holding the move acts on it. */
export async function requestAbort(db: Queryable, key: MoveKey, at: Date): Promise<MoveRecord | undefined> {
  const { rows } = await db.query<JournalRow>(
    `UPDATE migration_journal SET abort_requested_at = coalesce(abort_requested_at, $3), updated_at = now()
      WHERE migration = $1 AND customer_id = $2 AND state NOT IN ('Done', 'Failed', 'RolledBack') RETURNING *`,
    [key.migration, key.customerId, at],
  );
  return rows[0] ? moveFromRow(rows[0]) : undefined;
}

// --- Reading for status, and archiving ---------------------------------------------------------

/**
 * An executor's time per move, start to cut-over, for the ETA: the moves fenced and cut over at
 * the same two instants (a batch, src/data/move-batch.ts, records both once for all its members)
 * share their time, so a batch of 20 that took 2 s counts 100 ms a move; a move alone counts its
 * own time (two moves alone would need both instants to the millisecond alike to be taken for one).
 */
export async function meanMoveMs(db: Queryable, migration: string): Promise<number | undefined> {
  const { rows } = await db.query<{ ms: number | null }>(
    `SELECT sum(ms) / sum(n) AS ms
       FROM (SELECT max(extract(epoch FROM cut_over_at - started_at)) * 1000 AS ms, count(*) AS n
               FROM migration_journal WHERE migration = $1 AND cut_over_at IS NOT NULL AND started_at IS NOT NULL
              GROUP BY cut_over_at, fenced_at) g`,
    [migration],
  );
  const ms = rows[0]?.ms;
  return ms === null || ms === undefined ? undefined : Number(ms);
}

/** How many of the migration's moves are not finished (not Done, Failed or RolledBack). */
export async function countOpenMoves(db: Queryable, migration: string): Promise<number> {
  const { rows } = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM migration_journal WHERE migration = $1 AND state NOT IN ('Done', 'Failed', 'RolledBack')`,
    [migration],
  );
  return rows[0]?.n ?? 0;
}

/**
 * Keeps the migration's journal and failures under `archived` and drops its per-table progress
 * (keyset positions of moves that are over). Returns the moves archived. Call it in a transaction
 * with the open moves counted first (see store/migration-archive.ts).
 */
export async function archiveMoves(db: Queryable, migration: string, archived: string): Promise<number> {
  await db.query('DELETE FROM migration_table_progress WHERE migration = $1', [migration]);
  const moves = await db.query('UPDATE migration_journal SET migration = $2 WHERE migration = $1', [migration, archived]);
  await db.query('UPDATE migration_failures SET migration = $2 WHERE migration = $1', [migration, archived]);
  return moves.rowCount ?? 0;
}

// --- A batch of moves (data/move-batch.ts) ------------------------------------------------------
// N moves of one migration at the same step, written in one statement each time: every member's
// rows end exactly as the single write would have left them.

/**
 * Takes the executor locks of `keys` on this session in one round trip (as lockMove does for one):
 * the keys it got, each with this owner's epoch (one transaction id for all of them: each move's
 * epoch only has to exceed its earlier owners'). Keys held by another executor are left out.
 */
export async function lockMoves(client: PoolClient, keys: readonly MoveKey[]): Promise<{ key: MoveKey; epoch: string }[]> {
  if (keys.length === 0) return [];
  if (keys.some((k) => k.migration !== keys[0]?.migration)) throw new Error('a batch of moves belongs to one migration');
  const bound = `${LOCK_SESSION_IDLE_MS}ms`;
  const { rows } = await client.query<{ i: number; locked: boolean; epoch: string | null }>(
    `SELECT l.i, l.locked,
            CASE WHEN l.locked THEN set_config('idle_session_timeout', $4, false) || set_config('idle_in_transaction_session_timeout', $4, false) END AS bounded,
            CASE WHEN l.locked THEN pg_current_xact_id()::text END AS epoch
       FROM (SELECT k.i, pg_try_advisory_lock($1, hashtext($2 || '/' || k.customer)) AS locked
               FROM unnest($3::text[]) WITH ORDINALITY AS k(customer, i) OFFSET 0) l
      ORDER BY l.i`,
    [MOVE_LOCK_CLASS, keys[0]?.migration, keys.map((k) => k.customerId), bound],
  );
  const held: { key: MoveKey; epoch: string }[] = [];
  for (const r of rows) {
    if (r.locked !== true) continue;
    if (!r.epoch) throw new Error('the control-plane database gave no transaction id for the move owner epoch');
    held.push({ key: keys[Number(r.i) - 1] as MoveKey, epoch: r.epoch });
  }
  return held;
}

/** Releases the locks of `keys` on this session, in one round trip; `release`: the session's bounds reset too (unlockMoveAndRelease). */
export async function unlockMoves(client: PoolClient, keys: readonly MoveKey[], release: boolean): Promise<void> {
  const unlocks = keys.map((k) => `pg_advisory_unlock(${MOVE_LOCK_CLASS}, hashtext(${escapeLiteral(`${k.migration}/${k.customerId}`)}))`);
  const resets = release ? 'RESET idle_session_timeout; RESET idle_in_transaction_session_timeout; ' : '';
  if (unlocks.length === 0 && !release) return;
  await client.query(`${resets}SELECT ${unlocks.length > 0 ? unlocks.join(', ') : '1'}`);
}

/** The journal rows and progress rows of a migration's moves, in one round trip (absent ones left out). */
export async function loadMoves(db: Queryable, migration: string, customers: readonly string[]): Promise<LoadedMove[]> {
  const { rows } = await db.query<LoadedRow>(`${LOADED_MOVES_SQL} WHERE j.migration = $1 AND j.customer_id = ANY($2::text[]) ORDER BY j.customer_id`, [migration, [...customers]]);
  return rows.map(loadedFromRow);
}

/** What one member of a batch records: journal fields, and progress fields (with copy counts) per table. */
export interface BatchRecord {
  customerId: string;
  journal?: JournalFields;
  tables?: { table: string; fields: ProgressFields; rows?: number; bytes?: number }[];
}

/** The columns set from a batch's patches: those of the first member (every member must set the same). */
function patchColumns(patches: readonly Record<string, unknown>[], columns: Record<string, string>): string[] {
  const keys = Object.keys(patches[0] ?? {}).filter((k) => (patches[0] as Record<string, unknown>)[k] !== undefined);
  for (const p of patches) {
    const mine = Object.keys(p).filter((k) => p[k] !== undefined);
    if (mine.length !== keys.length || mine.some((k) => !keys.includes(k))) throw new Error('the members of a batch record different fields');
  }
  return keys.map((k) => {
    const column = columns[k];
    if (!column) throw new Error(`unknown journal or progress field ${k}`);
    return column;
  });
}

/** A patch as jsonb_populate_record reads it: column names, dates as ISO text, keys as JSON. */
function patchJson(fields: Record<string, unknown>, columns: Record<string, string>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(fields)) {
    if (v === undefined) continue;
    out[columns[k] as string] = v instanceof Date ? v.toISOString() : v;
  }
  return out;
}

/**
 * Records one action of every member of a batch in one statement: for each member still in `from`
 * (and `direction`; with `unlessAborted`, not asked to abort), its journal fields (and, with `to`,
 * the state change at `at`), its progress fields and its copy counts, as the single writes
 * (transition, updateProgress, updateProgressAndState) would; attempt reset. Returns the customers
 * recorded: a member left out was changed by someone else meanwhile and was not written at all.
 */
export async function recordBatch(
  db: Queryable,
  migration: string,
  from: { state: MoveState; direction: MoveDirection },
  members: readonly BatchRecord[],
  change: { to?: MoveState; at?: Date; unlessAborted?: boolean } = {},
): Promise<Set<string>> {
  if (members.length === 0) return new Set();
  const journal = members.map((m) => (m.journal ?? {}) as Record<string, unknown>);
  const journalColumns = patchColumns(journal, JOURNAL_COLUMNS);
  const tables = members.flatMap((m) => (m.tables ?? []).map((t) => ({ customer: m.customerId, ...t })));
  const progressColumns = tables.length > 0 ? patchColumns(tables.map((t) => t.fields as Record<string, unknown>), PROGRESS_COLUMNS) : [];
  const rowsOf = new Map<string, { rows: number; bytes: number }>();
  for (const t of tables) {
    const r = rowsOf.get(t.customer) ?? { rows: 0, bytes: 0 };
    rowsOf.set(t.customer, { rows: r.rows + (t.rows ?? 0), bytes: r.bytes + (t.bytes ?? 0) });
  }
  const jm = members.map((m) => ({
    customer_id: m.customerId,
    patch: patchJson((m.journal ?? {}) as Record<string, unknown>, JOURNAL_COLUMNS),
    rows: rowsOf.get(m.customerId)?.rows ?? 0,
    bytes: rowsOf.get(m.customerId)?.bytes ?? 0,
  }));
  const pm = tables.map((t) => ({
    customer_id: t.customer,
    table_name: t.table,
    patch: patchJson(t.fields as Record<string, unknown>, PROGRESS_COLUMNS),
    rows: t.rows ?? 0,
    bytes: t.bytes ?? 0,
  }));
  const values: unknown[] = [migration, from.state, from.direction, JSON.stringify(jm), JSON.stringify(pm)];
  const journalSets = journalColumns.map((c) => `${c} = (jsonb_populate_record(NULL::migration_journal, m.patch)).${c}`);
  if (change.to) {
    values.push(change.to, change.at ?? new Date());
    journalSets.push('state = $6', 'state_entered_at = $7');
  }
  journalSets.push('attempt = 0', 'rows_copied = j.rows_copied + m.rows', 'bytes_copied = j.bytes_copied + m.bytes', 'updated_at = now()');
  const progressSets = progressColumns.map((c) => `${c} = (jsonb_populate_record(NULL::migration_table_progress, m.patch)).${c}`);
  progressSets.push('rows_copied = p.rows_copied + m.rows', 'bytes_copied = p.bytes_copied + m.bytes', 'updated_at = now()');
  const { rows } = await db.query<{ customer_id: string }>(
    `WITH j AS (
       UPDATE migration_journal j SET ${journalSets.join(', ')}
         FROM jsonb_to_recordset($4::jsonb) AS m(customer_id text, patch jsonb, rows bigint, bytes bigint)
        WHERE j.migration = $1 AND j.customer_id = m.customer_id AND j.state = $2 AND j.direction = $3${change.unlessAborted ? ' AND j.abort_requested_at IS NULL' : ''}
       RETURNING j.customer_id
     ), p AS (
       UPDATE migration_table_progress p SET ${progressSets.join(', ')}
         FROM jsonb_to_recordset($5::jsonb) AS m(customer_id text, table_name text, patch jsonb, rows bigint, bytes bigint)
        WHERE p.migration = $1 AND p.customer_id = m.customer_id AND p.table_name = m.table_name AND m.customer_id IN (SELECT customer_id FROM j)
       RETURNING 1
     )
     SELECT customer_id FROM j WHERE (SELECT count(*) FROM p) >= 0`,
    values,
  );
  return new Set(rows.map((r) => r.customer_id));
}

/**
 * The plans of a batch's members (every one the same tables) recorded with their state change, in
 * one statement, as recordPlan does for one: only members still in `from` are written.
 */
export async function recordPlans(
  db: Queryable,
  migration: string,
  from: { state: MoveState; direction: MoveDirection },
  members: readonly { customerId: string; journal: JournalFields }[],
  tables: readonly NewProgress[],
  to: MoveState,
  at: Date,
): Promise<Set<string>> {
  if (members.length === 0) return new Set();
  const journalColumns = patchColumns(
    members.map((m) => m.journal as Record<string, unknown>),
    JOURNAL_COLUMNS,
  );
  const jm = members.map((m) => ({ customer_id: m.customerId, patch: patchJson(m.journal as Record<string, unknown>, JOURNAL_COLUMNS) }));
  const sets = journalColumns.map((c) => `${c} = (jsonb_populate_record(NULL::migration_journal, m.patch)).${c}`);
  const { rows } = await db.query<{ customer_id: string }>(
    `WITH j AS (
       UPDATE migration_journal j SET state = $4, state_entered_at = $5, updated_at = now(), attempt = 0${sets.length > 0 ? `, ${sets.join(', ')}` : ''}
         FROM jsonb_to_recordset($6::jsonb) AS m(customer_id text, patch jsonb)
        WHERE j.migration = $1 AND j.customer_id = m.customer_id AND j.state = $2 AND j.direction = $3
       RETURNING j.customer_id
     ), d AS (
       DELETE FROM migration_table_progress WHERE migration = $1 AND customer_id IN (SELECT customer_id FROM j) RETURNING 1
     ), i AS (
       INSERT INTO migration_table_progress (migration, customer_id, table_name, phase, position, mode, cursor_columns, time_cursor, observed_key, observed_at,
                                             caught_up, resynced, verified, verified_rows, verified_checksum)
       SELECT $1, j.customer_id, t.table_name, t.phase, t.position, t.mode, t.cursor_columns, t.time_cursor, t.observed_key, t.observed_at,
              t.under_fence, t.under_fence, t.under_fence, CASE WHEN t.under_fence THEN 0 END, CASE WHEN t.under_fence THEN '0' END
         FROM j, jsonb_to_recordset($7::jsonb) AS t(table_name text, phase text, position integer, mode text, cursor_columns jsonb, time_cursor boolean,
                                                    observed_key jsonb, observed_at timestamptz, under_fence boolean)
        WHERE (SELECT count(*) FROM d) >= 0
       RETURNING 1
     )
     SELECT customer_id FROM j WHERE (SELECT count(*) FROM i) >= 0`,
    [migration, from.state, from.direction, to, at, JSON.stringify(jm), JSON.stringify(tables.map(progressInsertRow))],
  );
  return new Set(rows.map((r) => r.customer_id));
}
