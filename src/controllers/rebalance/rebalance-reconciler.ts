// The CellRebalancePolicy reconciler, a thin shell: reads the cells in scope (store/cells.ts), samples
// their sizes when the goal is measured and the last sample is older than spec.sampleInterval
// (data/customer-size-sampler.ts → store/customer-sizes.ts), reads their customers with sizes and
// the pins, asks the pure proposal and decider, applies the Migrations it asks for, writes status.
import type { Pool } from 'pg';
import type { CellRebalancePolicy } from '../../crds/cell-rebalance-policy.js';
import type { CustomerPlacement } from '../../crds/customer-placement.js';
import type { Migration } from '../../crds/migration.js';
import { CELL_REBALANCE_POLICY_RESOURCE, MIGRATION_RESOURCE } from '../../crds/resources.js';
import type { CellDatabases } from '../../data/table-plans.js';
import { sampleCellSizes, DEFAULT_SAMPLE_OPTIONS, type SampleOptions } from '../../data/customer-size-sampler.js';
import type { Logger } from '../../log.js';
import type { Applier } from '../../runtime/apply.js';
import type { Informer } from '../../runtime/informer.js';
import { writeStatus } from '../../runtime/status.js';
import type { ReconcileResult } from '../../runtime/work-queue.js';
import { listCells, type CellRow } from '../../store/cells.js';
import { readCellSamples, readSizedCustomers, recordCellSample } from '../../store/customer-sizes.js';
import { decideRebalance, LABEL_REBALANCE_POLICY, LABEL_REBALANCE_PROPOSAL, sampleIntervalMs, type MigrationView, type RebalanceFacts } from './rebalance-decision.js';
import { proposeRebalance, type RebalanceCustomer } from './rebalance-proposal.js';
import { dateClock } from '../../runtime/clock.js';
import type { ReconcilerDeps } from '../reconciler-deps.js';

export interface RebalanceReconcilerDeps extends ReconcilerDeps {
  policies: Informer<CellRebalancePolicy>;
  migrations: Informer<Migration>;
  placements: Informer<CustomerPlacement>;
  applier: Applier;
  /** The cells' databases, for sampling sizes. */
  cells: CellDatabases;
  sampleOptions?: SampleOptions;
  log: Logger;
}

/** The cells a policy balances: those of its region, or those it lists (both: the listed ones in the region). */
export function cellsInScope(policy: CellRebalancePolicy, cells: readonly CellRow[]): CellRow[] {
  const { region, cells: names } = policy.spec;
  return cells.filter((c) => (region === undefined || c.region === region) && (names === undefined || names.includes(c.name)));
}

const isFinished = (m: MigrationView) => m.phase === 'Succeeded' || m.phase === 'Failed' || m.phase === 'Aborted';

export function migrationView(m: Migration): MigrationView {
  const labels = m.metadata.labels ?? {};
  const created = m.metadata.creationTimestamp;
  return {
    name: m.metadata.name ?? '',
    from: m.spec.from,
    to: m.spec.to,
    ...(m.status?.phase ? { phase: m.status.phase } : {}),
    ...(labels[LABEL_REBALANCE_POLICY] ? { policy: labels[LABEL_REBALANCE_POLICY] } : {}),
    ...(labels[LABEL_REBALANCE_PROPOSAL] ? { proposal: labels[LABEL_REBALANCE_PROPOSAL] } : {}),
    ...(created ? { createdAt: new Date(created) } : {}),
    customers: m.spec.customers.names?.length ?? 0,
  };
}

export class RebalanceReconciler {
  private readonly now: () => Date;

  constructor(private readonly deps: RebalanceReconcilerDeps) {
    this.now = dateClock(deps.clock);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const policy = this.deps.policies.get(key);
    if (!policy || policy.metadata.deletionTimestamp) return; // its Migrations go on: they are not owned
    const name = policy.metadata.name ?? key;
    const now = this.now();
    const facts: RebalanceFacts = {
      name,
      ...(policy.metadata.generation !== undefined ? { generation: policy.metadata.generation } : {}),
      spec: policy.spec,
      ...(policy.status?.conditions ? { conditions: policy.status.conditions } : {}),
      cells: [],
      migrations: this.deps.migrations.list().map(migrationView),
      now,
    };
    const store = this.deps.store;
    if (!store) {
      facts.waitingFor = { reason: 'NoControlPlane', message: 'The operator runs without a control-plane database (--database-url): nothing can be proposed.' };
    } else {
      await this.readProposal(store, policy, facts);
    }
    const decision = decideRebalance(facts);
    for (const m of decision.create) await this.deps.applier.apply(MIGRATION_RESOURCE, m);
    const written = await writeStatus(this.deps.client, CELL_REBALANCE_POLICY_RESOURCE, policy, decision.status);
    if (written === 'written' && decision.event) {
      if (decision.event.type === 'Warning') await this.deps.events.warning(policy, decision.event.reason, decision.event.message);
      else await this.deps.events.normal(policy, decision.event.reason, decision.event.message);
    }
    return { requeueAfter: decision.requeueAfterMs };
  }

  /** Fills the scope, the samples and the proposal into `facts` (or what it waits for). */
  private async readProposal(store: Pool, policy: CellRebalancePolicy, facts: RebalanceFacts): Promise<void> {
    const { spec } = policy;
    const scope = cellsInScope(policy, await listCells(store));
    facts.cells = scope.map((c) => c.name);
    if (scope.length < 2) {
      facts.waitingFor = { reason: 'TooFewCells', message: `spec.region/spec.cells select ${scope.length} cell(s) known to the control plane: a rebalance needs two.` };
      return;
    }
    // While a Migration moves customers of these cells the decider waits: reading a million customers for it would be wasted.
    if (spec.suspend || facts.migrations.some((m) => !isFinished(m) && (m.policy === facts.name || facts.cells.includes(m.from) || facts.cells.includes(m.to)))) return;
    if (spec.goal.metric === 'Rows' || spec.goal.metric === 'Bytes') {
      const problems = await this.sampleStale(store, policy, facts.cells, facts.now);
      const samples = await readCellSamples(store, facts.cells);
      const times = [...samples.values()].map((s) => s.sampledAt.getTime());
      if (times.length > 0) facts.lastSampledAt = new Date(Math.min(...times));
      const missing = facts.cells.filter((c) => !samples.has(c));
      if (missing.length > 0) {
        facts.waitingFor = {
          reason: 'SamplingFailed',
          message: `No size sample yet of ${missing.join(', ')}${problems.length > 0 ? `: ${problems.join('; ')}` : ''}. Check that the operator reaches the cells' databases.`,
        };
        return;
      }
    }
    const pinned = new Set(this.deps.placements.list().flatMap((p) => (p.spec.cell ? [p.metadata.name ?? ''] : [])));
    const customers: RebalanceCustomer[] = (await readSizedCustomers(store, facts.cells)).map((c) => ({ ...c, pinned: pinned.has(c.id) }));
    facts.proposal = proposeRebalance(scope, customers, {
      metric: spec.goal.metric,
      maxSkewPercent: spec.goal.maxSkewPercent,
      maxMoves: spec.limits.maxMovesPerHour,
      minCustomersPerCell: spec.limits.minCustomersPerCell,
    });
  }

  /** Samples the cells whose last sample is older than spec.sampleInterval, one at a time; returns the failures. */
  private async sampleStale(store: Pool, policy: CellRebalancePolicy, cells: readonly string[], now: Date): Promise<string[]> {
    const samples = await readCellSamples(store, cells);
    const interval = sampleIntervalMs(policy.spec);
    const problems: string[] = [];
    for (const cell of cells) {
      const last = samples.get(cell);
      if (last && now.getTime() - last.sampledAt.getTime() < interval) continue;
      const started = Date.now();
      try {
        const db = await this.deps.cells(cell);
        const sizes = await sampleCellSizes(db, this.deps.sampleOptions ?? DEFAULT_SAMPLE_OPTIONS);
        await recordCellSample(
          store,
          { cell, sampledAt: now, customers: sizes.sizes.length, rows: sizes.rows, bytes: sizes.bytes, exact: sizes.exact, tables: sizes.tables, durationMs: Date.now() - started },
          sizes.sizes,
        );
        this.deps.log.info({ policy: policy.metadata.name, cell, customers: sizes.sizes.length, rows: sizes.rows, exact: sizes.exact, ms: Date.now() - started }, 'sampled customer sizes');
      } catch (err) {
        const message = err instanceof Error ? err.message : String(err);
        problems.push(`${cell}: ${message}`);
        this.deps.log.warn({ policy: policy.metadata.name, cell, err: message }, 'sampling customer sizes failed');
      }
    }
    return problems;
  }
}
