// Balance of hash placement: N customers (default 1,000,000; BENCH_CUSTOMERS) placed by
// decidePlacement over 10 equal cells (goal: max/mean <= 1.01), over weighted cells (goal: every
// share within 1% of its weight), and how many customers a new cell takes from the others.
// Baselines in the same run: `hash % cells` (the ADR's formula) and a uniform random draw.
import { type CellView, decidePlacement } from '../src/store/placement-decision.js';
import { hash64 } from '../src/store/rendezvous-hash.js';

const N = Number(process.env.BENCH_CUSTOMERS ?? 1_000_000);
const ids = Array.from({ length: N }, (_, i) => `cust-${String(i).padStart(7, '0')}`);

const cell = (name: string, weight = 100): CellView => ({ name, region: 'eu-west-1', state: 'Active', ready: true, weight, maxCustomers: Number.MAX_SAFE_INTEGER, customers: 0 });
const equal = Array.from({ length: 10 }, (_, i) => cell(`cell-${i}`));

function place(cells: CellView[]): Map<string, string[]> & { took: number } {
  const byCell = new Map<string, string[]>(cells.map((c) => [c.name, []]));
  const t0 = performance.now();
  for (const id of ids) {
    const d = decidePlacement({ customerId: id }, cells);
    if (d.kind !== 'Placed') throw new Error(d.reason);
    byCell.get(d.cell)!.push(id);
  }
  return Object.assign(byCell, { took: performance.now() - t0 });
}

function maxOverMean(counts: number[]): number {
  const mean = counts.reduce((a, b) => a + b, 0) / counts.length;
  return Math.max(...counts) / mean;
}

const f = (x: number, d = 4): string => x.toFixed(d);
/** The full 64-bit hash modulo n, exactly (hi * 2^32 + lo overflows a double's 53 bits). */
const mod64 = (id: string, n: number): number => {
  const h = hash64(id);
  return ((h.hi % n) * (4294967296 % n) + (h.lo % n)) % n;
};

// 1. Ten equal cells.
const equalRun = place(equal);
const rendezvous = maxOverMean([...equalRun.values()].map((v) => v.length));
const modulo = new Array<number>(10).fill(0);
const random = new Array<number>(10).fill(0);
for (const id of ids) {
  modulo[mod64(id, 10)]! += 1;
  random[Math.floor(Math.random() * 10)]! += 1;
}
console.log(`placement balance: ${N} customers over 10 equal cells (${f(equalRun.took / N * 1000, 2)} µs per decision)`);
console.log(`  rendezvous max/mean   ${f(rendezvous)}   (goal <= 1.01)`);
console.log(`  baseline hash % 10    ${f(maxOverMean(modulo))}   ratio rendezvous/modulo ${f(rendezvous / maxOverMean(modulo))}`);
console.log(`  baseline random       ${f(maxOverMean(random))}   ratio rendezvous/random ${f(rendezvous / maxOverMean(random))}`);

// 2. Weighted cells; baseline: a weighted random draw (the statistical floor at this N).
const weights = [100, 200, 300, 400];
const weighted = weights.map((w, i) => cell(`w-${i}`, w));
const weightedRun = place(weighted);
const total = weights.reduce((a, b) => a + b, 0);
const drawn = new Array<number>(weights.length).fill(0);
for (let i = 0; i < N; i++) {
  let x = Math.random() * total;
  let k = 0;
  while (x >= weights[k]!) x -= weights[k++]!;
  drawn[k]! += 1;
}
let worst = 0;
let worstRandom = 0;
console.log(`weights ${weights.join('/')}:`);
for (const [i, c] of weighted.entries()) {
  const expected = weights[i]! / total;
  const share = weightedRun.get(c.name)!.length / N;
  const error = share / expected - 1;
  worst = Math.max(worst, Math.abs(error));
  worstRandom = Math.max(worstRandom, Math.abs(drawn[i]! / N / expected - 1));
  console.log(`  ${c.name}: weight ${weights[i]} share ${f(share * 100, 3)}% (expected ${f(expected * 100, 3)}%), relative error ${(error * 100).toFixed(3)}%`);
}
console.log(`  worst relative error ${(worst * 100).toFixed(3)}% (goal <= 1%); weighted random draw ${(worstRandom * 100).toFixed(3)}%`);

// 3. Adding an 11th cell: who moves.
const eleven = [...equal, cell('cell-10')];
let movedRendezvous = 0;
let movedModulo = 0;
const before = new Map<string, string>();
for (const [name, list] of equalRun) for (const id of list) before.set(id, name);
for (const id of ids) {
  const d = decidePlacement({ customerId: id }, eleven);
  if (d.kind === 'Placed' && d.cell !== before.get(id)) movedRendezvous++;
  if (mod64(id, 10) !== mod64(id, 11)) movedModulo++;
}
console.log(`adding an 11th cell moves ${f((movedRendezvous / N) * 100, 2)}% of customers (ideal ${f(100 / 11, 2)}%); hash % n would move ${f((movedModulo / N) * 100, 2)}% (ratio ${f(movedRendezvous / movedModulo, 3)})`);
