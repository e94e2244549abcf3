// A group move: N small customer moves of one migration between the same two cells, run together
// by one executor that holds their N locks on one control-plane session. The unit stays the
// customer (its journal row, fence rows, placement, owner epoch); a batched action is the N single
// actions in the same transactions, and leaves every member's journal and cells exactly as the
// single action would. Anything unusual (a refusal, an error, an abort, a member at another step,
// a large customer) hands the member back to the single path (MoveEngine.run), which
// resumes it from its journal: every action is safe to run again there.
import type { PoolClient } from 'pg';
import type { Logger } from '../log.js';
import { releaseCapacity } from '../store/cells.js';
import { errorMessage } from '../store/database-errors.js';
import { loadMoves, recordBatch, recordPlans, unlockMoves, type BatchRecord, type JournalFields, type LoadedMove, type NewProgress } from '../store/migration-journal.js';
import { BEGIN_ROUTING_WRITES, cutOverPlacements, fencePlacements, readPlacements } from '../store/placements.js';
import { inTransaction } from '../store/transactions.js';
import { MARK_DRAIN_MS, changeFences, installFence } from './cell-fence.js';
import type { MoveOwner } from './cell-fence-sql.js';
import { checkDrains, kafkaDrainDisabled, startDrains, type DrainContext } from './kafka-drain.js';
import { describeAction, nextAction, type MoveAction } from './move-decision.js';
import type { RunOptions, RunResult } from './move-engine.js';
import { InjectedCrash } from './move-errors.js';
import type { ExecutorContext, MovePoint } from './move-executor.js';
import { combineAggregates, EMPTY_AGGREGATE, aggregateMany, copiedColumns, countUpToMany, deleteMany, finalSyncMany, sameAggregate, type Aggregate, type BatchWriter } from './range-copy.js';
import { freshMove, movingCells, sameKey, type MoveKey, type MoveRecord, type TableProgress } from './move-state.js';
import type { TablePlan } from './tenant-tables.js';
import { sleep } from './token-bucket.js';

/** What a batch needs of its engine. */
export interface BatchHost extends Pick<ExecutorContext, 'plans' | 'settings' | 'limiter' | 'log' | 'metrics' | 'hooks' | 'now' | 'kafka'> {
  /** The locks of `keys` on one control-plane session (MoveEngine.withLocks). */
  withLocks<T>(keys: readonly MoveKey[], fn: (cp: PoolClient, lost: () => boolean, held: Map<string, { key: MoveKey; epoch: string }>) => Promise<T>): Promise<T | 'Busy'>;
  /** The single path: runs one move to its end (MoveEngine.run). */
  run(key: MoveKey, options: RunOptions): Promise<RunResult>;
}

/** What a batched record changes besides the rows: the state, when, and whether an abort asked for stops it. */
type BatchChange = { to?: MoveRecord['state']; at?: Date; unlessAborted?: boolean };

/** Members that must go on alone, found before anything of the action was committed for anyone: the rest try the action again. */
class MembersOut extends Error {
  constructor(
    readonly customers: readonly string[],
    why: string,
  ) {
    super(why);
    this.name = 'MembersOut';
  }
}

interface Member {
  key: MoveKey;
  epoch: string;
  loaded: LoadedMove;
}

/** The actions a batch performs together; anything else goes back to the single path. */
const BATCHED: ReadonlySet<MoveAction['kind']> = new Set(['Prepare', 'Fence', 'KafkaDrainStart', 'KafkaDrainCheck', 'Drain', 'FinalSync', 'Verify', 'Transition', 'CutOver', 'OpenTarget', 'Sweep', 'Finish']);

/** Whether the batch performs `action` for its members (the others go back to the single path). */
function batched(action: MoveAction): boolean {
  return BATCHED.has(action.kind) && !(action.kind === 'Finish' && action.state !== 'Done') && !(action.kind === 'Transition' && action.to === 'CatchingUp');
}

/**
 * How long members whose Kafka drain is done wait in the batch for the others' (from the reading of
 * the topic's ends): a healthy ingestion group commits within it; a stalled partition (a worker
 * killed: the group's session timeout) would keep them fenced, and within a drive's time, for nothing.
 */
export const KAFKA_WAIT_IN_BATCH_MS = 2_000;

/** Members handed back mid-way that run alone at once (the rest wait for a lane): each holds a control-plane session and cell connections. */
export const HANDED_BACK_AT_ONCE = 4;

/**
 * Runs `keys` (moves of one migration) as one batch as far as it can, then hands every member that
 * left it to the single path; returns each key's result, in `keys`' order. Only moves still Pending
 * (forward, no abort asked) between the same two cells (plain PostgreSQL or Citus, with Kafka or
 * without), and small (their rows fit in convergeRows), are batched: the others run alone from
 * the start.
 */
export async function runMoveBatch(host: BatchHost, keys: readonly MoveKey[], options: RunOptions = {}): Promise<RunResult[]> {
  const results = new Map<string, RunResult>();
  const started = new Set<string>();
  const alone: Promise<void>[] = [];
  // Members the batch never acted on run one after another, beside the batch (a batch of large
  // customers moves them one at a time, as many at once as the caller's executors); those it
  // handed back mid-way (a fence may be held) start at once, HANDED_BACK_AT_ONCE at a time: a
  // batch of 20 that fails under its fence does not become 20 executors on pools of 8 and 10.
  let lane: Promise<void> = Promise.resolve();
  let running = 0;
  const waiting: (() => void)[] = [];
  const acquire = (): Promise<void> => (running < HANDED_BACK_AT_ONCE ? (running++, Promise.resolve()) : new Promise<void>((r) => waiting.push(r)));
  const release = (): void => {
    const next = waiting.shift();
    if (next) next(); // the slot goes to the next one waiting
    else running--;
  };
  const goAlone = (key: MoveKey, now: boolean): void => {
    started.add(key.customerId);
    const go = () => host.run(key, options).then((r) => void results.set(key.customerId, r));
    if (now) alone.push(acquire().then(go).finally(release));
    else alone.push((lane = lane.catch(() => undefined).then(go)));
  };
  let crash: unknown;
  try {
    await host.withLocks(keys, (cp, lost, held) => new Batch(host, cp, lost, held, options, results, goAlone).run());
  } catch (err) {
    // A crash a test injects stops everything, as a SIGKILL would. Any other error ended the
    // batch's session (its locks went with it): the members go on alone, where the single path
    // retries what is transient and refuses what is not.
    if (err instanceof InjectedCrash) crash = err;
    else host.log.warn({ err: errorMessage(err) }, 'a batch of moves stopped; its members go on alone');
  }
  // Whoever has no result yet runs alone now that the batch's session is over: those another
  // executor held (the single path says Busy), those left when the session was lost.
  if (crash === undefined) for (const k of keys) if (!results.has(k.customerId) && !started.has(k.customerId)) goAlone(k, true);
  // A member handed back runs alone beside the batch; all are waited for, even after a crash.
  await Promise.allSettled(alone);
  if (crash !== undefined) throw crash;
  await Promise.all(alone);
  return keys.map((k) => results.get(k.customerId) ?? { move: undefined, outcome: 'NotFound' });
}

class Batch {
  private members: Member[] = [];
  private readonly handedBack = new Set<string>();
  /** A batched action succeeded: members handed back from now on may hold a fence, and start at once. */
  private acted = false;
  private readonly log: Logger;

  constructor(
    private readonly host: BatchHost,
    private readonly cp: PoolClient,
    private readonly lost: () => boolean,
    private readonly held: Map<string, { key: MoveKey; epoch: string }>,
    private readonly options: RunOptions,
    private readonly results: Map<string, RunResult>,
    private readonly goAlone: (key: MoveKey, now: boolean) => void,
  ) {
    this.log = host.log.child({ batch: true });
  }

  /** Runs the batch until every member finished, waits longer than maxWaitMs, or went on alone. */
  async run(): Promise<void> {
    const migration = [...this.held.values()][0]?.key.migration ?? '';
    const loaded = await loadMoves(this.cp, migration, [...this.held.keys()]);
    for (const l of loaded) {
      const h = this.held.get(l.move.customerId);
      if (h) this.members.push({ key: h.key, epoch: h.epoch, loaded: l });
    }
    const first = this.members[0]?.loaded.move;
    const eligible = (m: MoveRecord): boolean =>
      freshMove(m) && m.sourceCell === first?.sourceCell && m.targetCell === first?.targetCell;
    await this.handBack(this.members.filter((m) => !eligible(m.loaded.move)).map((m) => m.key.customerId), 'not a fresh move between the batch\'s cells');
    for (const c of [...this.held.keys()]) if (!this.members.some((m) => m.key.customerId === c)) await this.handBack([c], 'no journal row');
    while (this.members.length > 0) {
      if (this.options.signal?.aborted) {
        for (const m of this.members) this.finish(m, { move: m.loaded.move, outcome: 'Stopped' });
        break;
      }
      if (this.lost()) break; // the session (and the locks) are gone: the caller runs the rest alone
      if (!(await this.step())) continue;
      this.members = await this.reload();
    }
  }

  private async reload(): Promise<Member[]> {
    const loaded = await loadMoves(this.cp, this.members[0]!.key.migration, this.members.map((m) => m.key.customerId));
    const byCustomer = new Map(loaded.map((l) => [l.move.customerId, l]));
    const kept: Member[] = [];
    for (const m of this.members) {
      const l = byCustomer.get(m.key.customerId);
      if (l) kept.push({ ...m, loaded: l });
      else await this.handBack([m.key.customerId], 'its journal row is gone');
    }
    return kept;
  }

  /** A member's result (its lock is released by the caller, release()). */
  private finish(m: Member, result: RunResult): void {
    this.results.set(m.key.customerId, result);
  }

  /** Members that go on alone: out of the batch, their locks released, then run by the single path. */
  private async handBack(customers: readonly string[], why: string): Promise<void> {
    const out = customers.filter((c) => this.held.has(c) && !this.handedBack.has(c));
    if (out.length === 0) return;
    this.log.info({ customers: out, why }, 'members of a batch go on alone');
    this.members = this.members.filter((m) => !out.includes(m.key.customerId));
    const keys = out.map((c) => this.held.get(c)!.key);
    await unlockMoves(this.cp, keys, false); // a failure ends the batch: the session is destroyed, the locks with it
    for (const k of keys) {
      this.held.delete(k.customerId);
      this.handedBack.add(k.customerId);
      this.goAlone(k, this.acted);
    }
  }

  /** Takes `rows` from the rate limiter, in takes of at most its largest. */
  private async takeRows(rows: number): Promise<void> {
    const { limiter } = this.host;
    for (let left = rows; left > 0; left -= limiter.maxTake) await limiter.take(Math.min(left, limiter.maxTake), this.options.signal);
  }

  private async release(members: readonly Member[]): Promise<void> {
    if (members.length === 0) return;
    await unlockMoves(this.cp, members.map((m) => m.key), false);
    for (const m of members) this.held.delete(m.key.customerId);
    this.members = this.members.filter((x) => !members.includes(x));
  }

  /** Decides every member's next action and performs the batch's; false when nothing was done (a wait, members out). */
  private async step(): Promise<boolean> {
    const now = this.host.now();
    const maxWait = this.options.maxWaitMs ?? 5_000;
    const decided = this.members.map((m) => ({ m, action: nextAction(m.loaded.move, m.loaded.tables, this.host.settings, now) }));
    const ended: Member[] = [];
    let wakeAt: number | undefined;
    for (const { m, action } of decided) {
      if (action.kind === 'None') {
        this.finish(m, { move: m.loaded.move, outcome: 'Finished' });
        ended.push(m);
      } else if (action.kind === 'Wait') {
        const ms = action.until.getTime() - now.getTime();
        if (ms > maxWait) {
          this.finish(m, { move: m.loaded.move, outcome: 'Waiting', waitUntil: action.until });
          ended.push(m);
        } else wakeAt = Math.min(wakeAt ?? Number.POSITIVE_INFINITY, action.until.getTime());
      }
    }
    await this.release(ended);
    const acting = decided.filter((d) => this.members.includes(d.m) && d.action.kind !== 'Wait');
    if (acting.length === 0) {
      if (wakeAt !== undefined) await sleep(Math.max(1, wakeAt - now.getTime()), this.options.signal).catch(() => undefined);
      return this.members.length > 0 && wakeAt === undefined;
    }
    // The batch's action: the one most members are at, a batched one before one that is not; the
    // others go on alone (waiting ones too: not a lockstep any more).
    const groups = new Map<string, typeof acting>();
    for (const d of acting) groups.set(describeAction(d.action), [...(groups.get(describeAction(d.action)) ?? []), d]);
    const ranked = [...groups.entries()].sort((a, b) => Number(batched(b[1][0]!.action)) - Number(batched(a[1][0]!.action)) || b[1].length - a[1].length);
    let [label, group] = ranked[0]!;
    let staying: typeof acting = [];
    // With Kafka, members whose partitions are drained wait in the batch (at Drain) while the
    // others' drains are checked, for KAFKA_WAIT_IN_BATCH_MS from the ends' reading; then they go
    // on, and the others alone.
    const checking = groups.get('KafkaDrainCheck');
    const ready = groups.get('Drain');
    if (checking && ready && groups.size === 2) {
      const recorded = Math.max(...checking.map((d) => new Date(d.m.loaded.move.kafkaDrain?.recordedAt ?? 0).getTime()));
      if (now.getTime() - recorded < KAFKA_WAIT_IN_BATCH_MS) [label, group, staying] = ['KafkaDrainCheck', checking, ready];
      else [label, group] = ['Drain', ready];
    }
    const action = group[0]!.action;
    await this.handBack(
      decided.filter((d) => !group.includes(d) && !staying.includes(d)).map((d) => d.m.key.customerId),
      `at another step than the batch (${label})`,
    );
    if (!batched(action)) {
      await this.handBack(this.members.map((m) => m.key.customerId), `${label} is not batched`);
      return false;
    }
    const members = group.map((d) => d.m);
    try {
      await this.points('before-action', action, members);
      await this.act(action);
      this.acted = true;
      this.log.info({ action: label, members: members.length }, 'batched action');
      await this.points('after-action', action, members);
      return true;
    } catch (err) {
      if (err instanceof InjectedCrash) throw err;
      if (err instanceof MembersOut) {
        await this.handBack(err.customers, err.message);
        return false;
      }
      // A shared transaction failed: every member resumes alone from its journal (each action is safe to run again).
      this.log.warn({ action: label, err: errorMessage(err) }, 'a batched action failed; its members go on alone');
      await this.handBack(this.members.map((m) => m.key.customerId), `${label} failed: ${errorMessage(err)}`);
      return false;
    }
  }

  private async points(p: MovePoint, action: MoveAction, members: readonly Member[] = this.members): Promise<void> {
    for (const m of members) await this.host.hooks?.point?.(p, { key: m.key, state: m.loaded.move.state, action });
  }

  private async act(action: MoveAction): Promise<void> {
    switch (action.kind) {
      case 'Prepare':
        return this.prepare();
      case 'Fence':
        return this.fence();
      case 'KafkaDrainStart':
        return this.kafkaDrainStart();
      case 'KafkaDrainCheck':
        return this.kafkaDrainCheck();
      case 'Drain':
        return this.drain();
      case 'FinalSync':
        return this.finalSync(action.table);
      case 'Verify':
        return this.verify(action.table);
      case 'Transition':
        return this.record({ to: action.to, at: this.host.now(), unlessAborted: action.to === 'CutOver' }, this.members.map((m) => ({ customerId: m.key.customerId })));
      case 'CutOver':
        return this.cutOver();
      case 'OpenTarget':
        return this.openTarget();
      case 'Sweep':
        return this.sweep(action.table);
      case 'Finish':
        return this.finishDone();
      default:
        throw new Error(`${describeAction(action)} is not batched`);
    }
  }

  // --- the batched actions ------------------------------------------------------------------------

  private get cells(): { from: string; to: string } {
    return movingCells(this.members[0]!.loaded.move);
  }

  private customers(): string[] {
    return this.members.map((m) => m.key.customerId);
  }

  private owners(): MoveOwner[] {
    return this.members.map((m) => ({ migration: m.key.migration, customer: m.key.customerId, epoch: m.epoch }));
  }

  private writer(): BatchWriter {
    return { migration: this.members[0]!.key.migration, owners: this.owners() };
  }

  private async pools() {
    const { from, to } = this.cells;
    const [source, target] = await Promise.all([this.host.plans.database(from), this.host.plans.database(to)]);
    return { source: source.pool, target: target.pool, sourceDb: source, targetDb: target };
  }

  /**
   * Records the members' action in one statement (recordBatch) and reports the state change; a
   * member it did not write (someone changed it meanwhile: an abort asked for) is handed back.
   */
  private async record(change: BatchChange, records: readonly BatchRecord[]): Promise<void> {
    const { state, written, missed } = await this.write(change, records);
    if (change.to !== undefined) this.changedState(state, change.to, written, change.at);
    if (missed.length > 0) await this.handBack(missed, 'changed under the batch (an abort asked for?)');
  }

  /**
   * record() inside a routing transaction: a member it did not write fails the transaction
   * (MembersOut), and the state change is reported by the returned function, once it committed.
   */
  private async recordInTransaction(change: BatchChange & { to: MoveRecord['state'] }, records: readonly BatchRecord[]): Promise<() => void> {
    const { state, written, missed } = await this.write(change, records);
    if (missed.length > 0) throw new MembersOut(missed, 'changed under the batch (an abort asked for?)');
    return () => this.changedState(state, change.to, written, change.at);
  }

  /** The one statement of record() and recordInTransaction(): the members written, and those it did not. */
  private async write(change: BatchChange, records: readonly BatchRecord[]) {
    const { state, direction } = this.members[0]!.loaded.move;
    const written = await recordBatch(this.cp, this.members[0]!.key.migration, { state, direction }, records, change);
    return { state, written, missed: records.map((r) => r.customerId).filter((c) => !written.has(c)) };
  }

  /** As the single path (MoveEngine.step) reports a state change: each member's time in the state it left, and one log line for all. */
  private changedState(from: MoveRecord['state'], to: MoveRecord['state'], written: ReadonlySet<string>, at = this.host.now()): void {
    if (to === from || written.size === 0) return;
    const now = at.getTime();
    for (const m of this.members) {
      if (written.has(m.key.customerId)) this.host.metrics?.stateSeconds.observe({ state: from }, Math.max(0, (now - m.loaded.move.stateEnteredAt.getTime()) / 1000));
    }
    this.log.info({ migration: this.members[0]!.key.migration, customers: [...written], from, to }, 'moves of a batch changed state');
  }

  /** The table's plan, as the single path checks it (tablePlan in move-executor.ts); any doubt: everyone alone. */
  private async tablePlan(table: string): Promise<TablePlan> {
    const { from, to } = this.cells;
    const result = await this.host.plans.plans(from, to);
    const progress = this.members.map((m) => m.loaded.tables.find((t) => t.table === table));
    const plan = result.ok ? result.tables.find((t) => t.name === table) : undefined;
    if (!plan || progress.some((p) => !p || p.mode !== plan.mode || !sameKey(plan.cursor, p.cursor))) {
      throw new Error(`table ${table}'s plan is not what the members recorded`);
    }
    return plan;
  }

  private table(m: Member, table: string): TableProgress {
    const t = m.loaded.tables.find((p) => p.table === table);
    if (!t) throw new Error(`move ${m.key.migration}/${m.key.customerId} has no progress for table ${table}`);
    return t;
  }

  /** Members for which `last` differs from the first member's go alone (a batch moves in lockstep; this only guards it). */
  private async lockstep(same: (m: Member) => string | boolean): Promise<void> {
    const want = same(this.members[0]!);
    const off = this.members.filter((m) => same(m) !== want).map((m) => m.key.customerId);
    if (off.length > 0) throw new MembersOut(off, 'out of step with the batch');
  }

  private async prepare(): Promise<void> {
    const s = this.host.settings;
    const { from, to } = this.cells;
    const planning = this.host.plans.plans(from, to);
    planning.catch(() => undefined);
    const placements = await readPlacements(this.cp, this.customers());
    // A customer the single path would refuse is refused there, alone.
    const misplaced = this.customers().filter((c) => {
      const p = placements.get(c);
      return !p || p.cell !== from || p.state !== 'Active';
    });
    if (misplaced.length > 0) throw new MembersOut(misplaced, 'its placement is not Active in the source');
    const result = await planning;
    if (!result.ok) throw new Error('the tables are refused (the single path says why)');
    for (const w of result.warnings) this.log.warn({ migration: this.members[0]!.key.migration }, w);
    const { source, target, sourceDb, targetDb } = await this.pools();
    const customers = this.customers();
    const [present, sizes] = await Promise.all([
      Promise.all(result.tables.map((plan) => countUpToMany(target, plan, customers, 1))),
      Promise.all(result.tables.map((plan) => countUpToMany(source, plan, customers, s.convergeRows + 1))),
    ]);
    const appendOnly = result.tables.map((plan) => plan.mode === 'AppendOnly');
    if (!appendOnly.some(Boolean)) throw new Error('no append-only table: moved one at a time');
    const counted = new Map<string, number>();
    const out: string[] = [];
    for (const c of customers) {
      // Small: the append-only rows fit under the fence (the single path's test), and so do all its rows (the sweep deletes them at once).
      const rows = sizes.map((n) => n.get(c) ?? 0);
      const appended = rows.reduce((sum, n, i) => sum + (appendOnly[i] ? n : 0), 0);
      if (appended > s.convergeRows || rows.reduce((a, b) => a + b, 0) > s.convergeRows || present.some((p) => (p.get(c) ?? 0) > 0)) out.push(c);
      counted.set(c, appended);
    }
    if (out.length > 0) throw new MembersOut(out, 'not small, or the target holds rows of it');
    const tables: NewProgress[] = result.tables.map((plan, position) => {
      const p: NewProgress = { table: plan.name, position, mode: plan.mode, cursor: plan.cursor, timeCursor: plan.timeCursor };
      if (plan.mode === 'AppendOnly') p.underFence = true;
      return p;
    });
    await this.takeRows([...counted.values()].reduce((a, b) => a + b, 0)); // the rows copied under the fence count now, as the single Prepare's
    const fenced = result.tables.map((plan) => ({ schema: plan.schema, table: plan.table }));
    await Promise.all([
      installFence(source, sourceDb.tenancy.tenantColumn, fenced),
      installFence(target, targetDb.tenancy.tenantColumn, fenced).then(() =>
        changeFences(target, { owners: this.owners(), drainMs: MARK_DRAIN_MS, set: { customers, migration: this.members[0]!.key.migration, role: 'MovingIn' } }),
      ),
    ]);
    const now = this.host.now();
    const members = this.members.map((m) => ({
      customerId: m.key.customerId,
      journal: { sourceEpoch: placements.get(m.key.customerId)!.epoch, startedAt: m.loaded.move.startedAt ?? now, catchUpRound: 1, roundRows: 0 } satisfies JournalFields,
    }));
    const written = await recordPlans(this.cp, this.members[0]!.key.migration, { state: 'Pending', direction: 'Forward' }, members, tables, 'CatchingUp', now);
    this.changedState('Pending', 'CatchingUp', written, now);
    const missed = customers.filter((c) => !written.has(c));
    if (missed.length > 0) await this.handBack(missed, 'changed under the batch (an abort asked for?)');
  }

  private async fence(): Promise<void> {
    const { from } = this.cells;
    const at = this.host.now();
    const members = this.members.map((m) => {
      if (m.loaded.move.sourceEpoch === null) throw new Error('a move reached the fence without a source epoch');
      return { customerId: m.key.customerId, epoch: m.loaded.move.sourceEpoch };
    });
    const report = await inTransaction(
      this.cp,
      async () => {
        // With Kafka the drain of its topic comes after the drain wait (KafkaDrainStart), as the single fence's.
        const journal: JournalFields = this.host.kafka ? { fencedAt: at } : { fencedAt: at, kafkaDrain: kafkaDrainDisabled(from, at) };
        const records = this.members.map((m) => ({ customerId: m.key.customerId, journal }));
        const recorded = await this.recordInTransaction({ to: 'Fenced', at }, records);
        const fenced = await fencePlacements(this.cp, from, members);
        const changed = members.filter((m) => !fenced.has(m.customerId)).map((m) => m.customerId);
        if (changed.length > 0) throw new MembersOut(changed, 'its placement changed during the move'); // rolled back: the single path refuses it
        return recorded;
      },
      BEGIN_ROUTING_WRITES,
    );
    report();
  }

  /** The context of the members' Kafka drains: the batch's session reads the source cell's endpoint. */
  private drainContext(): DrainContext {
    const { kafka, now, log, metrics } = this.host;
    return { cp: this.cp, now, log, ...(kafka ? { kafka } : {}), ...(metrics ? { metrics } : {}), ...(this.options.signal ? { signal: this.options.signal } : {}) };
  }

  private async kafkaDrainStart(): Promise<void> {
    const drains = await startDrains(this.drainContext(), this.cells.from, this.customers());
    await this.record({}, this.members.map((m, i) => ({ customerId: m.key.customerId, journal: { kafkaDrain: drains[i]! } })));
  }

  /** Checks the drains of the members still behind (step(): the drained ones wait in the batch meanwhile). */
  private async kafkaDrainCheck(): Promise<void> {
    const behind = this.members.filter((m) => {
      const d = m.loaded.move.kafkaDrain;
      if (!d) throw new Error('a Kafka drain check without a recorded drain');
      return !d.skipped && !d.drainedAt;
    });
    if (behind.length === 0) return;
    const checked = await checkDrains(this.drainContext(), behind.map((m) => m.loaded.move.kafkaDrain!));
    await this.record({}, behind.map((m, i) => ({ customerId: m.key.customerId, journal: { kafkaDrain: checked[i]! } })));
  }

  private async drain(): Promise<void> {
    const { source } = await this.pools();
    // One fence change for all; past the bound nothing is fenced and each member drains alone (the
    // one whose writer outlasts it fails back there, DrainTimeout). The customers' drains run one
    // after another against one bound (fenceChangeSql, fence schema step 9; on Citus on each node
    // that holds the fence table): the drains end within maxDrainMs in all (a writer of an early
    // member waits behind its uncommitted fence meanwhile), and a customer's writers have what is
    // left of it, not a share.
    await changeFences(source, { owners: this.owners(), drainMs: this.host.settings.maxDrainMs, set: { customers: this.customers(), migration: this.members[0]!.key.migration, role: 'Fenced' } });
    await this.record({ to: 'FinalSync', at: this.host.now() }, this.members.map((m) => ({ customerId: m.key.customerId })));
  }

  private async finalSync(table: string): Promise<void> {
    // Every member copies all its rows (nothing was verified before the fence), and the last table's record starts Verifying.
    await this.lockstep((m) => this.table(m, table).mode !== 'AppendOnly' || this.table(m, table).verifiedKey === null);
    await this.lockstep((m) => m.loaded.tables.every((o) => o.table === table || o.finalSynced));
    const plan = await this.tablePlan(table);
    const { source, target } = await this.pools();
    const r = await finalSyncMany(source, target, plan, this.customers(), this.writer());
    const last = this.members[0]!.loaded.tables.every((o) => o.table === table || o.finalSynced);
    const records: BatchRecord[] = this.members.map((m) => {
      const agg = r.source.get(m.key.customerId) ?? EMPTY_AGGREGATE;
      // The batch's bytes shared by rows: a member's own are not measured apart.
      const bytes = r.rows > 0 ? Math.round((r.bytes * agg.rows) / r.rows) : 0;
      this.host.metrics?.rowsCopied.inc({ direction: m.loaded.move.direction }, agg.rows);
      this.host.metrics?.bytesCopied.inc({ direction: m.loaded.move.direction }, bytes);
      return { customerId: m.key.customerId, tables: [{ table, fields: { finalSynced: true, sourceRows: agg.rows, sourceChecksum: agg.checksum, phase: 'FinalSync' }, rows: agg.rows, bytes }] };
    });
    await this.points('after-target-commit', { kind: 'FinalSync', table });
    await this.record(last ? { to: 'Verifying', at: this.host.now() } : {}, records);
  }

  private async expectColumns(plan: TablePlan): Promise<void> {
    const { source, target } = await this.pools();
    const [a, b] = await Promise.all([copiedColumns(source, plan), copiedColumns(target, plan)]);
    if (a.join(',') !== plan.columns.join(',') || b.join(',') !== plan.columns.join(',')) {
      this.host.plans.invalidate();
      throw new Error(`table ${plan.name} changed during the move`); // everyone alone: the single path refuses it as SchemaChanged
    }
  }

  private async verify(table: string): Promise<void> {
    await this.lockstep((m) => this.table(m, table).mode !== 'AppendOnly' || this.table(m, table).verifiedKey === null);
    await this.lockstep((m) => m.loaded.tables.every((o) => o.table === table || o.checked));
    const plan = await this.tablePlan(table);
    const { source, target } = await this.pools();
    const customers = this.customers();
    const [got, again] = await Promise.all([aggregateMany(target, plan, customers), aggregateMany(source, plan, customers), this.expectColumns(plan)]);
    // A member whose rows differ goes alone: the single path finds it again and fails it (ChecksumMismatch, SourceChangedUnderFence).
    const differ = this.members.filter((m) => {
      const t = this.table(m, table);
      const want: Aggregate = { rows: t.sourceRows ?? 0, checksum: t.sourceChecksum ?? '0' };
      return !sameAggregate(want, again.get(m.key.customerId)!) || !sameAggregate(want, got.get(m.key.customerId)!);
    });
    await this.handBack(differ.map((m) => m.key.customerId), `table ${table}: its rows differ between the cells under the fence`);
    if (this.members.length === 0) return;
    const last = this.members[0]!.loaded.tables.every((o) => o.table === table || o.checked);
    const records: BatchRecord[] = this.members.map((m) => {
      const a = got.get(m.key.customerId)!;
      return { customerId: m.key.customerId, tables: [{ table, fields: { checked: true, targetRows: a.rows, targetChecksum: a.checksum, phase: 'Verify' } }] };
    });
    await this.record(last ? { to: 'CutOver', at: this.host.now(), unlessAborted: true } : {}, records);
  }

  private async cutOver(): Promise<void> {
    const { from, to } = this.cells;
    await this.lockstep((m) => m.loaded.move.reservedCell ?? '');
    const reserved = this.members[0]!.loaded.move.reservedCell;
    const at = this.host.now();
    const cleanupAfter = new Date(at.getTime() + this.host.settings.retentionMs);
    const members = this.members.map((m) => {
      if (m.loaded.move.sourceEpoch === null) throw new Error('a move reached the cut-over without a source epoch');
      return { customerId: m.key.customerId, epoch: m.loaded.move.sourceEpoch };
    });
    const report = await inTransaction(
      this.cp,
      async () => {
        // The store's lock order: the routing lock (with the BEGIN), cells, placement rows.
        await releaseCapacity(this.cp, reserved, members.length);
        const moved = await cutOverPlacements(this.cp, from, to, members);
        const changed = members.filter((m) => !moved.has(m.customerId)).map((m) => m.customerId);
        if (changed.length > 0) throw new MembersOut(changed, 'its placement changed under the fence'); // rolled back: the single path refuses it
        const records = this.members.map((m) => ({ customerId: m.key.customerId, journal: { cutOverAt: at, cleanupAfter, reservedCell: null } satisfies JournalFields }));
        return this.recordInTransaction({ to: 'Cleanup', at }, records);
      },
      BEGIN_ROUTING_WRITES,
    );
    report();
    for (const m of this.members) if (m.loaded.move.fencedAt) this.host.metrics?.fenceSeconds.observe((at.getTime() - m.loaded.move.fencedAt.getTime()) / 1000);
    // Open the target now rather than at the next step (as the single cut-over does); a failure leaves it to the next step.
    this.members = await this.reload();
    try {
      await this.openTarget();
    } catch (err) {
      this.log.warn({ err: errorMessage(err) }, 'could not open the target database to the batch yet; retrying');
    }
  }

  private async openTarget(): Promise<void> {
    const { source, target } = await this.pools();
    const migration = this.members[0]!.key.migration;
    const owners = this.owners();
    const customers = this.customers();
    await Promise.all([
      changeFences(source, { owners, drainMs: MARK_DRAIN_MS, set: { customers, migration, role: 'MovedOut' } }),
      changeFences(target, { owners, lift: { customers, migration } }),
    ]);
    const records: BatchRecord[] = this.members.map((m) => ({
      customerId: m.key.customerId,
      tables: m.loaded.tables.filter((t) => t.phase === 'Verify').map((t) => ({ table: t.table, fields: { phase: 'Cleanup' } })),
    }));
    await this.record({}, records);
  }

  private async sweep(table: string): Promise<void> {
    const { source } = await this.pools();
    const unchecked = (m: Member) => m.loaded.tables.filter((o) => !o.sweepStarted).map((o) => o.table);
    await this.lockstep((m) => unchecked(m).join(','));
    await this.lockstep((m) => this.table(m, table).swept);
    // Every table checked before the first row is deleted: the source holds exactly what was verified
    // under the fence. A member whose source changed goes alone: the single path stops it there.
    const tables = unchecked(this.members[0]!);
    if (tables.length > 0) {
      const changed = new Set<string>();
      for (const name of tables) {
        const plan = await this.tablePlan(name);
        const now = await aggregateMany(source, plan, this.customers());
        for (const m of this.members) {
          const o = this.table(m, name);
          const prefix: Aggregate = o.verifiedRows === null ? EMPTY_AGGREGATE : { rows: o.verifiedRows, checksum: o.verifiedChecksum ?? '0' };
          const then = combineAggregates(prefix, { rows: o.sourceRows ?? 0, checksum: o.sourceChecksum ?? '0' });
          if (!sameAggregate(now.get(m.key.customerId)!, then)) changed.add(m.key.customerId);
        }
      }
      await this.handBack([...changed], 'its source rows changed after the cut-over');
      if (this.members.length === 0) return;
      await this.record({}, this.members.map((m) => ({ customerId: m.key.customerId, tables: tables.map((name) => ({ table: name, fields: { sweepStarted: true, phase: 'Cleanup' } })) })));
      this.members = await this.reload();
      if (this.members.length === 0) return;
    }
    const plan = await this.tablePlan(table);
    const customers = this.customers();
    const n = await deleteMany(source, plan, customers, this.writer());
    await this.takeRows(n);
    await this.points('after-target-commit', { kind: 'Sweep', table });
    const left = await countUpToMany(source, plan, customers, 1);
    const done = this.members.filter((m) => (left.get(m.key.customerId) ?? 0) === 0);
    await this.record({}, done.map((m) => ({ customerId: m.key.customerId, tables: [{ table, fields: { sweepStarted: true, phase: 'Cleanup', swept: true } }] })));
    // Rows that came back (a writer past the fence): another pass, alone.
    await this.handBack(this.members.filter((m) => !done.includes(m)).map((m) => m.key.customerId), 'rows left in the source after its sweep');
  }

  private async finishDone(): Promise<void> {
    await this.lockstep((m) => m.loaded.move.state === 'Cleanup' && m.loaded.move.reservedCell === null);
    if (this.members[0]!.loaded.move.state !== 'Cleanup' || this.members[0]!.loaded.move.reservedCell !== null) throw new Error('only a finish after the cut-over is batched');
    const { target } = await this.pools();
    // The source keeps refusing as moved out; the target stops refusing.
    await changeFences(target, { owners: this.owners(), lift: { customers: this.customers(), migration: this.members[0]!.key.migration } });
    const at = this.host.now();
    await this.record({ to: 'Done', at }, this.members.map((m) => ({ customerId: m.key.customerId, journal: { finishedAt: at, reservedCell: null } satisfies JournalFields })));
  }
}
