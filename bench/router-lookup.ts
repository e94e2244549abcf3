// Lookup cost at N customers (default 1,000,000; BENCH_CUSTOMERS):
// 1. in process: p50/p99 of RouteIndex.lookupJson (goal: p99 <= 20 µs), against Map.get of a
//    prebuilt JSON string for the same keys (the floor of any in-memory lookup);
// 2. over HTTP: GET /v1/routes/{id} against two no-op handlers on the same server, same client
//    (goal: lookup/no-op <= 1.10): /bench/constant answers a fixed route of the same size with
//    the same headers (so the ratio is the cost of the lookup itself), /bench/noop answers `{}`.
//    The client runs in a worker thread (its own core), with keep-alive connections, and sends
//    each request to one of the three at random: all three see the same conditions.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { silentLogger } from '../src/log.js';
import { createRouterHandler } from '../src/router/http-api.js';
import { RouteIndex } from '../src/router/route-index.js';
import { RouterMetrics } from '../src/router/router-metrics.js';

const N = Number(process.env.BENCH_CUSTOMERS ?? 1_000_000);
const ROUND_MS = 1000;
const ROUNDS = Number(process.env.BENCH_HTTP_SECONDS ?? 15);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const idOf = (i: number): string => `cust-${String(i).padStart(7, '0')}`;

function percentile(sorted: Float64Array, p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
}

// --- the index ------------------------------------------------------------------------------
const cells = Array.from({ length: 10 }, (_, i) => ({
  name: `eu-west-1-cell-${i}`,
  region: 'eu-west-1',
  state: 'Active',
  ready: true,
  endpoints: { kafkaBootstrap: `kafka-bootstrap.cell-eu-west-1-cell-${i}.svc:9092`, api: `http://copilot-api.cell-eu-west-1-cell-${i}.svc:8080` },
}));
const index = new RouteIndex(N);
index.setCells(cells);
for (let i = 0; i < N; i++) index.apply({ customerId: idOf(i), cell: cells[i % 10]!.name, state: 'Active', epoch: 1 + (i % 3), version: i + 1 });
index.loaded = true;
const floor = new Map<string, string>();
for (let i = 0; i < N; i++) floor.set(idOf(i), index.lookupJson(idOf(i))!.json);

// --- 1. in process ----------------------------------------------------------------------------
const SAMPLES = 1_000_000;
const queries = Array.from({ length: SAMPLES }, () => idOf(Math.floor(Math.random() * N)));
function timeEach(fn: (id: string) => unknown): Float64Array {
  const t = new Float64Array(SAMPLES);
  let sink = 0;
  for (let i = 0; i < SAMPLES; i++) {
    const t0 = performance.now();
    const r = fn(queries[i]!);
    t[i] = performance.now() - t0;
    if (r) sink++;
  }
  if (sink !== SAMPLES) throw new Error('a lookup missed');
  return t.sort();
}
timeEach((id) => index.lookupJson(id)); // warm-up
timeEach((id) => floor.get(id));
const indexTimes = timeEach((id) => index.lookupJson(id));
const floorTimes = timeEach((id) => floor.get(id));
const us = (ms: number): string => `${(ms * 1000).toFixed(2)} µs`;
console.log(`in-process lookup at ${N} customers (${SAMPLES} random lookups, timer overhead included)`);
console.log(`  RouteIndex.lookupJson  p50 ${us(percentile(indexTimes, 0.5))}  p99 ${us(percentile(indexTimes, 0.99))}  p99.9 ${us(percentile(indexTimes, 0.999))}`);
console.log(`  Map.get (floor)        p50 ${us(percentile(floorTimes, 0.5))}  p99 ${us(percentile(floorTimes, 0.99))}  p99.9 ${us(percentile(floorTimes, 0.999))}`);
console.log(`  p99 ${us(percentile(indexTimes, 0.99))} (goal <= 20 µs); ratio to the floor: p50 ${(percentile(indexTimes, 0.5) / percentile(floorTimes, 0.5)).toFixed(2)}, p99 ${(percentile(indexTimes, 0.99) / percentile(floorTimes, 0.99)).toFixed(2)}`);

// --- 2. over HTTP -----------------------------------------------------------------------------
const metrics = new RouterMetrics(index, () => undefined);
const status = () => ({ loaded: true, connected: true, staleSince: null, lastError: null, lastCatchUpAt: new Date(), version: index.version });
const server = createServer({ keepAliveTimeout: 60_000 }, createRouterHandler({ index, status, log: silentLogger(), metrics, benchNoop: true }));
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const port = (server.address() as AddressInfo).port;

// The load generator, in plain JS for the worker: a closed loop on CONNECTIONS keep-alive sockets
// where every request picks its handler at random, so that the three kinds share the same moment,
// the same sockets and the same load from elsewhere on the machine.
const clientCode = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: workerData.connections });
const KINDS = ['noop', 'constant', 'lookup'];
parentPort.on('message', ({ durationMs }) => {
  const lat = { noop: [], constant: [], lookup: [] };
  let active = 0;
  const end = Date.now() + durationMs;
  const one = () => {
    if (Date.now() >= end) { if (--active === 0) parentPort.postMessage(lat); return; }
    const kind = KINDS[Math.floor(Math.random() * 3)];
    const path = kind === 'noop' ? '/bench/noop' : kind === 'constant' ? '/bench/constant' : '/v1/routes/cust-' + String(Math.floor(Math.random() * workerData.n)).padStart(7, '0');
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port: workerData.port, path, agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => { if (res.statusCode !== 200) throw new Error('status ' + res.statusCode); lat[kind].push(performance.now() - t0); one(); });
    });
    req.end();
  };
  for (let i = 0; i < workerData.connections; i++) { active++; one(); }
});
`;
type Kind = 'noop' | 'constant' | 'lookup';
const worker = new Worker(clientCode, { eval: true, workerData: { port, connections: CONNECTIONS, n: N } });
const run = (durationMs: number): Promise<Record<Kind, number[]>> =>
  new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage({ durationMs });
  });

await run(2000); // warm-up
const lat = await run(ROUNDS * ROUND_MS);
await worker.terminate();
server.closeAllConnections();
server.close();

const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const stats = (kind: Kind) => {
  const sorted = Float64Array.from(lat[kind]).sort();
  return { n: sorted.length, mean: meanOf(lat[kind]), p50: percentile(sorted, 0.5), p90: percentile(sorted, 0.9), p99: percentile(sorted, 0.99) };
};
const all = { noop: stats('noop'), constant: stats('constant'), lookup: stats('lookup') };
const total = all.noop.n + all.constant.n + all.lookup.n;
console.log(`HTTP (${CONNECTIONS} keep-alive connections, ${(ROUNDS * ROUND_MS) / 1000} s, ${(total / ((ROUNDS * ROUND_MS) / 1000)).toFixed(0)} req/s, each request to one of three handlers at random)`);
for (const [name, kind] of [['no-op `{}`', 'noop'], ['no-op, same answer', 'constant'], ['GET /v1/routes/{id}', 'lookup']] as const) {
  const x = all[kind];
  console.log(`  ${name.padEnd(20)} ${String(x.n).padStart(7)} requests  mean ${us(x.mean)}  p50 ${us(x.p50)}  p90 ${us(x.p90)}  p99 ${us(x.p99)}`);
}
const ratio = (a: number, b: number): string => (a / b).toFixed(3);
console.log(`  lookup / no-op with the same answer: mean ${ratio(all.lookup.mean, all.constant.mean)} (goal <= 1.10), p50 ${ratio(all.lookup.p50, all.constant.p50)}, p99 ${ratio(all.lookup.p99, all.constant.p99)}`);
console.log(`  lookup / no-op \`{}\`:                mean ${ratio(all.lookup.mean, all.noop.mean)}, p50 ${ratio(all.lookup.p50, all.noop.p50)}, p99 ${ratio(all.lookup.p99, all.noop.p99)}`);
