// The Migration reconciler: cordons the source of a drain, freezes the selection, asks the pure
// decider what to do, starts and aborts customer moves in the journal, drives the moves in flight
// for a bounded time (the engine resumes each exactly where its journal says), and writes the
// status. Each reconcile of a busy migration is short and requeues itself, so a new leader picks
// the work up where it stood.
//
// The cordon of a drain (`customers: {all: true}`) lives in the control-plane database
// (cells.cordoned_by), never in the Cell's spec, which belongs to Git. It is taken before the
// selection is first frozen, so every customer placed before it is selected and placement sends
// every later one elsewhere; customers that still arrive (a cut-over of another migration into the
// source, an abort moving customers back) are added to the selection on each reconcile. It is
// lifted when the drain is aborted, or when the Migration is deleted (the finalizer's last step).
// After Succeeded (or Failed) it stays while the Migration exists: the emptied cell is about to be
// removed, so delete the Cell (or set its spec.state) before deleting the Migration.
import type { Pool } from 'pg';
import type { KafkaDrainOptions } from '../../data/kafka-drain.js';
import type { Registry } from 'prom-client';
import { parseDuration } from '../../crds/kube-types.js';
import { DEFAULT_MAX_CONCURRENT, DEFAULT_MOVE_BATCH, type Migration, type MigrationStatus } from '../../crds/migration.js';
import { MIGRATION_RESOURCE } from '../../crds/resources.js';
import { MoveEngine } from '../../data/move-engine.js';
import { runMoves } from '../../data/move-pool.js';
import { freshMove, type MoveKey } from '../../data/move-state.js';
import type { Logger } from '../../log.js';
import { addFinalizer, isBeingDeleted, removeFinalizer } from '../../runtime/finalizers.js';
import type { Informer } from '../../runtime/informer.js';
import { kubeTime } from '../../runtime/kube-time.js';
import { writeStatus } from '../../runtime/status.js';
import type { ReconcileResult } from '../../runtime/work-queue.js';
import { cordonCell, getCell, releaseCordons } from '../../store/cells.js';
import type { CellPools } from '../../data/cell-pools.js';
import { archiveMigration } from '../../store/migration-archive.js';
import { decideMigration, retryProblem, type CellFacts } from './migration-decision.js';
import { leftoverStatus, planAdmission, planDeletion, planLeftovers, requeueAfter, sourceAfterCordon, type CordonPlan, type LeftoverPlan } from './migration-plan.js';
import { listFailedMoves, listOpenMoves, meanMoveMs, shortenRetention } from '../../store/migration-journal.js';
import { freezeSelection, readSelectionFacts } from '../../store/migration-selection.js';
import { readStepRecord, saveStepRecord, sameStepRecord, type StepRecord } from '../../store/migration-steps.js';
import { dateClock } from '../../runtime/clock.js';
import type { ReconcilerDeps } from '../reconciler-deps.js';

/** Keeps a Migration until none of its moves is unfinished, so no customer is left fenced or half-copied. */
export const MIGRATION_FINALIZER = 'cells.platform.io/migration-protection';

/** The spec's defaults, for finishing the moves of a Migration that is gone (its own spec is gone with it). */
const GONE_SETTINGS = { drainWait: '2s', maxFence: '60s', retention: '24h', maxConcurrent: DEFAULT_MAX_CONCURRENT, batchSize: DEFAULT_MOVE_BATCH } as const;

/** How long one reconcile drives the moves in flight before it writes status and requeues. */
const DRIVE_BUDGET_MS = 10_000;
/** Waits longer than this inside a move (the retention before cleanup) end the drive. */
const MAX_INLINE_WAIT_MS = 2_000;

export interface MigrationReconcilerDeps extends ReconcilerDeps {
  migrations: Informer<Migration>;
  cellPools: CellPools;
  /** Where the moves' metrics (rows copied, fence time, failures) go: the operator's /metrics. */
  registry?: Registry;
  /** The cells' Kafka for the drain under a move's fence (src/data/kafka-drain.ts); none: no drain. */
  kafka?: KafkaDrainOptions;
  log: Logger;
  /** Customers pinned by a CustomerPlacement's spec.cell (from its cache): a split never selects them. */
  pinnedCustomers?: () => ReadonlySet<string>;
}

export class MigrationReconciler {
  private readonly engines = new Map<string, { fingerprint: string; engine: MoveEngine }>();
  /** The spec.retention each Migration's waiting moves were last brought in line with (applyShorterRetention). */
  private readonly retentionsApplied = new Map<string, string>();
  private readonly now: () => Date;

  constructor(private readonly deps: MigrationReconcilerDeps) {
    this.now = dateClock(deps.clock);
  }

  private freezeOptions(spec: Migration['spec']): { pinned?: ReadonlySet<string> } {
    return spec.customers.preferTarget && this.deps.pinnedCustomers ? { pinned: this.deps.pinnedCustomers() } : {};
  }

  /**
   * Read every fact, decide once, act in a fixed order: the cordon, the selection, the step
   * record, starts, aborts, the drive, the status. The selection must be frozen before it can be
   * counted, so the admission (cordon and freeze) is planned and acted on first.
   */
  async reconcile(key: string): Promise<ReconcileResult | void> {
    const migration = this.deps.migrations.get(key);
    if (!migration) {
      this.engines.delete(key);
      this.retentionsApplied.delete(key);
      // Normally done behind the finalizer; this catches a Migration whose finalizer was removed by hand.
      if (this.deps.store) return this.reconcileGone(this.deps.store, key);
      return;
    }
    const store = this.deps.store;
    if (!store) return this.writeNoControlPlane(migration);
    if (isBeingDeleted(migration)) return this.reconcileDeletion(migration, store);
    if (await addFinalizer(this.deps.client, MIGRATION_RESOURCE, migration, MIGRATION_FINALIZER)) return;

    const name = migration.metadata.name ?? key;
    const { spec } = migration;
    const engine = this.engineFor(migration);
    // Read: where this one stands, unless the record is an earlier namesake's (its finalizer removed by hand).
    let stored = await readStepRecord(store, name);
    const foreign = stored?.uid && migration.metadata.uid && stored.uid !== migration.metadata.uid;
    const leftovers = foreign ? planLeftovers(name, migration.metadata.uid, stored?.uid, await engine.listOpenMoves(name), this.now()) : { kind: 'none' as const };
    if (leftovers.kind === 'wait') return this.finishLeftovers(migration, engine, leftovers);
    if (leftovers.kind === 'archive') {
      await archiveMigration(store, name, leftovers.uid);
      stored = undefined;
      await this.deps.events.normal(migration, 'EarlierMigrationArchived', `The records of an earlier Migration named ${name} (uid ${leftovers.uid}) are archived under ${name}@${leftovers.uid}; this one starts from nothing.`);
    }
    // This Migration's own moves only (an earlier namesake's leftovers were finished above).
    await this.applyShorterRetention(store, migration);
    // A failedBefore in the future is refused (Valid=False), not retried over and over.
    if (migration.spec.retry && !retryProblem(spec, this.now(), name)) await this.retryFailed(store, engine, migration);

    // Read: the cells, the other Migrations around the source.
    const [target, source] = await Promise.all([this.cellFacts(store, spec.to), this.cellFacts(store, spec.from)]);
    const inbound = spec.customers.all ? this.inboundMigrations(migration) : [];
    const holder = source?.cordonedBy && source.cordonedBy !== name ? this.deps.migrations.get(source.cordonedBy) : undefined;
    const admission = planAdmission({ name, spec, source, target, inbound, holderDrainsSource: holder !== undefined && holder.spec.from === spec.from && holder.spec.customers.all === true });

    // Act on the admission: the cordon first, then the selection.
    const held = await this.actOnCordon(store, migration, admission.cordon, source?.cordonedBy ?? null);
    const refused = admission.refused || (admission.cordon.kind === 'take' && !held);
    const missing = admission.freeze && !refused ? await freezeSelection(store, name, spec, this.freezeOptions(spec)) : [];

    // Read the selection and the journal, and decide.
    const [selection, summary, mean] = await Promise.all([
      readSelectionFacts(store, name, { targetRegion: target?.region, next: spec.maxConcurrent * (spec.batchSize ?? DEFAULT_MOVE_BATCH) }),
      engine.summarize(name),
      meanMoveMs(store, name),
    ]);
    const record = stored ?? recordFromStatus(migration.status);
    const decision = decideMigration({
      name,
      ...(migration.metadata.uid ? { uid: migration.metadata.uid } : {}),
      generation: migration.metadata.generation,
      spec,
      ...(record ? { record } : {}),
      ...(migration.status?.conditions ? { conditions: migration.status.conditions } : {}),
      selection,
      source: sourceAfterCordon(source, name, admission.cordon, held),
      target,
      failures: summary.latestFailures.map((f) => ({ customer: f.customerId, state: f.state, reason: f.reason, message: f.message, time: kubeTime(f.at) })),
      retrying: {
        total: summary.retrying.total,
        moves: summary.retrying.moves.map((m) => ({ customer: m.customerId, state: m.state, attempts: m.attempts, lastError: m.error, time: kubeTime(m.at) })),
      },
      rowsCopied: summary.rowsCopied,
      ...(mean !== undefined ? { meanMoveMs: mean } : {}),
      inbound,
      now: this.now(),
    });

    // Act: the step record before any move of its step starts, then starts, aborts, the drive, the status.
    if (!sameStepRecord(stored, decision.record)) await saveStepRecord(store, name, decision.record);
    const starts = await engine.startMoves(decision.start.map((customerId) => ({ migration: name, customerId, sourceCell: spec.from, targetCell: spec.to, step: decision.record.step })));
    for (const [i, started] of starts.entries()) {
      if (!started.ok) await this.deps.events.warning(migration, started.reason, `Customer ${decision.start[i]}: ${started.message}`);
    }
    if (decision.abort) await this.requestAborts(engine, name);
    const driven = await this.drive(engine, name, spec.maxConcurrent);
    const status = missing.length > 0 ? withMissingNote(decision.status, missing, spec.from) : decision.status;
    await this.writeStatusWithEvents(migration, status);

    const nextCleanupAt = driven > 0 || refused || decision.requeueAfterMs !== undefined ? undefined : await engine.nextCleanupAt(name);
    const after = requeueAfter({ driven, refused, ...(decision.requeueAfterMs !== undefined ? { decided: decision.requeueAfterMs } : {}), ...(nextCleanupAt ? { nextCleanupAt } : {}), now: this.now() });
    return after === undefined ? undefined : { requeueAfter: after };
  }

  /** Deletion stops new moves, rolls back those before their cut-over, and waits for the rest to finish. */
  private async reconcileDeletion(migration: Migration, store: Pool): Promise<ReconcileResult | void> {
    const name = migration.metadata.name ?? '';
    const engine = this.engineFor(migration);
    const plan = planDeletion(await engine.listOpenMoves(name), this.now());
    if (plan.kind === 'wait') {
      for (const key of plan.abort) await engine.abortMove(key);
      await this.drive(engine, name, migration.spec.maxConcurrent);
      await writeStatus(this.deps.client, MIGRATION_RESOURCE, migration, { ...migration.status, message: plan.message });
      return { requeueAfter: plan.requeueAfterMs };
    }
    // Kept for the record, under <name>@<uid>: a new Migration of this name starts from nothing.
    await archiveMigration(store, name, migration.metadata.uid ?? 'unknown-uid');
    await this.release(store, name, migration);
    this.engines.delete(name);
    this.retentionsApplied.delete(name);
    await removeFinalizer(this.deps.client, MIGRATION_RESOURCE, migration, MIGRATION_FINALIZER);
  }

  /**
   * A Migration whose finalizer was removed by hand: lift its cordon, finish its open moves as its
   * deletion would have (none may stay fenced), then archive its rows, so that a new Migration of the
   * same name starts from nothing. Looks again while moves are open (planLeftovers does the same
   * from a new namesake, should this operator restart in between).
   */
  private async reconcileGone(store: Pool, name: string): Promise<ReconcileResult | void> {
    await this.release(store, name);
    const [record, open] = await Promise.all([readStepRecord(store, name), listOpenMoves(store, name)]);
    if (!record && open.length === 0) return; // the usual case: archived behind the finalizer
    const plan = planDeletion(open, this.now());
    if (plan.kind === 'wait') {
      // Not kept in this.engines: nothing reconciles this name once its moves have ended.
      const engine = this.newEngine(name, GONE_SETTINGS);
      for (const key of plan.abort) await engine.abortMove(key);
      await this.drive(engine, name, GONE_SETTINGS.maxConcurrent);
      this.deps.log.warn({ migration: name, open: open.length }, `Migration deleted with its finalizer removed by hand: finishing its open moves. ${plan.message}`);
      return { requeueAfter: plan.requeueAfterMs };
    }
    const archived = await archiveMigration(store, name, record?.uid ?? `gone-${this.now().getTime()}`);
    this.deps.log.info({ migration: name, moves: archived.moves }, 'archived the records of a Migration deleted with its finalizer removed by hand');
  }

  /** Drives the open moves an earlier Migration of this name left, and says that this one waits for them. */
  private async finishLeftovers(migration: Migration, engine: MoveEngine, plan: Extract<LeftoverPlan, { kind: 'wait' }>): Promise<ReconcileResult> {
    const name = migration.metadata.name ?? '';
    for (const key of plan.abort) await engine.abortMove(key);
    await this.drive(engine, name, migration.spec.maxConcurrent);
    await this.writeStatusWithEvents(migration, leftoverStatus(migration.status, migration.metadata.generation, plan.message, this.now()));
    return { requeueAfter: plan.requeueAfterMs };
  }

  /**
   * Once per retention seen (and once after a start): a shorter spec.retention brings forward the
   * cleanup of the moves already waiting for it (shortenRetention), with an event naming how many.
   */
  private async applyShorterRetention(store: Pool, migration: Migration): Promise<void> {
    const name = migration.metadata.name ?? '';
    const { retention } = migration.spec;
    if (this.retentionsApplied.get(name) === retention) return;
    const sooner = await shortenRetention(store, name, parseDuration(retention));
    this.retentionsApplied.set(name, retention);
    if (sooner.length > 0) {
      await this.deps.events.normal(migration, 'RetentionShortened', `spec.retention is now ${retention}: ${sooner.length} moved customer(s) waiting for their cleanup (${sooner.slice(0, 3).join(', ')}${sooner.length > 3 ? ', …' : ''}) are cleaned up ${retention} after their cut-over.`);
    }
  }

  /** One engine per Migration: its drain wait, fence bound, retention and rate limit come from the spec. */
  private engineFor(migration: Migration): MoveEngine {
    const name = migration.metadata.name ?? '';
    const { drainWait, maxFence, retention, rateLimit, batchSize } = migration.spec;
    const fingerprint = JSON.stringify([drainWait, maxFence, retention, rateLimit, batchSize]);
    const cached = this.engines.get(name);
    if (cached?.fingerprint === fingerprint) return cached.engine;
    const engine = this.newEngine(name, migration.spec);
    this.engines.set(name, { fingerprint, engine });
    return engine;
  }

  private newEngine(name: string, { drainWait, maxFence, retention, rateLimit, batchSize }: Pick<Migration['spec'], 'drainWait' | 'maxFence' | 'retention' | 'rateLimit' | 'batchSize'>): MoveEngine {
    return new MoveEngine({
      controlPlane: this.deps.store as Pool,
      cells: (cell) => this.deps.cellPools.database(cell),
      settings: {
        drainWaitMs: parseDuration(drainWait),
        maxFenceMs: parseDuration(maxFence),
        retentionMs: parseDuration(retention),
        batchSize: batchSize ?? DEFAULT_MOVE_BATCH,
        ...(this.deps.kafka?.maxDrainMs !== undefined ? { maxKafkaDrainMs: this.deps.kafka.maxDrainMs } : {}),
      },
      ...(rateLimit ? { rowsPerSecond: rateLimit.rowsPerSecond } : {}),
      ...(this.deps.registry ? { registry: this.deps.registry } : {}),
      ...(this.deps.kafka ? { kafka: this.deps.kafka } : {}),
      log: this.deps.log.child({ migration: name }),
    });
  }

  private async cellFacts(store: Pool, name: string): Promise<CellFacts | undefined> {
    const row = await getCell(store, name);
    if (!row) return undefined;
    return {
      name: row.name,
      region: row.region,
      ready: row.ready,
      freeCapacity: Math.max(0, row.maxCustomers - row.customers - row.reserved),
      cordonedBy: row.cordonedBy,
      state: row.state,
      weight: row.weight,
    };
  }

  /**
   * Takes, takes over or lifts the source's cordon as planned. True when this Migration holds the
   * cordon afterwards (or the source is not in the table: nothing to hold). A take that loses a
   * race to another drain comes back false: the drain waits, as if refused.
   */
  private async actOnCordon(store: Pool, migration: Migration, cordon: CordonPlan, before: string | null): Promise<boolean> {
    const name = migration.metadata.name ?? '';
    const from = migration.spec.from;
    if (cordon.kind === 'release') {
      await this.release(store, name, migration);
      return false;
    }
    if (cordon.kind === 'keep') return before === name;
    if (cordon.replacing) this.deps.log.warn({ migration: name, cell: from, holder: cordon.replacing }, 'taking over a stale cordon: its Migration no longer drains the cell');
    const result = await cordonCell(store, from, name, cordon.replacing ? { replacing: cordon.replacing } : {});
    if (result.cordoned && result.taken) {
      await this.deps.events.normal(migration, 'SourceCordoned', `Cell ${from} is cordoned: no new customer lands there while it drains.`);
    }
    return result.cordoned || result.reason === 'UnknownCell';
  }

  /** Other Migrations that are still moving customers into this one's source cell. */
  private inboundMigrations(migration: Migration): string[] {
    const over = new Set(['Succeeded', 'Failed', 'Aborted']);
    return this.deps.migrations
      .list()
      .filter((m) => m.metadata.name !== migration.metadata.name && m.spec.to === migration.spec.from && !m.spec.abort && !over.has(m.status?.phase ?? ''))
      .map((m) => m.metadata.name ?? '')
      .sort();
  }

  /** Lifts the cordon this Migration holds, if any. */
  private async release(store: Pool, name: string, migration?: Migration): Promise<void> {
    const opened = await releaseCordons(store, name);
    if (opened.length === 0) return;
    this.deps.log.info({ migration: name, cells: opened }, 'cordon lifted');
    if (migration) await this.deps.events.normal(migration, 'CordonLifted', `Cell ${opened.join(', ')} takes new customers again.`);
  }

  /** spec.retry: the moves that failed before failedBefore (of the listed customers) start again from Pending. */
  private async retryFailed(store: Pool, engine: MoveEngine, migration: Migration): Promise<void> {
    const { failedBefore, customers } = migration.spec.retry!;
    for (const key of await listFailedMoves(store, migration.metadata.name ?? '', new Date(failedBefore), customers)) {
      const result = await engine.retryMove(key);
      if (result.ok) await this.deps.events.normal(migration, 'MoveRetried', `Customer ${key.customerId} moves again (spec.retry).`);
      else await this.deps.events.warning(migration, result.reason, `Customer ${key.customerId} was not retried: ${result.message}`);
    }
  }

  private async requestAborts(engine: MoveEngine, name: string): Promise<void> {
    for (const m of await engine.listOpenMoves(name)) {
      if (!m.abortRequestedAt) await engine.abortMove(m);
    }
  }

  /**
   * Runs the moves that have work now (unfinished, not waiting for their cleanup) for a bounded
   * time. Returns how many it drove.
   */
  private async drive(engine: MoveEngine, name: string, concurrency: number): Promise<number> {
    const due = await engine.listOpenMoves(name, { dueAt: this.now() });
    if (due.length === 0) return 0;
    const keys: MoveKey[] = due.map((m) => ({ migration: m.migration, customerId: m.customerId }));
    // Moves under way (resumed after a restart, reversed, asked to abort) run alone: a batch takes
    // only fresh ones, so they are not cut into the fresh ones' batches.
    const underWay = new Set(due.filter((m) => !freshMove(m)).map((m) => m.customerId));
    const results = await runMoves(engine, keys, {
      concurrency,
      signal: AbortSignal.timeout(DRIVE_BUDGET_MS),
      maxWaitMs: MAX_INLINE_WAIT_MS,
      alone: (k) => underWay.has(k.customerId),
    });
    for (const r of results) {
      if (r?.outcome === 'GaveUp' && r.lastError) this.deps.log.warn({ migration: name, customer: r.move?.customerId, error: r.lastError }, 'a move keeps failing; it stays resumable');
    }
    return due.length;
  }

  private async writeNoControlPlane(migration: Migration): Promise<void> {
    const message = 'The operator runs without a control-plane database (--database-url): no customer can be moved.';
    await writeStatus(this.deps.client, MIGRATION_RESOURCE, migration, { ...migration.status, phase: 'Pending', message });
  }

  private async writeStatusWithEvents(migration: Migration, status: MigrationStatus): Promise<void> {
    const before = migration.status;
    if ((await writeStatus(this.deps.client, MIGRATION_RESOURCE, migration, status)) !== 'written') return;
    const obj = migration;
    if (before?.currentStep !== status.currentStep && status.currentStep !== undefined) {
      await this.deps.events.normal(obj, 'StepStarted', `Step ${status.currentStep}: ${status.message ?? ''}`);
    }
    if (before?.phase !== status.phase) {
      const note = status.message ?? `phase ${status.phase}`;
      if (status.phase === 'Failed') await this.deps.events.warning(obj, 'MigrationFailed', note);
      else await this.deps.events.normal(obj, `Migration${status.phase}`, note);
    }
  }
}

/**
 * Where a Migration stood before the operator kept its step in the control-plane database (an
 * upgrade in the middle of a migration): read from its status once, then never again.
 */
function recordFromStatus(status: MigrationStatus | undefined): StepRecord | undefined {
  if (status?.currentStep === undefined) return undefined;
  const at = (t: string | undefined): Date | null => (t ? new Date(t) : null);
  return {
    step: status.currentStep,
    stepStartedAt: at(status.currentStepStartedAt) ?? new Date(0),
    phase: status.phase ?? null,
    startedAt: at(status.startedAt),
    completedAt: at(status.completedAt),
  };
}

function withMissingNote(status: MigrationStatus, missing: string[], from: string): MigrationStatus {
  const names = missing.slice(0, 5).join(', ') + (missing.length > 5 ? ` and ${missing.length - 5} more` : '');
  return { ...status, message: `${status.message ?? ''} Not in cell ${from}, so not moved: ${names}.`.trim() };
}
