import type { MigrationStep } from '../crds/migration.js';
import { abortPatch, abortWarning, pausePatch, promotePatch, resumePatch, retryPatch } from './migration-patches.js';
import type { ObservedMigration } from './observed.js';

const T = '2025-01-01T00:00:00Z';
const STEPS: MigrationStep[] = [{ move: 1 }, { pause: { duration: '10m' } }, { move: '10%' }, { pause: {} }, { move: '100%' }];
type Status = NonNullable<ObservedMigration['status']>;

function migration(status: Status | undefined, spec: Partial<NonNullable<ObservedMigration['spec']>> = {}): ObservedMigration {
  return { metadata: { name: 'm1' }, spec: { from: 'eu-west-1a', to: 'eu-west-1b', steps: STEPS, paused: false, abort: false, ...spec }, ...(status ? { status } : {}) };
}

const pausedAt = (step: number, status: Partial<Status> = {}): Status => ({ phase: 'Paused', currentStep: step, ...status });

describe('promotePatch', () => {
  it('sets spec.promotedStep to the pause step the migration waits at', () => {
    expect(promotePatch(migration(pausedAt(3)))).toEqual({
      kind: 'patch',
      patch: { spec: { promotedStep: 3 } },
      done: 'migration m1 promoted: the pause at step 3 ends (spec.promotedStep: 3).',
    });
  });

  it('ends a timed pause early', () => {
    expect(promotePatch(migration(pausedAt(1)))).toMatchObject({ kind: 'patch', patch: { spec: { promotedStep: 1 } } });
  });

  it('goes on past failed moves that hold a move step', () => {
    const gated = { type: 'Gated', status: 'True' as const, reason: 'CustomersFailed', message: '', lastTransitionTime: T };
    const decision = promotePatch(migration(pausedAt(2, { conditions: [gated], customers: { failed: 2 } })));
    expect(decision).toMatchObject({ kind: 'patch', patch: { spec: { promotedStep: 2 } } });
    expect(decision.kind === 'patch' && decision.done).toContain('despite 2 failed move(s)');
  });

  it('refuses a migration that is moving, not waiting at a pause', () => {
    const decision = promotePatch(migration({ phase: 'Progressing', currentStep: 2 }));
    expect(decision.kind).toBe('refuse');
    expect(decision.kind === 'refuse' && decision.message).toBe(
      'migration m1 is not waiting at a pause: it is Progressing at step 2 (move 10%). Promote it when it pauses (kubectl cells migration watch m1 tells you when).',
    );
  });

  it('refuses a migration held by spec.paused, pointing at resume', () => {
    const decision = promotePatch(migration(pausedAt(2), { paused: true }));
    expect(decision).toEqual({
      kind: 'refuse',
      message: 'migration m1 is not waiting at a pause step: it is held by spec.paused at step 2 (move 10%). Resume it with: kubectl cells migration resume m1',
    });
  });

  it('refuses a gate promotion cannot lift, quoting the operator', () => {
    const gated = { type: 'Gated', status: 'True' as const, reason: 'TargetFull', message: 'full', lastTransitionTime: T };
    const decision = promotePatch(migration(pausedAt(2, { conditions: [gated], message: 'Step 2 (move 10%) is held: the target cell is full.' })));
    expect(decision.kind === 'refuse' && decision.message).toMatch(/It is held: Step 2 \(move 10%\) is held: the target cell is full\.$/);
  });

  it('does nothing when the pause is already promoted, paused by spec or not', () => {
    expect(promotePatch(migration(pausedAt(3), { promotedStep: 3 }))).toEqual({
      kind: 'noop',
      message: 'migration m1 is already promoted past step 3 (spec.promotedStep: 3); the operator has not acted on it yet.',
    });
    expect(promotePatch(migration(pausedAt(3), { promotedStep: 3, paused: true })).kind).toBe('noop');
  });

  it('promotes a pause step even while spec.paused is set', () => {
    expect(promotePatch(migration(pausedAt(3), { paused: true }))).toMatchObject({ kind: 'patch', patch: { spec: { promotedStep: 3 } } });
  });

  it('refuses finished, aborting and not yet started migrations', () => {
    expect(promotePatch(migration({ phase: 'Succeeded', currentStep: 5 }))).toEqual({ kind: 'refuse', message: 'migration m1 is Succeeded: nothing to promote.' });
    expect(promotePatch(migration(pausedAt(3), { abort: true })).kind).toBe('refuse');
    expect(promotePatch(migration(undefined))).toEqual({
      kind: 'refuse',
      message: 'migration m1 has no status yet: the operator has not started it, so it is not waiting at a pause.',
    });
  });
});

describe('pausePatch and resumePatch', () => {
  it('pause sets spec.paused true', () => {
    expect(pausePatch(migration({ phase: 'Progressing', currentStep: 2 }))).toMatchObject({ kind: 'patch', patch: { spec: { paused: true } } });
  });

  it('resume sets spec.paused false', () => {
    expect(resumePatch(migration(pausedAt(2), { paused: true }))).toEqual({
      kind: 'patch',
      patch: { spec: { paused: false } },
      done: 'migration m1 resumed (spec.paused: false).',
    });
  });

  it('do nothing when already so, and resume points at promote for a pause step', () => {
    expect(pausePatch(migration(pausedAt(2), { paused: true }))).toEqual({ kind: 'noop', message: 'migration m1 is already paused (spec.paused: true).' });
    expect(resumePatch(migration(pausedAt(3)))).toEqual({
      kind: 'noop',
      message: 'migration m1 is not paused by spec.paused: nothing to resume. It waits at step 3: promote it with kubectl cells migration promote m1',
    });
  });

  it('pause refuses a finished or aborting migration', () => {
    expect(pausePatch(migration({ phase: 'Failed' })).kind).toBe('refuse');
    expect(pausePatch(migration({ phase: 'Progressing' }, { abort: true })).kind).toBe('refuse');
  });
});

describe('abortPatch', () => {
  it('sets spec.abort true', () => {
    expect(abortPatch(migration({ phase: 'Progressing', currentStep: 2 }))).toMatchObject({ kind: 'patch', patch: { spec: { abort: true } } });
  });

  it('also aborts a Succeeded migration: its customers go back within the retention window', () => {
    expect(abortPatch(migration({ phase: 'Succeeded' })).kind).toBe('patch');
  });

  it('does nothing when already aborting or Aborted', () => {
    expect(abortPatch(migration({ phase: 'Progressing' }, { abort: true })).kind).toBe('noop');
    expect(abortPatch(migration({ phase: 'Aborted' }, { abort: true })).kind).toBe('noop');
  });

  it('warns what will happen and that it cannot be undone', () => {
    expect(abortWarning(migration({ phase: 'Progressing', customers: { moved: 81, inFlight: 4 } }))).toBe(
      [
        'Aborting migration m1 stops it and moves every customer already moved back from eu-west-1b to eu-west-1a',
        '(now 81 moved, 4 in flight; customers whose cleanup has ended stay in eu-west-1b).',
        'This cannot be undone: spec.abort cannot be set back to false.',
      ].join('\n'),
    );
  });
});

describe('retryPatch', () => {
  const now = new Date('2026-12-02T06:00:00.123Z');
  const failed = (n: number): Status => ({ phase: 'Failed', currentStep: 5, customers: { total: 10, moved: 10 - n, failed: n } });

  it('sets spec.retry.failedBefore to now for every failed customer, dropping an earlier list', () => {
    expect(retryPatch(migration(failed(2)), now)).toEqual({
      kind: 'patch',
      patch: { spec: { retry: { failedBefore: '2026-12-02T06:00:00Z', customers: null } } },
      done: 'migration m1: its 2 failed customer(s) move again (spec.retry.failedBefore: 2026-12-02T06:00:00Z). Follow it with: kubectl cells migration watch m1',
    });
  });

  it('names the customers when asked for some only', () => {
    expect(retryPatch(migration(failed(2)), now, ['acme'])).toMatchObject({ kind: 'patch', patch: { spec: { retry: { customers: ['acme'] } } } });
  });

  it('refuses with no failed customer, and on an aborted migration', () => {
    expect(retryPatch(migration(failed(0)), now)).toEqual({ kind: 'refuse', message: 'migration m1 has no failed customer to retry (status.customers.failed is 0).' });
    expect(retryPatch(migration(failed(1), { abort: true }), now)).toMatchObject({ kind: 'refuse', message: expect.stringContaining('is aborted') });
  });
});
