// The data path of cells on real parts, for tests, benchmarks and the demo: a control-plane
// PostgreSQL with the routing table, one PostgreSQL and one Kafka broker per cell (its address in
// the cell's endpoints, as the Cell's status.endpoints.kafkaBootstrap would put it), the real
// router, the gateway in-process and one ingestion worker per cell as a child process (so that a
// test can SIGKILL it), started with the environment a cell's ingest Deployment gets.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { syncCell } from '../../src/store/cells.js';
import { startRouter, type RouterHandle } from '../../src/router/router.js';
import { startGateway, type Gateway } from '../../src/gateway/gateway.js';
import type { KafkaAdminOffsets } from '../../src/kafka/group-offsets.js';
import { silentLogger } from '../../src/log.js';
import { startCells, type Cells } from '../integration/data/cells-fixture.js';
import { createTopic, startKafka, type KafkaBroker } from './kafka.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const TOPIC = 'telemetry';
export const GROUP = 'cell-ingest';

export interface IngestProcess {
  cell: string;
  child: ChildProcess;
  /** SIGKILL: a crash, no goodbye to the group. */
  kill(): Promise<void>;
  stop(): Promise<void>;
}

export interface DataPathWorld {
  cells: Cells;
  names: string[];
  brokers: Record<string, KafkaBroker>;
  router: RouterHandle;
  gateway: Gateway;
  ingest: Record<string, IngestProcess>;
  /** Starts (again) the ingestion worker of `cell`. */
  startIngest(cell: string): Promise<IngestProcess>;
  stop(): Promise<void>;
}

/** True once every cell's ingestion group has committed up to the end of every partition of its topic. */
export async function consumedEverything(world: Pick<DataPathWorld, 'names' | 'brokers'>, offsets: KafkaAdminOffsets): Promise<boolean> {
  for (const cell of world.names) {
    const bootstrap = world.brokers[cell]!.bootstrap;
    const ends = await offsets.topicEnds(bootstrap, TOPIC);
    const { offsets: committed } = await offsets.committed(bootstrap, GROUP, TOPIC);
    if (ends.some((e) => BigInt(committed.get(e.partition) ?? '0') < BigInt(e.end))) return false;
  }
  return true;
}

function exited(child: ChildProcess): Promise<void> {
  return child.exitCode !== null || child.signalCode !== null ? Promise.resolve() : new Promise((r) => child.once('exit', () => r()));
}

export async function startDataPathWorld(options: { names?: string[]; partitions?: number; holdMs?: number; ingest?: boolean; gateway?: boolean } = {}): Promise<DataPathWorld> {
  const names = options.names ?? ['cell-a', 'cell-b'];
  // Started together; when one part fails, the parts that did start are stopped before the error
  // goes on (a broker or a database left running keeps jest from ever exiting).
  const [cellsStarted, ...brokersStarted] = await Promise.allSettled([startCells(names), ...names.map((n) => startKafka({ name: n }))]);
  const failedPart = [cellsStarted, ...brokersStarted].find((r) => r.status === 'rejected');
  if (failedPart) {
    await Promise.allSettled([
      cellsStarted.status === 'fulfilled' ? cellsStarted.value.stop() : undefined,
      ...brokersStarted.map((b) => (b.status === 'fulfilled' ? (b.value as KafkaBroker).stop() : undefined)),
    ]);
    throw (failedPart as PromiseRejectedResult).reason;
  }
  const cells = (cellsStarted as PromiseFulfilledResult<Cells>).value;
  const brokers: Record<string, KafkaBroker> = {};
  names.forEach((n, i) => (brokers[n] = (brokersStarted[i] as PromiseFulfilledResult<KafkaBroker>).value));
  const ingest: Record<string, IngestProcess> = {};
  let router: Awaited<ReturnType<typeof startRouter>> | undefined;
  let gateway: { close(): Promise<void> } | undefined;
  async function stopAll(): Promise<void> {
    // Throw-away parts: killed rather than shut down politely (a consumer's leave and a broker's
    // controlled shutdown take seconds each).
    await Promise.allSettled(Object.values(ingest).map((i) => i.kill()));
    await gateway?.close().catch(() => undefined);
    await router?.close().catch(() => undefined);
    await Promise.allSettled(
      Object.values(brokers).map(async (b) => {
        await b.kill();
        await b.stop();
      }),
    );
    await cells.stop();
  }
  try {
    return await assemble();
  } catch (err) {
    await stopAll();
    throw err;
  }

  async function assemble(): Promise<DataPathWorld> {
    for (const n of names) {
      const broker = brokers[n] as KafkaBroker;
      await createTopic(broker.bootstrap, TOPIC, options.partitions ?? 3);
      await syncCell(cells.cp, { name: n, region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: 100_000, endpoints: { kafkaBootstrap: broker.bootstrap } });
    }
    router = await startRouter({ database: { url: cells.controlPlane.url }, host: '127.0.0.1', port: 0, log: silentLogger(), retryAfterSeconds: 1, pollIntervalMs: 200 });
    const gatewayStarted = options.gateway === false ? { url: '', port: 0, registry: undefined as never, produced: () => ({ sends: 0, messages: 0 }), close: async () => undefined } : await startGateway({ routerUrl: router.url, kafka: { brokers: [], clientId: 'test-gateway', ssl: false }, topic: TOPIC, host: '127.0.0.1', port: 0, holdMs: options.holdMs ?? 15_000, routeTtlMs: 200, log: silentLogger() });
    gateway = gatewayStarted;
    const routerStarted = router;

    const startIngest = async (cell: string): Promise<IngestProcess> =>
      (ingest[cell] = startIngestProcess({ cell, bootstrap: (brokers[cell] as KafkaBroker).bootstrap, databaseUrl: (cells.servers[cell] as { url: string }).url, routerUrl: routerStarted.url }));
    if (options.ingest !== false) {
      await Promise.all(names.map((n) => startIngest(n)));
      // A cell's ingestion group exists before anyone moves its customers (a move's drain treats a
      // group the broker has never seen as no ingestion at all).
      for (const n of names) await waitForIngestGroup(n, (brokers[n] as KafkaBroker).bootstrap);
    }

    return {
      cells,
      names,
      brokers,
      router: routerStarted,
      gateway: gatewayStarted,
      ingest,
      startIngest,
      stop: stopAll,
    };
  }
}

/**
 * The environment a cell's ingest Deployment gives its worker (workload-builder.ts) plus the router:
 * what `cell-operator ingest` runs with here, in the tests and in `npm run demo`.
 */
export function ingestEnvironment(options: { cell: string; bootstrap: string; databaseUrl: string; routerUrl: string; table?: string; httpPort?: number }): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CELL_NAME: options.cell,
    KAFKA_BOOTSTRAP_SERVERS: options.bootstrap,
    KAFKA_TELEMETRY_TOPIC: TOPIC,
    DATABASE_URL: options.databaseUrl,
    ROUTER_URL: options.routerUrl,
    ROUTE_TTL_MS: '200',
    HTTP_PORT: String(options.httpPort ?? 0),
    LOG_LEVEL: 'info',
    ...(options.table ? { INGEST_TABLE: options.table } : {}),
  };
}

/**
 * Starts an ingestion worker of `cell` as a child process (`cell-operator ingest`, so that a test
 * can SIGKILL it), with ingestEnvironment(); its output goes to .local/data-path/ingest-<cell>.log.
 */
export function startIngestProcess(options: { cell: string; bootstrap: string; databaseUrl: string; routerUrl: string; table?: string }): IngestProcess {
  const { cell } = options;
  const logs = path.join(ROOT, '.local', 'data-path');
  mkdirSync(logs, { recursive: true });
  const fd = openSync(path.join(logs, `ingest-${cell}.log`), 'a');
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'src', 'main.ts'), 'ingest'], {
    cwd: ROOT,
    stdio: ['ignore', fd, fd],
    env: ingestEnvironment(options),
  });
  closeSync(fd);
  return {
    cell,
    child,
    async kill() {
      child.kill('SIGKILL');
      await exited(child);
    },
    async stop() {
      child.kill('SIGTERM');
      const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await exited(child);
      clearTimeout(t);
    },
  };
}

/** Waits until the broker at `bootstrap` knows the ingestion group (a worker of `cell` has joined it). */
export async function waitForIngestGroup(cell: string, bootstrap: string, timeoutMs = 90_000): Promise<void> {
  const { default: kafkajs } = await import('kafkajs');
  const admin = new kafkajs.Kafka({ clientId: 'world', brokers: [bootstrap], logLevel: kafkajs.logLevel.NOTHING }).admin();
  await admin.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    // A broker under load answers "the coordinator is loading" for a while: not yet, not an error.
    const joined = async () => (await admin.listGroups().catch(() => ({ groups: [] as { groupId: string }[] }))).groups.some((g) => g.groupId === GROUP);
    while (!(await joined())) {
      if (Date.now() > deadline) throw new Error(`the ingestion worker of ${cell} did not join group ${GROUP} within ${timeoutMs / 1000} s (see .local/data-path/ingest-${cell}.log)`);
      await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    await admin.disconnect();
  }
}

/** Readings a device fleet had acknowledged (202): their ids, the cell the gateway produced them to, and when. */
export interface Acknowledgement {
  customer: string;
  ids: number[];
  cell: string;
  at: number;
}

/**
 * Devices of every customer send batches of 10 readings through the gateway at a steady pace; only
 * 202-acknowledged readings count. Reading ids are unique across the fleet, from `firstId` up.
 */
export class DeviceFleet {
  readonly acked = new Map<string, number[]>();
  readonly log: Acknowledgement[] = [];
  refused = 0;
  private running = true;
  private next: number;
  private readonly loops: Promise<void>[];

  constructor(
    private readonly gatewayUrl: string,
    customers: readonly string[],
    pauseMs: number,
    firstId = 1,
  ) {
    this.next = firstId;
    this.loops = customers.map((c) => this.loop(c, pauseMs));
  }

  private async loop(customer: string, pauseMs: number): Promise<void> {
    this.acked.set(customer, []);
    while (this.running) {
      const batch = Array.from({ length: 10 }, () => ({ id: this.next++, device: `dev-${this.next % 3}`, value: this.next }));
      const res = await sendReadings(this.gatewayUrl, customer, batch).catch(() => ({ status: 0, body: null }));
      if (res.status === 202) {
        const ids = batch.map((b) => b.id);
        this.acked.get(customer)!.push(...ids);
        this.log.push({ customer, ids, cell: (res.body as { cell: string }).cell, at: Date.now() });
      } else this.refused++;
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }
}

/** POSTs readings for a customer; resolves with the HTTP status and body. */
export async function sendReadings(gatewayUrl: string, customer: string, readings: { id: number; device: string; value: number }[]): Promise<{ status: number; body: unknown }> {
  const res = await fetch(`${gatewayUrl}/v1/telemetry/${customer}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(readings) });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.status, body };
}
