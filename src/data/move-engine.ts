// The per-customer move engine the Migration reconciler drives: start a move, run it step by step
// (each step decides from the journal, acts, records), abort, retry, and read the journal. One
// executor at a time per move, guarded by an advisory lock in the control-plane database.
import type { Pool, PoolClient } from 'pg';
import type { Registry } from 'prom-client';
import { silentLogger, type Logger } from '../log.js';
import { lockRoutingWrites } from '../store/placements.js';
import { describeAction, nextAction, type MoveAction } from './move-decision.js';
import { backoffDelay } from '../runtime/backoff.js';
import { errorMessage } from '../store/database-errors.js';
import { reserveCapacity } from '../store/cells.js';
import { discardClient, oneQueryAtATime, withClient, withTransaction } from '../store/transactions.js';
import { InjectedCrash, isTransientError, MoveConflict, MoveRefusal, permanentErrorReason } from './move-errors.js';
import type { KafkaDrainOptions } from './kafka-drain.js';
import { execute, failMove, type ExecutorContext, type MoveHooks } from './move-executor.js';
import { FenceSchemaNewer, ownMove } from './cell-fence.js';
import { LOST_OWNERSHIP_SQLSTATE } from './cell-fence-sql.js';
import {
  countMoves,
  insertMove,
  insertMoves,
  latestFailures,
  retryingMoves,
  listMoves,
  listOpenMoves,
  loadMove,
  lockMove,
  lockMoves,
  unlockMoveAndRelease,
  unlockMoves,
  LOCK_HEARTBEAT_MS,
  LOCK_SESSION_IDLE_MS,
  nextCleanupAt,
  recordError,
  resetFailedMove,
  requestAbort,
  type FailureRecord,
  type RetryingRecord,
  type LoadedMove,
  type StartMoveRequest,
  type StartMoveResult,
} from '../store/migration-journal.js';
import { MoveMetrics } from './move-metrics.js';
import { runMoveBatch, type BatchHost } from './move-batch.js';
import { moveSettings, type MoveSettings } from './move-settings.js';
import { movingCells, outcomeOf, TERMINAL_STATES, type MoveKey, type MoveOutcome, type MoveRecord, type MoveState } from './move-state.js';
import { TablePlans, type CellDatabases } from './table-plans.js';
import { rateLimiter, sleep, type RateLimiter } from './token-bucket.js';
import { dateClock, type NowClock } from '../runtime/clock.js';

/** Between transient errors of a run: 100 ms, doubling, at most 5 s. */
const RUN_BACKOFF = { baseMs: 50, maxMs: 5_000 };

/** This executor's hold on a move: the lock's epoch, whether the cells know it yet, whether a newer owner took over. */
interface Ownership {
  epoch: string;
  claimed: boolean;
  lost?: boolean;
}

export interface MoveEngineOptions {
  /** The control-plane database (placements, journal). */
  controlPlane: Pool;
  /** Each cell's database and tenancy. */
  cells: CellDatabases;
  settings?: Partial<MoveSettings>;
  /** Rows per second over every move of this engine (a Migration's spec.rateLimit); unlimited if omitted. */
  rowsPerSecond?: number;
  /** A limiter to share with other engines instead (wins over rowsPerSecond). */
  limiter?: RateLimiter;
  log?: Logger;
  registry?: Registry;
  /** Fault injection for tests. */
  hooks?: MoveHooks;
  clock?: NowClock;
  /** How long a cell's catalog is reused between steps. Default 10 s. */
  catalogTtlMs?: number;
  /** The cells' Kafka, for the drain under the fence; without it the drain is recorded as Disabled. */
  kafka?: KafkaDrainOptions;
}

export type StepResult =
  /** The action was performed and recorded; `state` is the move's state now. */
  | { kind: 'Acted'; action: MoveAction; state: MoveState }
  /** Nothing to do before `until`. */
  | { kind: 'Wait'; until: Date; reason: string; state: MoveState }
  /** The move is Done, Failed or RolledBack (`move`: as the step read it). */
  | { kind: 'Finished'; state: MoveState; move?: MoveRecord }
  /** The move was refused (and rolls back, or failed at once); the reason is in the journal. */
  | { kind: 'Refused'; reason: string; message: string; state: MoveState }
  /** A transient error, recorded in last_error; step again later (with backoff). */
  | { kind: 'Retry'; error: string }
  /** Another executor holds this move right now. */
  | { kind: 'Busy' }
  | { kind: 'NotFound' };

export interface RunOptions {
  signal?: AbortSignal;
  /** Waits longer than this (the retention before cleanup) end the run: requeue at `waitUntil`. Default 5 s. */
  maxWaitMs?: number;
  /** Consecutive transient errors before the run gives up (the move stays resumable). Default unlimited. */
  maxRetries?: number;
}

export interface RunResult {
  move: MoveRecord | undefined;
  /** Why the run returned. */
  outcome: 'Finished' | 'Waiting' | 'Busy' | 'Stopped' | 'GaveUp' | 'NotFound';
  waitUntil?: Date;
  lastError?: string;
}

export interface MoveSummary {
  total: number;
  byOutcome: Record<MoveOutcome, number>;
  byState: Partial<Record<MoveState, number>>;
  rowsCopied: number;
  bytesCopied: number;
  latestFailures: FailureRecord[];
  /** Unfinished moves retrying after errors: how many, and the latest (at most 10). */
  retrying: { total: number; moves: RetryingRecord[] };
}

export type AbortResult =
  | { ok: true; move: MoveRecord }
  | { ok: false; reason: 'NotFound' | 'AlreadyFinished'; message: string; move?: MoveRecord };

export type RetryResult = { ok: true; move: MoveRecord } | { ok: false; reason: 'NotFound' | 'NotFailed' | 'MoveInProgress'; message: string };

export class MoveEngine {
  readonly settings: MoveSettings;
  readonly limiter: RateLimiter;
  readonly plans: TablePlans;
  private readonly cp: Pool;
  private readonly log: Logger;
  private readonly metrics?: MoveMetrics;
  private readonly hooks?: MoveHooks;
  private readonly clock: () => Date;
  private readonly kafka?: KafkaDrainOptions;

  constructor(options: MoveEngineOptions) {
    if (options.kafka) this.kafka = options.kafka;
    this.cp = options.controlPlane;
    this.settings = moveSettings(options.settings);
    this.limiter = options.limiter ?? rateLimiter(options.rowsPerSecond);
    this.plans = new TablePlans(options.cells, options.catalogTtlMs);
    this.log = options.log ?? silentLogger();
    if (options.registry) this.metrics = new MoveMetrics(options.registry);
    if (options.hooks) this.hooks = options.hooks;
    this.clock = dateClock(options.clock);
  }

  /** Records a customer's move as Pending and reserves its room on the target. Idempotent. */
  startMove(request: StartMoveRequest): Promise<StartMoveResult> {
    return insertMove(this.cp, request);
  }

  /** startMove for many (one migration's, between two cells: one transaction; otherwise one by one), in `requests`' order. */
  startMoves(requests: readonly StartMoveRequest[]): Promise<StartMoveResult[]> {
    return insertMoves(this.cp, requests);
  }

  async getMove(key: MoveKey): Promise<LoadedMove | undefined> {
    return loadMove(this.cp, key);
  }

  listMoves(migration: string): Promise<MoveRecord[]> {
    return listMoves(this.cp, migration);
  }

  /** The unfinished moves of a migration; with `dueAt`, without those waiting for their cleanup after it. */
  listOpenMoves(migration: string, options: { dueAt?: Date } = {}): Promise<MoveRecord[]> {
    return listOpenMoves(this.cp, migration, options);
  }

  /** When the earliest cleanup of the migration's moves is due, if one waits. */
  nextCleanupAt(migration: string): Promise<Date | undefined> {
    return nextCleanupAt(this.cp, migration);
  }

  /** Totals for a Migration's status: counts by outcome and state, rows copied, latest failures. Counted in SQL. */
  async summarize(migration: string): Promise<MoveSummary> {
    const [groups, failures, retrying] = await Promise.all([countMoves(this.cp, migration), latestFailures(this.cp, migration), retryingMoves(this.cp, migration)]);
    const byOutcome: Record<MoveOutcome, number> = { Pending: 0, InFlight: 0, Moved: 0, Failed: 0, MovingBack: 0, MovedBack: 0, RolledBack: 0 };
    const byState: Partial<Record<MoveState, number>> = {};
    let total = 0;
    let rowsCopied = 0;
    let bytesCopied = 0;
    for (const g of groups) {
      byOutcome[outcomeOf(g.state, g.direction, g.aborting)] += g.n;
      byState[g.state] = (byState[g.state] ?? 0) + g.n;
      total += g.n;
      rowsCopied += g.rowsCopied;
      bytesCopied += g.bytesCopied;
    }
    return { total, byOutcome, byState, rowsCopied, bytesCopied, latestFailures: failures, retrying };
  }

  /**
   * Asks the move to go back: before the cut-over it is rolled back; after it (until cleanup ends)
   * the customer is moved back the same way, rows written to the target meanwhile included.
   */
  async abortMove(key: MoveKey): Promise<AbortResult> {
    const move = await requestAbort(this.cp, key, this.clock());
    if (move) return { ok: true, move };
    const existing = await loadMove(this.cp, key);
    if (!existing) return { ok: false, reason: 'NotFound', message: `no move ${key.migration}/${key.customerId}` };
    const m = existing.move;
    const why =
      m.state === 'Done'
        ? `customer ${m.customerId} was moved and its rows in ${m.sourceCell} are cleaned up; move it back with a new migration`
        : `the move of customer ${m.customerId} already ended as ${m.state}`;
    return { ok: false, reason: 'AlreadyFinished', message: why, move: m };
  }

  /** Starts a Failed move again from Pending (same direction), reserving its room again. */
  async retryMove(key: MoveKey): Promise<RetryResult> {
    try {
      return await withTransaction(this.cp, async (client) => {
        await lockRoutingWrites(client); // first, as every routing writer does
        const loaded = await loadMove(client, key);
        if (!loaded) return { ok: false, reason: 'NotFound', message: `no move ${key.migration}/${key.customerId}` } as const;
        if (loaded.move.state !== 'Failed') {
          return { ok: false, reason: 'NotFailed', message: `the move of customer ${key.customerId} is ${loaded.move.state}, not Failed` } as const;
        }
        const { to } = movingCells(loaded.move);
        const move = await resetFailedMove(client, key, this.clock(), to);
        if (!move) return { ok: false, reason: 'NotFailed', message: `the move of customer ${key.customerId} is no longer Failed` } as const;
        await reserveCapacity(client, to);
        return { ok: true, move } as const;
      });
    } catch (err) {
      if ((err as { code?: string }).code === '23505') {
        return { ok: false, reason: 'MoveInProgress', message: `customer ${key.customerId} is being moved by another migration` };
      }
      throw err;
    }
  }

  private context(cp: PoolClient, owner: Ownership, signal?: AbortSignal): ExecutorContext {
    const ctx: ExecutorContext = { cp, ownerEpoch: owner.epoch, plans: this.plans, settings: this.settings, limiter: this.limiter, log: this.log, now: this.clock };
    if (this.metrics) ctx.metrics = this.metrics;
    if (this.hooks) ctx.hooks = this.hooks;
    if (this.kafka) ctx.kafka = this.kafka;
    if (signal) ctx.signal = signal;
    return ctx;
  }

  /**
   * Runs `fn` on a control-plane client holding the move's advisory lock (session-scoped: it dies
   * with the connection, so a crashed executor never keeps a move locked). 'Busy' if another
   * executor holds it. The session is bounded (lockMove): a silent owner loses it after
   * LOCK_SESSION_IDLE_MS even if a middlebox keeps its socket open, so the owner queries it every
   * LOCK_HEARTBEAT_MS. `lost()` tells whether the connection failed or stopped answering meanwhile.
   */
  private async withLock<T>(key: MoveKey, fn: (cp: PoolClient, lost: () => boolean, owner: Ownership) => Promise<T>): Promise<T | 'Busy'> {
    return this.lockedSession(
      (cp) => lockMove(cp, key),
      (cp, lost, epoch) => fn(cp, lost, { epoch, claimed: false }),
      (cp) => unlockMoveAndRelease(cp, key),
    );
  }

  /**
   * withLock for a batch of moves (move-batch.ts): the locks of those of `keys` that no other
   * executor holds, on one session; 'Busy' when it got none. `held` is the batch's to shrink as it
   * hands members back (it unlocks them itself); those left in it are unlocked at the end.
   */
  private async withLocks<T>(keys: readonly MoveKey[], fn: (cp: PoolClient, lost: () => boolean, held: Map<string, { key: MoveKey; epoch: string }>) => Promise<T>): Promise<T | 'Busy'> {
    let held = new Map<string, { key: MoveKey; epoch: string }>();
    return this.lockedSession(
      async (cp) => {
        const got = await lockMoves(cp, keys);
        if (got.length === 0) return undefined;
        held = new Map(got.map((h) => [h.key.customerId, h]));
        return held;
      },
      fn,
      (cp) => unlockMoves(cp, [...held.values()].map((h) => h.key), true),
    );
  }

  /** The session under withLock and withLocks: the locks taken, the heartbeat, the locks released (or the session destroyed). */
  private async lockedSession<L, T>(
    lock: (cp: PoolClient) => Promise<L | undefined>,
    fn: (cp: PoolClient, lost: () => boolean, locked: L) => Promise<T>,
    unlock: (cp: PoolClient) => Promise<void>,
  ): Promise<T | 'Busy'> {
    // Any error destroys the client: its connection takes the session lock with it.
    return withClient(
      this.cp,
      (cp, broken) => oneQueryAtATime(cp, async () => {
        const locked = await lock(cp);
        if (locked === undefined) return 'Busy';
        let waitingSince: number | undefined;
        const beat = setInterval(() => {
          if (lost() && !broken()) {
            // The control plane stopped answering (the server ends the session at its bound anyway):
            // the query in flight fails now instead of waiting for TCP to give up, which takes
            // minutes, or never behind a middlebox that keeps the socket open.
            clearInterval(beat);
            void cp.end().catch(() => undefined);
            return;
          }
          if (waitingSince !== undefined) return;
          waitingSince = Date.now();
          // Sent after the move's own query when it is busy (oneQueryAtATime; the session is not idle then anyway).
          // An error is an answer too: a failed connection is what withClient's `broken` reports.
          const answered = (): void => void (waitingSince = undefined);
          cp.query('SELECT 1').then(answered, answered);
        }, LOCK_HEARTBEAT_MS);
        beat.unref();
        // Half the server's bound: the owner gives up before the server gives the lock away.
        const lost = (): boolean => broken() || (waitingSince !== undefined && Date.now() - waitingSince > LOCK_SESSION_IDLE_MS / 2);
        let result: T;
        try {
          result = await fn(cp, lost, locked);
        } finally {
          clearInterval(beat);
        }
        // A failed unlock leaves the lock to the connection: destroyed, it takes the lock along.
        if (lost()) discardClient(cp);
        else await unlock(cp).catch(() => discardClient(cp));
        return result;
      }),
      { discardOn: 'any' },
    );
  }

  /**
   * Once per lock taken, before the first action of a move that may have written a cell: records
   * this owner's epoch in both cells (cell-fence.ts ownMove), so an earlier owner that lost the lock
   * (partitioned from the control plane, still reaching the cells) can commit nothing there from now on.
   */
  private async claimCells(move: MoveRecord, owner: Ownership): Promise<void> {
    if (owner.claimed) return;
    if (move.state !== 'Pending') {
      const { from, to } = movingCells(move);
      const [source, target] = await Promise.all([this.plans.database(from), this.plans.database(to)]);
      const me = { migration: move.migration, customer: move.customerId, epoch: owner.epoch };
      await Promise.all([ownMove(source.pool, me), ownMove(target.pool, me)]);
    }
    owner.claimed = true;
  }

  /** Decides and performs one action of the move, under its lock. Safe to call from anywhere, any time. */
  async step(key: MoveKey, signal?: AbortSignal): Promise<StepResult> {
    try {
      const r = await this.withLock(key, async (cp, _lost, owner) => (await this.stepLocked(cp, key, owner, signal)).result);
      return r === 'Busy' ? { kind: 'Busy' } : r;
    } catch (err) {
      if (err instanceof InjectedCrash || !isTransientError(err)) throw err;
      this.metrics?.retries.inc();
      return { kind: 'Retry', error: errorMessage(err) };
    }
  }

  /**
   * One step under the lock: decides from the journal (read now, or `known`: the move as the previous
   * action's last write returned it, on this lock's connection, with nothing in between) and acts.
   * `after` is what the action's last write returned, for the next step of the same run.
   */
  private async stepLocked(cp: PoolClient, key: MoveKey, owner: Ownership, signal?: AbortSignal, known?: LoadedMove): Promise<{ result: StepResult; after?: LoadedMove }> {
    const result = (r: StepResult): { result: StepResult } => ({ result: r });
    const loaded = known ?? (await loadMove(cp, key));
    if (!loaded) return result({ kind: 'NotFound' });
    const { move } = loaded;
    const now = this.clock();
    const action = nextAction(move, loaded.tables, this.settings, now);
    if (action.kind === 'None') return result({ kind: 'Finished', state: move.state, move });
    if (action.kind === 'Wait') return result({ kind: 'Wait', until: action.until, reason: action.reason, state: move.state });
    const ctx = this.context(cp, owner, signal);
    const log = this.log.child({ migration: key.migration, customer: key.customerId });
    let after: LoadedMove | undefined;
    try {
      await this.claimCells(move, owner);
      await this.hooks?.point?.('before-action', { key, state: move.state, action });
      after = await execute(ctx, loaded, action);
      await this.hooks?.point?.('after-action', { key, state: move.state, action });
    } catch (err) {
      if (err instanceof InjectedCrash) throw err;
      // Stopped by the caller (a drive budget, a shutdown) in the middle of an action: nothing is
      // wrong with the move, which resumes from its journal next time.
      if (signal?.aborted) return result({ kind: 'Retry', error: `stopped during ${describeAction(action)}` });
      if (err instanceof MoveConflict) return result({ kind: 'Retry', error: err.message });
      if ((err as { code?: unknown }).code === LOST_OWNERSHIP_SQLSTATE) {
        // Another executor owns the move now: this one lost the lock (its control-plane session
        // ended) and must neither act nor record anything; the cell refused its transaction.
        log.warn({ state: move.state, err: errorMessage(err) }, 'lost the move to another executor; stopping');
        owner.lost = true;
        return result({ kind: 'Retry', error: `LostOwnership: ${errorMessage(err)}` });
      }
      if (err instanceof FenceSchemaNewer) {
        // Neither fail nor roll back (both would touch the fence): the move waits for an upgrade.
        const text = `${err.reason}: ${err.message}`;
        log.warn({ state: move.state, err: err.message }, 'a cell has a newer fence schema than this operator; the move waits for an upgrade');
        await recordError(cp, key, text).catch(() => undefined);
        return result({ kind: 'Retry', error: text });
      }
      let reason: string;
      let message: string;
      if (err instanceof MoveRefusal) {
        reason = err.reason;
        message = err.message;
      } else if (isTransientError(err)) {
        const text = `${describeAction(action)}: ${errorMessage(err)}`;
        log.warn({ state: move.state, err: errorMessage(err) }, 'move step failed; will retry');
        this.metrics?.retries.inc();
        await recordError(cp, key, text).catch(() => undefined);
        return result({ kind: 'Retry', error: text });
      } else {
        reason = permanentErrorReason(err);
        message = `${describeAction(action)}: ${errorMessage(err)}`;
      }
      log.warn({ state: move.state, reason, message }, 'move refused');
      const outcome = await failMove(ctx, loaded, reason, message);
      if (outcome === 'Kept') return result({ kind: 'Retry', error: `${reason}: ${message}` });
      return result({ kind: 'Refused', reason, message, state: outcome });
    }
    const state = ctx.newState ?? move.state;
    if (state !== move.state) {
      this.metrics?.stateSeconds.observe({ state: move.state }, Math.max(0, (now.getTime() - move.stateEnteredAt.getTime()) / 1000));
      log.info({ from: move.state, to: state, action: describeAction(action) }, 'move state changed');
    } else {
      log.debug({ state, action: describeAction(action) }, 'move step');
    }
    return after ? { result: { kind: 'Acted', action, state }, after } : result({ kind: 'Acted', action, state });
  }

  /**
   * Steps the move until it finishes, must wait longer than `maxWaitMs` (the retention before
   * cleanup: requeue it for `waitUntil`), is held by another executor, or `signal` stops it.
   * Holds the move's lock throughout; transient errors are retried with backoff.
   */
  async run(key: MoveKey, options: RunOptions = {}): Promise<RunResult> {
    const maxWait = options.maxWaitMs ?? 5_000;
    const maxRetries = options.maxRetries ?? Number.POSITIVE_INFINITY;
    let errors = 0;
    let lastError: string | undefined;
    // Under the lock, the journal is read on the connection holding it: a move needs one connection, not two.
    const current = async (db: Pool | PoolClient = this.cp): Promise<MoveRecord | undefined> => (await loadMove(db, key).catch(() => undefined))?.move;
    const backoff = async (error: string): Promise<boolean> => {
      errors += 1;
      lastError = error;
      if (errors > maxRetries) return false;
      await sleep(backoffDelay(errors + 1, RUN_BACKOFF), options.signal).catch(() => undefined);
      return true;
    };
    for (;;) {
      if (options.signal?.aborted) return { move: await current(), outcome: 'Stopped' };
      let outcome: RunResult | 'Reconnect';
      try {
        const locked = await this.withLock(key, async (cp, lost, owner): Promise<RunResult | 'Reconnect'> => {
          // The move as the last action's write returned it: the next step decides without a read.
          // Only straight after an action: a wait, a retry or a refusal reads the journal again.
          let known: LoadedMove | undefined;
          for (;;) {
            if (options.signal?.aborted) return { move: await current(cp), outcome: 'Stopped' };
            const stepped = await this.stepLocked(cp, key, owner, options.signal, known);
            const r = stepped.result;
            known = r.kind === 'Acted' ? stepped.after : undefined;
            switch (r.kind) {
              case 'Acted':
              case 'Refused':
                errors = 0;
                continue;
              case 'Finished':
                return { move: r.move ?? (await current(cp)), outcome: 'Finished' };
              case 'NotFound':
                return { move: undefined, outcome: 'NotFound' };
              case 'Busy':
                return { move: await current(cp), outcome: 'Busy' };
              case 'Wait': {
                const ms = r.until.getTime() - this.clock().getTime();
                if (ms > maxWait) return { move: await current(cp), outcome: 'Waiting', waitUntil: r.until };
                await sleep(Math.max(1, ms), options.signal).catch(() => undefined);
                continue;
              }
              case 'Retry':
                if (owner.lost) return { move: undefined, outcome: 'Busy', lastError: r.error }; // another executor owns it: nothing to read here
                if (!(await backoff(r.error))) return { move: await current(cp), outcome: 'GaveUp', lastError: r.error };
                if (lost()) return 'Reconnect'; // the control-plane connection (and the lock) is gone
                continue;
            }
          }
        });
        outcome = locked === 'Busy' ? { move: await current(), outcome: 'Busy' } : locked;
      } catch (err) {
        if (err instanceof InjectedCrash || !isTransientError(err)) throw err;
        this.metrics?.retries.inc();
        if (!(await backoff(errorMessage(err)))) {
          const result: RunResult = { move: await current(), outcome: 'GaveUp' };
          if (lastError) result.lastError = lastError;
          return result;
        }
        continue;
      }
      if (outcome !== 'Reconnect') return outcome;
    }
  }

  /**
   * Runs `keys` (moves of one migration) as one batch (move-batch.ts): the small ones that are still
   * Pending move together, every other one (and every member after anything unusual) alone, as run().
   */
  runBatch(keys: readonly MoveKey[], options: RunOptions = {}): Promise<RunResult[]> {
    const host: BatchHost = {
      plans: this.plans,
      settings: this.settings,
      limiter: this.limiter,
      log: this.log,
      now: this.clock,
      withLocks: (k, fn) => this.withLocks(k, fn),
      run: (key, o) => this.run(key, o),
    };
    if (this.metrics) host.metrics = this.metrics;
    if (this.hooks) host.hooks = this.hooks;
    if (this.kafka) host.kafka = this.kafka;
    return runMoveBatch(host, keys, options);
  }

  /** True when a move needs no more steps. */
  static finished(move: Pick<MoveRecord, 'state'>): boolean {
    return TERMINAL_STATES.has(move.state);
  }
}
