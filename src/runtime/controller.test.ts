import { Controller, labelKeysOf, ownerKeysOf } from './controller.js';
import { Informer, type ListWatchSource } from './informer.js';
import { createMetrics } from './metrics.js';
import { builtin, type KubeObject, type ResourceType } from './resource.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const cells: ResourceType = { group: 'cells.platform.io', version: 'v1alpha1', plural: 'cells', kind: 'Cell', namespaced: false };
const cell = (name: string, rv: string, spec: object = {}) => ({ apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', metadata: { name, uid: `uid-${name}`, resourceVersion: rv }, spec });
const ownedBy = (cellName: string) => [{ apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', name: cellName, uid: `uid-${cellName}`, controller: true }];

/** An informer over a fixed list whose watch the test drives. */
function informerOf(resource: ResourceType, items: KubeObject[]) {
  let send: (type: string, obj: unknown) => void = () => undefined;
  const source: ListWatchSource<KubeObject> = {
    list: async () => ({ items, resourceVersion: '1' }),
    watch: async (_rv, onEvent) => {
      send = onEvent;
      return { abort: () => undefined };
    },
  };
  const informer = new Informer({ resource, source, resyncMs: 0 });
  return { informer, send: (type: string, obj: unknown) => send(type, obj) };
}

describe('Controller', () => {
  it('reconciles every object once synced, then the owner of each child that changes, reading the cache', async () => {
    const primary = informerOf(cells, [cell('eu-1', '1', { weight: 1 }), cell('eu-2', '2')]);
    const children = informerOf(builtin.service, []);
    const seen: string[] = [];
    const metrics = createMetrics();
    const controller = new Controller({
      name: 'cell',
      informer: primary.informer,
      watches: [{ informer: children.informer, toKeys: ownerKeysOf(cells) }],
      metrics,
      reconcile: async (key) => {
        const obj = primary.informer.get(key) as { spec?: { weight?: number } } | undefined;
        seen.push(`${key}:${obj?.spec?.weight ?? '-'}`);
      },
    });
    controller.informers().forEach((i) => i.start());
    await controller.start();
    await flush();
    expect(seen.sort()).toEqual(['eu-1:1', 'eu-2:-']);

    seen.length = 0;
    primary.send('MODIFIED', cell('eu-1', '3', { weight: 7 }));
    await flush();
    children.send('ADDED', { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', namespace: 'cell-eu-2', resourceVersion: '4', ownerReferences: ownedBy('eu-2') } });
    await flush();
    expect(seen).toEqual(['eu-1:7', 'eu-2:-']);
    expect(await metrics.registry.getSingleMetricAsString('cell_operator_reconcile_total')).toContain('cell_operator_reconcile_total{controller="cell",result="success"} 4');

    await controller.stop();
    primary.send('MODIFIED', cell('eu-1', '5'));
    await flush();
    expect(seen).toHaveLength(2);
    await Promise.all(controller.informers().map((i) => i.stop()));
  });

  it('counts a failed reconcile as an error', async () => {
    const primary = informerOf(cells, [cell('eu-1', '1')]);
    const metrics = createMetrics();
    const controller = new Controller({
      name: 'cell',
      informer: primary.informer,
      metrics,
      backoff: { baseMs: 60_000, maxMs: 60_000 },
      reconcile: async () => {
        throw new Error('database unreachable');
      },
    });
    primary.informer.start();
    await controller.start();
    await flush();
    expect(await metrics.registry.getSingleMetricAsString('cell_operator_reconcile_errors_total')).toContain('{controller="cell"} 1');
    await controller.stop();
    await primary.informer.stop();
  });
});

describe('key mappers', () => {
  it('maps a child to its controlling owner of the right kind and group only', () => {
    const child = {
      metadata: {
        namespace: 'cell-eu-1',
        ownerReferences: [
          { apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', name: 'eu-1', uid: 'u', controller: true },
          { apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', name: 'not-controller', uid: 'u2' },
          { apiVersion: 'other.io/v1', kind: 'Cell', name: 'other-group', uid: 'u3', controller: true },
        ],
      },
    };
    expect(ownerKeysOf(cells)(child)).toEqual(['eu-1']);
  });

  it('maps an object to the cell named by its label', () => {
    expect(labelKeysOf('cells.platform.io/cell')({ metadata: { labels: { 'cells.platform.io/cell': 'eu-1' } } })).toEqual(['eu-1']);
    expect(labelKeysOf('cells.platform.io/cell')({ metadata: {} })).toEqual([]);
  });
});
