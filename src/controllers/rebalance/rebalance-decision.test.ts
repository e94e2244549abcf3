import { parseCellRebalancePolicySpec, type CellRebalancePolicySpec } from '../../crds/cell-rebalance-policy.js';
import { parseMigrationSpec } from '../../crds/migration.js';
import { decideRebalance, LABEL_REBALANCE_POLICY, LABEL_REBALANCE_PROPOSAL, quietWindow, type MigrationView, type RebalanceFacts } from './rebalance-decision.js';
import { proposeRebalance, type RebalanceCell, type RebalanceCustomer } from './rebalance-proposal.js';

const now = new Date('2026-12-02T12:00:00Z');

function spec(over: Record<string, unknown> = {}): CellRebalancePolicySpec {
  const parsed = parseCellRebalancePolicySpec({ region: 'eu-west-1', ...over });
  if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
  return parsed.value;
}

const cells: RebalanceCell[] = ['eu-a', 'eu-b'].map((name) => ({ name, region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: 1000, customers: 0 }));
const customers: RebalanceCustomer[] = Array.from({ length: 30 }, (_, i) => ({ id: `c${i}`, cell: i < 25 ? 'eu-a' : 'eu-b', region: null, pinned: false, devices: 1 }));
const proposal = proposeRebalance(cells, customers, { metric: 'Customers', maxSkewPercent: 20, maxMoves: 50, minCustomersPerCell: 0 });

function facts(over: Partial<RebalanceFacts> = {}): RebalanceFacts {
  return { name: 'eu', generation: 2, spec: spec(), cells: ['eu-a', 'eu-b'], proposal, migrations: [], now, ...over };
}

const migration = (over: Partial<MigrationView>): MigrationView => ({ name: 'm', from: 'eu-a', to: 'eu-b', customers: 1, ...over });

describe('decideRebalance', () => {
  it('shows the proposal and waits for approval by its id', () => {
    expect(proposal.moves.length).toBeGreaterThan(0);
    const d = decideRebalance(facts());
    expect(d.create).toEqual([]);
    expect(d.status.phase).toBe('Proposed');
    expect(d.status.proposal?.id).toBe(proposal.id);
    expect(d.status.proposal?.moves).toHaveLength(proposal.moves.length);
    expect(d.status.message).toContain(`spec.approve: "${proposal.id}"`);
    expect(d.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'True', reason: 'AwaitingApproval', observedGeneration: 2 });
    expect(decideRebalance(facts({ spec: spec({ approve: 'abcdef' }) })).create).toEqual([]); // another proposal's id
  });

  it('creates one canary Migration per pair of cells once approved, naming its customers, and every one parses', () => {
    const d = decideRebalance(facts({ spec: spec({ approve: proposal.id, limits: { rowsPerSecond: 500 }, canaryPause: '30s' }) }));
    expect(d.status.phase).toBe('Moving');
    expect(d.create).toHaveLength(1);
    const m = d.create[0];
    expect(m?.metadata.labels).toMatchObject({ [LABEL_REBALANCE_POLICY]: 'eu', [LABEL_REBALANCE_PROPOSAL]: proposal.id });
    expect(m?.spec).toMatchObject({ from: 'eu-a', to: 'eu-b', steps: [{ move: 1 }, { pause: { duration: '30s' } }, { move: '100%' }], rateLimit: { rowsPerSecond: 500 } });
    expect(m?.spec.customers.names?.sort()).toEqual(proposal.moves.map((x) => x.customer).sort());
    expect(parseMigrationSpec(m?.spec).ok).toBe(true);
    expect(d.event?.reason).toBe('MigrationsCreated');
    // Automatic approval needs no id.
    expect(decideRebalance(facts({ spec: spec({ approval: 'Automatic' }) })).create).toHaveLength(1);
  });

  it('follows its own Migrations until they finish, and never starts while another Migration touches the cells', () => {
    const approved = spec({ approve: proposal.id });
    const own = migration({ name: 'eu-x-0', policy: 'eu', proposal: 'x', phase: 'Progressing' });
    const moving = decideRebalance(facts({ spec: approved, migrations: [own] }));
    expect(moving.status.phase).toBe('Moving');
    expect(moving.create).toEqual([]);
    expect(moving.status.conditions?.find((c) => c.type === 'Ready')).toMatchObject({ status: 'False', reason: 'Moving' });
    const other = decideRebalance(facts({ spec: approved, migrations: [migration({ name: 'drain', to: 'eu-b', from: 'eu-z', phase: 'Paused' })] }));
    expect(other.create).toEqual([]);
    expect(other.status.message).toContain('drain');
    // A finished one of someone else does not hold it.
    expect(decideRebalance(facts({ spec: approved, migrations: [migration({ name: 'old', phase: 'Succeeded' })] })).create).toHaveLength(1);
  });

  it('stalls on a failed Migration of its own, naming it and the fix', () => {
    const d = decideRebalance(facts({ spec: spec({ approval: 'Automatic' }), migrations: [migration({ name: 'eu-x-0', policy: 'eu', proposal: 'x', phase: 'Failed' })] }));
    expect(d.create).toEqual([]);
    expect(d.status.phase).toBe('Failed');
    expect(d.status.conditions?.find((c) => c.type === 'Stalled')).toMatchObject({ status: 'True', reason: 'MigrationFailed' });
    expect(d.status.message).toMatch(/eu-x-0.*retry/);
  });

  it('waits out quiet hours and the hourly limit', () => {
    const quiet = spec({ approval: 'Automatic', limits: { quietHours: [{ start: '23:00', end: '12:30' }] } });
    expect(quietWindow(quiet, now)).toBeDefined();
    expect(decideRebalance(facts({ spec: quiet })).status.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('QuietHours');
    expect(quietWindow(spec({ limits: { quietHours: [{ start: '12:30', end: '13:00' }] } }), now)).toBeUndefined();
    const limited = spec({ approval: 'Automatic', limits: { maxMovesPerHour: 12 } });
    const recent = migration({ name: 'eu-y-0', policy: 'eu', proposal: 'y', phase: 'Succeeded', customers: 10, createdAt: new Date(now.getTime() - 30 * 60_000) });
    const d = decideRebalance(facts({ spec: limited, migrations: [recent] }));
    expect(d.create).toEqual([]);
    expect(d.status.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('HourlyLimit');
    expect(d.status.message).toContain('2026-12-02T12:30:00Z');
  });

  it('is Balanced with nothing to move, and says why when nothing can move', () => {
    const balanced = proposeRebalance(cells, customers.map((c, i) => ({ ...c, cell: i % 2 ? 'eu-a' : 'eu-b' })), { metric: 'Customers', maxSkewPercent: 20, maxMoves: 50, minCustomersPerCell: 0 });
    const d = decideRebalance(facts({ proposal: balanced }));
    expect(d.status.phase).toBe('Balanced');
    expect(d.status.proposal).toBeUndefined();
    const stuck = proposeRebalance(cells, customers.map((c) => ({ ...c, pinned: true })), { metric: 'Customers', maxSkewPercent: 20, maxMoves: 50, minCustomersPerCell: 0 });
    expect(decideRebalance(facts({ proposal: stuck })).status.conditions?.find((c) => c.type === 'Ready')?.reason).toBe('NoMovePossible');
  });
});
