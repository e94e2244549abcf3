// The CellRebalancePolicy decider: from the policy, the proposal, the Migrations around its cells
// and the time, it decides whether to start the proposal's Migrations now, and the status. Pure.
// Order of the gates: suspended → its own Migrations still running (follow them) → one of them
// failed (stall, name it) → other Migrations on these cells (wait: never fight a running move) →
// sampling → nothing to move → quiet hours → the hourly limit → approval → start.
import { API_VERSION, LABEL_MANAGED_BY, MANAGED_BY } from '../../crds/group.js';
import {
  REBALANCE_CONDITIONS,
  type CellRebalancePolicySpec,
  type CellRebalancePolicyStatus,
  type RebalancePhase,
} from '../../crds/cell-rebalance-policy.js';
import { parseDuration } from '../../crds/kube-types.js';
import type { Migration, MigrationPhase, MigrationSpecInput } from '../../crds/migration.js';
import { kstatusConditions, replaceConditions, type Condition, type ConditionInput, type Verdict } from '../../runtime/conditions.js';
import { kubeTime } from '../../runtime/kube-time.js';
import type { Proposal } from './rebalance-proposal.js';

export const LABEL_REBALANCE_POLICY = 'cells.platform.io/rebalance-policy';
export const LABEL_REBALANCE_PROPOSAL = 'cells.platform.io/rebalance-proposal';

/** How often a policy looks again with nothing happening (loads drift; samples age). */
export const IDLE_REQUEUE_MS = 5 * 60_000;
/** How often while its Migrations run or it waits for others. */
export const BUSY_REQUEUE_MS = 15_000;
const HOUR_MS = 3_600_000;

/** A Migration as the decider sees it. */
export interface MigrationView {
  name: string;
  from: string;
  to: string;
  phase?: MigrationPhase;
  /** labels[LABEL_REBALANCE_POLICY]; undefined: made by someone else. */
  policy?: string;
  proposal?: string;
  createdAt?: Date;
  /** Customers it selected by name (a rebalance names them); 0 when unknown. */
  customers: number;
}

export interface RebalanceFacts {
  name: string;
  generation?: number;
  spec: CellRebalancePolicySpec;
  conditions?: readonly Condition[];
  /** Cells in scope (after region and cells). */
  cells: readonly string[];
  /** Undefined when it could not be computed (see waitingFor). */
  proposal?: Proposal;
  /** Every Migration from or to a cell in scope, and every one this policy made. */
  migrations: readonly MigrationView[];
  /** Something the proposal waits for (sizes not sampled yet, no control plane), as a reason and sentence. */
  waitingFor?: { reason: string; message: string };
  lastSampledAt?: Date;
  now: Date;
}

/** A Migration as the policy applies it: only the fields it sets (the API server defaults the rest). */
export type DesiredMigration = Omit<Migration, 'spec' | 'status'> & { spec: MigrationSpecInput };

export interface RebalanceDecision {
  status: CellRebalancePolicyStatus;
  /** Migrations to create now (server-side apply). */
  create: DesiredMigration[];
  requeueAfterMs: number;
  /** An event to record when the status changes (once). */
  event?: { type: 'Normal' | 'Warning'; reason: string; message: string };
}

const TERMINAL: ReadonlySet<MigrationPhase | undefined> = new Set(['Succeeded', 'Failed', 'Aborted']);

/** Minutes since midnight UTC of `HH:MM`. */
function minutes(clock: string): number {
  const [h, m] = clock.split(':').map(Number);
  return (h as number) * 60 + (m as number);
}

/** The quiet window `now` falls in, if any (a window with end before start runs over midnight). */
export function quietWindow(spec: CellRebalancePolicySpec, now: Date): { start: string; end: string } | undefined {
  const t = now.getUTCHours() * 60 + now.getUTCMinutes();
  for (const q of spec.limits.quietHours ?? []) {
    const s = minutes(q.start);
    const e = minutes(q.end);
    if (s < e ? t >= s && t < e : t >= s || t < e) return q;
  }
  return undefined;
}

/** The Migrations that run a proposal: one per (from, to), naming its customers, canary first. */
export function proposalMigrations(policy: string, spec: CellRebalancePolicySpec, proposal: Proposal): DesiredMigration[] {
  const pairs = new Map<string, { from: string; to: string; customers: string[] }>();
  for (const m of proposal.moves) {
    const key = `${m.from}\u0000${m.to}`;
    let pair = pairs.get(key);
    if (!pair) pairs.set(key, (pair = { from: m.from, to: m.to, customers: [] }));
    pair.customers.push(m.customer);
  }
  return [...pairs.values()].map((pair, k) => {
    const migration: MigrationSpecInput = {
      from: pair.from,
      to: pair.to,
      customers: { names: pair.customers },
      order: 'SmallestFirst',
      steps: [{ move: 1 }, { pause: { duration: spec.canaryPause } }, { move: '100%' }],
      ...(spec.limits.rowsPerSecond ? { rateLimit: { rowsPerSecond: spec.limits.rowsPerSecond } } : {}),
    };
    return {
      apiVersion: API_VERSION,
      kind: 'Migration',
      metadata: {
        name: `${policy}-${proposal.id.slice(0, 8)}-${k}`,
        labels: { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_REBALANCE_POLICY]: policy, [LABEL_REBALANCE_PROPOSAL]: proposal.id },
      },
      spec: migration,
    };
  });
}

function proposalStatus(p: Proposal | undefined): CellRebalancePolicyStatus['proposal'] {
  if (!p || p.moves.length === 0) return undefined;
  return {
    id: p.id,
    metric: p.metric,
    skewBeforePercent: p.skewBefore,
    skewAfterPercent: p.skewAfter,
    reachesGoal: p.reachesGoal,
    moves: p.moves.map((m) => ({ customer: m.customer, from: m.from, to: m.to, size: m.size, why: m.why.slice(0, 256) })),
    cells: p.cells.map((c) => ({ cell: c.cell, load: c.load, share: c.share, after: c.after })),
  };
}

export function decideRebalance(f: RebalanceFacts): RebalanceDecision {
  const { spec, now } = f;
  const ours = f.migrations.filter((m) => m.policy === f.name);
  const running = ours.filter((m) => !TERMINAL.has(m.phase));
  const failed = ours.filter((m) => m.phase === 'Failed');
  const scope = new Set(f.cells);
  const others = f.migrations.filter((m) => m.policy !== f.name && !TERMINAL.has(m.phase) && (scope.has(m.from) || scope.has(m.to)));

  let phase: RebalancePhase;
  let ready: ConditionInput;
  let proposed: ConditionInput = { type: REBALANCE_CONDITIONS.proposed, status: 'False', reason: 'NoProposal', message: 'No moves are proposed.' };
  let progressing: ConditionInput = { type: REBALANCE_CONDITIONS.progressing, status: 'False', reason: 'Idle', message: 'No Migration of this policy runs.' };
  let stalled: Verdict | undefined;
  let create: DesiredMigration[] = [];
  let requeueAfterMs = IDLE_REQUEUE_MS;
  let event: RebalanceDecision['event'];
  let executing: string | undefined;
  let migrations: string[] | undefined;
  const p = f.proposal;
  const hasMoves = p !== undefined && p.moves.length > 0;
  if (hasMoves) {
    proposed = {
      type: REBALANCE_CONDITIONS.proposed,
      status: 'True',
      reason: spec.approval === 'Automatic' ? 'AutoApproved' : spec.approve === p.id ? 'Approved' : 'AwaitingApproval',
      message: `Proposal ${p.id}: ${p.summary}.`,
    };
  }
  const waiting = (reason: string, message: string): ConditionInput => ({ type: REBALANCE_CONDITIONS.ready, status: 'True', reason, message });

  if (spec.suspend) {
    phase = 'Waiting';
    ready = waiting('Suspended', 'spec.suspend is true: nothing is proposed or started; set it to false to resume.');
  } else if (running.length > 0) {
    phase = 'Moving';
    executing = running[0]?.proposal;
    migrations = ours.filter((m) => m.proposal === executing).map((m) => m.name).sort();
    const list = running.map((m) => m.name).sort().join(', ');
    ready = { type: REBALANCE_CONDITIONS.ready, status: 'False', reason: 'Moving', message: `Migrations ${list} are moving customers of proposal ${executing ?? '?'}.` };
    progressing = { type: REBALANCE_CONDITIONS.progressing, status: 'True', reason: 'MigrationsRunning', message: `Following ${list}.` };
    requeueAfterMs = BUSY_REQUEUE_MS;
  } else if (failed.length > 0) {
    phase = 'Failed';
    const list = failed.map((m) => m.name).sort().join(', ');
    const message = `Migration ${list} failed: retry it (kubectl cells migration retry NAME) or delete it, then the policy proposes again.`;
    ready = { type: REBALANCE_CONDITIONS.ready, status: 'False', reason: 'MigrationFailed', message };
    stalled = { reason: 'MigrationFailed', message };
    event = { type: 'Warning', reason: 'MigrationFailed', message };
  } else if (others.length > 0) {
    phase = 'Waiting';
    const list = others.map((m) => m.name).sort().join(', ');
    ready = waiting('MigrationsRunning', `Waiting for Migrations ${list} on these cells to finish: a rebalance never fights a running move.`);
    requeueAfterMs = BUSY_REQUEUE_MS;
  } else if (f.waitingFor) {
    phase = 'Waiting';
    ready = waiting(f.waitingFor.reason, f.waitingFor.message);
    requeueAfterMs = BUSY_REQUEUE_MS;
  } else if (!hasMoves) {
    if (p && !p.reachesGoal) {
      phase = 'Waiting';
      ready = waiting('NoMovePossible', `${p.summary}: add capacity or a cell, raise a weight, or lower spec.limits.minCustomersPerCell.`);
    } else {
      phase = 'Balanced';
      ready = { type: REBALANCE_CONDITIONS.ready, status: 'True', reason: 'Balanced', message: `Balanced: ${p?.summary ?? 'no cells to balance'}.` };
    }
  } else {
    const quiet = quietWindow(spec, now);
    const lastHour = ours.filter((m) => m.createdAt && now.getTime() - m.createdAt.getTime() < HOUR_MS);
    const movedLastHour = lastHour.reduce((n, m) => n + m.customers, 0);
    const already = ours.some((m) => m.proposal === p.id);
    if (already) {
      phase = 'Waiting';
      ready = waiting('AlreadyRun', `Proposal ${p.id} already ran; it comes back while the measured sizes are older than the moves. The next sample (spec.sampleInterval) updates it.`);
    } else if (quiet) {
      phase = 'Proposed';
      ready = waiting('QuietHours', `Quiet hours ${quiet.start}-${quiet.end} UTC: proposal ${p.id} waits until ${quiet.end} UTC.`);
    } else if (movedLastHour > 0 && movedLastHour + p.moves.length > spec.limits.maxMovesPerHour) {
      phase = 'Proposed';
      const next = new Date(Math.min(...lastHour.map((m) => (m.createdAt as Date).getTime())) + HOUR_MS);
      ready = waiting('HourlyLimit', `${movedLastHour} customers moved in the last hour; proposal ${p.id} (${p.moves.length} moves) waits until ${kubeTime(next)} (spec.limits.maxMovesPerHour ${spec.limits.maxMovesPerHour}).`);
      requeueAfterMs = Math.max(1000, Math.min(IDLE_REQUEUE_MS, next.getTime() - now.getTime()));
    } else if (spec.approval === 'Manual' && spec.approve !== p.id) {
      phase = 'Proposed';
      ready = waiting(
        'AwaitingApproval',
        `Proposal ${p.id} (${p.moves.length} moves, skew ${p.skewBefore}% → ${p.skewAfter}%) waits for approval: kubectl cells rebalance approve ${f.name}, or set spec.approve: "${p.id}".`,
      );
      event = { type: 'Normal', reason: 'Proposed', message: `Proposal ${p.id}: ${p.summary}.` };
    } else {
      phase = 'Moving';
      create = proposalMigrations(f.name, spec, p);
      executing = p.id;
      migrations = create.map((m) => m.metadata.name as string);
      ready = { type: REBALANCE_CONDITIONS.ready, status: 'False', reason: 'Moving', message: `Starting Migrations ${migrations.join(', ')} for proposal ${p.id}.` };
      progressing = { type: REBALANCE_CONDITIONS.progressing, status: 'True', reason: 'MigrationsCreated', message: `Created ${migrations.join(', ')}.` };
      event = { type: 'Normal', reason: 'MigrationsCreated', message: `Proposal ${p.id} ${spec.approval === 'Automatic' ? 'auto-approved' : 'approved'}: created Migrations ${migrations.join(', ')}.` };
      requeueAfterMs = BUSY_REQUEUE_MS;
    }
  }

  const reconciling = progressing.status === 'True' ? { reason: progressing.reason, message: progressing.message } : undefined;
  const conditions = replaceConditions(f.conditions, [ready, proposed, progressing, ...kstatusConditions(stalled, reconciling)], now, f.generation);
  const proposal = proposalStatus(p);
  const status: CellRebalancePolicyStatus = {
    phase,
    ...(f.generation !== undefined ? { observedGeneration: f.generation } : {}),
    ...(proposal ? { proposal } : {}),
    ...(executing ? { executing } : {}),
    ...(migrations && migrations.length > 0 ? { migrations } : {}),
    ...(f.lastSampledAt ? { lastSampledAt: kubeTime(f.lastSampledAt) } : {}),
    conditions,
    message: ready.message,
  };
  return { status, create, requeueAfterMs, ...(event ? { event } : {}) };
}

/** How long a sample stays fresh. */
export function sampleIntervalMs(spec: CellRebalancePolicySpec): number {
  return parseDuration(spec.sampleInterval);
}
