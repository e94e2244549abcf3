import { EventRecorder } from './events.js';
import { FakeClock } from '../../test/support/fake-clock.js';
import { FakeKubeClient } from '../../test/support/fake-kube-client.js';
import { KubeApiError, type KubeRequest } from './kube-client.js';

const cell = { apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', metadata: { name: 'eu-1', uid: 'c-1', resourceVersion: '5' } };

function setup(answer?: (req: KubeRequest) => unknown) {
  const clock = new FakeClock(Date.UTC(2025, 0, 1));
  const client = new FakeKubeClient(answer);
  const recorder = new EventRecorder({ client, instance: 'cell-operator-7d9f', clock });
  return { clock, client, recorder };
}

describe('EventRecorder', () => {
  it('creates an events.k8s.io/v1 Event in `default` for a cluster-scoped object', async () => {
    const { client, recorder } = setup();
    await recorder.warning(cell, 'CustomersRemain', 'Cell eu-1 still holds 12 customers; drain it with a Migration first.');
    expect(client.requests).toHaveLength(1);
    expect(client.requests[0]).toMatchObject({
      method: 'POST',
      path: '/apis/events.k8s.io/v1/namespaces/default/events',
      body: {
        apiVersion: 'events.k8s.io/v1',
        kind: 'Event',
        metadata: { namespace: 'default' },
        eventTime: '2025-01-01T00:00:00.000000Z',
        reportingController: 'cell-operator',
        reportingInstance: 'cell-operator-7d9f',
        action: 'CustomersRemain',
        reason: 'CustomersRemain',
        type: 'Warning',
        regarding: { apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', name: 'eu-1', uid: 'c-1' },
      },
    });
  });

  it('bumps the series count of a repeat instead of creating another Event', async () => {
    const { clock, client, recorder } = setup();
    await recorder.normal(cell, 'Provisioning', 'Creating Kafka.');
    clock.advance(30_000);
    await recorder.normal(cell, 'Provisioning', 'Creating Kafka.');
    clock.advance(30_000);
    await recorder.normal(cell, 'Provisioning', 'Creating Kafka.');
    const created = client.requests[0]?.body as { metadata: { name: string } };
    expect(client.requests.map((r) => r.method)).toEqual(['POST', 'PATCH', 'PATCH']);
    expect(client.requests[2]).toMatchObject({
      path: `/apis/events.k8s.io/v1/namespaces/default/events/${created.metadata.name}`,
      contentType: 'application/merge-patch+json',
      body: { series: { count: 3, lastObservedTime: '2025-01-01T00:01:00.000000Z' } },
    });
  });

  it('starts a new Event for another note, after the series window, or when the old one expired', async () => {
    const { clock, client, recorder } = setup((req) => {
      if (req.method === 'PATCH') throw new KubeApiError(404, 'NotFound', 'expired');
      return {};
    });
    await recorder.normal(cell, 'Scaled', 'Brokers: 3.');
    await recorder.normal(cell, 'Scaled', 'Brokers: 5.');
    clock.advance(11 * 60_000);
    await recorder.normal(cell, 'Scaled', 'Brokers: 5.');
    await recorder.normal(cell, 'Scaled', 'Brokers: 5.');
    expect(client.requests.map((r) => r.method)).toEqual(['POST', 'POST', 'POST', 'PATCH', 'POST']);
  });

  it('never throws into the caller when the API refuses', async () => {
    const { recorder } = setup(() => {
      throw new KubeApiError(403, 'Forbidden', 'no');
    });
    await expect(recorder.normal(cell, 'Ready', 'ok')).resolves.toBeUndefined();
  });
});
