// The knobs of a customer move, with their defaults. A Migration's spec sets drainWait and
// retention; the rest are engineering limits.

export interface MoveSettings {
  /** Rows per COPY page while copying and catching up. */
  pageRows: number;
  /** Rows per DELETE when clearing a side (cleanup, rollback). */
  deleteBatchRows: number;
  /** After the fence, how long writes already routed to the source get to land before the final sync. */
  drainWaitMs: number;
  /**
   * How long after its key (or watermark) is taken a row's transaction can still commit. Rows
   * older than that are settled: a keyset copy past them can no longer miss one.
   */
  settleLagMs: number;
  /**
   * After the drain wait, how long the source database's fence waits for the customer's own open
   * transactions (a write routed before the fence, not committed yet); past it the move fails back
   * (DrainTimeout). Unrelated transactions are never waited for.
   */
  maxDrainMs: number;
  /**
   * After the drain wait, how long the source cell's ingestion group gets to consume the customer's
   * messages produced before the fence (the Kafka drain) before the move fails back.
   */
  maxKafkaDrainMs: number;
  /** A fence held longer than this (a stuck or crashed move) is lifted and the move rolled back. */
  maxFenceMs: number;
  /** How long the source keeps a moved customer's rows (abort window) before cleanup. */
  retentionMs: number;
  /** The same for the cell left by an abort (the original target). */
  reverseRetentionMs: number;
  /** Catching up stops (and the fence starts) once a round copies at most this many rows. */
  convergeRows: number;
  /** ... or after this many rounds, whatever is left then goes into the final sync. */
  maxCatchUpRounds: number;
  /**
   * Small customers (rows within convergeRows) moved together as one batch, at most this many
   * (move-batch.ts); 1: every move alone. A drain's moves share their statements this way.
   */
  batchSize: number;
}

/** The largest batch: its fence changes and statements name every member (a Migration's spec.batchSize: the same bound). */
export const MAX_BATCH_SIZE = 200;

export const DEFAULT_MOVE_SETTINGS: Readonly<MoveSettings> = {
  // Each page costs about six round trips (journal, both BEGINs, the range delete, the last keys,
  // the commits): at 20,000 rows that was a fifth of a large customer's copy on a busy machine.
  pageRows: 50_000,
  deleteBatchRows: 5_000,
  drainWaitMs: 2_000,
  settleLagMs: 2_000,
  maxDrainMs: 5_000,
  maxKafkaDrainMs: 15_000,
  maxFenceMs: 60_000,
  retentionMs: 24 * 3600_000,
  reverseRetentionMs: 0,
  convergeRows: 10_000,
  maxCatchUpRounds: 10,
  batchSize: 50,
};

export function moveSettings(overrides: Partial<MoveSettings> = {}): MoveSettings {
  const s: MoveSettings = { ...DEFAULT_MOVE_SETTINGS };
  for (const [k, v] of Object.entries(overrides) as [keyof MoveSettings, number | undefined][]) {
    if (v === undefined) continue;
    if (!Number.isFinite(v) || v < 0) throw new Error(`move setting ${k} must be a non-negative number, got ${v}`);
    s[k] = v;
  }
  if (s.pageRows < 1 || s.deleteBatchRows < 1) throw new Error('pageRows and deleteBatchRows must be at least 1');
  if (!Number.isInteger(s.batchSize) || s.batchSize < 1 || s.batchSize > MAX_BATCH_SIZE) throw new Error(`batchSize must be an integer from 1 to ${MAX_BATCH_SIZE}, got ${s.batchSize}`);
  return s;
}
