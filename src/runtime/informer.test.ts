import { FakeClock } from '../../test/support/fake-clock.js';
import { Informer, diffCache, type ListPage, type ListWatchSource } from './informer.js';
import { KubeApiError } from './kube-client.js';
import type { KubeObject, ResourceType } from './resource.js';

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const cells: ResourceType = { group: 'cells.platform.io', version: 'v1alpha1', plural: 'cells', kind: 'Cell', namespaced: false };
const obj = (name: string, rv: string): KubeObject => ({ apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', metadata: { name, resourceVersion: rv } });

interface FakeWatch {
  resourceVersion: string;
  send(type: string, o: unknown): void;
  end(err?: unknown): void;
  aborted: boolean;
}

class FakeSource implements ListWatchSource<KubeObject> {
  pages: Array<ListPage<KubeObject> | Error> = [];
  listCalls: Array<{ continueToken?: string }> = [];
  watches: FakeWatch[] = [];

  async list(page: { limit: number; continueToken?: string }): Promise<ListPage<KubeObject>> {
    this.listCalls.push({ continueToken: page.continueToken });
    const next = this.pages.shift();
    if (!next) throw new Error('no list page prepared');
    if (next instanceof Error) throw next;
    return next;
  }

  async watch(resourceVersion: string, onEvent: (type: string, o: unknown) => void, onDone: (err: unknown) => void) {
    const w: FakeWatch = {
      resourceVersion,
      aborted: false,
      send: (type, o) => onEvent(type, o),
      end: (err) => onDone(err ?? null),
    };
    this.watches.push(w);
    return { abort: () => (w.aborted = true) };
  }

  lastWatch(): FakeWatch {
    const w = this.watches.at(-1);
    if (!w) throw new Error('no watch started');
    return w;
  }
}

function setup(options: { resyncMs?: number } = {}) {
  const clock = new FakeClock();
  const source = new FakeSource();
  const informer = new Informer({ resource: cells, source, clock, random: () => 0, resyncMs: options.resyncMs ?? 0, backoff: { baseMs: 1000, maxMs: 8000 } });
  const events: string[] = [];
  informer.on({
    add: (o) => events.push(`add ${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    update: (o, old) => events.push(`update ${o.metadata?.name}@${old.metadata?.resourceVersion}->${o.metadata?.resourceVersion}`),
    delete: (o) => events.push(`delete ${o.metadata?.name}`),
  });
  return { clock, source, informer, events };
}

describe('Informer', () => {
  it('lists, reports synced, then follows the watch from the list resourceVersion', async () => {
    const { source, informer, events } = setup();
    source.pages.push({ items: [obj('a', '1'), obj('b', '2')], resourceVersion: '10' });
    informer.start();
    await informer.waitForSync();
    await flush();
    expect(informer.hasSynced()).toBe(true);
    expect(source.lastWatch().resourceVersion).toBe('10');
    source.lastWatch().send('MODIFIED', obj('a', '11'));
    source.lastWatch().send('ADDED', obj('c', '12'));
    source.lastWatch().send('DELETED', obj('b', '13'));
    expect(events).toEqual(['add a@1', 'add b@2', 'update a@1->11', 'add c@12', 'delete b']);
    expect(informer.keys().sort()).toEqual(['a', 'c']);
    expect(informer.get('a')?.metadata?.resourceVersion).toBe('11');
    await informer.stop();
  });

  it('re-lists after an ERROR event with code 410 and reports the objects deleted while it was away', async () => {
    const { source, informer, events } = setup();
    source.pages.push({ items: [obj('a', '1'), obj('b', '2'), obj('c', '3')], resourceVersion: '10' });
    informer.start();
    await flush();
    events.length = 0;
    source.pages.push({ items: [obj('a', '1'), obj('c', '30'), obj('d', '31')], resourceVersion: '40' });
    source.lastWatch().send('ERROR', { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' });
    await flush();
    expect(source.listCalls).toHaveLength(2);
    expect(events).toEqual(['delete b', 'add d@31', 'update c@3->30']);
    expect(informer.keys().sort()).toEqual(['a', 'c', 'd']);
    expect(source.lastWatch().resourceVersion).toBe('40');
    await informer.stop();
  });

  it('re-lists at once when a resumed watch is answered 410 Gone (as after an API server restart)', async () => {
    const { clock, source, informer, events } = setup();
    source.pages.push({ items: [obj('gone-while-away', '5')], resourceVersion: '10' });
    informer.start();
    await flush();
    source.lastWatch().send('MODIFIED', obj('gone-while-away', '11'));
    source.lastWatch().end(new Error('socket hang up'));
    await flush();
    clock.advance(500);
    await flush();
    source.pages.push({ items: [obj('a', '50')], resourceVersion: '50' });
    source.lastWatch().end(Object.assign(new Error('Gone'), { statusCode: 410 }));
    await flush();
    expect(informer.keys()).toEqual(['a']);
    expect(events.slice(-2)).toEqual(['delete gone-while-away', 'add a@50']);
    expect(source.lastWatch().resourceVersion).toBe('50');
    await informer.stop();
  });

  it('after any other error resumes the watch from the last resourceVersion, with a growing backoff', async () => {
    const { clock, source, informer } = setup();
    source.pages.push({ items: [obj('a', '1')], resourceVersion: '10' });
    informer.start();
    await flush();
    source.lastWatch().send('MODIFIED', obj('a', '12'));
    source.lastWatch().end(new Error('ECONNRESET'));
    await flush();
    expect(clock.pendingDelays()).toEqual([500]); // jitter with random()=0 gives half the 1 s base
    clock.advance(500);
    await flush();
    expect(source.watches).toHaveLength(2);
    expect(source.lastWatch().resourceVersion).toBe('12');
    expect(source.listCalls).toHaveLength(1);
    source.lastWatch().end(new Error('ECONNREFUSED'));
    await flush();
    expect(clock.pendingDelays().at(-1)).toBe(1000);
    await informer.stop();
  });

  it('keeps retrying a failing list with backoff instead of stopping', async () => {
    const { clock, source, informer } = setup();
    source.pages.push(new KubeApiError(503, 'ServiceUnavailable', 'down'), new Error('ECONNREFUSED'));
    source.pages.push({ items: [obj('a', '1')], resourceVersion: '10' });
    informer.start();
    await flush();
    clock.advance(500);
    await flush();
    clock.advance(1000);
    await flush();
    expect(informer.hasSynced()).toBe(true);
    expect(source.listCalls).toHaveLength(3);
    await informer.stop();
  });

  it('treats a non-410 ERROR event as a failure and restarts the watch', async () => {
    const { clock, source, informer } = setup();
    source.pages.push({ items: [], resourceVersion: '10' });
    informer.start();
    await flush();
    const first = source.lastWatch();
    first.send('ERROR', { kind: 'Status', code: 500, message: 'internal error' });
    await flush();
    expect(first.aborted).toBe(true);
    clock.advance(500);
    await flush();
    expect(source.watches).toHaveLength(2);
    await informer.stop();
  });

  it('follows bookmarks so that a resumed watch starts from the newest resourceVersion', async () => {
    const { clock, source, informer } = setup();
    source.pages.push({ items: [], resourceVersion: '10' });
    informer.start();
    await flush();
    source.lastWatch().send('BOOKMARK', { kind: 'Cell', metadata: { resourceVersion: '99' } });
    clock.advance(2000);
    source.lastWatch().end();
    await flush();
    expect(source.lastWatch().resourceVersion).toBe('99');
    await informer.stop();
  });

  it('reads every page of a paginated list', async () => {
    const { source, informer } = setup();
    source.pages.push({ items: [obj('a', '1')], resourceVersion: '10', continueToken: 'next' });
    source.pages.push({ items: [obj('b', '2')], resourceVersion: '10' });
    informer.start();
    await informer.waitForSync();
    expect(source.listCalls).toEqual([{ continueToken: undefined }, { continueToken: 'next' }]);
    expect(informer.keys().sort()).toEqual(['a', 'b']);
    await informer.stop();
  });

  it('hands every cached object to the handlers again on each resync', async () => {
    const { clock, source, informer, events } = setup({ resyncMs: 60_000 });
    source.pages.push({ items: [obj('a', '1'), obj('b', '2')], resourceVersion: '10' });
    informer.start();
    await flush();
    events.length = 0;
    clock.advance(60_000);
    expect(events).toEqual(['update a@1->1', 'update b@2->2']);
    await informer.stop();
  });

  it('restarts a watch that has been silent for too long', async () => {
    const clock = new FakeClock();
    const source = new FakeSource();
    const informer = new Informer({ resource: cells, source, clock, random: () => 0, resyncMs: 0, watchIdleMs: 10_000 });
    source.pages.push({ items: [], resourceVersion: '10' });
    informer.start();
    await flush();
    clock.advance(10_000);
    await flush();
    expect(source.watches[0]?.aborted).toBe(true);
    clock.advance(1000);
    await flush();
    expect(source.watches).toHaveLength(2);
    await informer.stop();
  });

  it('survives a handler that throws', async () => {
    const { source, informer, events } = setup();
    informer.on({ add: () => { throw new Error('bad handler'); } });
    source.pages.push({ items: [obj('a', '1')], resourceVersion: '10' });
    informer.start();
    await flush();
    source.lastWatch().send('ADDED', obj('b', '11'));
    expect(events).toEqual(['add a@1', 'add b@11']);
    await informer.stop();
  });

  it('fills in apiVersion and kind, which list items of built-in kinds lack', async () => {
    const { source, informer } = setup();
    source.pages.push({ items: [{ metadata: { name: 'a', resourceVersion: '1' } }], resourceVersion: '10' });
    informer.start();
    await informer.waitForSync();
    expect(informer.get('a')).toMatchObject({ apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell' });
    await informer.stop();
  });
});

describe('diffCache', () => {
  it('sorts a re-list into added, updated (resourceVersion moved) and deleted', () => {
    const before = new Map([['a', obj('a', '1')], ['b', obj('b', '2')], ['c', obj('c', '3')]]);
    const after = new Map([['a', obj('a', '1')], ['c', obj('c', '4')], ['d', obj('d', '5')]]);
    const changes = diffCache(before, after);
    expect(changes.added.map((o) => o.metadata?.name)).toEqual(['d']);
    expect(changes.updated.map(([o]) => o.metadata?.name)).toEqual(['c']);
    expect(changes.deleted.map((o) => o.metadata?.name)).toEqual(['b']);
  });
});
