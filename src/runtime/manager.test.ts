import { KubeConfig } from '@kubernetes/client-node';
import { Controller } from './controller.js';
import { FakeKubeClient } from '../../test/support/fake-kube-client.js';
import { Informer, type ListWatchSource } from './informer.js';
import { Manager } from './manager.js';
import { createMetrics } from './metrics.js';
import type { KubeObject, ResourceType } from './resource.js';

const cells: ResourceType = { group: 'cells.platform.io', version: 'v1alpha1', plural: 'cells', kind: 'Cell', namespaced: false };

function fixedInformer(items: KubeObject[]) {
  const source: ListWatchSource<KubeObject> = {
    list: async () => ({ items, resourceVersion: '1' }),
    watch: async () => ({ abort: () => undefined }),
  };
  return new Informer({ resource: cells, source, resyncMs: 0 });
}

describe('Manager', () => {
  it('serves readiness and metrics, and on stop lets the reconcile in flight finish first', async () => {
    const informer = fixedInformer([{ apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', metadata: { name: 'eu-1', resourceVersion: '1' } }]);
    let release: () => void = () => undefined;
    const log: string[] = [];
    const metrics = createMetrics();
    const controller = new Controller({
      name: 'cell',
      informer,
      metrics,
      reconcile: async (key) => {
        log.push(`start ${key}`);
        await new Promise<void>((resolve) => (release = resolve));
        log.push(`end ${key}`);
      },
    });
    const manager = new Manager({ kubeConfig: new KubeConfig(), client: new FakeKubeClient(), metrics, health: { port: 0, host: '127.0.0.1' }, leaderElection: false });
    manager.add(controller);
    await manager.start();
    await informer.waitForSync();
    await new Promise((resolve) => setImmediate(resolve));
    const port = (manager as unknown as { health: { port: number } }).health.port;

    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).toBe(200);
    const metricsText = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metricsText).toContain('cell_operator_leader 1');
    expect(metricsText).toContain('cell_operator_workqueue_depth');

    let stopped = false;
    const stopping = manager.stop().then(() => (stopped = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(stopped).toBe(false);
    release();
    await stopping;
    expect(log).toEqual(['start eu-1', 'end eu-1']);
  });

  it('is not ready until its caches have synced', async () => {
    const never: ListWatchSource<KubeObject> = { list: () => new Promise(() => undefined), watch: async () => ({ abort: () => undefined }) };
    const informer = new Informer({ resource: cells, source: never, resyncMs: 0 });
    const manager = new Manager({ kubeConfig: new KubeConfig(), client: new FakeKubeClient(), metrics: createMetrics(), health: false, leaderElection: false });
    manager.add(new Controller({ name: 'cell', informer, reconcile: async () => undefined }));
    expect(manager.readinessProblems()).toEqual(['cache of cells not synced']);
  });
});
