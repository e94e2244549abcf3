// Memory of the router's index at N customers (default 1,000,000; BENCH_CUSTOMERS): heap plus
// ArrayBuffer bytes per customer after a full GC (goal <= 200), against a plain
// Map<string, {cell, epoch, state, version}> of the same rows built in the same run.
// Run with --expose-gc: `node --expose-gc --import tsx bench/index-memory.ts`.
import { RouteIndex } from '../src/router/route-index.js';

const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) {
  console.error('run with node --expose-gc --import tsx bench/index-memory.ts');
  process.exit(2);
}
const N = Number(process.env.BENCH_CUSTOMERS ?? 1_000_000);
const CELLS = Array.from({ length: 10 }, (_, i) => `eu-west-1-cell-${i}`);

function used(): number {
  gc!();
  gc!();
  const m = process.memoryUsage();
  return m.heapUsed + m.arrayBuffers;
}

// Ids are made inside each build so that each structure pays for its own key strings.
const idOf = (i: number): string => `cust-${String(i).padStart(7, '0')}`;

function measure<T>(name: string, build: () => T): { perCustomer: number; kept: T } {
  const before = used();
  const t0 = performance.now();
  const kept = build();
  const took = performance.now() - t0;
  const after = used();
  const perCustomer = (after - before) / N;
  console.log(`  ${name.padEnd(34)} ${perCustomer.toFixed(1).padStart(7)} bytes/customer  (built in ${(took / 1000).toFixed(2)} s)`);
  return { perCustomer, kept };
}

console.log(`index memory at ${N} customers (heapUsed + arrayBuffers delta after GC)`);
const baseline = measure('baseline Map<string, object>', () => {
  const m = new Map<string, { cell: string; epoch: number; state: string; version: number }>();
  for (let i = 0; i < N; i++) m.set(idOf(i), { cell: CELLS[i % 10]!, epoch: 1, state: 'Active', version: i + 1 });
  return m;
});
const baselineSize = baseline.kept.size;
baseline.kept.clear();

const index = measure('RouteIndex (with snapshot order)', () => {
  const idx = new RouteIndex();
  for (let i = 0; i < N; i++) idx.apply({ customerId: idOf(i), cell: CELLS[i % 10]!, state: 'Active', epoch: 1, version: i + 1 });
  idx.snapshotPage(undefined, 1, 0); // builds the id-ordered array that snapshots page through
  idx.loaded = true;
  return idx;
});

if (index.kept.size !== N || baselineSize !== N) throw new Error('wrong sizes');
console.log(`RouteIndex: ${index.perCustomer.toFixed(1)} bytes/customer (goal <= 200); ratio to the plain Map: ${(index.perCustomer / baseline.perCustomer).toFixed(3)}`);
