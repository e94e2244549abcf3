import { parseCommandLine } from './command-line.js';
import { approvePatch, renderPolicies, type ObservedPolicy } from './rebalance-view.js';

const proposal = {
  id: '3f2a9c0d1e4b',
  metric: 'Customers' as const,
  skewBeforePercent: 66.67,
  skewAfterPercent: 0,
  reachesGoal: true,
  moves: [{ customer: 'acme', from: 'eu-west-1a', to: 'eu-west-1b', size: 1, why: 'eu-west-1a holds 167% of its share' }],
};
const policy = (over: Partial<ObservedPolicy['spec']> = {}, withProposal = true): ObservedPolicy => ({
  metadata: { name: 'eu' },
  spec: { region: 'eu-west-1', approval: 'Manual', ...over },
  status: { phase: 'Proposed', ...(withProposal ? { proposal } : {}), message: 'waits for approval' },
});

describe('kubectl cells rebalance', () => {
  it('approves the current proposal by its id, and only that one', () => {
    expect(approvePatch(policy())).toMatchObject({ kind: 'patch', patch: { spec: { approve: '3f2a9c0d1e4b' } } });
    expect(approvePatch(policy(), 'abc')).toMatchObject({ kind: 'refuse', message: expect.stringContaining('proposes 3f2a9c0d1e4b now, not abc') });
    expect(approvePatch(policy({ approve: '3f2a9c0d1e4b' }))).toMatchObject({ kind: 'noop' });
    expect(approvePatch(policy({ approval: 'Automatic' }))).toMatchObject({ kind: 'noop' });
    expect(approvePatch(policy({}, false))).toMatchObject({ kind: 'refuse', message: expect.stringContaining('no proposal') });
  });

  it('shows each policy on a line, and one policy with its moves and the command that approves them', () => {
    const one = renderPolicies([policy()]);
    expect(one).toMatch(/^NAME\s+SCOPE\s+METRIC\s+PHASE\s+SKEW\s+AFTER\s+PROPOSAL\s+MESSAGE\neu\s+eu-west-1\s+Customers\s+Proposed\s+66.67%\s+0%\s+3f2a9c0d1e4b\s+waits for approval\n/);
    expect(one).toContain('acme');
    expect(one).toContain('approve: kubectl cells rebalance approve eu');
    expect(renderPolicies([policy(), { ...policy(), metadata: { name: 'us' } }])).not.toContain('acme');
    expect(renderPolicies([])).toBe('No CellRebalancePolicies.\n');
  });

  it('parses status and approve, and refuses an approve without a policy', () => {
    expect(parseCommandLine(['rebalance', 'status'])).toMatchObject({ kind: 'run', command: { name: 'rebalance', verb: 'status' } });
    expect(parseCommandLine(['rebalance', 'approve', 'eu', '--proposal', 'abc'])).toMatchObject({ kind: 'run', command: { name: 'rebalance', verb: 'approve', policy: 'eu' }, options: { proposal: 'abc' } });
    expect(parseCommandLine(['rebalance', 'approve'])).toMatchObject({ kind: 'usage' });
    expect(parseCommandLine(['rebalance', 'status', '--proposal', 'x'])).toMatchObject({ kind: 'usage' });
  });
});
