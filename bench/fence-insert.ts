// What the write fence inside a cell database costs the ingestion path when nobody is being moved:
// insert throughput into the telemetry table with the fence installed (its trigger on the table,
// BENCH_FENCED_OTHERS other customers fenced meanwhile, default 1,000) against the same table
// without the trigger (the baseline), measured in the same run on the same server.
// Like for like: the same table emptied before every round, the same rows, the same connections;
// BENCH_ROUNDS pairs of rounds (default 9) of BENCH_ROUND_MS each (default 1000), the order inside
// a pair alternating (without-with, with-without) so drift and table growth hit both sides; the
// figure is the median of the pairs' ratios, each pair's ratio printed too. Besides the rows per
// second, the CPU per row (the server backends' from /proc plus this client's), which other load
// on a shared machine disturbs far less than wall-clock throughput.
// Three shapes, from BENCH_CLIENTS clients (default 4): single-row INSERT transactions (a gateway
// writing straight to the database), 100-row INSERTs of one customer (a batching writer), and the
// ingestion worker's own statement (100 rows of many customers, unnest, ON CONFLICT DO NOTHING).
// Goal: ratio >= 0.95.
// Then the server alone: a procedure in one backend inserting BENCH_SERVER_ROWS rows (default
// 30,000 one a transaction, 100,000 in 100-row statements of one customer, and as many in 100-row
// statements of 100 customers as the ingestion worker writes), its CPU per row with and without the
// trigger, BENCH_SERVER_ROUNDS alternating pairs (default 5): no client, no parsing, so the
// trigger's share is larger than in the figures above, but steady on a busy machine.
import pg from 'pg';
import { installFence, liftFence, markCustomer } from '../src/data/cell-fence.js';
import { FENCE_INSERT_TRIGGER, FENCE_TRIGGER } from '../src/data/cell-fence-sql.js';
import { startPostgres } from '../test/support/postgres.js';
import { fmt } from './support/move-bench.js';
import { processCpuMs } from './support/process-cpu.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 9);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 1_000);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
const FENCED_OTHERS = Number(process.env.BENCH_FENCED_OTHERS ?? 1_000);
const CUSTOMERS = 200;
const SERVER_ROUNDS = Number(process.env.BENCH_SERVER_ROUNDS ?? 5);
const SERVER_ROWS = Number(process.env.BENCH_SERVER_ROWS ?? 30_000);

type Shape = 'single' | 'batch' | 'ingest';
const ALL_SHAPES: readonly Shape[] = ['single', 'batch', 'ingest'];
/** BENCH_SHAPES: the client shapes to run, comma-separated (default all three; empty: the server alone only). */
const SHAPES = (process.env.BENCH_SHAPES ?? ALL_SHAPES.join(',')).split(',').filter((x) => x !== '') as Shape[];
for (const s of SHAPES) if (!ALL_SHAPES.includes(s)) throw new Error(`BENCH_SHAPES: unknown shape ${s} (one of ${ALL_SHAPES.join(', ')})`);
const LABELS: Record<Shape, string> = {
  single: 'single-row INSERT transactions',
  batch: '100-row INSERTs of one customer',
  ingest: '100-row INSERTs of many customers (the ingestion worker\'s statement)',
};

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

const server = await startPostgres();
const pool = new pg.Pool({ connectionString: server.url, max: CLIENTS + 2 });
pool.on('error', () => undefined);
const clients: pg.PoolClient[] = [];
try {
  await pool.query(`CREATE TABLE readings (
    customer_id text NOT NULL, id bigint NOT NULL, received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    device text NOT NULL, value double precision NOT NULL, PRIMARY KEY (customer_id, id))`);
  await pool.query('CREATE INDEX readings_received_idx ON readings (customer_id, received_at, id)');
  await installFence(pool, 'customer_id', [{ schema: 'public', table: 'readings' }]);
  for (let i = 0; i < FENCED_OTHERS; i++) await markCustomer(pool, `elsewhere-${i}`, 'bench-other-moves', i % 2 ? 'MovedOut' : 'Fenced');
  // The trigger functions stay; the baseline only takes the fence's two triggers off the table.
  const { rows: defs } = await pool.query<{ def: string }>(
    `SELECT pg_get_triggerdef(t.oid) AS def FROM pg_trigger t WHERE t.tgname IN ($1, $2) AND t.tgrelid = 'readings'::regclass`,
    [FENCE_TRIGGER, FENCE_INSERT_TRIGGER],
  );
  if (defs.length !== 2) throw new Error(`expected the fence's two triggers on readings, found ${defs.length}`);
  for (let i = 0; i < CLIENTS; i++) clients.push(await pool.connect());
  const pids = await Promise.all(clients.map(async (c) => (await c.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid as number));
  const serverCpu = (): number | undefined => pids.reduce<number | undefined>((sum, p) => (sum === undefined ? undefined : ((x) => (x === undefined ? undefined : sum + x))(processCpuMs(p))), 0);
  let nextId = 1;

  /** One round: rows per second, and CPU µs per row (undefined without /proc). */
  async function round(shape: Shape): Promise<{ rate: number; cpu: number | undefined }> {
    await pool.query('TRUNCATE readings');
    let rows = 0;
    const server0 = serverCpu();
    const client0 = process.cpuUsage();
    const started = performance.now();
    const deadline = started + ROUND_MS;
    await Promise.all(
      clients.map(async (c, w) => {
        let n = 0;
        while (performance.now() < deadline) {
          const customer = `customer-${(w * 7919 + n++) % CUSTOMERS}`;
          if (shape === 'single') {
            await c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'd1', 1.5)`, [customer, nextId++]);
            rows += 1;
          } else if (shape === 'batch') {
            const first = nextId;
            nextId += 100;
            await c.query(
              `INSERT INTO readings (customer_id, id, device, value) SELECT $1, $2::bigint + g, 'd' || (g % 10), g FROM generate_series(0, 99) g`,
              [customer, first],
            );
            rows += 100;
          } else {
            // The ingestion worker's statement (src/ingest/row-writer.ts): a batch of a partition's
            // messages, many customers, as arrays, redeliveries ignored.
            const ids = Array.from({ length: 100 }, () => nextId++);
            await c.query(
              `INSERT INTO readings (customer_id, id, device, value) SELECT * FROM unnest($1::text[], $2::bigint[], $3::text[], $4::float8[]) ON CONFLICT (customer_id, id) DO NOTHING`,
              [ids.map((id) => `customer-${(w * 7919 + id) % CUSTOMERS}`), ids, ids.map((id) => `d${id % 10}`), ids.map((id) => id % 97)],
            );
            rows += 100;
          }
        }
      }),
    );
    const elapsed = performance.now() - started;
    const server1 = serverCpu();
    const client = process.cpuUsage(client0);
    const cpu = server0 === undefined || server1 === undefined ? undefined : ((server1 - server0) * 1000 + client.user + client.system) / rows;
    return { rate: (rows / elapsed) * 1000, cpu };
  }

  async function setFence(on: boolean): Promise<void> {
    await pool.query(`DROP TRIGGER IF EXISTS ${FENCE_TRIGGER} ON readings; DROP TRIGGER IF EXISTS ${FENCE_INSERT_TRIGGER} ON readings`);
    if (on) for (const { def } of defs) await pool.query(def);
  }

  console.log(
    `insert throughput with the cell fence installed vs without, ${CLIENTS} clients, ${ROUNDS} pairs of ${ROUND_MS} ms rounds (order alternating), ${FENCED_OTHERS} other customers fenced`,
  );
  for (const shape of SHAPES) {
    const rates: number[] = [];
    const cpus: number[] = [];
    const plainRates: number[] = [];
    const fencedRates: number[] = [];
    for (const on of [false, true]) {
      await setFence(on);
      await round(shape); // warm-up of both sides (plans, the trigger function's compilation)
    }
    for (let r = 0; r < ROUNDS; r++) {
      const got: Partial<Record<'plain' | 'fenced', { rate: number; cpu: number | undefined }>> = {};
      for (const on of r % 2 ? [true, false] : [false, true]) {
        await setFence(on);
        got[on ? 'fenced' : 'plain'] = await round(shape);
      }
      const plain = got.plain as { rate: number; cpu: number | undefined };
      const fenced = got.fenced as { rate: number; cpu: number | undefined };
      plainRates.push(plain.rate);
      fencedRates.push(fenced.rate);
      rates.push(fenced.rate / plain.rate);
      if (plain.cpu !== undefined && fenced.cpu !== undefined && fenced.cpu > 0) cpus.push(plain.cpu / fenced.cpu);
    }
    console.log(
      `  ${LABELS[shape]}: without the fence ${fmt(median(plainRates))} rows/s (baseline), with it ${fmt(median(fencedRates))} rows/s; ratio ${median(rates).toFixed(3)} (goal >= 0.95; pairs: ${rates.map((x) => x.toFixed(2)).join(' ')})`,
    );
    if (cpus.length > 0) console.log(`    CPU per row, baseline / with the fence: ${median(cpus).toFixed(3)} (pairs: ${cpus.map((x) => x.toFixed(2)).join(' ')})`);
  }

  const loop = clients[0] as pg.PoolClient;
  const loopPid = pids[0] as number;
  if (processCpuMs(loopPid) !== undefined && SERVER_ROUNDS > 0) {
    await loop.query(`CREATE PROCEDURE bench_single(n int, base bigint) LANGUAGE plpgsql AS $p$
      BEGIN FOR i IN 1..n LOOP INSERT INTO readings (customer_id, id, device, value) VALUES ('customer-' || (i % ${CUSTOMERS}), base + i, 'd1', 1.5); COMMIT; END LOOP; END $p$`);
    await loop.query(`CREATE PROCEDURE bench_batch(n int, base bigint) LANGUAGE plpgsql AS $p$
      BEGIN FOR i IN 1..n LOOP INSERT INTO readings (customer_id, id, device, value)
        SELECT 'customer-' || (i % ${CUSTOMERS}), base + i * 100 + g, 'd' || (g % 10), g FROM generate_series(0, 99) g; COMMIT; END LOOP; END $p$`);
    await loop.query(`CREATE PROCEDURE bench_ingest(n int, base bigint) LANGUAGE plpgsql AS $p$
      BEGIN FOR i IN 1..n LOOP INSERT INTO readings (customer_id, id, device, value)
        SELECT 'customer-' || ((i * 100 + g) % ${CUSTOMERS}), base + i * 100 + g, 'd' || (g % 10), g FROM generate_series(0, 99) g
        ON CONFLICT (customer_id, id) DO NOTHING; COMMIT; END LOOP; END $p$`);
    console.log(`the server alone: one backend's CPU per row, ${SERVER_ROUNDS} alternating pairs`);
    for (const shape of ['single', 'batch', 'ingest'] as const) {
      const rows = shape === 'single' ? SERVER_ROWS : SERVER_ROWS * 10 / 3;
      const calls = shape === 'single' ? rows : Math.round(rows / 100);
      const ratios: number[] = [];
      const perRow: Record<'plain' | 'fenced', number[]> = { plain: [], fenced: [] };
      for (let r = 0; r < SERVER_ROUNDS; r++) {
        const got: Partial<Record<'plain' | 'fenced', number>> = {};
        for (const on of r % 2 ? [true, false] : [false, true]) {
          await setFence(on);
          await pool.query('TRUNCATE readings');
          const before = processCpuMs(loopPid) as number;
          await loop.query(`CALL bench_${shape}($1, $2)`, [calls, nextId]);
          nextId += calls * 101;
          got[on ? 'fenced' : 'plain'] = (((processCpuMs(loopPid) as number) - before) * 1000) / (shape === 'single' ? calls : calls * 100);
        }
        perRow.plain.push(got.plain as number);
        perRow.fenced.push(got.fenced as number);
        ratios.push((got.plain as number) / (got.fenced as number));
      }
      const label = { single: 'single-row transactions', batch: '100-row INSERTs of one customer', ingest: '100-row INSERTs of 100 customers' }[shape];
      console.log(
        `  ${label}: ${median(perRow.plain).toFixed(1)} µs per row without the fence, ${median(perRow.fenced).toFixed(1)} with it; ratio ${median(ratios).toFixed(3)} (pairs: ${ratios.map((x) => x.toFixed(2)).join(' ')})`,
      );
    }
  }
  await liftFence(pool, 'elsewhere-0', 'bench-other-moves');
} finally {
  for (const c of clients) c.release();
  await pool.end();
  await server.stop();
}
