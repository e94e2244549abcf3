// The data path of `npm run demo`: a real Kafka 4.1.1 broker per cell (test/support/kafka.ts, the
// cached jars, a small heap), the gateway and one ingestion worker per cell as processes of the
// project's binary with the environment their Deployments get (test/support/data-path.ts), devices
// of some customers sending readings through the gateway (its DeviceFleet), a line every two
// seconds with what the gateway acknowledged and the rows each cell's worker wrote, and the check
// that every acknowledged reading of a moved customer is a row in its new cell exactly once.
import path from 'node:path';
import { KafkaAdminOffsets } from '../../src/kafka/group-offsets.js';
import { silentLogger } from '../../src/log.js';
import { findOnPath } from '../../test/e2e/cluster/tools.js';
import { freePorts, sleep } from '../../test/e2e/cluster/processes.js';
import { consumedEverything, DeviceFleet, ingestEnvironment, TOPIC } from '../../test/support/data-path.js';
import { createTopic, DEFAULT_KAFKA_VERSION, kafkaLibs, startKafka, type KafkaBroker } from '../../test/support/kafka.js';
import { startComponent, type ComponentProcess } from './component-process.js';
import type { CellDatabase } from './demo-databases.js';

/** Reading ids of the devices start here: far above the ids of the rows the demo inserts itself. */
export const DEVICE_FIRST_ID = 1_000_000_000;
/** The brokers' heap: three of them share the machine with the cells' databases. */
const BROKER_HEAP = '256m';

/** Why the demo cannot run Kafka (DEMO_KAFKA=0, no Java, no jars), or undefined when it can. */
export async function kafkaProblem(): Promise<string | undefined> {
  if (['0', 'false', 'no'].includes((process.env.DEMO_KAFKA ?? '').toLowerCase())) return 'DEMO_KAFKA=0 asks for no brokers';
  if (!findOnPath('java')) return 'no java on PATH (Kafka needs Java >= 17: apt-get install openjdk-17-jre-headless)';
  try {
    await kafkaLibs();
    return undefined;
  } catch (error) {
    return `the Apache Kafka ${DEFAULT_KAFKA_VERSION} jars are not cached and could not be resolved: ${(error instanceof Error ? error.message : String(error)).split('\n')[0]}`;
  }
}

/** One broker per cell, started together, each with the telemetry topic; on any failure the others are stopped. */
export async function startDemoBrokers(cells: string[], demoDir: string, onStarted: (broker: KafkaBroker) => void): Promise<Map<string, KafkaBroker>> {
  const started = await Promise.allSettled(
    cells.map(async (cell) => {
      const broker = await startKafka({ name: cell, dir: path.join(demoDir, `kafka-${cell}`), heap: BROKER_HEAP });
      onStarted(broker);
      await createTopic(broker.bootstrap, TOPIC, 3);
      return broker;
    }),
  );
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    await stopBrokers(started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : [])));
    throw (failed as PromiseRejectedResult).reason;
  }
  return new Map(cells.map((cell, i) => [cell, (started[i] as PromiseFulfilledResult<KafkaBroker>).value]));
}

/** Throw-away brokers: killed (a controlled shutdown takes seconds), their data deleted. */
export async function stopBrokers(brokers: Iterable<KafkaBroker>): Promise<void> {
  await Promise.allSettled(
    [...brokers].map(async (b) => {
      await b.kill();
      await b.stop();
    }),
  );
}

export function cellDatabaseUrl(db: CellDatabase): string {
  return `postgres://${encodeURIComponent(db.username)}:${encodeURIComponent(db.password)}@${db.server.host}:${db.server.port}/${encodeURIComponent(db.database)}`;
}

export interface DataPathProcesses {
  gateway: ComponentProcess;
  gatewayUrl: string;
  ingest: Map<string, ComponentProcess>;
}

/**
 * The gateway (asking the router) and one ingestion worker per cell, logs in `demoDir`; resolves once
 * the gateway serves and every worker is ready (a member of its cell's consumer group: a move's
 * Kafka drain takes a group the broker has never seen for no ingestion at all).
 */
export async function startDataPath(options: {
  root: string;
  tsxLoader: string;
  demoDir: string;
  routerUrl: string;
  brokers: Map<string, KafkaBroker>;
  databases: Map<string, CellDatabase>;
  onStarted: (process: ComponentProcess) => void;
}): Promise<DataPathProcesses> {
  const cells = [...options.brokers.keys()];
  const [gatewayPort, ...ingestPorts] = await freePorts(1 + cells.length);
  const common = { root: options.root, tsxLoader: options.tsxLoader };
  const gateway = startComponent({
    ...common,
    name: 'the gateway',
    logFile: path.join(options.demoDir, 'gateway.log'),
    // Held up to 20 s while a customer's move is fenced (as in the e2e suites), then 503.
    args: ['gateway', '--router-url', options.routerUrl, '--host', '127.0.0.1', '--port', String(gatewayPort), '--hold-ms', '20000', '--route-ttl-ms', '200'],
  });
  options.onStarted(gateway);
  const ingest = new Map<string, ComponentProcess>();
  cells.forEach((cell, i) => {
    const worker = startComponent({
      ...common,
      name: `the ingestion worker of ${cell}`,
      logFile: path.join(options.demoDir, `ingest-${cell}.log`),
      args: ['ingest'],
      env: ingestEnvironment({ cell, bootstrap: options.brokers.get(cell)!.bootstrap, databaseUrl: cellDatabaseUrl(options.databases.get(cell)!), routerUrl: options.routerUrl, httpPort: ingestPorts[i] }),
    });
    options.onStarted(worker);
    ingest.set(cell, worker);
  });
  const gatewayUrl = `http://127.0.0.1:${gatewayPort}`;
  await Promise.all([gateway.waitHealthy(`${gatewayUrl}/healthz`, 90_000), ...cells.map((cell, i) => ingest.get(cell)!.waitHealthy(`http://127.0.0.1:${ingestPorts[i]}/readyz`, 120_000))]);
  return { gateway, gatewayUrl, ingest };
}

/** Counts of device readings (ids from DEVICE_FIRST_ID) per cell. */
async function deviceRows(databases: Map<string, CellDatabase>, cells: string[]): Promise<Map<string, number>> {
  const counts = await Promise.all(
    cells.map(async (cell) => Number((await databases.get(cell)!.query<{ n: string }>('SELECT count(*)::text AS n FROM readings WHERE id >= $1', [DEVICE_FIRST_ID]))[0]?.n ?? 0)),
  );
  return new Map(cells.map((c, i) => [c, counts[i]!]));
}

/**
 * Devices of `customers` send 10 readings every `pauseMs` each through the gateway; every
 * `everyMs` a line says how many readings per second the gateway acknowledged, to which cell, and
 * how many rows per second each cell's worker wrote.
 */
export class DemoTraffic {
  readonly fleet: DeviceFleet;
  private readonly timer: NodeJS.Timeout;
  private lastAt = Date.now();
  private lastAcked = 0;
  private lastRows = new Map<string, number>();
  private busy = false;

  constructor(
    gatewayUrl: string,
    readonly customers: string[],
    private readonly cells: string[],
    private readonly databases: Map<string, CellDatabase>,
    private readonly say: (line: string) => void,
    options: { pauseMs?: number; everyMs?: number } = {},
  ) {
    this.fleet = new DeviceFleet(gatewayUrl, customers, options.pauseMs ?? 2000, DEVICE_FIRST_ID);
    this.timer = setInterval(() => void this.report(), options.everyMs ?? 2000);
  }

  private async report(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      const now = Date.now();
      const seconds = (now - this.lastAt) / 1000;
      const log = this.fleet.log;
      const acked = log.length;
      const byCell = new Map<string, number>();
      for (let i = this.lastAcked; i < acked; i++) byCell.set(log[i]!.cell, (byCell.get(log[i]!.cell) ?? 0) + log[i]!.ids.length);
      const rows = await deviceRows(this.databases, this.cells);
      const perSecond = (n: number) => Math.round(n / seconds);
      const ackedTotal = [...byCell.values()].reduce((a, b) => a + b, 0);
      this.say(
        `[traffic] gateway acknowledged ${perSecond(ackedTotal)} msg/s (${this.cells.map((c) => `${c} ${perSecond(byCell.get(c) ?? 0)}`).join(', ')}); ` +
          `rows written ${this.cells.map((c) => `${c} ${perSecond((rows.get(c) ?? 0) - (this.lastRows.get(c) ?? 0))}/s (${rows.get(c)})`).join(', ')}` +
          (this.fleet.refused > 0 ? `; ${this.fleet.refused} requests not acknowledged so far` : ''),
      );
      [this.lastAt, this.lastAcked, this.lastRows] = [now, acked, rows];
    } catch {
      // a database busy with a move: the next line says it
    } finally {
      this.busy = false;
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.fleet.stop();
  }
}

export interface ExactlyOnce {
  customers: number;
  acknowledged: number;
  rows: number;
  missing: { customer: string; ids: number[] }[];
  duplicated: { customer: string; id: number; copies: number }[];
  /** False when the ingestion groups had not consumed everything within the wait. */
  caughtUp: boolean;
}

/**
 * Waits (up to `timeoutMs`) until every cell's ingestion group has consumed its whole topic, then
 * checks that each reading the gateway acknowledged for the `moved` customers is a row in `cell`
 * exactly once.
 */
export async function checkExactlyOnce(options: {
  fleet: DeviceFleet;
  moved: string[];
  cell: CellDatabase;
  brokers: Map<string, KafkaBroker>;
  timeoutMs?: number;
}): Promise<ExactlyOnce> {
  const offsets = new KafkaAdminOffsets({ brokers: [], clientId: 'demo-check', ssl: false }, silentLogger());
  const world = { names: [...options.brokers.keys()], brokers: Object.fromEntries(options.brokers) };
  let caughtUp = false;
  try {
    const deadline = Date.now() + (options.timeoutMs ?? 60_000);
    while (!(caughtUp = await consumedEverything(world, offsets).catch(() => false)) && Date.now() < deadline) await sleep(500);
  } finally {
    await offsets.close();
  }
  const rows = await options.cell.query<{ customer_id: string; id: string; copies: string }>(
    'SELECT customer_id, id::text, count(*)::text AS copies FROM readings WHERE customer_id = ANY($1::text[]) AND id >= $2 GROUP BY customer_id, id',
    [options.moved, DEVICE_FIRST_ID],
  );
  const held = new Map<string, Set<number>>();
  for (const r of rows) {
    if (!held.has(r.customer_id)) held.set(r.customer_id, new Set());
    held.get(r.customer_id)!.add(Number(r.id));
  }
  const missing = options.moved
    .map((customer) => ({ customer, ids: (options.fleet.acked.get(customer) ?? []).filter((id) => !held.get(customer)?.has(id)) }))
    .filter((m) => m.ids.length > 0);
  const duplicated = rows.filter((r) => Number(r.copies) > 1).map((r) => ({ customer: r.customer_id, id: Number(r.id), copies: Number(r.copies) }));
  return {
    customers: options.moved.length,
    acknowledged: options.moved.reduce((n, c) => n + (options.fleet.acked.get(c)?.length ?? 0), 0),
    rows: rows.reduce((n, r) => n + Number(r.copies), 0),
    missing,
    duplicated,
    caughtUp,
  };
}
