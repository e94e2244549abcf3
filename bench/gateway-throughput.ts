// The gateway's throughput against producing to Kafka directly, in the same run on the same
// broker (a real single-node Kafka 4.1.1): BENCH_CLIENTS concurrent devices (default 32) each
// send batches of BENCH_BATCH readings (default 20) for 100 customers, for BENCH_SECONDS per phase
// (default 8). Direct: each device hands its batch to an idempotent producer (the same batching
// producer the gateway uses). Gateway: each device POSTs its batch to `cell-operator gateway` (a
// this process by default, BENCH_GATEWAY=process: its own), which asks the router and produces. Phases alternate twice; the
// best of each counts. Prints readings/s of both and the ratio gateway / direct (goal >= 0.8).
import { spawn } from 'node:child_process';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway } from '../src/gateway/gateway.js';
import { ProducerPool } from '../src/kafka/producer-pool.js';
import { encodeMessage } from '../src/kafka/telemetry-message.js';
import { silentLogger } from '../src/log.js';
import { placeCustomers } from '../test/integration/data/cells-fixture.js';
import { startDataPathWorld, TOPIC } from '../test/support/data-path.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const BATCH = Number(process.env.BENCH_BATCH ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 8);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const fmt = (n: number) => Math.round(n).toLocaleString('en-US');

const world = await startDataPathWorld({ names: ['cell-a'], partitions: 6, ingest: false, gateway: false });
const customers = Array.from({ length: 100 }, (_, i) => `bench-gw-${i}`);
await placeCustomers(world.cells.cp, customers, 'cell-a');
const bootstrap = world.brokers['cell-a']!.bootstrap;
let nextId = 1;
const batchFor = () => Array.from({ length: BATCH }, () => ({ id: nextId++, device: 'dev-1', value: 20.5 }));

async function phase(name: string, send: (customer: string, readings: { id: number; device: string; value: number }[]) => Promise<boolean>): Promise<number> {
  let sent = 0;
  let failed = 0;
  const until = Date.now() + SECONDS * 1000;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CLIENTS }, async (_, c) => {
      let i = c;
      while (Date.now() < until) {
        const customer = customers[i++ % customers.length]!;
        const readings = batchFor();
        if (await send(customer, readings)) sent += readings.length;
        else failed++;
      }
    }),
  );
  const rate = sent / ((performance.now() - t0) / 1000);
  console.log(`  ${name}: ${fmt(rate)} readings/s${failed ? ` (${failed} requests failed)` : ''}`);
  return rate;
}

// BENCH_GATEWAY=process runs the gateway as deployed, in its own process; by default it runs in
// this process, so that both phases have the same processes to schedule (on a busy 2-core
// machine one more process on the path weighs more than the gateway's own work).
const port = 20_000 + Math.floor(Math.random() * 20_000);
const inProcess = process.env.BENCH_GATEWAY !== 'process';
const gateway = inProcess
  ? await startGateway({ routerUrl: world.router.url, kafka: { brokers: [], clientId: 'bench-gateway', ssl: false }, topic: TOPIC, host: '127.0.0.1', port, log: silentLogger() })
  : spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src/main.ts'), 'gateway', `--port=${port}`, '--host=127.0.0.1', `--router-url=${world.router.url}`, '--log-level=warn'], {
      cwd: ROOT,
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { PATH: process.env.PATH, HOME: process.env.HOME },
    });
const agent = new http.Agent({ keepAlive: true, maxSockets: CLIENTS });
function post(customer: string, readings: unknown[]): Promise<boolean> {
  return new Promise((resolve) => {
    const body = JSON.stringify(readings);
    const req = http.request({ host: '127.0.0.1', port, path: `/v1/telemetry/${customer}`, method: 'POST', agent, headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode === 202));
    });
    req.on('error', () => resolve(false));
    req.end(body);
  });
}
try {
  for (let i = 0; ; i++) {
    if (await post(customers[0]!, batchFor())) break;
    if (i > 100) throw new Error('the gateway did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  const producers = new ProducerPool({ brokers: [], clientId: 'bench-direct', ssl: false }, TOPIC, silentLogger());
  const direct = (customer: string, readings: { id: number; device: string; value: number }[]) =>
    producers.send(bootstrap, readings.map((r) => ({ key: customer, value: encodeMessage({ customer, ...r }) }))).then(
      () => true,
      () => false,
    );
  console.log(`${CLIENTS} devices × batches of ${BATCH} readings, ${SECONDS} s per phase, one Kafka 4.1.1 broker`);
  await phase('warm-up (direct)', direct);
  await phase('warm-up (gateway)', post);
  const d1 = await phase('direct to Kafka', direct);
  const g1 = await phase('through the gateway', post);
  const d2 = await phase('direct to Kafka', direct);
  const g2 = await phase('through the gateway', post);
  await producers.close();
  const ratio = Math.max(g1, g2) / Math.max(d1, d2);
  console.log(`ratio gateway / direct: ${ratio.toFixed(2)} (goal >= 0.8)`);
} finally {
  if ('kill' in gateway) gateway.kill('SIGKILL');
  else await gateway.close();
  agent.destroy();
  await world.stop();
}
