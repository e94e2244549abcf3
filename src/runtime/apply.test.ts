import { APPLIED_HASH_ANNOTATION, Applier, appliedHash, firstDifference, isApplied, ownerReference, withAppliedHash } from './apply.js';
import { FakeKubeClient } from '../../test/support/fake-kube-client.js';
import { Informer, type ListWatchSource } from './informer.js';
import { KubeApiError } from './kube-client.js';
import { builtin, type KubeObject } from './resource.js';

const labels = { 'app.kubernetes.io/managed-by': 'cell-operator', 'cells.platform.io/cell': 'eu-1' };
const desiredService = (): KubeObject & { spec: unknown } => ({
  apiVersion: 'v1',
  kind: 'Service',
  metadata: { name: 'ingest', namespace: 'cell-eu-1', labels },
  spec: { selector: { app: 'ingest' }, ports: [{ name: 'http', port: 8080 }] },
});

/** The service as the API server keeps it: our fields plus defaults and server metadata. */
const liveService = (desired = desiredService()) => {
  const applied = withAppliedHash(desired);
  return {
    ...applied,
    metadata: { ...applied.metadata, uid: 'u-1', resourceVersion: '7', annotations: { ...applied.metadata?.annotations, 'other.io/note': 'x' } },
    spec: { selector: { app: 'ingest' }, ports: [{ name: 'http', port: 8080, protocol: 'TCP', targetPort: 8080 }], clusterIP: '10.0.0.7', type: 'ClusterIP' },
  };
};

const started: Informer[] = [];
afterEach(async () => {
  await Promise.all(started.splice(0).map((i) => i.stop()));
});

/** An informer already synced with `objects`, for the Applier's cache. */
async function cacheOf(objects: KubeObject[]): Promise<Informer> {
  const source: ListWatchSource<KubeObject> = {
    list: async () => ({ items: objects, resourceVersion: '1' }),
    watch: async () => ({ abort: () => undefined }),
  };
  const informer = new Informer({ resource: builtin.service, source, resyncMs: 0 });
  informer.start();
  started.push(informer);
  await informer.waitForSync();
  return informer;
}

describe('no-op detection', () => {
  it('finds nothing to apply when the live object holds every desired field and the same hash', () => {
    expect(isApplied(desiredService(), liveService())).toBe(true);
  });

  it('names the first field that differs', () => {
    const live = liveService();
    live.spec.ports[0]!.port = 9090;
    expect(firstDifference(withAppliedHash(desiredService()), live)).toBe('.spec.ports[0].port');
    expect(isApplied(desiredService(), live)).toBe(false);
  });

  it('sees a field we stopped setting, through the hash', () => {
    const before = desiredService();
    before.metadata!.labels = { ...labels, tier: 'edge' };
    const live = liveService(before);
    expect(isApplied(desiredService(), live)).toBe(false);
    expect(firstDifference(withAppliedHash(desiredService()), live)).toBe(`.metadata.annotations.${APPLIED_HASH_ANNOTATION}`);
  });

  it('sees an element added to or removed from a list', () => {
    const desired = desiredService();
    (desired.spec as { ports: unknown[] }).ports.push({ name: 'grpc', port: 9000 });
    expect(firstDifference(desired, liveService())).toBe('.spec.ports');
  });

  it('hashes equal objects equally whatever their key order', () => {
    const a = { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'x', labels: { a: '1', b: '2' } } };
    const b = { kind: 'ConfigMap', metadata: { labels: { b: '2', a: '1' }, name: 'x' }, apiVersion: 'v1' };
    expect(appliedHash(a)).toBe(appliedHash(b));
  });

  it('needs a live object', () => {
    expect(isApplied(desiredService(), undefined)).toBe(false);
  });
});

describe('Applier', () => {
  it('writes nothing in the steady state', async () => {
    const client = new FakeKubeClient();
    const applier = new Applier({ client, caches: [await cacheOf([liveService()])] });
    expect(await applier.apply(builtin.service, desiredService())).toBe('unchanged');
    expect(client.requests).toEqual([]);
  });

  it('applies server-side with our field manager, force and the apply content-type', async () => {
    const client = new FakeKubeClient();
    const applier = new Applier({ client, caches: [await cacheOf([])] });
    expect(await applier.apply(builtin.service, desiredService())).toBe('applied');
    expect(client.requests).toEqual([
      {
        method: 'PATCH',
        path: '/api/v1/namespaces/cell-eu-1/services/ingest',
        query: { fieldManager: 'cell-operator', force: true },
        contentType: 'application/apply-patch+yaml',
        body: withAppliedHash(desiredService()),
      },
    ]);
  });

  it('deletes a child whose desired state is null, guarded by its uid', async () => {
    const client = new FakeKubeClient();
    const applier = new Applier({ client, caches: [await cacheOf([liveService()])] });
    expect(await applier.reconcile(builtin.service, { name: 'ingest', namespace: 'cell-eu-1' }, null)).toBe('deleted');
    expect(client.requests).toEqual([
      {
        method: 'DELETE',
        path: '/api/v1/namespaces/cell-eu-1/services/ingest',
        body: { apiVersion: 'v1', kind: 'DeleteOptions', propagationPolicy: 'Background', preconditions: { uid: 'u-1' } },
      },
    ]);
  });

  it('does not call the API to delete what the cache knows is absent', async () => {
    const client = new FakeKubeClient();
    const applier = new Applier({ client, caches: [await cacheOf([])] });
    expect(await applier.reconcile(builtin.service, { name: 'ingest', namespace: 'cell-eu-1' }, null)).toBe('absent');
    expect(client.requests).toEqual([]);
  });

  it('takes 404 on delete as already absent', async () => {
    const client = new FakeKubeClient(() => {
      throw new KubeApiError(404, 'NotFound', 'gone');
    });
    const applier = new Applier({ client });
    expect(await applier.delete(builtin.service, { name: 'ingest', namespace: 'cell-eu-1' })).toBe('absent');
  });

  it('prunes managed children of the owner that are no longer desired, and only those', async () => {
    const keepMe = liveService();
    const stale = { ...liveService(), metadata: { ...liveService().metadata, name: 'old-api', uid: 'u-2' } };
    const otherCell = { ...liveService(), metadata: { ...liveService().metadata, name: 'x', uid: 'u-3', labels: { ...labels, 'cells.platform.io/cell': 'eu-2' } } };
    const deleting = { ...liveService(), metadata: { ...liveService().metadata, name: 'going', uid: 'u-4', deletionTimestamp: '2025-01-01T00:00:00Z' } };
    const client = new FakeKubeClient();
    const applier = new Applier({ client, caches: [await cacheOf([keepMe, stale, otherCell, deleting])] });
    const deleted = await applier.prune(builtin.service, { namespace: 'cell-eu-1', selector: labels, keep: ['ingest'] });
    expect(deleted).toEqual(['old-api']);
    expect(client.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['DELETE /api/v1/namespaces/cell-eu-1/services/old-api']);
  });

  it('lists by label selector when it has no cache for the kind', async () => {
    const client = new FakeKubeClient((req) => (req.method === 'GET' ? { items: [liveService()] } : {}));
    const applier = new Applier({ client });
    await applier.prune(builtin.service, { namespace: 'cell-eu-1', selector: labels, keep: [] });
    expect(client.requests[0]).toMatchObject({
      method: 'GET',
      path: '/api/v1/namespaces/cell-eu-1/services',
      query: { labelSelector: 'app.kubernetes.io/managed-by=cell-operator,cells.platform.io/cell=eu-1' },
    });
    expect(client.requests[1]).toMatchObject({ method: 'DELETE', path: '/api/v1/namespaces/cell-eu-1/services/ingest' });
  });
});

describe('ownerReference', () => {
  it('makes the owner the blocking controller of the child', () => {
    const cell = { apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', metadata: { name: 'eu-1', uid: 'c-1' } };
    expect(ownerReference(cell)).toEqual({ apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', name: 'eu-1', uid: 'c-1', controller: true, blockOwnerDeletion: true });
  });

  it('refuses an owner without a uid', () => {
    expect(() => ownerReference({ apiVersion: 'v1', kind: 'X', metadata: { name: 'a' } })).toThrow(/uid/);
  });
});

describe('applying a kind the operator may not watch (Secrets)', () => {
  const secret = (): KubeObject & { data: Record<string, string> } => ({
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: 'eu-1-db-credentials', namespace: 'cell-eu-1', labels },
    data: { password: 'c2VjcmV0' },
  });

  it('reads it by name and writes nothing when it already holds what is desired', async () => {
    const live = { ...withAppliedHash(secret()), metadata: { ...withAppliedHash(secret()).metadata, uid: 'u-2', resourceVersion: '3' } };
    const client = new FakeKubeClient((req) => (req.method === 'GET' ? live : {}));
    const applier = new Applier({ client, readBeforeApply: new Set(['Secret']) });
    await expect(applier.apply(builtin.secret, secret())).resolves.toBe('unchanged');
    expect(client.writes()).toEqual([]);
    expect(client.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /api/v1/namespaces/cell-eu-1/secrets/eu-1-db-credentials']);
  });

  it('applies it when it is missing or differs', async () => {
    const missing = new FakeKubeClient((req) => {
      if (req.method === 'GET') throw new KubeApiError(404, 'NotFound', 'not found');
      return {};
    });
    await expect(new Applier({ client: missing, readBeforeApply: new Set(['Secret']) }).apply(builtin.secret, secret())).resolves.toBe('applied');
    expect(missing.writes().map((r) => r.method)).toEqual(['PATCH']);
  });
});
