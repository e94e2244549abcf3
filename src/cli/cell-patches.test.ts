import { cordonPatch, drainMigration, drainProblem, uncordonPatch } from './cell-patches.js';
import type { ObservedCell } from './observed.js';

const cell = (state: 'Active' | 'Cordoned' | 'Draining', region = 'eu-west-1', name = 'eu-west-1a', drainedBy?: string): ObservedCell => ({
  metadata: { name },
  spec: { region, state },
  ...(drainedBy
    ? { status: { conditions: [{ type: 'Cordoned', status: 'True', reason: 'DrainingByMigration', message: `The cell is drained by ${drainedBy}.`, lastTransitionTime: '2026-01-01T00:00:00Z' }] } }
    : {}),
});

describe('cordon and uncordon', () => {
  it('cordon sets spec.state Cordoned, and says Git must say so too', () => {
    expect(cordonPatch(cell('Active'))).toMatchObject({ kind: 'patch', patch: { spec: { state: 'Cordoned' } }, done: expect.stringContaining('commit spec.state: Cordoned') });
  });

  it('cordon of a cordoned cell changes nothing; of a Draining one is refused', () => {
    expect(cordonPatch(cell('Cordoned'))).toEqual({ kind: 'noop', message: 'cell eu-west-1a is already cordoned (spec.state: Cordoned).' });
    expect(cordonPatch(cell('Draining')).kind).toBe('refuse');
  });

  it('uncordon sets spec.state Active, and refuses to lift the cordon of a drain', () => {
    expect(uncordonPatch(cell('Cordoned'))).toMatchObject({ kind: 'patch', patch: { spec: { state: 'Active' } } });
    expect(uncordonPatch(cell('Active'))).toEqual({ kind: 'noop', message: 'cell eu-west-1a is not cordoned (spec.state: Active).' });
    expect(uncordonPatch(cell('Active', 'eu-west-1', 'eu-west-1a', 'drain-eu-west-1a'))).toEqual({
      kind: 'refuse',
      message: 'cell eu-west-1a is cordoned by a drain: The cell is drained by drain-eu-west-1a.',
    });
  });
});

describe('drain', () => {
  it('creates a Migration of every customer, canary first, ending at a pause for a person', () => {
    const m = drainMigration('eu-west-1a', 'eu-west-1b');
    expect(m).toMatchObject({ kind: 'Migration', metadata: { name: 'drain-eu-west-1a' }, spec: { from: 'eu-west-1a', to: 'eu-west-1b', customers: { all: true }, batchSize: 20 } });
    expect(m.spec.steps).toEqual([{ move: 1 }, { pause: { duration: '10m' } }, { move: '10%' }, { pause: {} }, { move: '100%' }]);
  });

  it('refuses a target that is the cell, that does not exist or is in another region', () => {
    expect(drainProblem(cell('Active'), cell('Active'), 'eu-west-1a')).toContain('into itself');
    expect(drainProblem(cell('Active'), undefined, 'nope')).toBe('cell nope not found (kubectl get cells lists them): --to names the cell that receives the customers of eu-west-1a.');
    expect(drainProblem(cell('Active'), cell('Active', 'us-east-1', 'us-east-1a'), 'us-east-1a')).toContain('customers bound to a region cannot leave it');
    expect(drainProblem(cell('Active'), cell('Active', 'eu-west-1', 'eu-west-1b'), 'eu-west-1b')).toBeUndefined();
  });
});
