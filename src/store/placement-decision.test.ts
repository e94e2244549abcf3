import { type CellView, decidePlacement, type PlacementRequest } from './placement-decision.js';

const cell = (name: string, over: Partial<CellView> = {}): CellView => ({
  name,
  region: 'eu-west-1',
  state: 'Active',
  ready: true,
  weight: 100,
  maxCustomers: 1000,
  customers: 0,
  ...over,
});

const eu = [cell('eu-a'), cell('eu-b'), cell('eu-c')];
const us = [cell('us-a', { region: 'us-east-1' }), cell('us-b', { region: 'us-east-1' })];
const all = [...eu, ...us];

function placedCell(request: PlacementRequest, cells: readonly CellView[], strategy: 'Hash' | 'LeastLoaded' = 'Hash'): string {
  const d = decidePlacement(request, cells, strategy);
  if (d.kind !== 'Placed') throw new Error(`expected Placed, got: ${d.reason}`);
  return d.cell;
}

describe('decidePlacement', () => {
  it('keeps a customer bound to a region inside that region', () => {
    for (let i = 0; i < 500; i++) {
      expect(placedCell({ customerId: `c${i}`, region: 'eu-west-1' }, all)).toMatch(/^eu-/);
      expect(placedCell({ customerId: `c${i}`, region: 'us-east-1' }, all)).toMatch(/^us-/);
    }
  });

  it('gives the same answer for the same customer whatever the order of the cells', () => {
    for (let i = 0; i < 200; i++) {
      const r = { customerId: `customer-${i}` };
      expect(placedCell(r, all)).toBe(placedCell(r, [...all].reverse()));
    }
  });

  it('moves only the customers that a new cell wins when a cell is added', () => {
    let moved = 0;
    const n = 5000;
    const bigger = [...eu, cell('eu-d')];
    for (let i = 0; i < n; i++) {
      const before = placedCell({ customerId: `k${i}` }, eu);
      const after = placedCell({ customerId: `k${i}` }, bigger);
      if (before !== after) {
        expect(after).toBe('eu-d');
        moved++;
      }
    }
    expect(moved / n).toBeGreaterThan(0.2); // about 1/4 should move to the new cell
    expect(moved / n).toBeLessThan(0.3);
  });

  it('skips a full cell and ranks the other eligible cells as fallbacks', () => {
    const cells = [cell('eu-a', { customers: 1000 }), cell('eu-b'), cell('eu-c')];
    for (let i = 0; i < 100; i++) {
      const d = decidePlacement({ customerId: `x${i}` }, cells);
      expect(d.kind).toBe('Placed');
      if (d.kind === 'Placed') {
        expect(d.cell).not.toBe('eu-a');
        expect([...d.candidates].sort()).toEqual(['eu-b', 'eu-c']);
        expect(d.candidates[0]).toBe(d.cell);
      }
    }
  });

  it('counts capacity reserved by migrations and respects the device limit', () => {
    const cells = [cell('eu-a', { customers: 990, reserved: 10 }), cell('eu-b', { maxDevices: 100, devices: 90 }), cell('eu-c')];
    for (let i = 0; i < 50; i++) expect(placedCell({ customerId: `d${i}`, expectedDevices: 20 }, cells)).toBe('eu-c');
  });

  it('never picks a cell of weight 0 by hash, but lets a pin use it', () => {
    const cells = [cell('eu-a', { weight: 0 }), cell('eu-b')];
    for (let i = 0; i < 100; i++) expect(placedCell({ customerId: `w${i}` }, cells)).toBe('eu-b');
    expect(placedCell({ customerId: 'pinned', cell: 'eu-a' }, cells)).toBe('eu-a');
  });

  it('honours a pin to an eligible cell in any region when the customer is not bound', () => {
    expect(placedCell({ customerId: 'acme', cell: 'us-b' }, all)).toBe('us-b');
  });

  it('refuses a pin to an unknown cell', () => {
    const d = decidePlacement({ customerId: 'acme', cell: 'eu-z' }, all);
    expect(d).toMatchObject({ kind: 'Unschedulable', reason: 'pinned cell eu-z does not exist' });
  });

  it('refuses a pin to a full cell, saying how full', () => {
    const d = decidePlacement({ customerId: 'acme', cell: 'eu-a' }, [cell('eu-a', { customers: 1000 }), cell('eu-b')]);
    expect(d).toMatchObject({ kind: 'Unschedulable', reason: 'pinned cell eu-a is full (1000/1000 customers)' });
  });

  it('refuses a pin to a cell of another region than the bound one', () => {
    const d = decidePlacement({ customerId: 'acme', region: 'eu-west-1', cell: 'us-a' }, all);
    expect(d).toMatchObject({ kind: 'Unschedulable', reason: 'pinned cell us-a is in region us-east-1, not eu-west-1' });
  });

  it('says which regions have cells when the bound region has none', () => {
    const d = decidePlacement({ customerId: 'acme', region: 'ap-south-1' }, all);
    expect(d).toMatchObject({ kind: 'Unschedulable', reason: 'no cell in region ap-south-1 (cells exist in eu-west-1, us-east-1)' });
  });

  it('lists every cell and why it was excluded when none is eligible', () => {
    const cells = [
      cell('eu-a', { customers: 1000 }),
      cell('eu-b', { ready: false }),
      cell('eu-c', { state: 'Cordoned' }),
      cell('eu-d', { weight: 0 }),
      cell('us-a', { region: 'us-east-1' }),
    ];
    const d = decidePlacement({ customerId: 'acme', region: 'eu-west-1' }, cells);
    expect(d.kind).toBe('Unschedulable');
    if (d.kind !== 'Unschedulable') return;
    expect(d.reason).toBe(
      'no eligible cell in region eu-west-1: eu-a full (1000/1000 customers); eu-b not Ready; ' +
        'eu-c Cordoned, takes no new customers; eu-d has weight 0 (pinned customers only); other regions: us-a',
    );
    expect(d.exclusions.map((e) => `${e.cell}:${e.reason}`)).toEqual([
      'eu-a:Full',
      'eu-b:NotReady',
      'eu-c:NotActive',
      'eu-d:ZeroWeight',
      'us-a:OtherRegion',
    ]);
  });

  it("treats a cell cordoned by a drain as not Active, by hash, by LeastLoaded and for a pin, naming the Migration", () => {
    const cells = [cell('eu-a', { cordonedBy: 'drain-eu-a' }), cell('eu-b', { customers: 900 }), cell('eu-c', { customers: 950 })];
    for (let i = 0; i < 200; i++) {
      expect(placedCell({ customerId: `c${i}` }, cells)).not.toBe('eu-a');
      // eu-a has the most room, but is cordoned.
      expect(placedCell({ customerId: `c${i}` }, cells, 'LeastLoaded')).toBe('eu-b');
    }
    const placed = decidePlacement({ customerId: 'acme' }, cells);
    expect(placed.kind === 'Placed' && placed.candidates).toEqual(expect.not.arrayContaining(['eu-a']));
    expect(decidePlacement({ customerId: 'acme', cell: 'eu-a' }, cells)).toMatchObject({
      kind: 'Unschedulable',
      reason: 'pinned cell eu-a is cordoned by Migration drain-eu-a (drain), takes no new customers',
      exclusions: [{ cell: 'eu-a', reason: 'NotActive' }],
    });
    const alone = decidePlacement({ customerId: 'acme', region: 'eu-west-1' }, [cells[0] as CellView]);
    expect(alone).toMatchObject({
      kind: 'Unschedulable',
      reason: 'no eligible cell in region eu-west-1: eu-a cordoned by Migration drain-eu-a (drain), takes no new customers',
    });
  });

  it('is unschedulable with no cells at all', () => {
    expect(decidePlacement({ customerId: 'acme' }, [])).toMatchObject({ kind: 'Unschedulable', reason: 'no cells are registered' });
  });

  it('spreads customers in proportion to the weights', () => {
    const cells = [cell('a', { weight: 100 }), cell('b', { weight: 200 }), cell('c', { weight: 300 }), cell('d', { weight: 400 })];
    const counts = new Map<string, number>();
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const c = placedCell({ customerId: `cust-${i}` }, cells);
      counts.set(c, (counts.get(c) ?? 0) + 1);
    }
    for (const c of cells) {
      const share = (counts.get(c.name) ?? 0) / n;
      expect(Math.abs(share / (c.weight / 1000) - 1)).toBeLessThan(0.03);
    }
  });

  it('puts a customer where there is most room with LeastLoaded', () => {
    const cells = [cell('eu-a', { customers: 500 }), cell('eu-b', { customers: 100 }), cell('eu-c', { customers: 300, maxCustomers: 500 })];
    const d = decidePlacement({ customerId: 'acme' }, cells, 'LeastLoaded');
    expect(d).toMatchObject({ kind: 'Placed', cell: 'eu-b', candidates: ['eu-b', 'eu-a', 'eu-c'] });
  });
});
