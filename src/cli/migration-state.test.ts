import { effectiveSteps } from '../controllers/migration/migration-decision.js';
import { parseMigrationSpec, type MigrationStep } from '../crds/migration.js';
import { describeStep, promotionWait, stepsAsRun } from './migration-state.js';
import type { ObservedMigration } from './observed.js';

const T = '2025-01-01T00:00:00Z';
const STEPS: MigrationStep[] = [{ move: 1 }, { pause: { duration: '10m' } }, { move: '10%' }, { pause: {} }, { move: '100%' }];

const at = (currentStep: number, over: Partial<ObservedMigration['spec']> = {}, status: Partial<NonNullable<ObservedMigration['status']>> = {}): ObservedMigration => ({
  metadata: { name: 'm' },
  spec: { from: 'a', to: 'b', steps: STEPS, ...over },
  status: { phase: 'Paused', currentStep, ...status },
});

describe('stepsAsRun', () => {
  it.each([
    ['ending in move 100%', STEPS],
    ['ending in a pause', [{ move: 1 }, { pause: {} }]],
    ['ending in a partial move', [{ move: '50%' }]],
  ])('runs the same steps as the migration decider when %s', (_name, steps) => {
    const parsed = parseMigrationSpec({ from: 'a', to: 'b', customers: { all: true }, steps });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    expect(stepsAsRun(steps)).toEqual(effectiveSteps(parsed.value));
  });
});

describe('describeStep', () => {
  it('says what a step does', () => {
    expect(STEPS.map(describeStep)).toEqual(['move 1', 'pause 10m', 'move 10%', 'pause (until promoted)', 'move 100%']);
    expect(describeStep(undefined)).toBe('done');
  });
});

describe('promotionWait', () => {
  it('sees a migration waiting at a pause: {} step', () => {
    expect(promotionWait(at(3))).toEqual({ kind: 'Pause', step: 3 });
  });

  it('sees a timed pause, which a promotion ends early', () => {
    expect(promotionWait(at(1))).toEqual({ kind: 'TimedPause', step: 1 });
  });

  it('sees a move step held by failed moves', () => {
    const gated = { type: 'Gated', status: 'True' as const, reason: 'CustomersFailed', message: '2 failed', lastTransitionTime: T };
    expect(promotionWait(at(2, {}, { conditions: [gated], customers: { failed: 2 } }))).toEqual({ kind: 'FailedMoves', step: 2, failed: 2 });
  });

  it('sees nothing to promote while moving, once promoted, while aborting, or before any status', () => {
    expect(promotionWait(at(2, {}, { phase: 'Progressing' }))).toBeUndefined();
    expect(promotionWait(at(3, { promotedStep: 3 }))).toBeUndefined();
    expect(promotionWait(at(3, { abort: true }))).toBeUndefined();
    expect(promotionWait({ metadata: { name: 'm' }, spec: { steps: STEPS } })).toBeUndefined();
  });

  it('does not take a move step paused by spec.paused for a pause to promote', () => {
    const paused = { type: 'Paused', status: 'True' as const, reason: 'PausedBySpec', message: '', lastTransitionTime: T };
    expect(promotionWait(at(2, { paused: true }, { conditions: [paused] }))).toBeUndefined();
  });
});
