import { FakeKubeClient } from '../../../test/support/fake-kube-client.js';
import type { Cell } from '../../crds/cell.js';
import type { CellRelease } from '../../crds/cell-release.js';
import { silentLogger } from '../../log.js';
import { EventRecorder } from '../../runtime/events.js';
import { KubeApiError } from '../../runtime/kube-client.js';
import { exampleCell } from '../cell/example-cell.js';
import { observeCell, RELEASE_FINALIZER, ReleaseReconciler } from './release-reconciler.js';

const now = new Date('2026-12-02T10:00:00Z');
const readyCell = (name: string): Cell => {
  const cell = exampleCell(undefined, { name, generation: 2 });
  return { ...cell, status: { observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: 'ok', lastTransitionTime: '2026-12-02T09:00:00Z' }] } };
};
const release: CellRelease = {
  apiVersion: 'cells.platform.io/v1alpha1',
  kind: 'CellRelease',
  metadata: { name: 'ingest-2', uid: 'u1', generation: 1, resourceVersion: '41', creationTimestamp: '2026-12-02T09:59:00Z' as unknown as Date, finalizers: [RELEASE_FINALIZER] },
  spec: { workloads: [{ name: 'ingest', image: 'ingest:2' }], steps: [{ cells: '100%' }], maxUnavailable: 1, bakeTime: '0s', progressDeadline: '10m', paused: false, abort: false },
};

function reconciler(client: FakeKubeClient, r: CellRelease = release) {
  const cells = [readyCell('eu-west-1a'), readyCell('eu-west-1b')];
  return new ReleaseReconciler({
    client,
    releases: { get: () => r, list: () => [r] },
    cells: { list: () => cells },
    events: new EventRecorder({ client, instance: 'test' }),
    log: silentLogger(),
    clock: { now: () => now.getTime() },
  });
}

describe('ReleaseReconciler', () => {
  it('writes the decided status only if the release is still the one read (resourceVersion), then says what it did', async () => {
    const client = new FakeKubeClient();
    const result = await reconciler(client).reconcile('ingest-2');
    const [write, ...events] = client.writes();
    expect(write).toMatchObject({ method: 'PATCH', path: '/apis/cells.platform.io/v1alpha1/cellreleases/ingest-2/status' });
    const body = write?.body as { op: string; path: string; value: { phase: string; cells: { name: string; state: string }[] } }[];
    expect(body[0]).toEqual({ op: 'add', path: '/metadata/resourceVersion', value: '41' });
    expect(body[1]?.value).toMatchObject({ phase: 'Progressing', cells: [{ name: 'eu-west-1a', state: 'Updating' }] });
    expect(events.map((e) => (e.body as { reason: string }).reason)).toEqual(['CellReached', 'ReleaseProgressing']);
    expect(result).toEqual({ requeueAfter: 1_000 });
  });

  it('decides again on the fresh object when its cache was behind (the lock lost), recording nothing', async () => {
    const client = new FakeKubeClient((req) => {
      if (req.path.endsWith('/status')) throw new KubeApiError(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version and try again');
      return {};
    });
    expect(await reconciler(client).reconcile('ingest-2')).toEqual({ requeueAfter: 500 });
    expect(client.writes()).toHaveLength(1);
  });

  it('puts its finalizer on first, and lets a deleted release go once no cell runs its versions', async () => {
    const fresh = new FakeKubeClient();
    await reconciler(fresh, { ...release, metadata: { ...release.metadata, finalizers: [] } }).reconcile('ingest-2');
    expect(fresh.writes()).toEqual([expect.objectContaining({ method: 'PATCH', path: '/apis/cells.platform.io/v1alpha1/cellreleases/ingest-2', body: { metadata: { finalizers: [RELEASE_FINALIZER], resourceVersion: '41' } } })]);
    const stale = new FakeKubeClient(() => {
      throw new KubeApiError(409, 'Conflict', 'the object has been modified');
    });
    expect(await reconciler(stale, { ...release, metadata: { ...release.metadata, finalizers: [] } }).reconcile('ingest-2')).toEqual({ requeueAfter: 500 });
    const gone = new FakeKubeClient();
    const deleted = { ...release, metadata: { ...release.metadata, deletionTimestamp: now } };
    await reconciler(gone, deleted).reconcile('ingest-2');
    expect(gone.writes().map((w) => w.path)).toEqual(['/apis/cells.platform.io/v1alpha1/cellreleases/ingest-2']);
    expect(gone.writes()[0]?.body).toMatchObject({ metadata: { finalizers: [] } });
  });

  it('sees a Cell as Ready only for its current generation, and what its Deployments carry', () => {
    const cell = readyCell('eu-west-1a');
    expect(observeCell({ ...cell, status: { ...cell.status, release: { name: 'r', version: '1', since: 'x' } } })).toEqual({ name: 'eu-west-1a', labels: {}, workloads: ['copilot-api', 'ingest'], ready: true, running: { name: 'r', version: '1' } });
    expect(observeCell({ ...cell, metadata: { ...cell.metadata, generation: 3 } })).toMatchObject({ ready: false, readyMessage: 'its status does not describe its current spec yet' });
  });
});
