import { apiServed, resourceServed, whenApiServed } from './api-discovery.js';
import { FakeKubeClient } from '../../test/support/fake-kube-client.js';
import { KubeApiError } from './kube-client.js';

const notFound = () => {
  throw new KubeApiError(404, 'NotFound', 'the server could not find the requested resource');
};

describe('apiServed', () => {
  it('asks the discovery path of the group version', async () => {
    const client = new FakeKubeClient(() => ({ kind: 'APIResourceList' }));
    expect(await apiServed(client, 'kafka.strimzi.io/v1')).toBe(true);
    expect(client.requests.map((r) => `${r.method} ${r.path}`)).toEqual(['GET /apis/kafka.strimzi.io/v1']);
  });

  it('is false on 404 and throws on anything else', async () => {
    expect(await apiServed(new FakeKubeClient(notFound), 'kafka.strimzi.io/v1')).toBe(false);
    const broken = new FakeKubeClient(() => {
      throw new KubeApiError(500, 'InternalError', 'etcd is down');
    });
    await expect(apiServed(broken, 'kafka.strimzi.io/v1')).rejects.toThrow('etcd is down');
  });
});

describe('resourceServed', () => {
  it("finds the resource in the group version's list, and is false when it or the group is missing", async () => {
    const client = new FakeKubeClient(() => ({ kind: 'APIResourceList', resources: [{ name: 'cells' }, { name: 'cells/status' }] }));
    expect(await resourceServed(client, 'cells.platform.io/v1alpha1', 'cells')).toBe(true);
    expect(await resourceServed(client, 'cells.platform.io/v1alpha1', 'cellreleases')).toBe(false);
    expect(await resourceServed(new FakeKubeClient(notFound), 'cells.platform.io/v1alpha1', 'cells')).toBe(false);
  });
});

describe('whenApiServed', () => {
  it('calls back once, when the API appears, and stops asking', async () => {
    let served = false;
    let failing = true;
    const client = new FakeKubeClient(() => {
      if (failing) {
        failing = false;
        throw new Error('connection refused'); // an API server restarting counts as "not yet"
      }
      return served ? {} : notFound();
    });
    let calls = 0;
    whenApiServed(client, 'kafka.strimzi.io/v1', 5, () => calls++);
    await new Promise((r) => setTimeout(r, 40));
    expect(calls).toBe(0);
    served = true;
    await new Promise((r) => setTimeout(r, 40));
    const asked = client.requests.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(calls).toBe(1);
    expect(client.requests.length).toBe(asked);
  });

  it('asks no more once stopped', async () => {
    const client = new FakeKubeClient(notFound);
    const stop = whenApiServed(client, 'kafka.strimzi.io/v1', 5, () => undefined);
    await new Promise((r) => setTimeout(r, 30));
    stop();
    const asked = client.requests.length;
    await new Promise((r) => setTimeout(r, 30));
    expect(asked).toBeGreaterThan(0);
    expect(client.requests.length).toBe(asked);
  });
});
