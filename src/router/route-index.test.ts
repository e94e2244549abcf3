import type { RouteChange } from '../store/placements.js';
import { RouteIndex } from './route-index.js';

const change = (customerId: string, version: number, over: Partial<RouteChange> = {}): RouteChange => ({
  customerId,
  cell: 'eu-a',
  state: 'Active',
  epoch: 1,
  version,
  ...over,
});

function indexWith(changes: RouteChange[]): RouteIndex {
  const index = new RouteIndex(4);
  index.setCells([
    { name: 'eu-a', region: 'eu-west-1', state: 'Active', ready: true, endpoints: { kafkaBootstrap: 'k.eu-a:9092' } },
    { name: 'eu-b', region: 'eu-west-1', state: 'Active', ready: true, endpoints: {} },
  ]);
  index.applyAll(changes);
  index.loaded = true;
  return index;
}

describe('RouteIndex', () => {
  it('answers a route with the cell region and endpoints, and nothing for unknown or deleted customers', () => {
    const index = indexWith([change('acme', 1), change('gone', 2), change('gone', 3, { state: 'Deleted', cell: null })]);
    expect(index.lookup('acme')).toEqual({
      customer: 'acme',
      cell: 'eu-a',
      region: 'eu-west-1',
      epoch: 1,
      state: 'Active',
      version: 1,
      endpoints: { kafkaBootstrap: 'k.eu-a:9092' },
    });
    expect(JSON.parse(index.lookupJson('acme')!.json)).toEqual(index.lookup('acme'));
    expect(index.lookup('gone')).toBeUndefined();
    expect(index.lookup('nobody')).toBeUndefined();
    expect(index.size).toBe(1);
    expect(index.version).toBe(3);
  });

  it('ignores a change that is not newer than what it holds', () => {
    const index = indexWith([change('acme', 5, { cell: 'eu-b', epoch: 2 })]);
    expect(index.apply(change('acme', 4))).toBe(false);
    expect(index.lookup('acme')).toMatchObject({ cell: 'eu-b', epoch: 2 });
  });

  it('grows past its initial capacity', () => {
    const index = indexWith(Array.from({ length: 10_000 }, (_, i) => change(`c${i}`, i + 1, { epoch: i })));
    expect(index.size).toBe(10_000);
    expect(index.lookup('c9999')).toMatchObject({ epoch: 9999, version: 10_000 });
  });

  it('pages through every customer in id order, with new customers in later pages', () => {
    const index = indexWith(['d', 'b', 'a', 'e', 'c'].map((id, i) => change(id, i + 1)));
    const first = index.snapshotPage(undefined, 2, 0);
    expect(first.items.map((c) => c.customerId)).toEqual(['a', 'b']);
    expect(first.version).toBe(5);
    index.apply(change('bb', 6));
    const second = index.snapshotPage(first.next!, 2, 0);
    expect(second.items.map((c) => c.customerId)).toEqual(['bb', 'c']);
    const third = index.snapshotPage(second.next!, 2, 0);
    expect(third.items.map((c) => c.customerId)).toEqual(['d', 'e']);
    expect(third.next).toBeNull();
  });

  it('reports, while its sort is deferred, the version at which its page order was complete', () => {
    const index = indexWith([change('a', 1), change('b', 2)]);
    index.snapshotPage(undefined, 10, 0);
    index.apply(change('c', 3));
    const page = index.snapshotPage(undefined, 10, 60_000); // the merge is deferred
    expect(page.items.map((c) => c.customerId)).toEqual(['a', 'b']);
    expect(page.version).toBe(2); // so a client following changes from 2 still gets c
    expect(index.changesSince(page.version).map((c) => c.customerId)).toEqual(['c']);
  });

  it('lists changes after a version in version order, each customer once at its latest state', () => {
    const index = indexWith([change('a', 1), change('b', 2), change('a', 3, { state: 'Fenced' }), change('c', 4), change('b', 5, { state: 'Deleted', cell: null })]);
    expect(index.changesSince(1).map((c) => [c.customerId, c.state, c.version])).toEqual([
      ['a', 'Fenced', 3],
      ['c', 'Active', 4],
      ['b', 'Deleted', 5],
    ]);
  });

  it('tells subscribers about every applied change in order', () => {
    const index = indexWith([]);
    const seen: number[] = [];
    const stop = index.subscribe((c) => seen.push(c.version));
    index.applyAll([change('a', 1), change('a', 1), change('b', 2)]);
    stop();
    index.apply(change('c', 3));
    expect(seen).toEqual([1, 2]);
  });
});
