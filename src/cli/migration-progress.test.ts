import type { MigrationStep } from '../crds/migration.js';
import { etaText, formatDuration, renderMigrationBlock, renderMigrationLine, watchEnd } from './migration-progress.js';
import type { ObservedMigration } from './observed.js';

const NOW = new Date('2025-06-01T14:26:00Z');
const T = '2025-06-01T14:00:00Z';
const STEPS: MigrationStep[] = [{ move: 1 }, { pause: { duration: '10m' } }, { move: '10%' }, { pause: {} }, { move: '100%' }];

function migration(status: NonNullable<ObservedMigration['status']>, spec: Partial<NonNullable<ObservedMigration['spec']>> = {}): ObservedMigration {
  return { metadata: { name: 'eu-a-to-b', generation: 2, resourceVersion: '7' }, spec: { from: 'eu-west-1a', to: 'eu-west-1b', steps: STEPS, ...spec }, status };
}

const progressing = migration({
  phase: 'Progressing',
  observedGeneration: 2,
  currentStep: 2,
  customers: { total: 812, pending: 727, inFlight: 4, moved: 81, failed: 0 },
  rowsCopied: 1234567,
  rowsPerSecond: 5000.4,
  estimatedCompletionTime: '2025-06-01T14:32:12Z',
  message: 'Step 2 (move 10%): 81/82 moved, 4 in flight.',
});

describe('formatDuration', () => {
  it.each([
    [0, '0s'],
    [45_000, '45s'],
    [372_000, '6m 12s'],
    [7_500_000, '2h 05m'],
    [3 * 86_400_000 + 4 * 3_600_000, '3d 4h'],
  ])('%d ms is %s', (ms, text) => {
    expect(formatDuration(ms)).toBe(text);
  });
});

describe('etaText', () => {
  it('gives the time left and the clock time', () => {
    expect(etaText(progressing, NOW)).toBe('ETA 6m 12s (14:32:12 UTC)');
  });

  it('adds the date to an ETA more than a day away', () => {
    const later = migration({ phase: 'Progressing', estimatedCompletionTime: '2025-06-03T16:30:00Z' });
    expect(etaText(later, NOW)).toBe('ETA 2d 2h (2025-06-03 16:30 UTC)');
  });

  it('says due now once the estimate is past, and nothing without an estimate or once complete', () => {
    expect(etaText(progressing, new Date('2025-06-01T15:00:00Z'))).toBe('ETA due now (14:32:12 UTC)');
    expect(etaText(migration({ phase: 'Progressing' }), NOW)).toBeUndefined();
    expect(etaText(migration({ phase: 'Succeeded', estimatedCompletionTime: T, completedAt: T }), NOW)).toBeUndefined();
  });
});

describe('renderMigrationLine', () => {
  it('says phase, step, bar, counts, rows and ETA on one line', () => {
    expect(renderMigrationLine(progressing, NOW)).toBe(
      'eu-a-to-b  Progressing  step 2 of 0..4: move 10%  [###...........................]   9%  81/812 moved  4 in flight, 727 pending, 0 failed, 1,234,567 rows copied (5,000/s)  ETA 6m 12s (14:32:12 UTC)',
    );
  });

  it('counts the customers moved back while aborting', () => {
    const aborting = migration({ phase: 'Progressing', currentStep: 2, customers: { total: 10, moved: 3, inFlight: 1, movedBack: 4 } }, { abort: true });
    expect(renderMigrationLine(aborting, NOW)).toContain('Progressing (aborting)');
    expect(renderMigrationLine(aborting, NOW)).toContain('[###############...............]  50%  4/8 moved back');
  });

  it('shows a migration the operator has not seen yet', () => {
    expect(renderMigrationLine({ metadata: { name: 'new' }, spec: { steps: STEPS } }, NOW)).toBe(
      'new  Pending  step -  [..............................]   0%  0/0 moved  0 in flight, 0 pending, 0 failed',
    );
  });
});

describe('renderMigrationBlock', () => {
  it('draws a header, the bar, the counts with the ETA, and the operator message', () => {
    expect(renderMigrationBlock(progressing, NOW)).toEqual([
      'Migration eu-a-to-b: eu-west-1a -> eu-west-1b  Progressing  step 2 of 0..4: move 10%',
      '[###...........................]   9%  81/812 moved',
      '4 in flight, 727 pending, 0 failed, 1,234,567 rows copied (5,000/s), ETA 6m 12s (14:32:12 UTC)',
      'Step 2 (move 10%): 81/82 moved, 4 in flight.',
    ]);
  });

  it('names the moves retrying after errors, with the latest one\'s error', () => {
    const stuck = migration({
      ...progressing.status,
      retryingTotal: 3,
      retryingMoves: [{ customer: 'acme', state: 'Pending', attempts: 7, lastError: 'FenceSchemaNewer: upgrade this operator', time: '2026-01-01T00:00:00Z' }],
    });
    expect(renderMigrationBlock(stuck, NOW).at(-1)).toBe(
      '3 move(s) retrying after errors (status.retryingMoves); latest: acme in Pending, 7 attempt(s): FenceSchemaNewer: upgrade this operator',
    );
    expect(renderMigrationBlock(progressing, NOW).join('\n')).not.toContain('retrying');
  });

  it('says when the status is behind the spec', () => {
    const behind = { ...progressing, metadata: { ...progressing.metadata, generation: 3 } };
    expect(renderMigrationBlock(behind, NOW)[0]).toContain('(the operator has not caught up with the latest spec yet)');
  });
});

describe('watchEnd', () => {
  it('goes on while the migration moves, pauses for a duration, or is paused by spec', () => {
    expect(watchEnd(progressing)).toBeUndefined();
    expect(watchEnd(migration({ phase: 'Paused', currentStep: 1 }))).toBeUndefined();
    expect(watchEnd(migration({ phase: 'Paused', currentStep: 2 }, { paused: true }))).toBeUndefined();
  });

  it('ends at a pause: {} step with the exact command to promote it', () => {
    const end = watchEnd(migration({ phase: 'Paused', currentStep: 3, message: 'Step 3: waiting for a person.' }));
    expect(end?.exitCode).toBe(0);
    expect(end?.lines).toEqual([
      'Migration eu-a-to-b is paused at step 3 and waits for you to promote it.',
      '  promote: kubectl cells migration promote eu-a-to-b',
      `           (or kubectl patch migration eu-a-to-b --type merge -p '{"spec":{"promotedStep":3}}', or commit spec.promotedStep: 3 in Git)`,
      '  abort:   kubectl cells migration abort eu-a-to-b   (moves the customers already moved back; cannot be undone)',
    ]);
  });

  it('does not end at a pause already promoted (the operator has not moved on yet)', () => {
    expect(watchEnd(migration({ phase: 'Paused', currentStep: 3 }, { promotedStep: 3 }))).toBeUndefined();
  });

  it('ends when failed moves hold the migration, offering to promote past them', () => {
    const gated = { type: 'Gated', status: 'True' as const, reason: 'CustomersFailed', message: '', lastTransitionTime: T };
    const end = watchEnd(migration({ phase: 'Paused', currentStep: 2, conditions: [gated], customers: { failed: 2 } }));
    expect(end?.lines[0]).toBe('Migration eu-a-to-b is held at step 2: 2 customer move(s) failed (see status.latestFailures). Promoting goes on despite them.');
    expect(end?.lines[1]).toBe('  promote: kubectl cells migration promote eu-a-to-b');
  });

  it('ends with 0 on success and 1 on failure or abort, with the latest failures', () => {
    expect(watchEnd(migration({ phase: 'Succeeded', message: 'All 812 customer(s) moved.' }))).toEqual({
      exitCode: 0,
      lines: ['Migration eu-a-to-b succeeded.', 'All 812 customer(s) moved.'],
    });
    expect(watchEnd(migration({ phase: 'Aborted' }))?.exitCode).toBe(1);
    const failed = watchEnd(migration({ phase: 'Failed', latestFailures: [{ customer: 'acme', reason: 'ChecksumMismatch', message: 'table readings differs' }] }));
    expect(failed).toEqual({ exitCode: 1, lines: ['Migration eu-a-to-b failed.', 'Latest failures:', '  acme: ChecksumMismatch (table readings differs)'] });
  });
});
