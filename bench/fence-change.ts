// What one fence change in a cell database costs (src/data/cell-fence.ts), without the rest of a
// move: BENCH_FENCE_CHANGES (default 50) customers each fenced (a drain), marked moved out (a drain),
// lifted, and lifted again (a lift that finds nothing: a move's Finish), one change at a time, on a
// plain PostgreSQL cell or (BENCH_CITUS=1) a Citus cell of a coordinator and 2 workers. Prints each
// kind's mean time and the engine's CPU per change (this process: the statements it sends).
import { fenceCustomer, installFence, liftFence, markCustomer } from '../src/data/cell-fence.js';
import { READINGS_ONLY, startCells } from './support/move-bench.js';

const CHANGES = Number(process.env.BENCH_FENCE_CHANGES ?? 50);

const cells = await startCells();
try {
  const pool = cells.pools['cell-a']!;
  await installFence(pool, READINGS_ONLY.tenantColumn, [{ schema: 'public', table: 'readings' }]);
  const kinds = {
    'fence (drains)': (c: string) => fenceCustomer(pool, c, 'bench', 'Fenced', 1_000),
    'moved out (drains)': (c: string) => markCustomer(pool, c, 'bench', 'MovedOut'),
    lift: (c: string) => liftFence(pool, c, 'bench'),
    'lift, none there': (c: string) => liftFence(pool, c, 'bench'),
  };
  const ms = Object.fromEntries(Object.keys(kinds).map((k) => [k, 0]));
  for (const c of ['warm-1', 'warm-2']) for (const change of Object.values(kinds)) await change(c);
  const cpu = process.cpuUsage();
  for (let i = 0; i < CHANGES; i++) {
    for (const [kind, change] of Object.entries(kinds)) {
      const t = performance.now();
      await change(`fence-change-${i}`);
      ms[kind] = (ms[kind] ?? 0) + performance.now() - t;
    }
  }
  const used = process.cpuUsage(cpu);
  console.log(`fence changes on ${process.env.BENCH_CITUS ? 'Citus (a coordinator, 2 workers)' : 'plain PostgreSQL'}, ${CHANGES} of each kind, one at a time`);
  for (const [kind, total] of Object.entries(ms)) console.log(`  ${kind.padStart(20)} ${(total / CHANGES).toFixed(2)} ms`);
  console.log(`  engine CPU per change: ${((used.user + used.system) / 1000 / CHANGES / Object.keys(kinds).length).toFixed(2)} ms`);
} finally {
  await cells.stop();
}
