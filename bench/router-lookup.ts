// Lookup cost at N customers (default 1,000,000; BENCH_CUSTOMERS):
// 1. in process: p50/p99 of RouteIndex.lookupJson (goal: p99 <= 20 µs), against Map.get of a
//    prebuilt JSON string for the same keys (the floor of any in-memory lookup);
// 2. over HTTP: GET /v1/routes/{id} against two no-op handlers on the same server, same client
//    (goal: lookup/no-op <= 1.10): /bench/constant answers a fixed route of the same size with
//    the same headers (so the ratio is the cost of the lookup itself), /bench/noop answers `{}`.
//    The client runs in a worker thread (its own core), with keep-alive connections; rounds
//    alternate, and the median ratio over the rounds is reported.
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Worker } from 'node:worker_threads';
import { silentLogger } from '../src/log.js';
import { createRouterHandler } from '../src/router/http-api.js';
import { RouteIndex } from '../src/router/route-index.js';
import { RouterMetrics } from '../src/router/router-metrics.js';

const N = Number(process.env.BENCH_CUSTOMERS ?? 1_000_000);
const ROUND_MS = Number(process.env.BENCH_ROUND_MS ?? 2000);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
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
  const path = kind === 'noop' ? () => '/bench/noop' : kind === 'constant' ? () => '/bench/constant' : () => '/v1/routes/cust-' + String(Math.floor(Math.random() * workerData.n)).padStart(7, '0');
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
type Kind = 'noop' | 'constant' | 'lookup';
const runRound = (kind: Kind, durationMs: number): Promise<{ done: number; lat: number[] }> =>
  new Promise((resolve) => {
    worker.once('message', resolve);
    worker.postMessage({ kind, durationMs });
  });

for (const kind of ['noop', 'constant', 'lookup'] as const) await runRound(kind, 1000); // warm-up
// Rounds of the three kinds, in a rotating order; the ratios of each round are taken and their
// median reported, so that a burst of load from elsewhere on the machine spoils one round only.
const totals: Record<Kind, { done: number; lat: number[] }> = { noop: { done: 0, lat: [] }, constant: { done: 0, lat: [] }, lookup: { done: 0, lat: [] } };
const ratios: { constant: number[]; noop: number[] } = { constant: [], noop: [] };
const meanOf = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length;
const orders: Kind[][] = [['noop', 'constant', 'lookup'], ['lookup', 'noop', 'constant'], ['constant', 'lookup', 'noop']];
for (let r = 0; r < ROUNDS; r++) {
  const mean: Partial<Record<Kind, number>> = {};
  for (const kind of orders[r % 3]!) {
    const res = await runRound(kind, ROUND_MS);
    totals[kind].done += res.done;
    totals[kind].lat.push(...res.lat);
    mean[kind] = meanOf(res.lat);
  }
  ratios.constant.push(mean.lookup! / mean.constant!);
  ratios.noop.push(mean.lookup! / mean.noop!);
}
await worker.terminate();
server.closeAllConnections();
server.close();

const summary = (kind: Kind) => {
  const lat = Float64Array.from(totals[kind].lat).sort();
  return { rps: totals[kind].done / ((ROUNDS * ROUND_MS) / 1000), mean: meanOf(totals[kind].lat), p50: percentile(lat, 0.5), p99: percentile(lat, 0.99) };
};
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`HTTP (${CONNECTIONS} keep-alive connections, ${ROUNDS} rounds of ${ROUND_MS} ms per handler)`);
for (const [name, kind] of [['no-op `{}`', 'noop'], ['no-op, same answer', 'constant'], ['GET /v1/routes/{id}', 'lookup']] as const) {
  const s = summary(kind);
  console.log(`  ${name.padEnd(20)} ${s.rps.toFixed(0).padStart(6)} req/s  mean ${us(s.mean)}  p50 ${us(s.p50)}  p99 ${us(s.p99)}`);
}
console.log(`  lookup / no-op with the same answer, per round: ${ratios.constant.map((r) => r.toFixed(3)).join(' ')}; median ${median(ratios.constant).toFixed(3)} (goal <= 1.10)`);
console.log(`  lookup / no-op \`{}\`, per round:               ${ratios.noop.map((r) => r.toFixed(3)).join(' ')}; median ${median(ratios.noop).toFixed(3)}`);
