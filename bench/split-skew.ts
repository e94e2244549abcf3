// A split at scale: N customers (default 1,000,000; BENCH_CUSTOMERS) placed by decidePlacement
// over 10 equal cells, then an 11th cell of the same weight is added and every cell's split
// selection (customers.preferTarget, placement-preference.ts) is computed. Reports the fraction
// of customers selected against the ideal 1/11 (ratio, goal within 1%), that nobody else changes
// cell (exactly 0), and the skew (hottest cell above its share) before and after the split, with
// the skew of a uniform random draw of the same N as the statistical floor, in the same run.
import { type CellView, decidePlacement } from '../src/store/placement-decision.js';
import { customersPreferring, preferenceCells, preferredCell } from '../src/store/placement-preference.js';
import { skewPercent } from '../src/controllers/rebalance/rebalance-proposal.js';

const N = Number(process.env.BENCH_CUSTOMERS ?? 1_000_000);
const cell = (name: string): CellView => ({ name, region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: Number.MAX_SAFE_INTEGER, customers: 0 });
const ten = Array.from({ length: 10 }, (_, i) => cell(`cell-${String(i).padStart(2, '0')}`));
const eleven = [...ten, cell('cell-10')];

const ids = Array.from({ length: N }, (_, i) => `cust-${String(i).padStart(7, '0')}`);
const where = new Map<string, string[]>(ten.map((c) => [c.name, []]));
let t = performance.now();
for (const id of ids) {
  const d = decidePlacement({ customerId: id }, ten);
  if (d.kind !== 'Placed') throw new Error(d.reason);
  where.get(d.cell)!.push(id);
}
const placeMs = performance.now() - t;

t = performance.now();
let selected = 0;
const after = new Map<string, number>(eleven.map((c) => [c.name, 0]));
for (const [name, members] of where) {
  const chosen = customersPreferring(members.map((id) => ({ id, region: null })), eleven, 'cell-10');
  selected += chosen.length;
  after.set(name, members.length - chosen.length);
  after.set('cell-10', (after.get('cell-10') ?? 0) + chosen.length);
}
const splitMs = performance.now() - t;

// Nobody else moves: every customer not selected still prefers its cell among the eleven.
const view = preferenceCells(eleven);
let strays = 0;
for (const [name, members] of where) for (const id of members) {
  const p = preferredCell({ id, region: null }, view);
  if (p !== name && p !== 'cell-10') strays++;
}

const random = new Array<number>(11).fill(0);
for (let i = 0; i < N; i++) random[Math.floor(Math.random() * 11)]! += 1;
const weights11 = new Array<number>(11).fill(100);
const before = skewPercent([...where.values()].map((m) => m.length), new Array<number>(10).fill(100));
const skewAfter = skewPercent([...after.values()], weights11);
const floor = skewPercent(random, weights11);
const fraction = selected / N;

console.log(`split of ${N} customers from 10 to 11 equal cells (placed in ${(placeMs / 1000).toFixed(1)} s, selections in ${(splitMs / 1000).toFixed(1)} s)`);
console.log(`  selected ${selected} = ${(fraction * 100).toFixed(3)}% of customers; ideal 1/11 = ${(100 / 11).toFixed(3)}%; ratio ${(fraction * 11).toFixed(4)} (goal 0.99..1.01)`);
console.log(`  customers whose preference changed to a cell other than the new one: ${strays} (goal 0)`);
console.log(`  skew before (10 cells) ${before.toFixed(3)}%, after (11 cells) ${skewAfter.toFixed(3)}%; uniform random draw over 11: ${floor.toFixed(3)}%; ratio after/random ${(skewAfter / floor).toFixed(3)}`);
