// What the write fence inside a cell database costs the ingestion path when nobody is being moved:
// insert throughput into the telemetry table with the fence installed (its trigger on the table,
// BENCH_FENCED_OTHERS other customers fenced meanwhile, default 1,000) against the same table
// without the trigger (the baseline), measured in the same run on the same server, in alternating
// rounds (BENCH_ROUNDS, default 3, of BENCH_ROUND_MS each, default 3000) so drift hits both sides.
// Two shapes: single-row INSERT transactions from BENCH_CLIENTS clients (default 4), as a gateway
// or ingestion worker writes, and 100-row INSERTs (a batching worker). Goal: ratio >= 0.95.
import pg from 'pg';
import { installFence, liftFence, markCustomer } from '../src/data/cell-fence.js';
import { FENCE_TRIGGER } from '../src/data/cell-fence-sql.js';
import { startPostgres } from '../test/support/postgres.js';
import { fmt } from './support/move-bench.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 3_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const FENCED_OTHERS = Number(process.env.BENCH_FENCED_OTHERS ?? 1_000);
const CUSTOMERS = 200;

const server = await startPostgres();
const pool = new pg.Pool({ connectionString: server.url, max: CLIENTS + 2 });
pool.on('error', () => undefined);
try {
  await pool.query(`CREATE TABLE readings (
    customer_id text NOT NULL, id bigint NOT NULL, received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    device text NOT NULL, value double precision NOT NULL, PRIMARY KEY (customer_id, id))`);
  await pool.query('CREATE INDEX readings_received_idx ON readings (customer_id, received_at, id)');
  await installFence(pool, 'customer_id', [{ schema: 'public', table: 'readings' }]);
  for (let i = 0; i < FENCED_OTHERS; i++) await markCustomer(pool, `elsewhere-${i}`, 'bench-other-moves', i % 2 ? 'MovedOut' : 'Fenced');
  // The trigger's function stays; the baseline only takes the trigger off the table.
  const { rows: fnRows } = await pool.query<{ def: string }>(
    `SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t WHERE t.tgname = $1 AND t.tgrelid = 'readings'::regclass`,
    [FENCE_TRIGGER],
  );
  const createTrigger = fnRows[0]?.def as string;
  let nextId = 1;

  async function round(shape: 'single' | 'batch'): Promise<number> {
    let rows = 0;
    const deadline = performance.now() + ROUND_MS;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, w) => {
        const c = await pool.connect();
        try {
          let n = 0;
          while (performance.now() < deadline) {
            const customer = `customer-${(w * 7919 + n++) % CUSTOMERS}`;
            if (shape === 'single') {
              await c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'd1', 1.5)`, [customer, nextId++]);
              rows += 1;
            } else {
              const first = nextId;
              nextId += 100;
              await c.query(
                `INSERT INTO readings (customer_id, id, device, value) SELECT $1, $2::bigint + g, 'd' || (g % 10), g FROM generate_series(0, 99) g`,
                [customer, first],
              );
              rows += 100;
            }
          }
        } finally {
          c.release();
        }
      }),
    );
    return (rows / (performance.now() - started)) * 1000;
  }

  async function setFence(on: boolean): Promise<void> {
    await pool.query(on ? createTrigger : `DROP TRIGGER IF EXISTS ${FENCE_TRIGGER} ON readings`);
  }

  console.log(
    `insert throughput with the cell fence installed vs without, ${CLIENTS} clients, ${ROUNDS} alternating rounds of ${ROUND_MS} ms, ${FENCED_OTHERS} other customers fenced`,
  );
  for (const shape of ['single', 'batch'] as const) {
    const plain: number[] = [];
    const fenced: number[] = [];
    await setFence(false);
    await round(shape); // warm-up
    for (let r = 0; r < ROUNDS; r++) {
      await setFence(false);
      plain.push(await round(shape));
      await setFence(true);
      fenced.push(await round(shape));
      await pool.query('VACUUM readings');
    }
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    const base = sum(plain) / plain.length;
    const withFence = sum(fenced) / fenced.length;
    const label = shape === 'single' ? 'single-row INSERT transactions' : '100-row INSERTs';
    console.log(`  ${label}: without the fence ${fmt(base)} rows/s (baseline), with it ${fmt(withFence)} rows/s; ratio ${(withFence / base).toFixed(3)} (goal >= 0.95)`);
  }
  await liftFence(pool, 'elsewhere-0', 'bench-other-moves');
} finally {
  await pool.end();
  await server.stop();
}
