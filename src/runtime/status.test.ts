import { FakeKubeClient } from '../../test/support/fake-kube-client.js';
import type { ResourceType } from './resource.js';
import { statusChanged, writeStatus } from './status.js';

const cells: ResourceType = { group: 'cells.platform.io', version: 'v1alpha1', plural: 'cells', kind: 'Cell', namespaced: false };
const status = { phase: 'Ready', observedGeneration: 2, conditions: [{ type: 'Ready', status: 'True', reason: 'AllReady', message: '', lastTransitionTime: '2025-01-01T00:00:00Z' }] };

describe('status', () => {
  it('sees no change when the new status equals the live one, whatever the key order', () => {
    const reordered = { conditions: status.conditions, observedGeneration: 2, phase: 'Ready' };
    expect(statusChanged(status, reordered)).toBe(false);
  });

  it('treats an undefined field like a missing one, as the JSON on the wire does', () => {
    expect(statusChanged({ phase: 'Ready' }, { phase: 'Ready', message: undefined })).toBe(false);
  });

  it('sees a change in any field, however deep, and a removed field', () => {
    const deeper = { ...status, conditions: [{ ...status.conditions[0], message: 'now' }] };
    expect(statusChanged(status, deeper)).toBe(true);
    expect(statusChanged(status, { phase: 'Ready', observedGeneration: 2 })).toBe(true);
    expect(statusChanged(undefined, {})).toBe(true);
  });

  it('writes nothing when the status is unchanged', async () => {
    const client = new FakeKubeClient();
    const outcome = await writeStatus(client, cells, { metadata: { name: 'eu-1' }, status }, { ...status });
    expect(outcome).toBe('unchanged');
    expect(client.requests).toEqual([]);
  });

  it('replaces the whole status through the status subresource with a JSON patch', async () => {
    const client = new FakeKubeClient();
    const outcome = await writeStatus(client, cells, { metadata: { name: 'eu-1', resourceVersion: '41' }, status }, { phase: 'Degraded' });
    expect(outcome).toBe('written');
    expect(client.requests).toEqual([
      {
        method: 'PATCH',
        path: '/apis/cells.platform.io/v1alpha1/cells/eu-1/status',
        query: { fieldManager: 'cell-operator' },
        contentType: 'application/json-patch+json',
        // The resourceVersion read is the API server's precondition (test/e2e/status-writes.test.ts).
        body: [
          { op: 'add', path: '/metadata/resourceVersion', value: '41' },
          { op: 'add', path: '/status', value: { phase: 'Degraded' } },
        ],
      },
    ]);
  });
});
