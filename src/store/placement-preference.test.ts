import { type CellView, decidePlacement } from './placement-decision.js';
import { customersPreferring, preferenceCells, preferredCell, type PreferenceCustomer } from './placement-preference.js';
import { prng } from '../../test/support/prng.js';


const cell = (name: string, region: string, weight: number, over: Partial<CellView> = {}): CellView => ({
  name,
  region,
  state: 'Active',
  ready: true,
  weight,
  maxCustomers: 1_000_000,
  customers: 0,
  ...over,
});

interface Placed extends PreferenceCustomer {
  cell: string;
  pinned: boolean;
}

/** A generated fleet: cells in two regions with random weights, customers placed by the placement function, some bound, some pinned. */
function fleet(seed: number, customers = 3000) {
  const random = prng(seed);
  const cells: CellView[] = [];
  for (const region of ['eu-west-1', 'us-east-1']) {
    const n = 2 + Math.floor(random() * 4);
    for (let i = 0; i < n; i++) cells.push(cell(`${region}-${i}`, region, 20 + Math.floor(random() * 180)));
  }
  const placed: Placed[] = [];
  for (let i = 0; i < customers; i++) {
    const r = random();
    const region = r < 0.3 ? 'eu-west-1' : r < 0.5 ? 'us-east-1' : null;
    const pin = random() < 0.05 ? (cells[Math.floor(random() * cells.length)] as CellView) : undefined;
    const id = `c${seed}-${i}`;
    if (pin && region !== null && pin.region !== region) continue; // a pin must respect the binding
    const d = decidePlacement({ customerId: id, region, cell: pin?.name ?? null }, cells);
    if (d.kind !== 'Placed') throw new Error(d.reason);
    placed.push({ id, region, cell: d.cell, pinned: pin !== undefined });
  }
  return { cells, placed, random };
}

describe('customersPreferring (the split selection)', () => {
  it.each([1, 2, 3, 4, 5, 6, 7, 8])('selects exactly the customers a new cell now wins, and no other (fleet %i)', (seed) => {
    const { cells, placed, random } = fleet(seed);
    const target = cell('eu-west-1-new', 'eu-west-1', 20 + Math.floor(random() * 180));
    const after = [...cells, target];
    const before = preferenceCells(cells);
    const afterView = preferenceCells(after);
    const pinned = new Set(placed.filter((p) => p.pinned).map((p) => p.id));

    let selectedTotal = 0;
    for (const source of cells) {
      const inSource = placed.filter((p) => p.cell === source.name);
      const selected = new Set(customersPreferring(inSource, after, target.name, pinned));
      selectedTotal += selected.size;
      for (const p of inSource) {
        const moved = preferredCell(p, afterView) !== preferredCell(p, before);
        // Selected exactly when the preference changed, for a customer who is not pinned.
        expect({ id: p.id, selected: selected.has(p.id) }).toEqual({ id: p.id, selected: moved && !p.pinned });
        if (selected.has(p.id)) {
          expect(p.region === null || p.region === target.region).toBe(true);
          expect(preferredCell(p, before)).toBe(source.name); // only customers where hashing put them
        }
      }
    }
    // The new cell wins about its weight's share of the customers that may go there.
    const eligible = placed.filter((p) => !p.pinned && (p.region === null || p.region === 'eu-west-1'));
    expect(selectedTotal).toBeGreaterThan(0);
    expect(selectedTotal).toBeLessThan(eligible.length);
  });

  it('never selects a pinned customer or one bound to another region', () => {
    const eu = [cell('eu-a', 'eu-west-1', 100), cell('eu-b', 'eu-west-1', 100)];
    const us = cell('us-a', 'us-east-1', 100);
    const customers = Array.from({ length: 2000 }, (_, i) => ({ id: `k${i}`, region: i % 2 === 0 ? 'us-east-1' : null }));
    // Even ids are bound to us-east-1: none may go to an eu cell.
    const chosen = customersPreferring(customers, [...eu, cell('eu-new', 'eu-west-1', 100)], 'eu-new');
    expect(chosen.length).toBeGreaterThan(0);
    expect(chosen.every((id) => Number(id.slice(1)) % 2 === 1)).toBe(true);
    const pinned = new Set(chosen.slice(0, 10));
    const without = customersPreferring(customers, [...eu, us, cell('eu-new', 'eu-west-1', 100)], 'eu-new', pinned);
    expect(without.some((id) => pinned.has(id))).toBe(false);
  });

  it('selects nobody for a target of weight 0, a cordoned target or one that is not Active', () => {
    const customers = Array.from({ length: 500 }, (_, i) => ({ id: `z${i}`, region: null }));
    const base = [cell('a', 'eu-west-1', 100)];
    expect(customersPreferring(customers, [...base, cell('t', 'eu-west-1', 0)], 't')).toEqual([]);
    expect(customersPreferring(customers, [...base, cell('t', 'eu-west-1', 100, { cordonedBy: 'drain' })], 't')).toEqual([]);
    expect(customersPreferring(customers, [...base, cell('t', 'eu-west-1', 100, { state: 'Cordoned' })], 't')).toEqual([]);
  });

  it('ignores load and readiness: a full or not yet Ready source keeps its customers', () => {
    const customers = Array.from({ length: 1000 }, (_, i) => ({ id: `f${i}`, region: null }));
    const empty = [cell('a', 'eu-west-1', 100), cell('t', 'eu-west-1', 100)];
    const loaded = [cell('a', 'eu-west-1', 100, { customers: 1_000_000, ready: false }), cell('t', 'eu-west-1', 100)];
    expect(customersPreferring(customers, loaded, 't')).toEqual(customersPreferring(customers, empty, 't'));
  });
});
