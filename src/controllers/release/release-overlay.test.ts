import type { CellRelease, ReleaseCellStatus } from '../../crds/cell-release.js';
import { exampleCell } from '../cell/example-cell.js';
import { buildWorkloadDeployment } from '../cell/workload-builder.js';
import { overlayReleases, runningRelease } from './release-overlay.js';

const cell = exampleCell();
const release = (name: string, created: string, state: ReleaseCellStatus['state'] | undefined, workloads: CellRelease['spec']['workloads']): CellRelease => ({
  apiVersion: 'cells.platform.io/v1alpha1',
  kind: 'CellRelease',
  metadata: { name, creationTimestamp: created as unknown as Date },
  spec: { workloads, steps: [{ cells: '100%' }], maxUnavailable: 1, bakeTime: '0s', progressDeadline: '10m', paused: false, abort: false, version: `${name}-v` },
  ...(state ? { status: { cells: [{ name: 'eu-west-1a', state, order: 0, reachedAt: created, since: created }] } } : {}),
});

describe('overlayReleases', () => {
  it("puts a reached release's image and env on the cell's workload and leaves the spec as written", () => {
    const r = release('r1', '2026-12-02T10:00:00Z', 'Updating', [{ name: 'ingest', image: 'registry.example.com/ingest:2.1.0', env: [{ name: 'LOG_LEVEL', value: 'debug' }] }]);
    const { cell: out, release: ref } = overlayReleases(cell, [r]);
    expect(ref).toEqual({ name: 'r1', version: 'r1-v' });
    const ingest = out.spec.workloads?.find((w) => w.name === 'ingest');
    expect(ingest).toMatchObject({ image: 'registry.example.com/ingest:2.1.0', replicas: 6, env: [{ name: 'LOG_LEVEL', value: 'debug' }] });
    expect(out.spec.workloads?.find((w) => w.name === 'copilot-api')?.image).toBe('registry.example.com/copilot-api:1.4.2');
    expect(cell.spec.workloads?.find((w) => w.name === 'ingest')?.image).toBe('registry.example.com/ingest:2.0.1');
    const deployment = buildWorkloadDeployment(out, ingest as NonNullable<typeof ingest>, { kafkaBootstrap: 'k:9092' });
    expect(deployment.spec?.template.spec?.containers[0]?.image).toBe('registry.example.com/ingest:2.1.0');
  });

  it('layers releases oldest first, so the newest wins and withdrawing it leaves the one before', () => {
    const r1 = release('r1', '2026-12-02T10:00:00Z', 'Updated', [{ name: 'ingest', image: 'ingest:2.1' }]);
    const r2 = release('r2', '2026-12-02T11:00:00Z', 'Baking', [{ name: 'ingest', image: 'ingest:2.2' }]);
    expect(overlayReleases(cell, [r2, r1]).cell.spec.workloads?.find((w) => w.name === 'ingest')?.image).toBe('ingest:2.2');
    const withdrawn = { ...r2, status: { cells: [{ name: 'eu-west-1a', state: 'RollingBack' as const, order: 0, reachedAt: 'x', since: 'x' }] } };
    const back = overlayReleases(cell, [withdrawn, r1]);
    expect(back.cell.spec.workloads?.find((w) => w.name === 'ingest')?.image).toBe('ingest:2.1');
    expect(back.release?.name).toBe('r1');
  });

  it('changes nothing for a cell no release reached', () => {
    const r = release('r1', '2026-12-02T10:00:00Z', undefined, [{ name: 'ingest', image: 'ingest:9' }]);
    expect(overlayReleases(cell, [r])).toEqual({ cell });
  });
});

describe('runningRelease', () => {
  const now = new Date('2026-12-02T12:00:00Z');
  it('names the release once the Deployments carry it, keeping since while it stays', () => {
    expect(runningRelease(undefined, { name: 'r1', version: '1' }, false, now)).toBeUndefined();
    const first = runningRelease(undefined, { name: 'r1', version: '1' }, true, now);
    expect(first).toEqual({ name: 'r1', version: '1', since: '2026-12-02T12:00:00Z' });
    expect(runningRelease(first, { name: 'r1', version: '1' }, true, new Date('2026-12-02T13:00:00Z'))).toBe(first);
    expect(runningRelease(first, undefined, false, now)).toBe(first);
    expect(runningRelease(first, undefined, true, now)).toBeUndefined();
  });
});
