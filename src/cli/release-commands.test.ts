import type { CellRelease } from '../crds/cell-release.js';
import { releasePatch, renderRelease } from './release-commands.js';
import { parseCommandLine } from './command-line.js';

const release = (status: CellRelease['status'], spec: Partial<CellRelease['spec']> = {}): CellRelease => ({
  apiVersion: 'cells.platform.io/v1alpha1',
  kind: 'CellRelease',
  metadata: { name: 'ingest-2-1' },
  spec: { workloads: [{ name: 'ingest', image: 'ingest:2.1' }], steps: [{ cells: 1 }, { pause: {} }], maxUnavailable: 1, bakeTime: '0s', progressDeadline: '10m', paused: false, abort: false, ...spec },
  ...(status ? { status } : {}),
});
const waiting = release({
  phase: 'Paused',
  version: '2.1.0',
  currentStep: 1,
  progress: '1/5',
  steps: [
    { index: 0, step: 'cells: 1', state: 'Done', cells: 1 },
    { index: 1, step: 'pause: {}', state: 'Running' },
    { index: 2, step: 'cells: 100%', state: 'Pending', cells: 5 },
  ],
  cells: [{ name: 'eu-west-1a', state: 'Updated', order: 0, reachedAt: '2026-12-02T10:00:00Z', since: '2026-12-02T10:01:00Z' }],
  conditions: [{ type: 'Paused', status: 'True', reason: 'WaitingForPromotion', message: 'x', lastTransitionTime: '2026-12-02T10:01:00Z' }],
  message: 'Step 1: waiting for a person.',
});

describe('kubectl cells release', () => {
  it('parses its verbs', () => {
    expect(parseCommandLine(['release', 'promote', 'ingest-2-1'], {})).toMatchObject({ kind: 'run', command: { name: 'release', verb: 'promote', release: 'ingest-2-1' } });
    expect(parseCommandLine(['release', 'frobnicate', 'x'], {})).toMatchObject({ kind: 'usage', message: expect.stringContaining('release needs a verb') });
  });

  it('promotes the pause the release waits at, and refuses when it waits at none', () => {
    expect(releasePatch('promote', waiting)).toMatchObject({ kind: 'patch', patch: { spec: { promotedStep: 1 } } });
    expect(releasePatch('promote', release({ phase: 'Progressing', currentStep: 0, message: 'Step 0 (cells 1): 0/1 updated' }))).toMatchObject({ kind: 'refuse', message: expect.stringContaining('not waiting at a pause') });
    expect(releasePatch('promote', release({ ...waiting.status }, { promotedStep: 1 })).kind).toBe('noop');
  });

  it('pauses, resumes and aborts through the spec', () => {
    expect(releasePatch('pause', waiting)).toMatchObject({ kind: 'patch', patch: { spec: { paused: true } } });
    expect(releasePatch('resume', waiting).kind).toBe('noop');
    expect(releasePatch('abort', waiting)).toMatchObject({ kind: 'patch', patch: { spec: { abort: true } } });
    expect(releasePatch('abort', release({ phase: 'Aborted' }, { abort: true })).kind).toBe('noop');
    expect(releasePatch('pause', release({ phase: 'Succeeded' })).kind).toBe('refuse');
  });

  it('shows the steps, the cells and what it waits for', () => {
    expect(renderRelease(waiting, new Date('2026-12-02T10:02:00Z'))).toBe(
      [
        'release ingest-2-1: Paused, version 2.1.0, 1/5 cells updated',
        '  ✓ step 0: cells: 1 (1 cells)',
        '  ▶ step 1: pause: {}',
        '    step 2: cells: 100% (5 cells)',
        '  CELL                STATE        SINCE  ANALYSIS',
        '  eu-west-1a          Updated        60s  -',
        'Step 1: waiting for a person.',
        '',
      ].join('\n'),
    );
  });
});
