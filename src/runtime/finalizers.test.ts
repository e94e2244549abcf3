import { FakeKubeClient } from '../../test/support/fake-kube-client.js';
import { addFinalizer, hasFinalizer, removeFinalizer } from './finalizers.js';
import { KubeApiError } from './kube-client.js';
import type { ResourceType } from './resource.js';

const cells: ResourceType = { group: 'cells.platform.io', version: 'v1alpha1', plural: 'cells', kind: 'Cell', namespaced: false };
const F = 'cells.platform.io/customers';

describe('finalizers', () => {
  it('adds a finalizer with a merge patch that carries the resourceVersion it read', async () => {
    const client = new FakeKubeClient();
    const added = await addFinalizer(client, cells, { metadata: { name: 'eu-1', resourceVersion: '42', finalizers: ['other'] } }, F);
    expect(added).toBe(true);
    expect(client.requests).toEqual([
      {
        method: 'PATCH',
        path: '/apis/cells.platform.io/v1alpha1/cells/eu-1',
        query: { fieldManager: 'cell-operator' },
        contentType: 'application/merge-patch+json',
        body: { metadata: { resourceVersion: '42', finalizers: ['other', F] } },
      },
    ]);
  });

  it('writes nothing when the finalizer is there already, or the object is being deleted', async () => {
    const client = new FakeKubeClient();
    expect(await addFinalizer(client, cells, { metadata: { name: 'a', resourceVersion: '1', finalizers: [F] } }, F)).toBe(false);
    expect(await addFinalizer(client, cells, { metadata: { name: 'a', resourceVersion: '1', deletionTimestamp: new Date() } }, F)).toBe(false);
    expect(await removeFinalizer(client, cells, { metadata: { name: 'a', resourceVersion: '1' } }, F)).toBe(false);
    expect(client.requests).toEqual([]);
  });

  it('removes only its own finalizer', async () => {
    const client = new FakeKubeClient();
    await removeFinalizer(client, cells, { metadata: { name: 'eu-1', resourceVersion: '9', finalizers: ['other', F] } }, F);
    expect(client.requests[0]?.body).toEqual({ metadata: { resourceVersion: '9', finalizers: ['other'] } });
  });

  it('lets a 409 Conflict through, for the queue to retry on fresh data', async () => {
    const client = new FakeKubeClient(() => {
      throw new KubeApiError(409, 'Conflict', 'the object has been modified');
    });
    await expect(addFinalizer(client, cells, { metadata: { name: 'eu-1', resourceVersion: '1' } }, F)).rejects.toMatchObject({ code: 409 });
  });

  it('counts removing from an object that is already gone as done', async () => {
    const client = new FakeKubeClient(() => {
      throw new KubeApiError(404, 'NotFound', 'not found');
    });
    expect(await removeFinalizer(client, cells, { metadata: { name: 'eu-1', resourceVersion: '1', finalizers: [F] } }, F)).toBe(false);
    expect(hasFinalizer({ metadata: { finalizers: [F] } }, F)).toBe(true);
  });
});
