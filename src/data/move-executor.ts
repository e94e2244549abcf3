// Performs one action of a customer move (as decided by move-decision.ts) against the cell
// databases and records it in the journal. A refusal comes back as a MoveRefusal; everything else
// that goes wrong is thrown, to be retried: each action is safe to run again from the top.
import type { Pool, PoolClient } from 'pg';
import type { Logger } from '../log.js';
import { releaseCapacity, reserveCapacity } from '../store/cells.js';
import { BEGIN_ROUTING_WRITES, cutOverPlacement, fencePlacement, readPlacement, unfencePlacement } from '../store/placements.js';
import { inTransaction } from '../store/transactions.js';
import { kafkaDrainCheck, kafkaDrainDisabled, kafkaDrainStart, type KafkaDrainOptions } from './kafka-drain.js';
import type { MoveAction } from './move-decision.js';
import { errorMessage } from '../store/database-errors.js';
import { MoveRefusal } from './move-errors.js';
import { fenceCustomer, installFence, liftFence, markCustomer } from './cell-fence.js';
import type { MoveOwner, Mover } from './cell-fence-sql.js';
import {
  leaveVerifyPhase,
  recordFailure,
  recordPlan,
  replaceProgress,
  resetRound,
  transition,
  updateJournal,
  updateProgress,
  updateProgressAndState,
  type CopyCounts,
  type JournalFields,
  type LoadedMove,
  type NewProgress,
  type ProgressFields,
  type StateChange,
} from '../store/migration-journal.js';
import type { MoveMetrics } from './move-metrics.js';
import type { MoveSettings } from './move-settings.js';
import { BEFORE_CUT_OVER, movingCells, sameKey, settlesByObservation, type MoveKey, type MoveRecord, type MoveState, type TableProgress } from './move-state.js';
import {
  aggregate,
  combineAggregates,
  copiedColumns,
  copyPage,
  countUpTo,
  deleteBatch,
  EMPTY_AGGREGATE,
  finalSync,
  hasRows,
  observeKey,
  resyncRange,
  sameAggregate,
  type Aggregate,
} from './range-copy.js';
import type { TablePlans } from './table-plans.js';
import { describeRefusals, type TablePlan } from './tenant-tables.js';
import type { RateLimiter } from './token-bucket.js';

/** Points at which a test can stop the executor dead (see InjectedCrash). */
export type MovePoint = 'before-action' | 'after-target-commit' | 'after-action';

export interface MoveHooks {
  point?(point: MovePoint, info: { key: MoveKey; state: MoveState; action: MoveAction }): void | Promise<void>;
}

export interface ExecutorContext {
  /** Set by the executor to the state it recorded last (saves reading the journal back). */
  newState?: MoveState;
  /** A control-plane client holding the move's advisory lock. */
  cp: PoolClient;
  /** The epoch of that lock (migration-journal.ts lockMove): every cell transaction of the move checks it is still the newest. */
  ownerEpoch?: string;
  plans: TablePlans;
  settings: MoveSettings;
  limiter: RateLimiter;
  log: Logger;
  metrics?: MoveMetrics;
  hooks?: MoveHooks;
  now: () => Date;
  signal?: AbortSignal;
  /** The source cell's Kafka, for the drain under the fence (kafka-drain.ts); none: recorded as Disabled. */
  kafka?: KafkaDrainOptions;
}

/**
 * What an action hands the next decision: the move as the action's last journal write left it (the
 * write's RETURNING, so no read is needed before the next step), or undefined: read it again.
 */
export type AfterAction = LoadedMove | undefined;

/**
 * A forward move enters state CutOver only while no abort is asked for (the write refuses it
 * otherwise, and the next step reads the abort): the decisions between two reads do not see an
 * abort asked for after the last write, and from CutOver on an abort no longer rolls back.
 */
function enteringCutOver(move: MoveRecord, to: MoveState): { unlessAborted?: boolean } {
  return to === 'CutOver' && move.direction === 'Forward' ? { unlessAborted: true } : {};
}

/** Records a state change (see transition) and remembers it for the caller. */
async function record(ctx: ExecutorContext, move: MoveRecord, to: MoveState, at: Date, fields?: JournalFields): Promise<LoadedMove> {
  const after = await transition(ctx.cp, move, to, at, fields, enteringCutOver(move, to));
  ctx.newState = to;
  return after;
}

/** A control-plane transaction that writes routing (placements, cell counters): the routing lock first, sent with the BEGIN. */
function routingTransaction<T>(ctx: ExecutorContext, fn: () => Promise<T>): Promise<T> {
  return inTransaction(ctx.cp, fn, BEGIN_ROUTING_WRITES);
}

function plus(d: Date, ms: number): Date {
  return new Date(d.getTime() + ms);
}

/** The table's plan from the cells' catalogs (cached briefly; `fresh` re-reads them, as verification does). */
async function tablePlan(ctx: ExecutorContext, move: MoveRecord, progress: TableProgress, fresh = false): Promise<TablePlan> {
  const { from, to } = movingCells(move);
  const result = await ctx.plans.plans(from, to, fresh);
  if (!result.ok) {
    throw new MoveRefusal('SchemaChanged', `the tables changed during the move: ${describeRefusals(result.refusals)}`);
  }
  const plan = result.tables.find((t) => t.name === progress.table);
  if (!plan || plan.mode !== progress.mode || !sameKey(plan.cursor, progress.cursor)) {
    throw new MoveRefusal(
      'SchemaChanged',
      `table ${progress.table} ${plan ? `now pages by (${plan.cursor.join(', ')}) as ${plan.mode}` : 'is no longer a tenant table'}; it was planned by (${progress.cursor.join(', ')}) as ${progress.mode}`,
    );
  }
  return plan;
}

async function pools(ctx: ExecutorContext, move: MoveRecord) {
  const { from, to } = movingCells(move);
  const [source, target] = await Promise.all([ctx.plans.database(from), ctx.plans.database(to)]);
  return { source: source.pool, target: target.pool };
}

/** This executor as the move's owner in the cells, when it holds an epoch (see cell-fence-sql.ts schema step 5). */
function ownerOf(ctx: ExecutorContext, move: MoveRecord): MoveOwner | undefined {
  return ctx.ownerEpoch === undefined ? undefined : { migration: move.migration, customer: move.customerId, epoch: ctx.ownerEpoch };
}

/** The move's writer in a cell transaction: passes its fence, and only while this executor still owns the move. */
function moverOf(ctx: ExecutorContext, move: MoveRecord): Mover {
  return ownerOf(ctx, move) ?? move.migration;
}

function findTable(loaded: LoadedMove, table: string): TableProgress {
  const t = loaded.tables.find((p) => p.table === table);
  if (!t) throw new Error(`move ${loaded.move.migration}/${loaded.move.customerId} has no progress for table ${table}`);
  return t;
}

async function point(ctx: ExecutorContext, p: MovePoint, move: MoveRecord, action: MoveAction): Promise<void> {
  await ctx.hooks?.point?.(p, { key: move, state: move.state, action });
}

function countCopy(ctx: ExecutorContext, move: MoveRecord, rows: number, bytes: number): void {
  ctx.metrics?.rowsCopied.inc({ direction: move.direction }, rows);
  ctx.metrics?.bytesCopied.inc({ direction: move.direction }, bytes);
}

/** Takes `rows` from the rate limiter, in takes of at most its largest. */
async function takeRows(ctx: ExecutorContext, rows: number): Promise<void> {
  for (let left = rows; left > 0; left -= ctx.limiter.maxTake) await ctx.limiter.take(Math.min(left, ctx.limiter.maxTake), ctx.signal);
}

function settling(ctx: ExecutorContext, t: TableProgress) {
  return { lagMs: ctx.settings.settleLagMs, settledKey: t.settledAt ? t.settledKey : null };
}

// --- The actions ------------------------------------------------------------------------------

async function prepare(ctx: ExecutorContext, loaded: LoadedMove): Promise<AfterAction> {
  const { move } = loaded;
  const { from, to } = movingCells(move);
  // The catalogs are read while the placement is (the refusals keep their order).
  const planning = ctx.plans.plans(from, to);
  planning.catch(() => undefined);
  const placement = await readPlacement(ctx.cp, move.customerId);
  if (!placement) throw new MoveRefusal('UnknownCustomer', `customer ${move.customerId} has no placement in the routing table`);
  if (placement.cell !== from) {
    throw new MoveRefusal('NotInSourceCell', `customer ${move.customerId} lives in cell ${placement.cell}, not in ${from}`);
  }
  if (placement.state !== 'Active') {
    throw new MoveRefusal('PlacementFenced', `customer ${move.customerId} is fenced by something else; its placement must be Active to start a move`);
  }
  const result = await planning;
  for (const w of result.warnings) ctx.log.warn({ migration: move.migration, customer: move.customerId }, w);
  if (!result.ok) {
    const reasons = [...new Set(result.refusals.map((r) => r.reason))];
    throw new MoveRefusal(reasons.length === 1 ? (reasons[0] as string) : 'TablesRefused', describeRefusals(result.refusals));
  }
  const { source, target } = await pools(ctx, move);
  const appendOnly = result.tables.filter((plan) => plan.mode === 'AppendOnly');
  const [present, sizes] = await Promise.all([
    Promise.all(result.tables.map((plan) => hasRows(target, plan, move.customerId))),
    Promise.all(appendOnly.map((plan) => countUpTo(source, plan, move.customerId, ctx.settings.convergeRows + 1))),
  ]);
  // A customer whose append-only rows fit in one converged catch-up round (convergeRows) goes
  // straight to the fence: the final sync copies all its rows under it, and they are verified there.
  const counted = sizes.reduce((sum, n) => sum + n, 0);
  const underFence = appendOnly.length > 0 && counted <= ctx.settings.convergeRows;
  const occupied = result.tables.filter((_, i) => present[i]).map((plan) => plan.name);
  // A reverse move's target holds the copy retained since the cut-over: the copy replaces it range by range.
  if (occupied.length > 0 && move.direction === 'Forward') {
    throw new MoveRefusal(
      'TargetNotEmpty',
      `cell ${to} already holds rows of customer ${move.customerId} in ${occupied.join(', ')}; a move never overwrites them (finish or clean up the earlier move first)`,
    );
  }
  const tables: NewProgress[] = [];
  for (const [position, plan] of result.tables.entries()) {
    const p: NewProgress = { table: plan.name, position, mode: plan.mode, cursor: plan.cursor, timeCursor: plan.timeCursor };
    if (underFence && plan.mode === 'AppendOnly') p.underFence = true;
    else if (settlesByObservation(plan)) {
      p.observedKey = await observeKey(source, plan, move.customerId);
      p.observedAt = ctx.now(); // taken after the read: the key is at least this old once settled
    }
    tables.push(p);
  }
  // The rows copied under the fence count towards the rate limit now, as pages would have.
  if (underFence) await takeRows(ctx, counted);
  // The fence in both databases: installed (or upgraded) on every tenant table, and the target
  // refuses the customer's own writes until the cut-over (the move's writes pass).
  const fenced = result.tables.map((plan) => ({ schema: plan.schema, table: plan.table }));
  const [fromDb, toDb] = await Promise.all([ctx.plans.database(from), ctx.plans.database(to)]);
  await Promise.all([
    installFence(source, fromDb.tenancy.tenantColumn, fenced),
    installFence(target, toDb.tenancy.tenantColumn, fenced).then(() => markCustomer(target, move.customerId, move.migration, 'MovingIn', undefined, ownerOf(ctx, move))),
  ]);
  const started: JournalFields = { sourceEpoch: placement.epoch, startedAt: move.startedAt ?? ctx.now() };
  // Under the fence: caught up already, nothing to verify before it (the decider's next action is the fence).
  const [next, fields]: [MoveState, JournalFields] = underFence ? ['CatchingUp', { ...started, catchUpRound: 1, roundRows: 0 }] : ['Copying', started];
  const after = await recordPlan(ctx.cp, move, tables, next, ctx.now(), fields); // the plan and the state change in one statement
  ctx.newState = next;
  return after;
}

async function observe(ctx: ExecutorContext, loaded: LoadedMove, table: string): Promise<AfterAction> {
  const t = findTable(loaded, table);
  const plan = await tablePlan(ctx, loaded.move, t);
  const { source } = await pools(ctx, loaded.move);
  const decidedAt = ctx.now();
  const key = await observeKey(source, plan, loaded.move.customerId);
  const fields: ProgressFields = { observedKey: key, observedAt: ctx.now() };
  if (t.observedAt && plus(t.observedAt, ctx.settings.settleLagMs).getTime() <= decidedAt.getTime()) {
    Object.assign(fields, { settledKey: t.observedKey, settledAt: decidedAt, settledFresh: true });
  }
  return updateProgress(ctx.cp, loaded.move, table, fields);
}

async function copyNextPage(ctx: ExecutorContext, loaded: LoadedMove, action: Extract<MoveAction, { kind: 'CopyPage' }>): Promise<AfterAction> {
  const { move } = loaded;
  const t = findTable(loaded, action.table);
  const plan = await tablePlan(ctx, move, t);
  const { source, target } = await pools(ctx, move);
  const limit = Math.max(1, Math.min(ctx.settings.pageRows, ctx.limiter.maxTake));
  await ctx.limiter.take(limit, ctx.signal);
  // The page, and meanwhile the check of the rows earlier pages synced (other connections, other
  // rows: the page replaces only rows after the copy cursor, past the synced prefix). Both end
  // before anything is recorded or thrown: a failed check never leaves a page committing behind it.
  const [copied, checked] = await Promise.allSettled([
    copyPage(source, target, plan, move.customerId, t.lastKey, limit, settling(ctx, t), moverOf(ctx, move)),
    action.verify ? checkSynced(ctx, move, plan, t, source, target) : Promise.resolve(undefined),
  ]);
  if (checked.status === 'rejected') throw checked.reason;
  if (copied.status === 'rejected') throw copied.reason;
  const page = copied.value;
  ctx.limiter.refund(limit - page.rows);
  countCopy(ctx, move, page.rows, page.bytes);
  await point(ctx, 'after-target-commit', move, action);
  const caughtUp = page.rows < limit || !page.more;
  const fields: ProgressFields = { caughtUp, phase: move.state === 'Copying' ? 'Copy' : 'CatchUp', ...checked.value };
  if (page.lastKey) fields.lastKey = page.lastKey;
  // The synced prefix grows only while it is contiguous with the pages read.
  if (sameKey(t.syncedKey, t.lastKey) && page.settledLastKey) fields.syncedKey = page.settledLastKey;
  const counts = { rows: page.rows, bytes: page.bytes, inRound: move.state === 'CatchingUp' };
  const lastToCatchUp = move.state === 'Copying' && caughtUp && loaded.tables.every((o) => o.table === t.table || o.mode !== 'AppendOnly' || o.caughtUp);
  if (!lastToCatchUp) return updateProgress(ctx.cp, move, t.table, fields, counts);
  // The last table caught up: the start of catching up (see startCatchingUp) is recorded in the
  // same statement, this table's share of the round reset included.
  Object.assign(fields, { resynced: false, phase: 'CatchUp' });
  return recordWithProgress(ctx, t.table, fields, counts, { move, to: 'CatchingUp', at: ctx.now(), fields: { catchUpRound: 1, roundRows: 0 }, resetOtherTables: true });
}

/** Records a table's progress and a state change in one statement, and remembers the state. */
async function recordWithProgress(ctx: ExecutorContext, table: string, fields: ProgressFields, counts: CopyCounts | undefined, change: StateChange): Promise<LoadedMove> {
  const after = await updateProgressAndState(ctx.cp, table, fields, counts, change);
  ctx.newState = change.to;
  return after;
}

async function startCatchingUp(ctx: ExecutorContext, move: MoveRecord): Promise<AfterAction> {
  // Every table has just caught up: the first round only resyncs the settled rows.
  await resetRound(ctx.cp, move, { keepCaughtUp: true });
  return record(ctx, move, 'CatchingUp', ctx.now(), { catchUpRound: 1, roundRows: 0 }); // the last write: its state includes the reset
}

async function resync(ctx: ExecutorContext, loaded: LoadedMove, action: MoveAction & { table: string }): Promise<AfterAction> {
  const { move } = loaded;
  const t = findTable(loaded, action.table);
  const pointless = sameKey(t.syncedKey, t.lastKey) || (settlesByObservation(t) && !t.settledFresh);
  if (pointless) return updateProgress(ctx.cp, move, t.table, { resynced: true, settledFresh: false });
  const plan = await tablePlan(ctx, move, t);
  const { source, target } = await pools(ctx, move);
  const r = await resyncRange(source, target, plan, move.customerId, t.syncedKey, t.lastKey, settling(ctx, t), moverOf(ctx, move));
  await ctx.limiter.take(r.rows, ctx.signal);
  countCopy(ctx, move, r.rows, r.bytes);
  await point(ctx, 'after-target-commit', move, action);
  const fields: ProgressFields = { resynced: true, settledFresh: false };
  if (r.settledLastKey) fields.syncedKey = r.settledLastKey;
  return updateProgress(ctx.cp, move, t.table, fields, { rows: r.rows, bytes: r.bytes, inRound: true });
}

/**
 * Refuses the move when a table's columns changed since it was planned (a column added on both
 * sides would otherwise be copied as NULL and left out of the checksum).
 */
async function expectColumns(ctx: ExecutorContext, db: Pool, plan: TablePlan): Promise<void> {
  const now = await copiedColumns(db, plan);
  if (now.join(',') !== plan.columns.join(',')) {
    ctx.plans.invalidate();
    throw new MoveRefusal('SchemaChanged', `table ${plan.name} changed during the move: its columns are now (${now.join(', ')}), it was planned with (${plan.columns.join(', ')})`);
  }
}

function describeMismatch(table: string, what: string, source: Aggregate, target: Aggregate): string {
  return `table ${table}: ${what} differ between the cells: source ${source.rows} rows (checksum ${source.checksum}), target ${target.rows} rows (checksum ${target.checksum})`;
}

/** What the checks so far found in the synced prefix, up to verifiedKey (both sides held the same). */
function checkedPrefix(t: TableProgress): Aggregate {
  return t.verifiedRows === null ? EMPTY_AGGREGATE : { rows: t.verifiedRows, checksum: t.verifiedChecksum ?? '0' };
}

/**
 * Counts and checksums, on both sides, the synced rows that no check has covered yet (after
 * verifiedKey up to syncedKey: committed on the target by earlier pages and recorded), refuses the
 * move if they differ, and returns the grown prefix to record with the action.
 */
async function checkSynced(ctx: ExecutorContext, move: MoveRecord, plan: TablePlan, t: TableProgress, source: Pool, target: Pool): Promise<ProgressFields> {
  const range = { after: t.verifiedKey, upTo: t.syncedKey };
  const [s, d] = await Promise.all([aggregate(source, plan, move.customerId, range), aggregate(target, plan, move.customerId, range)]);
  if (!sameAggregate(s, d)) throw new MoveRefusal('ChecksumMismatch', describeMismatch(t.table, 'the settled rows (checked before the fence)', s, d));
  const prefix = combineAggregates(checkedPrefix(t), s);
  return { verifiedKey: t.syncedKey, verifiedRows: prefix.rows, verifiedChecksum: prefix.checksum };
}

/**
 * Before the fence: the settled prefix on both sides. The pages checked most of it while they
 * copied (checkSynced); what is left (the last pages, a resync) is checked now, with the columns.
 */
async function preVerify(ctx: ExecutorContext, loaded: LoadedMove, table: string): Promise<AfterAction> {
  const { move } = loaded;
  const t = findTable(loaded, table);
  let fields: ProgressFields = { verifiedKey: t.syncedKey, verifiedRows: 0, verifiedChecksum: '0' };
  if (t.syncedKey) {
    const plan = await tablePlan(ctx, move, t);
    const { source, target } = await pools(ctx, move);
    const prefix = checkedPrefix(t);
    const rest = sameKey(t.verifiedKey, t.syncedKey)
      ? { verifiedKey: t.syncedKey, verifiedRows: prefix.rows, verifiedChecksum: prefix.checksum }
      : checkSynced(ctx, move, plan, t, source, target);
    [fields] = await Promise.all([rest, expectColumns(ctx, source, plan), expectColumns(ctx, target, plan)]);
  }
  return updateProgress(ctx.cp, move, table, { verified: true, ...fields });
}

/** The key after which the final sync replaces rows: null (all of them) unless verified before the fence. */
function finalSyncFrom(t: TableProgress) {
  return t.mode === 'AppendOnly' && t.verified ? t.verifiedKey : null;
}

async function fence(ctx: ExecutorContext, loaded: LoadedMove): Promise<AfterAction> {
  const { move } = loaded;
  const { from } = movingCells(move);
  if (move.sourceEpoch === null) throw new Error('a move reached the fence without a source epoch');
  const epoch = move.sourceEpoch;
  const at = ctx.now();
  // Without Kafka the drain under the fence has nothing to do: recorded with the fence, no step of its own.
  const fields: JournalFields = ctx.kafka ? { fencedAt: at } : { fencedAt: at, kafkaDrain: kafkaDrainDisabled(from, at) };
  return routingTransaction(ctx, async () => {
    const after = await record(ctx, move, 'Fenced', at, fields);
    if (!(await fencePlacement(ctx.cp, move.customerId, from, epoch))) {
      const p = await readPlacement(ctx.cp, move.customerId);
      throw new MoveRefusal(
        'PlacementChanged',
        `customer ${move.customerId}'s placement changed during the move (now ${p ? `${p.state} in ${p.cell} at epoch ${p.epoch}` : 'gone'}, expected Active in ${from} at epoch ${epoch})`,
      );
    }
    return after; // placements are not the journal's: the move is as recorded
  });
}

async function finalSyncTable(ctx: ExecutorContext, loaded: LoadedMove, action: MoveAction & { table: string }): Promise<AfterAction> {
  const { move } = loaded;
  const t = findTable(loaded, action.table);
  const plan = await tablePlan(ctx, move, t);
  const { source, target } = await pools(ctx, move);
  const r = await finalSync(source, target, plan, move.customerId, finalSyncFrom(t), moverOf(ctx, move));
  countCopy(ctx, move, r.rows, r.bytes);
  await point(ctx, 'after-target-commit', move, action);
  const fields: ProgressFields = { finalSynced: true, sourceRows: r.source.rows, sourceChecksum: r.source.checksum, phase: 'FinalSync' };
  const counts = { rows: r.rows, bytes: r.bytes };
  if (!loaded.tables.every((o) => o.table === t.table || o.finalSynced)) return updateProgress(ctx.cp, move, t.table, fields, counts);
  return recordWithProgress(ctx, t.table, fields, counts, { move, to: 'Verifying', at: ctx.now() }); // the last table: verification starts
}

async function verify(ctx: ExecutorContext, loaded: LoadedMove, table: string): Promise<AfterAction> {
  const { move } = loaded;
  const t = findTable(loaded, table);
  const plan = await tablePlan(ctx, move, t);
  const { target } = await pools(ctx, move);
  const after = finalSyncFrom(t);
  const { source } = await pools(ctx, move);
  // The source again too: under the database fence nothing can have changed it since the final sync.
  const [got, again] = await Promise.all([
    aggregate(target, plan, move.customerId, { after }),
    aggregate(source, plan, move.customerId, { after }),
    expectColumns(ctx, source, plan),
    expectColumns(ctx, target, plan),
  ]);
  const want: Aggregate = { rows: t.sourceRows ?? 0, checksum: t.sourceChecksum ?? '0' };
  if (!sameAggregate(want, again)) {
    throw new MoveRefusal('SourceChangedUnderFence', describeMismatch(table, 'the source rows at the final sync and now, under the fence,', want, again));
  }
  if (!sameAggregate(want, got)) throw new MoveRefusal('ChecksumMismatch', describeMismatch(table, 'the final-synced rows', want, got));
  const fields: ProgressFields = { checked: true, targetRows: got.rows, targetChecksum: got.checksum, phase: 'Verify' };
  if (!loaded.tables.every((o) => o.table === t.table || o.checked)) return updateProgress(ctx.cp, move, table, fields);
  // Every table verified: the cut-over is next (unless an abort was asked for meanwhile, enteringCutOver).
  return recordWithProgress(ctx, table, fields, undefined, { move, to: 'CutOver', at: ctx.now(), ...enteringCutOver(move, 'CutOver') });
}

async function cutOver(ctx: ExecutorContext, loaded: LoadedMove): Promise<AfterAction> {
  const { move } = loaded;
  const { from, to } = movingCells(move);
  if (move.sourceEpoch === null) throw new Error('a move reached the cut-over without a source epoch');
  const epoch = move.sourceEpoch;
  const at = ctx.now();
  const retention = move.direction === 'Forward' ? ctx.settings.retentionMs : ctx.settings.reverseRetentionMs;
  // The store's lock order: the routing lock (taken with the BEGIN), cells, placement rows.
  const after = await routingTransaction(ctx, async () => {
    // Give the reservation back first: the placement trigger counts the customer in `to` now.
    await releaseCapacity(ctx.cp, move.reservedCell);
    const newEpoch = await cutOverPlacement(ctx.cp, move.customerId, from, to, epoch);
    if (newEpoch === undefined) {
      const p = await readPlacement(ctx.cp, move.customerId);
      throw new MoveRefusal(
        'PlacementChanged',
        `customer ${move.customerId}'s placement changed under the fence (now ${p ? `${p.state} in ${p.cell} at epoch ${p.epoch}` : 'gone'}, expected Fenced in ${from} at epoch ${epoch})`,
      );
    }
    return record(ctx, move, 'Cleanup', at, { cutOverAt: at, cleanupAfter: plus(at, retention), reservedCell: null });
  });
  if (move.fencedAt) ctx.metrics?.fenceSeconds.observe((at.getTime() - move.fencedAt.getTime()) / 1000);
  // Open the target now rather than at the next step (the OpenTarget action is the crash-safe path).
  try {
    return (await openTarget(ctx, after)) ?? after;
  } catch (err) {
    ctx.log.warn({ migration: move.migration, customer: move.customerId, err: errorMessage(err) }, 'could not open the target database to the customer yet; retrying');
    return undefined; // read again: whether the tables left phase Verify decides the next action
  }
}

/** What the source held of a table when it was verified under the fence: the settled prefix and the final-synced rest. */
function verifiedSource(t: TableProgress): Aggregate {
  const prefix: Aggregate = t.verifiedRows === null ? EMPTY_AGGREGATE : { rows: t.verifiedRows, checksum: t.verifiedChecksum ?? '0' };
  return combineAggregates(prefix, { rows: t.sourceRows ?? 0, checksum: t.sourceChecksum ?? '0' });
}

/**
 * Cleanup of one table: first (once) checks that the source still holds exactly what was verified
 * under the fence (the database fence refused every write since), else stops with a reason and
 * keeps the rows; then deletes the customer's source rows batch by batch. Nothing is copied: every
 * source row was on the target at the cut-over, and a row missing there now was deleted there
 * after it (copying it back would resurrect it). A pass that leaves rows is followed by another;
 * the table is never marked swept while the source holds a row of the customer.
 */
async function sweep(ctx: ExecutorContext, loaded: LoadedMove, action: MoveAction & { table: string }): Promise<AfterAction> {
  const { move } = loaded;
  const t = findTable(loaded, action.table);
  const plan = await tablePlan(ctx, move, t);
  const { source } = await pools(ctx, move);
  const { from } = movingCells(move);
  if (!t.sweepStarted) {
    // Every table is checked before the first row is deleted: a stop keeps the whole customer.
    const unchecked = loaded.tables.filter((o) => !o.sweepStarted);
    for (const o of unchecked) {
      const oPlan = o.table === t.table ? plan : await tablePlan(ctx, move, o);
      const now = await aggregate(source, oPlan, move.customerId, {});
      const then = verifiedSource(o);
      if (!sameAggregate(now, then)) {
        throw new MoveRefusal(
          'SourceChangedAfterCutOver',
          `${describeMismatch(o.table, 'the source rows verified at the cut-over and now', then, now)}; something wrote customer ${move.customerId}'s rows in cell ${from} past the database fence. Cleanup stopped and keeps them: compare them with the target, move what is missing by hand, then retry`,
        );
      }
    }
    for (const o of unchecked) await updateProgress(ctx.cp, move, o.table, { sweepStarted: true, phase: 'Cleanup' });
  }
  const limit = Math.max(1, Math.min(ctx.settings.deleteBatchRows, ctx.limiter.maxTake));
  await ctx.limiter.take(limit, ctx.signal);
  const n = await deleteBatch(source, { ...plan, primaryKey: plan.primaryKey }, move.customerId, limit, moverOf(ctx, move));
  ctx.limiter.refund(limit - n);
  await point(ctx, 'after-target-commit', move, action);
  const fields: ProgressFields = { sweepStarted: true, phase: 'Cleanup' };
  if (n < limit) {
    const left = await hasRows(source, plan, move.customerId);
    if (!left) fields.swept = true;
    else Object.assign(fields, { sweepPasses: t.sweepPasses + 1 });
  }
  return updateProgress(ctx.cp, move, t.table, fields);
}

/** After the cut-over: the target accepts the customer's writes, the source refuses them as moved out. */
async function openTarget(ctx: ExecutorContext, loaded: LoadedMove): Promise<AfterAction> {
  const { move } = loaded;
  const { source, target } = await pools(ctx, move);
  // At once: the source refuses the customer's writes either way (Fenced until now, MovedOut after).
  await Promise.all([markCustomer(source, move.customerId, move.migration, 'MovedOut', undefined, ownerOf(ctx, move)), liftFence(target, move.customerId, move.migration, ownerOf(ctx, move))]);
  // Recorded by the tables leaving phase Verify (the decider's sign that this is done), in one statement.
  return leaveVerifyPhase(ctx.cp, move);
}

/**
 * After the drain wait: fences the customer in the source database and waits, at most maxDrainMs,
 * for the transactions that wrote the customer's rows (their shared per-customer locks) to end, so
 * a write routed before the fence lands before the final sync reads the source. Unrelated
 * transactions are never waited for. Past the bound nothing is fenced in the database and the move
 * fails back (FenceTimeout's sibling DrainTimeout): it never goes on without the drain.
 */
async function drain(ctx: ExecutorContext, loaded: LoadedMove): Promise<AfterAction> {
  const { move } = loaded;
  const { from } = movingCells(move);
  const { source } = await pools(ctx, move);
  try {
    await fenceCustomer(source, move.customerId, move.migration, 'Fenced', ctx.settings.maxDrainMs, ownerOf(ctx, move));
  } catch (err) {
    if ((err as { code?: unknown }).code !== '55P03') throw err;
    throw new MoveRefusal(
      'DrainTimeout',
      `a transaction writing customer ${move.customerId}'s rows in cell ${from} was still open ${ctx.settings.maxDrainMs} ms (maxDrainMs) after the fence; the move fails back rather than lose its writes (${errorMessage(err)})`,
    );
  }
  return record(ctx, move, 'FinalSync', ctx.now());
}

async function clear(ctx: ExecutorContext, loaded: LoadedMove, action: MoveAction & { kind: 'Clear' }): Promise<AfterAction> {
  const { move } = loaded;
  const { from, to } = movingCells(move);
  const cell = action.side === 'source' ? from : to;
  const db = await ctx.plans.database(cell);
  const table = await ctx.plans.sideTable(cell, action.table);
  let done = true;
  if (table) {
    const limit = ctx.settings.deleteBatchRows;
    const n = await deleteBatch(
      db.pool,
      { schema: table.schema, table: table.name, tenantColumn: db.tenancy.tenantColumn, primaryKey: table.primaryKey },
      move.customerId,
      limit,
      moverOf(ctx, move),
    );
    await ctx.limiter.take(n, ctx.signal);
    done = n < limit;
    await point(ctx, 'after-target-commit', move, action);
  }
  return done ? updateProgress(ctx.cp, move, action.table, { cleared: true }) : undefined;
}

async function startReverse(ctx: ExecutorContext, loaded: LoadedMove): Promise<void> {
  const { move } = loaded;
  await routingTransaction(ctx, async () => {
    await record(ctx, move, 'Pending', ctx.now(), {
      direction: 'Reverse',
      sourceEpoch: null,
      fencedAt: null,
      cutOverAt: null,
      cleanupAfter: null,
      catchUpRound: 0,
      roundRows: 0,
      reservedCell: move.sourceCell,
      kafkaDrain: null, // the way back drains the other cell's topic under its own fence
    });
    await replaceProgress(ctx.cp, move, []);
    await reserveCapacity(ctx.cp, move.sourceCell);
  });
}

async function finish(ctx: ExecutorContext, loaded: LoadedMove, state: 'Done' | 'RolledBack' | 'Failed'): Promise<AfterAction> {
  const { move } = loaded;
  const { from } = movingCells(move);
  // The target is the customer's (cut over) or cleared (rolled back): it stops refusing. The
  // source is the customer's again after a rollback; after a cut-over it keeps refusing as moved
  // out for good (one row per customer): a writer still configured with it is never acknowledged
  // a write the customer's cell does not have. A later move into that cell replaces the row.
  const { source, target } = await pools(ctx, move);
  const rolledBack = BEFORE_CUT_OVER.has(move.state) || move.state === 'RollingBack';
  await Promise.all([rolledBack ? liftFence(source, move.customerId, move.migration, ownerOf(ctx, move)) : undefined, liftFence(target, move.customerId, move.migration, ownerOf(ctx, move))]);
  const finished = () => record(ctx, move, state, ctx.now(), { finishedAt: ctx.now(), reservedCell: null });
  // After a cut-over the routing has nothing left to change (the reservation went with it): one statement.
  if (!rolledBack && move.reservedCell === null) return finished();
  return routingTransaction(ctx, async () => {
    if (rolledBack) {
      await unfencePlacement(ctx.cp, move.customerId, from, move.sourceEpoch);
      await releaseCapacity(ctx.cp, move.reservedCell);
    }
    return finished();
  });
}

/** Records that the move cannot go on: rolled back if anything was copied, else failed at once. */
export async function failMove(ctx: ExecutorContext, loaded: LoadedMove, reason: string, message: string): Promise<'RollingBack' | 'Failed' | 'Kept'> {
  const { move } = loaded;
  if (!BEFORE_CUT_OVER.has(move.state) && move.state !== 'CutOver') {
    // After the cut-over the target is the customer's home: never undo, keep retrying.
    await updateJournal(ctx.cp, move, { lastError: `${reason}: ${message}` });
    return 'Kept';
  }
  const { from } = movingCells(move);
  ctx.metrics?.failures.inc({ reason });
  await liftSourceFence(ctx, move);
  if (loaded.tables.length === 0) await liftTargetFence(ctx, move); // nothing copied: nothing to clear first
  return routingTransaction(ctx, async () => {
    await recordFailure(ctx.cp, move, move.state, reason, message);
    if (loaded.tables.length === 0) {
      await unfencePlacement(ctx.cp, move.customerId, from, move.sourceEpoch);
      await releaseCapacity(ctx.cp, move.reservedCell);
      await record(ctx, move, 'Failed', ctx.now(), { failureReason: reason, lastError: message, finishedAt: ctx.now(), reservedCell: null });
      return 'Failed' as const;
    }
    // Availability comes back now, not after the rollback: the placement is Active again in the
    // same transaction (the source database's fence was lifted just before).
    await unfencePlacement(ctx.cp, move.customerId, from, move.sourceEpoch);
    await record(ctx, move, 'RollingBack', ctx.now(), { failureReason: reason, lastError: message });
    return 'RollingBack' as const;
  });
}

/**
 * Lifts the source database's fence of a move that fails back, before the journal records it, so
 * the customer can write again at once. Best effort: Finish lifts it again, and must. The target
 * keeps refusing until its copy is cleared (a write accepted there now would be cleared with it).
 */
async function liftSourceFence(ctx: ExecutorContext, move: MoveRecord): Promise<void> {
  await liftSide(ctx, move, 'source');
}

async function liftTargetFence(ctx: ExecutorContext, move: MoveRecord): Promise<void> {
  await liftSide(ctx, move, 'target');
}

async function liftSide(ctx: ExecutorContext, move: MoveRecord, side: 'source' | 'target'): Promise<void> {
  try {
    const dbs = await pools(ctx, move);
    await liftFence(dbs[side], move.customerId, move.migration, ownerOf(ctx, move));
  } catch (err) {
    ctx.log.warn({ migration: move.migration, customer: move.customerId, side, err: errorMessage(err) }, 'could not lift the fence yet; the move lifts it when it ends');
  }
}

/**
 * Performs `action` on the move and records it. Throws MoveRefusal for a move that must fail.
 * Returns the move as the action's last journal write left it (AfterAction), when that write
 * returned it: the next decision then needs no read.
 */
export async function execute(ctx: ExecutorContext, loaded: LoadedMove, action: MoveAction): Promise<AfterAction> {
  const { move } = loaded;
  switch (action.kind) {
    case 'None':
    case 'Wait':
      return undefined;
    case 'Prepare':
      return prepare(ctx, loaded);
    case 'Observe':
      return observe(ctx, loaded, action.table);
    case 'CopyPage':
      return copyNextPage(ctx, loaded, action);
    case 'Resync':
      return resync(ctx, loaded, action);
    case 'NewRound':
      // The journal write comes last and returns the move, the round's reset included.
      return inTransaction(ctx.cp, async () => {
        await resetRound(ctx.cp, move);
        return updateJournal(ctx.cp, move, { catchUpRound: move.catchUpRound + 1, roundRows: 0 });
      });
    case 'PreVerify':
      return preVerify(ctx, loaded, action.table);
    case 'Transition':
      if (action.to === 'CatchingUp') return inTransaction(ctx.cp, () => startCatchingUp(ctx, move));
      return record(ctx, move, action.to, ctx.now());
    case 'Fence':
      return fence(ctx, loaded);
    case 'KafkaDrainStart':
      return kafkaDrainStart(ctx, loaded);
    case 'KafkaDrainCheck':
      return kafkaDrainCheck(ctx, loaded);
    case 'Drain':
      return drain(ctx, loaded);
    case 'FinalSync':
      return finalSyncTable(ctx, loaded, action);
    case 'Verify':
      return verify(ctx, loaded, action.table);
    case 'CutOver':
      return cutOver(ctx, loaded);
    case 'Sweep':
      return sweep(ctx, loaded, action);
    case 'Clear':
      return clear(ctx, loaded, action);
    case 'StartReverse':
      await startReverse(ctx, loaded);
      return undefined; // its progress rows are dropped after the state is written: read it again
    case 'Abort': {
      await liftSourceFence(ctx, move);
      const { from } = movingCells(move);
      return routingTransaction(ctx, async () => {
        await unfencePlacement(ctx.cp, move.customerId, from, move.sourceEpoch);
        return record(ctx, move, 'RollingBack', ctx.now(), { failureReason: null });
      });
    }
    case 'OpenTarget':
      return openTarget(ctx, loaded);
    case 'Fail':
      throw new MoveRefusal(action.reason, action.message);
    case 'Finish':
      return finish(ctx, loaded, action.state);
  }
}
