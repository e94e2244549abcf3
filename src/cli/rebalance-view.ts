// `kubectl cells rebalance status|approve`: the CellRebalancePolicies as a person reads them (phase,
// skew now and after, the proposal's moves) and the merge patch that approves a proposal. Pure.
import type { CellRebalancePolicySpec, CellRebalancePolicyStatus } from '../crds/cell-rebalance-policy.js';
import type { Decision } from './decision.js';

/** A CellRebalancePolicy as read from the API server (any field may be missing). */
export interface ObservedPolicy {
  metadata: { name?: string; generation?: number };
  spec?: Partial<CellRebalancePolicySpec>;
  status?: CellRebalancePolicyStatus;
}

export type ApproveDecision = Decision<{ spec: { approve: string } }>;

const nameOf = (p: ObservedPolicy) => p.metadata.name ?? '<name>';

/** Approve the policy's current proposal, or the one named by --proposal (it must be the current one: an approval names exactly one set of moves). */
export function approvePatch(policy: ObservedPolicy, proposalId?: string): ApproveDecision {
  const name = nameOf(policy);
  const current = policy.status?.proposal;
  if (!current) return { kind: 'refuse', message: `policy ${name} has no proposal to approve (${policy.status?.message ?? 'no status yet'}).` };
  if (proposalId !== undefined && proposalId !== current.id) {
    return { kind: 'refuse', message: `policy ${name} proposes ${current.id} now, not ${proposalId}: look at it with kubectl cells rebalance status ${name}, then approve it.` };
  }
  if (policy.spec?.approval === 'Automatic') return { kind: 'noop', message: `policy ${name} approves its proposals automatically (spec.approval: Automatic).` };
  if (policy.spec?.approve === current.id) return { kind: 'noop', message: `proposal ${current.id} of policy ${name} is already approved.` };
  return {
    kind: 'patch',
    patch: { spec: { approve: current.id } },
    done: `proposal ${current.id} of policy ${name} approved: ${current.moves.length} moves, skew ${current.skewBeforePercent}% -> ${current.skewAfterPercent}%. Follow it with kubectl cells rebalance status ${name}.`,
  };
}

function pad(cells: readonly string[][]): string {
  const widths = cells[0]?.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length))) ?? [];
  return cells.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] as number))).join('  ').trimEnd()).join('\n');
}

/** One line per policy; with a single policy, its proposal move by move. */
export function renderPolicies(policies: readonly ObservedPolicy[]): string {
  if (policies.length === 0) return 'No CellRebalancePolicies.\n';
  const rows = [['NAME', 'SCOPE', 'METRIC', 'PHASE', 'SKEW', 'AFTER', 'PROPOSAL', 'MESSAGE']];
  for (const p of policies) {
    const s = p.status;
    const scope = [p.spec?.region, p.spec?.cells?.join(',')].filter(Boolean).join(' ') || '-';
    rows.push([
      nameOf(p),
      scope,
      p.spec?.goal?.metric ?? 'Customers',
      s?.phase ?? '-',
      s?.proposal ? `${s.proposal.skewBeforePercent}%` : '-',
      s?.proposal ? `${s.proposal.skewAfterPercent}%` : '-',
      s?.proposal?.id ?? '-',
      s?.message ?? '',
    ]);
  }
  let out = `${pad(rows)}\n`;
  const only = policies.length === 1 ? policies[0] : undefined;
  const proposal = only?.status?.proposal;
  if (only && proposal) {
    out += `\nproposal ${proposal.id} (${proposal.metric}): ${proposal.moves.length} moves${proposal.reachesGoal ? '' : ', stops short of the goal'}\n`;
    const moves = [['CUSTOMER', 'FROM', 'TO', 'SIZE', 'WHY']];
    for (const m of proposal.moves) moves.push([m.customer, m.from, m.to, String(m.size ?? ''), m.why ?? '']);
    out += `${pad(moves)}\n`;
    if (only.spec?.approval !== 'Automatic' && only.spec?.approve !== proposal.id) out += `\napprove: kubectl cells rebalance approve ${nameOf(only)}\n`;
  }
  return out;
}
