// Bulk onboarding of N customers (default 1,000,000; BENCH_CUSTOMERS) through the router's batch
// API (POST /v1/customers:batch, NDJSON in and out, placement decided per row) against a raw
// `COPY placements FROM STDIN` of the same rows (cells decided beforehand, untimed) into the same
// table of the same throw-away server. Order: COPY, API, COPY; the baseline is the mean of the two
// COPYs. Goal: API/COPY <= 2.
import { request } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import pgCopy from 'pg-copy-streams';
import { startPostgres } from '../test/support/postgres.js';
import { silentLogger } from '../src/log.js';
import { startRouter } from '../src/router/router.js';
import { syncCell, listCells } from '../src/store/cells.js';
import { createPool } from '../src/store/connection.js';
import { migrate } from '../src/store/migrate.js';
import { decidePlacement } from '../src/store/placement-decision.js';

const N = Number(process.env.BENCH_CUSTOMERS ?? 1_000_000);
const CHUNK = Number(process.env.BENCH_CHUNK ?? 5000);
const TOKEN = 'bench-token-0123456789';
const idOf = (i: number): string => `cust-${String(i).padStart(7, '0')}`;
const labelsOf = (i: number): string => (i % 10 === 0 ? '{"tier":"enterprise"}' : '{"tier":"standard"}');
const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;

const server = await startPostgres({ settings: { max_wal_size: '4GB', shared_buffers: '256MB', checkpoint_timeout: '30min' } });
const pool = createPool({ url: server.url, poolMax: 4 });
try {
  await migrate(pool);
  const cellDescriptions = Array.from({ length: 10 }, (_, i) => ({
    name: `eu-west-1-cell-${i}`,
    region: 'eu-west-1',
    state: 'Active' as const,
    ready: true,
    weight: 100,
    maxCustomers: 10_000_000,
    endpoints: { kafkaBootstrap: `kafka.cell-${i}.svc:9092` },
  }));
  for (const c of cellDescriptions) await syncCell(pool, c);
  const cellViews = (await listCells(pool)).map((c) => ({ ...c, maxCustomers: Number.MAX_SAFE_INTEGER }));
  const cellOf: string[] = new Array(N);
  for (let i = 0; i < N; i++) {
    const d = decidePlacement({ customerId: idOf(i) }, cellViews);
    if (d.kind !== 'Placed') throw new Error(d.reason);
    cellOf[i] = d.cell;
  }

  const reset = async (): Promise<void> => {
    await pool.query('TRUNCATE placements, placement_tombstones');
    await pool.query('UPDATE cells SET customers = 0, devices = 0');
    await pool.query('CHECKPOINT');
  };
  const count = async (): Promise<number> => (await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM placements')).rows[0]!.n;

  const rawCopy = async (): Promise<number> => {
    await reset();
    const client = await pool.connect();
    try {
      const t0 = performance.now();
      const rows = Readable.from(
        (function* () {
          let buf = '';
          for (let i = 0; i < N; i++) {
            buf += `${idOf(i)}\t${cellOf[i]}\t10\t${labelsOf(i)}\n`;
            if (buf.length > 256 * 1024) {
              yield buf;
              buf = '';
            }
          }
          if (buf) yield buf;
        })(),
      );
      await pipeline(rows, client.query(pgCopy.from('COPY placements (customer_id, cell, expected_devices, labels) FROM STDIN')));
      const took = performance.now() - t0;
      if ((await count()) !== N) throw new Error('COPY lost rows');
      return took;
    } finally {
      client.release();
    }
  };

  const viaApi = async (): Promise<{ took: number; indexed: number }> => {
    await reset();
    const router = await startRouter({ database: { url: server.url, poolMax: 4 }, host: '127.0.0.1', port: 0, token: TOKEN, log: silentLogger(), batchChunkSize: CHUNK, waitForIndex: true, defaultMetrics: false, closeGraceMs: 100 });
    try {
      const t0 = performance.now();
      const statuses = new Map<string, number>();
      await new Promise<void>((resolve, reject) => {
        const req = request(
          { host: '127.0.0.1', port: router.port, method: 'POST', path: '/v1/customers:batch', headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/x-ndjson' } },
          (res) => {
            let tail = '';
            res.setEncoding('utf8');
            res.on('data', (chunk: string) => {
              const text = tail + chunk;
              const lines = text.split('\n');
              tail = lines.pop() ?? '';
              for (const line of lines) {
                const m = /"status":"(\w+)"/.exec(line);
                if (m) statuses.set(m[1]!, (statuses.get(m[1]!) ?? 0) + 1);
              }
            });
            res.on('end', resolve);
            res.on('error', reject);
          },
        );
        req.on('error', reject);
        const body = Readable.from(
          (function* () {
            let buf = '';
            for (let i = 0; i < N; i++) {
              buf += `{"customer":"${idOf(i)}","expectedDevices":10,"labels":${labelsOf(i)}}\n`;
              if (buf.length > 64 * 1024) {
                yield buf;
                buf = '';
              }
            }
            if (buf) yield buf;
          })(),
        );
        body.pipe(req);
      });
      const took = performance.now() - t0;
      if (statuses.get('Created') !== N) throw new Error(`API placed ${statuses.get('Created')} of ${N}: ${JSON.stringify([...statuses])}`);
      await router.sync.waitFor(Number((await pool.query('SELECT max(version) AS v FROM placements')).rows[0].v), 120_000);
      const indexed = performance.now() - t0;
      if (router.index.size !== N) throw new Error(`router index holds ${router.index.size}`);
      // Same cells as decided beforehand: the API and the COPY wrote the same rows.
      const { rows } = await pool.query<{ cell: string; customers: number }>('SELECT name AS cell, customers FROM cells ORDER BY name');
      const expected = new Map<string, number>();
      for (const c of cellOf) expected.set(c, (expected.get(c) ?? 0) + 1);
      for (const r of rows) if (expected.get(r.cell) !== r.customers) throw new Error(`cell ${r.cell}: ${r.customers} != ${expected.get(r.cell)}`);
      return { took, indexed };
    } finally {
      await router.close();
    }
  };

  console.log(`bulk onboarding of ${N} customers (10 cells; batch chunk ${CHUNK} rows per transaction)`);
  const copy1 = await rawCopy();
  console.log(`  raw COPY (1st)          ${s(copy1)}  ${(N / (copy1 / 1000)).toFixed(0)} rows/s`);
  const api = await viaApi();
  console.log(`  batch API               ${s(api.took)}  ${(N / (api.took / 1000)).toFixed(0)} rows/s  (all served by the router index after ${s(api.indexed)})`);
  const copy2 = await rawCopy();
  console.log(`  raw COPY (2nd)          ${s(copy2)}  ${(N / (copy2 / 1000)).toFixed(0)} rows/s`);
  const baseline = (copy1 + copy2) / 2;
  console.log(`  batch API / raw COPY: ${(api.took / baseline).toFixed(2)} (goal <= 2)`);
} finally {
  await pool.end();
  await server.stop();
}
