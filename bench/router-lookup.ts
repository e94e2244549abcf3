// Lookup cost at N customers (default 1,000,000; BENCH_CUSTOMERS):
// 1. in process: p50/p99 of RouteIndex.lookupJson (goal: p99 <= 20 µs), against Map.get of a
//    prebuilt JSON string for the same keys (the floor of any in-memory lookup);
// 2. over HTTP: GET /v1/routes/{id} against GET /bench/noop on the same server, same client
//    (goal: lookup/no-op <= 1.10). The client runs in a worker thread (its own core), with
//    keep-alive connections; rounds alternate so that drift hits both sides alike.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { silentLogger } from '../src/log.js';
import { createRouterHandler } from '../src/router/http-api.js';
import { RouteIndex } from '../src/router/route-index.js';
import { RouterMetrics } from '../src/router/router-metrics.js';

const N = Number(process.env.BENCH_CUSTOMERS ?? 1_000_000);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 3000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
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

// The load generator, in plain JS for the worker: closed loop on CONNECTIONS keep-alive sockets.
const clientCode = `
const { parentPort, workerData } = require('node:worker_threads');
const http = require('node:http');
const agent = new http.Agent({ keepAlive: true, maxSockets: workerData.connections });
parentPort.on('message', ({ kind, durationMs }) => {
  const lat = [];
  let done = 0, active = 0, stopping = false;
  const end = Date.now() + durationMs;
  const path = kind === 'noop' ? () => '/bench/noop' : () => '/v1/routes/cust-' + String(Math.floor(Math.random() * workerData.n)).padStart(7, '0');
  const one = () => {
    if (Date.now() >= end) { if (--active === 0) parentPort.postMessage({ kind, done, lat }); return; }
    const t0 = performance.now();
    const req = http.request({ host: '127.0.0.1', port: workerData.port, path: path(), agent }, (res) => {
      res.on('data', () => {});
      res.on('end', () => { if (res.statusCode !== 200) throw new Error('status ' + res.statusCode); lat.push(performance.now() - t0); done++; one(); });
    });
    req.end();
  };
  for (let i = 0; i < workerData.connections; i++) { active++; one(); }
});
`;
const worker = new Worker(clientCode, { eval: true, workerData: { port, connections: CONNECTIONS, n: N } });
const runRound = (kind: 'noop' | 'lookup', durationMs: number): Promise<{ done: number; lat: number[] }> =>
  new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage({ kind, durationMs });
  });

await runRound('noop', 1000); // warm-up, both paths
await runRound('lookup', 1000);
const totals = { noop: { done: 0, lat: [] as number[] }, lookup: { done: 0, lat: [] as number[] } };
for (let r = 0; r < ROUNDS; r++) {
  for (const kind of r % 2 === 0 ? (['noop', 'lookup'] as const) : (['lookup', 'noop'] as const)) {
    const res = await runRound(kind, ROUND_MS);
    totals[kind].done += res.done;
    totals[kind].lat.push(...res.lat);
  }
}
await worker.terminate();
server.closeAllConnections();
server.close();

const summary = (kind: 'noop' | 'lookup') => {
  const lat = Float64Array.from(totals[kind].lat).sort();
  const mean = lat.reduce((a, b) => a + b, 0) / lat.length;
  return { rps: totals[kind].done / ((ROUNDS * ROUND_MS) / 1000), mean, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) };
};
const noop = summary('noop');
const lookup = summary('lookup');
console.log(`HTTP (${CONNECTIONS} keep-alive connections, ${ROUNDS} alternating rounds of ${ROUND_MS} ms each)`);
for (const [name, s] of [['no-op handler', noop], ['GET /v1/routes/{id}', lookup]] as const) {
  console.log(`  ${name.padEnd(20)} ${s.rps.toFixed(0).padStart(6)} req/s  mean ${us(s.mean)}  p50 ${us(s.p50)}  p99 ${us(s.p99)}`);
}
console.log(`  lookup/no-op: mean latency ${(lookup.mean / noop.mean).toFixed(3)} (goal <= 1.10), p99 ${(lookup.p99 / noop.p99).toFixed(3)}, throughput ${(noop.rps / lookup.rps).toFixed(3)}`);
