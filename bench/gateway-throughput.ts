// The gateway's throughput against producing to Kafka directly, in the same run on the same
// broker (a real single-node Kafka 4.1.1). Like for like: BENCH_CLIENTS concurrent devices
// (default 32), each sending one batch of BENCH_BATCH readings (default 20) at a time and waiting
// for its acknowledgement, for 100 customers; the same readings, the same message encoding
// (encodeMessage) and the same batching idempotent producer (ProducerPool: acks=all, up to 2,000
// messages per produce request, 3 idempotent producers per cluster with one send in flight each, batches formed per event-loop turn, no timed linger).
// Direct: the devices hand their batches to the producer in this process. Gateway: the devices
// POST their batches over a hand-written keep-alive HTTP client (bench/support/http-devices.ts:
// devices are other machines in production, so their side costs as little as it can) to
// `cell-operator gateway`, which parses them, asks the router (in this process) and produces.
// By default devices and gateway share this process, so that both phases have the same processes
// to schedule; BENCH_DEVICES=process gives the devices their own (bench/support/device-process.ts)
// and BENCH_GATEWAY=process the gateway its own.
//
// After a warm-up of each, BENCH_ROUNDS rounds (default 5) of BENCH_SECONDS (default 4) each,
// interleaved direct, gateway, direct, gateway…; the median of each counts. Prints readings/s,
// readings per CPU-second of this process (direct: the devices' and the producer's work; gateway:
// the devices', the gateway's and the router's; it does not count time spent waiting for a core)
// and messages per produce request, each round's ratio, and the ratios of the medians
// gateway / direct (goal >= 0.8).
import { fork, spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startGateway } from '../src/gateway/gateway.js';
import { ProducerPool } from '../src/kafka/producer-pool.js';
import { encodeMessage } from '../src/kafka/telemetry-message.js';
import { silentLogger } from '../src/log.js';
import { placeCustomers } from '../test/integration/data/cells-fixture.js';
import { startDataPathWorld, TOPIC } from '../test/support/data-path.js';
import { httpDevice } from './support/http-devices.js';
import { fmt, percentile } from './support/move-bench.js';

const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const BATCH = Number(process.env.BENCH_BATCH ?? 20);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 4);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

type Readings = { id: number; device: string; value: number }[];

const world = await startDataPathWorld({ names: ['cell-a'], partitions: 6, ingest: false, gateway: false });
const customers = Array.from({ length: 100 }, (_, i) => `bench-gw-${i}`);
await placeCustomers(world.cells.cp, customers, 'cell-a');
const bootstrap = world.brokers['cell-a']!.bootstrap;
let nextId = 1;
const batchFor = (): Readings => Array.from({ length: BATCH }, () => ({ id: nextId++, device: 'dev-1', value: 20.5 }));

interface Device {
  send(customer: string, readings: Readings): Promise<boolean>;
}

/** Direct: `clients` devices in this process, each handing one batch at a time to the producer. */
async function directDevices(): Promise<{ sent: number; failed: number; ms: number }> {
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
        if (await directDevice.send(customer, readings)) sent += readings.length;
        else failed++;
      }
    }),
  );
  return { sent, failed, ms: performance.now() - t0 };
}

/** Gateway: the same devices over HTTP, in this process (BENCH_DEVICES=inline) or in their own (bench/support/device-process.ts). */
async function gatewayDevices(): Promise<{ sent: number; failed: number; ms: number }> {
  if (!devices) {
    let sent = 0;
    let failed = 0;
    const until = Date.now() + SECONDS * 1000;
    const t0 = performance.now();
    await Promise.all(
      connections.map(async (conn, c) => {
        let i = c;
        while (Date.now() < until) {
          const customer = customers[i++ % customers.length]!;
          const readings = batchFor();
          if ((await conn.post(`/v1/telemetry/${customer}`, JSON.stringify(readings))) === 202) sent += readings.length;
          else failed++;
        }
      }),
    );
    return { sent, failed, ms: performance.now() - t0 };
  }
  const child = devices;
  return new Promise((resolve, reject) => {
    child.once('message', (m: { sent: number; failed: number; ms: number; nextId: number }) => {
      nextId = m.nextId;
      resolve(m);
    });
    child.once('exit', (code) => reject(new Error(`the device process exited (${code})`)));
    child.send({ port, clients: CLIENTS, batch: BATCH, seconds: SECONDS, customers, firstId: nextId });
  });
}

/** Readings/s, and readings per CPU-second of this process (the direct producer's, or the gateway's and the router's work). */
async function phase(name: string, run: () => Promise<{ sent: number; failed: number; ms: number }>): Promise<{ rate: number; perCpu: number }> {
  const cpu0 = process.cpuUsage();
  const produced0 = batches();
  const { sent, failed, ms } = await run();
  const rate = sent / (ms / 1000);
  const cpu = process.cpuUsage(cpu0);
  const perCpu = sent / ((cpu.user + cpu.system) / 1e6);
  const produced = batches();
  const batch = (produced.messages - produced0.messages) / Math.max(1, produced.sends - produced0.sends);
  console.log(`  ${name}: ${fmt(rate)} readings/s, ${fmt(perCpu)} per CPU-second, ${fmt(batch)} messages per produce request${failed ? ` (${failed} requests failed)` : ''}`);
  return { rate, perCpu };
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
// BENCH_DEVICES=process puts the devices in a process of their own (then this process's CPU is the
// gateway's alone); by default they share this process, as in the direct phase: on an
// oversubscribed machine every hop between processes waits for a core, which the direct phase
// never does.
const devicesInProcess = process.env.BENCH_DEVICES !== 'process';
const devices = devicesInProcess ? undefined : fork(path.join(ROOT, 'bench/support/device-process.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
const connections = devicesInProcess ? Array.from({ length: CLIENTS }, () => httpDevice('127.0.0.1', port)) : [];
const producers = new ProducerPool({ brokers: [], clientId: 'bench-direct', ssl: false }, TOPIC, silentLogger());
// The message built as the gateway builds it (an object literal: a spread costs ~2 µs more a batch).
const directDevice: Device = {
  send: (customer, readings) =>
    producers.send(bootstrap, readings.map((r) => ({ key: customer, value: encodeMessage({ customer, id: r.id, device: r.device, value: r.value }) }))).then(
      () => true,
      () => false,
    ),
};
/** Produce requests and messages so far, of both producers (one of them is idle in a phase); a gateway in its own process is not counted. */
function batches(): { sends: number; messages: number } {
  const g = 'produced' in gateway ? gateway.produced() : { sends: 0, messages: 0 };
  return { sends: producers.stats.sends + g.sends, messages: producers.stats.messages + g.messages };
}
try {
  const probe = httpDevice('127.0.0.1', port);
  for (let i = 0; ; i++) {
    if ((await probe.post(`/v1/telemetry/${customers[0]}`, JSON.stringify(batchFor()))) === 202) break;
    if (i > 100) throw new Error('the gateway did not start');
    await new Promise((r) => setTimeout(r, 200));
  }
  probe.close();
  console.log(`${CLIENTS} devices × batches of ${BATCH} readings, ${ROUNDS} interleaved rounds of ${SECONDS} s, one Kafka 4.1.1 broker, gateway ${inProcess ? 'in this process' : 'in its own process'}, devices ${devices ? 'in their own process' : 'in this process'}`);
  await phase('warm-up (direct)', directDevices);
  await phase('warm-up (gateway)', gatewayDevices);
  const directs: { rate: number; perCpu: number }[] = [];
  const gateways: { rate: number; perCpu: number }[] = [];
  for (let r = 1; r <= ROUNDS; r++) {
    directs.push(await phase(`round ${r} direct to Kafka`, directDevices));
    gateways.push(await phase(`round ${r} through the gateway`, gatewayDevices));
  }
  const median = (xs: number[]) => percentile(xs, 50);
  const rates = (xs: typeof directs) => xs.map((x) => x.rate);
  const perCpu = (xs: typeof directs) => xs.map((x) => x.perCpu);
  console.log(`per round gateway / direct: ${gateways.map((g, i) => (g.rate / directs[i]!.rate).toFixed(2)).join(', ')}`);
  console.log(`median: direct ${fmt(median(rates(directs)))} readings/s, gateway ${fmt(median(rates(gateways)))} readings/s`);
  console.log(`ratio gateway / direct (medians of readings/s): ${(median(rates(gateways)) / median(rates(directs))).toFixed(2)} (goal >= 0.8)`);
  // Less sensitive to what else the machine runs: the work this process does per reading.
  console.log(`ratio gateway / direct (medians of readings per CPU-second of this process): ${(median(perCpu(gateways)) / median(perCpu(directs))).toFixed(2)}`);
} finally {
  await producers.close();
  devices?.kill('SIGKILL');
  for (const c of connections) c.close();
  if ('kill' in gateway) gateway.kill('SIGKILL');
  else await gateway.close();
  await world.stop();
}
