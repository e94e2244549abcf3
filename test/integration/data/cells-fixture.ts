// Real databases for customer-move tests and benchmarks: a control-plane PostgreSQL server with
// the operator's schema, one server per cell with a telemetry schema, the real router (in-process,
// its database connection through a proxy a test can cut), and a fleet of writers that ask the
// router before every write, wait out its 503s and re-ask on a fence refusal, as a gateway does.
import pg from 'pg';
import { Registry } from 'prom-client';
import { silentLogger } from '../../../src/log.js';
import { startRouter, type RouterHandle } from '../../../src/router/router.js';
import { migrate } from '../../../src/store/migrate.js';
import { syncCell } from '../../../src/store/cells.js';
import { withTransaction } from '../../../src/store/transactions.js';
import type { CellDatabases } from '../../../src/data/table-plans.js';
import type { Tenancy } from '../../../src/data/tenant-tables.js';
import { reconcileCitus } from '../../../src/data/citus-cluster.js';
import { startCitus, type CitusCluster } from '../../support/citus.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';
import { isFenceRefusal, lookupRoute, sleep } from '../../support/router-client.js';
import { startTcpProxy, type TcpProxy } from '../../support/tcp-proxy.js';

export const TELEMETRY_SCHEMA = `
CREATE TABLE readings (
  customer_id text NOT NULL,
  id          bigint NOT NULL,
  received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
  device      text NOT NULL,
  value       double precision NOT NULL,
  PRIMARY KEY (customer_id, id)
);
CREATE INDEX readings_received_idx ON readings (customer_id, received_at, id);
CREATE TABLE events (
  customer_id text NOT NULL,
  seq         bigint NOT NULL,
  kind        text NOT NULL,
  body        jsonb NOT NULL DEFAULT '{}',
  PRIMARY KEY (customer_id, seq)
);
CREATE TABLE devices (
  customer_id text NOT NULL,
  device_id   text NOT NULL,
  name        text NOT NULL,
  firmware    integer NOT NULL DEFAULT 0,
  tags        text[] NOT NULL DEFAULT '{}',
  PRIMARY KEY (customer_id, device_id)
);`;

/** readings catch up by their insert timestamp, events by key, devices are copied under the fence. */
export const TELEMETRY_TENANCY: Tenancy = {
  tenantColumn: 'customer_id',
  tables: [
    { name: 'readings', mode: 'AppendOnly', watermarkColumn: 'received_at' },
    { name: 'events', mode: 'AppendOnly' },
    { name: 'devices', mode: 'Mutable' },
  ],
};

export interface Cells {
  controlPlane: PostgresServer;
  cp: pg.Pool;
  servers: Record<string, PostgresServer>;
  pools: Record<string, pg.Pool>;
  /** The tenancy every cell reports; tests may change it. */
  tenancy: Tenancy;
  cells: CellDatabases;
  /** The router (started on first use) that the writers ask; its database connections go through `routerLink`. */
  router(): Promise<RouterHandle>;
  /** Cut it to take the control-plane database away from the router alone. */
  routerLink: TcpProxy;
  stop(): Promise<void>;
}

export function quietPool(url: string, max = 10): pg.Pool {
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: 5_000 });
  pool.on('error', () => undefined); // an idle connection lost to a restart: the next query reconnects
  return pool;
}

export interface StartCellsOptions {
  /** Cells that run on Citus (a coordinator and `citusWorkers` workers), the others on plain PostgreSQL. */
  citus?: readonly string[];
  citusWorkers?: number;
  /** Shards of each distributed tenant table. Default 8. */
  shardCount?: number;
}

/**
 * Starts the cells before the test file's first test and stops them after its last; `prepare` runs
 * once they are up (a tenancy, seeding). Returns a getter: the cells exist only once beforeAll ran.
 */
export function useCells(options: { timeoutMs?: number; prepare?: (cells: Cells) => void } = {}): () => Cells {
  let cells: Cells | undefined;
  beforeAll(async () => {
    cells = await startCells();
    options.prepare?.(cells);
  }, options.timeoutMs ?? 180_000);
  afterAll(async () => {
    await cells?.stop();
  }, options.timeoutMs ?? 180_000);
  return () => {
    if (!cells) throw new Error('the cells are not started yet (useCells: use them inside a test or hook)');
    return cells;
  };
}

export async function startCells(names: readonly string[] = ['cell-a', 'cell-b'], schema = TELEMETRY_SCHEMA, options: StartCellsOptions = {}): Promise<Cells> {
  const citusCells = new Set(options.citus ?? []);
  const clusters: CitusCluster[] = [];
  const startCell = async (name: string): Promise<PostgresServer> => {
    if (!citusCells.has(name)) return startPostgres();
    const cluster = await startCitus({ workers: options.citusWorkers ?? 2 });
    clusters.push(cluster);
    return cluster.coordinator;
  };
  const started = await Promise.all([startPostgres(), ...names.map(startCell)]);
  const controlPlane = started[0] as PostgresServer;
  const servers: Record<string, PostgresServer> = {};
  const pools: Record<string, pg.Pool> = {};
  names.forEach((n, i) => {
    servers[n] = started[i + 1] as PostgresServer;
    pools[n] = quietPool((started[i + 1] as PostgresServer).url, 20);
  });
  const cp = quietPool(controlPlane.url, 20);
  const routerLink = await startTcpProxy({ host: controlPlane.host, port: controlPlane.port });
  let router: Promise<RouterHandle> | undefined;
  await migrate(cp);
  for (const name of names) {
    await syncCell(cp, { name, region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: 100_000 });
    await (pools[name] as pg.Pool).query(schema);
    const cluster = clusters.find((c) => c.coordinator === servers[name]);
    if (cluster) await shapeCitusCell(pools[name] as pg.Pool, cluster, options.shardCount ?? 8);
  }
  const fixture: Cells = {
    controlPlane,
    cp,
    servers,
    pools,
    tenancy: TELEMETRY_TENANCY,
    cells: (cell) => {
      const pool = pools[cell];
      if (!pool) throw new Error(`no cell ${cell}`);
      return { pool, tenancy: fixture.tenancy };
    },
    routerLink,
    router() {
      router ??= startRouter({
        database: { url: routerLink.via(controlPlane.url) },
        host: '127.0.0.1',
        port: 0,
        migrate: false,
        waitForIndex: true,
        retryAfterSeconds: 1,
        log: silentLogger(),
        registry: new Registry(),
        defaultMetrics: false,
        closeGraceMs: 100,
      });
      return router;
    },
    async stop() {
      if (router) await (await router).close().catch(() => undefined);
      await routerLink.close();
      await Promise.all([cp.end(), ...Object.values(pools).map((p) => p.end())]).catch(() => undefined);
      await Promise.all([...started.filter((s) => !clusters.some((c) => c.coordinator === s)).map((s) => s.stop()), ...clusters.map((c) => c.stop())]);
    },
  };
  return fixture;
}

/** The operator's own Citus code shapes the cell: workers registered, tenant tables distributed co-located. */
async function shapeCitusCell(pool: pg.Pool, cluster: CitusCluster, shardCount: number): Promise<void> {
  const client = await pool.connect();
  try {
    const { coordinator, workers } = cluster;
    const result = await reconcileCitus(client, {
      coordinator: { host: coordinator.host, port: coordinator.port },
      workers: workers.map((w) => ({ host: w.host, port: w.port })),
      tenantColumn: 'customer_id',
      shardCount,
    });
    const refused = result.results.filter((r) => !r.ok);
    if (refused.length > 0) throw new Error(`shaping the Citus cell failed: ${JSON.stringify(refused)}`);
    await client.query('RESET statement_timeout');
  } finally {
    client.release();
  }
}

export async function placeCustomers(cp: pg.Pool, customers: readonly string[], cell: string): Promise<void> {
  await cp.query('INSERT INTO placements (customer_id, cell) SELECT unnest($1::text[]), $2', [customers, cell]);
}

let nextId = 1_000_000;
/** Globally unique ids, as a gateway-side id generator would hand out (not per-cell sequences). */
export function newId(): number {
  return nextId++;
}

export interface Seeded {
  readings: Set<number>;
  events: Set<number>;
  devices: Set<string>;
}

/** Rows of a customer already in a cell before the move: readings, events and devices. */
export async function seedCustomer(pool: pg.Pool, customer: string, rows: { readings: number; events: number; devices: number }): Promise<Seeded> {
  const firstReading = nextId;
  nextId += rows.readings;
  const firstEvent = nextId;
  nextId += rows.events;
  await pool.query(
    `INSERT INTO readings (customer_id, id, received_at, device, value)
     SELECT $1, $2::bigint + g, clock_timestamp() - interval '1 hour' + g * interval '1 millisecond', 'd' || (g % 10), g * 0.5
       FROM generate_series(0, $3::int - 1) g`,
    [customer, firstReading, rows.readings],
  );
  await pool.query(
    `INSERT INTO events (customer_id, seq, kind, body) SELECT $1, $2::bigint + g, 'boot', jsonb_build_object('n', g) FROM generate_series(0, $3::int - 1) g`,
    [customer, firstEvent, rows.events],
  );
  await pool.query(
    `INSERT INTO devices (customer_id, device_id, name, tags) SELECT $1, 'd' || g, 'device ' || g, ARRAY['t' || g] FROM generate_series(0, $2::int - 1) g`,
    [customer, rows.devices],
  );
  const range = (first: number, n: number) => new Set(Array.from({ length: n }, (_, i) => first + i));
  const devices = new Set(Array.from({ length: rows.devices }, (_, g) => `d${g}`));
  return { readings: range(firstReading, rows.readings), events: range(firstEvent, rows.events), devices };
}

export interface RowsOf {
  readings: Set<number>;
  events: Set<number>;
  devices: Map<string, number>;
}

/** Everything a cell holds of a customer, with duplicate detection (the keys make them impossible). */
export async function rowsOf(pool: pg.Pool, customer: string): Promise<RowsOf & { total: number }> {
  const r = await pool.query<{ id: string }>('SELECT id FROM readings WHERE customer_id = $1', [customer]);
  const e = await pool.query<{ seq: string }>('SELECT seq FROM events WHERE customer_id = $1', [customer]);
  const d = await pool.query<{ device_id: string; firmware: number }>('SELECT device_id, firmware FROM devices WHERE customer_id = $1', [customer]);
  return {
    readings: new Set(r.rows.map((x) => Number(x.id))),
    events: new Set(e.rows.map((x) => Number(x.seq))),
    devices: new Map(d.rows.map((x) => [x.device_id, x.firmware])),
    total: r.rowCount! + e.rowCount! + d.rowCount!,
  };
}

/** A device row as the writers last had it acknowledged. */
interface DeviceAck {
  firmware: number;
  cell: string;
}

/** Every acknowledged write of one customer, with the cell that acknowledged it. */
export interface Ledger {
  readings: Map<number, string>;
  events: Map<number, string>;
  /** Devices whose latest acknowledged write left them present: seeded ones updated, new ones created or updated. */
  devices: Map<string, DeviceAck>;
  /** Devices whose deletion was acknowledged (created by the writers, then deleted). */
  deleted: Map<string, string>;
  /** Writes whose outcome is unknown (the commit failed without an answer): their keys may or may not be there. */
  uncertain: { readings: Set<number>; events: Set<number>; devices: Set<string> };
  /** Acknowledged transactions per cell. */
  byCell: Map<string, number>;
}

function emptyLedger(): Ledger {
  return {
    readings: new Map(),
    events: new Map(),
    devices: new Map(),
    deleted: new Map(),
    uncertain: { readings: new Set(), events: new Set(), devices: new Set() },
    byCell: new Map(),
  };
}

/** What one write transaction does for a customer; decided before it runs, so a retry repeats it. */
interface WritePlan {
  reading: number;
  event: number;
  /** A seeded device whose firmware goes up by one. */
  bump?: string;
  /** A new device. */
  create?: string;
  /** A device the writers created earlier: updated, or deleted. */
  touch?: { device: string; op: 'update' | 'delete' };
}

/**
 * Writers for a set of customers, as gateways: each write asks the router for the customer's
 * cell (GET /v1/routes/{id}; a 503 waits for its Retry-After), writes there in one transaction
 * (a reading, an event, and on most writes an update, insert or delete of a device), and is
 * acknowledged only after COMMIT, recorded with the cell that committed it. A fence refusal from
 * a cell database rolls the transaction back and asks the router again.
 */
export class Writers {
  readonly ledgers = new Map<string, Ledger>();
  /** Answers 503 waited out. */
  fenced = 0;
  /** Writes a cell database refused because of a fence (then routed again). */
  refused = 0;
  /** Write transactions that failed otherwise (their outcome is uncertain). */
  errors = 0;
  /** Lookups the router did not answer with a route or a 503. */
  routeFailures = 0;
  writes = 0;
  /** Contradictions seen while writing: a device the ledger says exists that the routed cell lacks. */
  readonly anomalies: string[] = [];
  readonly errorMessages: string[] = [];
  private readonly inFlight = new Map<string, number>();
  private readonly held = new Map<string, Promise<void>>();
  /** Created devices free for another write to update or delete, per customer. */
  private readonly spare = new Map<string, string[]>();
  /** Writes planned per customer: what each does turns with it, whatever the number of customers. */
  private readonly turns = new Map<string, number>();
  private running = false;
  private loops: Promise<void>[] = [];
  private routerUrl: string | undefined;

  constructor(
    private readonly cells: Cells,
    private readonly customers: () => readonly string[],
    private readonly concurrency = 3,
    private readonly pauseMs = 2,
    /** Delete devices too (besides inserting and updating them). */
    private readonly deletes = true,
  ) {}

  start(): void {
    this.running = true;
    const ready = this.cells.router().then((r) => {
      this.routerUrl = r.url;
    });
    for (let i = 0; i < this.concurrency; i++) this.loops.push(ready.then(() => this.loop(i)));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Acknowledged writes of a customer. */
  acknowledged(customer: string): number {
    let n = 0;
    for (const v of this.ledgers.get(customer)?.byCell.values() ?? []) n += v;
    return n;
  }

  /** Waits until no write for `customer` is in flight (take it out of the list first). */
  async quiet(customer: string): Promise<void> {
    while ((this.inFlight.get(customer) ?? 0) > 0) await sleep(5);
  }

  /** Runs `fn` with the customer's writes held (none in flight, none starting) and releases them. */
  async holding<T>(customer: string, fn: () => Promise<T>): Promise<T> {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    while (this.held.has(customer)) await this.held.get(customer);
    this.held.set(customer, gate);
    try {
      await this.quiet(customer);
      return await fn();
    } finally {
      this.held.delete(customer);
      release();
    }
  }

  ledger(customer: string): Ledger {
    let l = this.ledgers.get(customer);
    if (!l) {
      l = emptyLedger();
      this.ledgers.set(customer, l);
    }
    return l;
  }

  private spareOf(customer: string): string[] {
    let s = this.spare.get(customer);
    if (!s) {
      s = [];
      this.spare.set(customer, s);
    }
    return s;
  }

  private async loop(worker: number): Promise<void> {
    let n = worker;
    while (this.running) {
      const customers = this.customers();
      if (customers.length === 0) {
        await sleep(10);
        continue;
      }
      const customer = customers[n++ % customers.length] as string;
      while (this.held.has(customer)) await this.held.get(customer);
      this.inFlight.set(customer, (this.inFlight.get(customer) ?? 0) + 1);
      try {
        await this.writeOnce(customer, this.plan(customer));
      } finally {
        this.inFlight.set(customer, (this.inFlight.get(customer) ?? 1) - 1);
      }
      if (this.pauseMs) await sleep(this.pauseMs);
    }
  }

  private plan(customer: string): WritePlan {
    const n = (this.turns.get(customer) ?? 0) + 1;
    this.turns.set(customer, n);
    const plan: WritePlan = { reading: newId(), event: newId() };
    if (n % 4 === 0) plan.bump = `d${n % 5}`;
    const spare = this.spareOf(customer);
    if (n % 3 === 1 || spare.length === 0) plan.create = `w${newId()}`;
    else if (n % 3 === 2) plan.touch = { device: spare.shift() as string, op: this.deletes && n % 2 === 0 ? 'delete' : 'update' };
    return plan;
  }

  /** The customer's cell from the router, waiting out 503s; undefined if the writers stopped meanwhile. */
  private async route(customer: string): Promise<string | undefined> {
    for (;;) {
      const answer = await lookupRoute(this.routerUrl as string, customer);
      if (answer.kind === 'Route') return answer.cell;
      if (answer.kind === 'Retry') this.fenced++;
      else this.routeFailures++;
      if (!this.running) return undefined;
      await sleep(answer.kind === 'Retry' ? answer.retryAfterMs : 100);
    }
  }

  private async writeOnce(customer: string, plan: WritePlan): Promise<void> {
    const ledger = this.ledger(customer);
    for (;;) {
      const cell = await this.route(customer);
      if (cell === undefined) return this.giveBack(customer, plan);
      const pool = this.cells.pools[cell] as pg.Pool;
      let result: { firmware?: number; touched?: number };
      try {
        result = await withTransaction(pool, async (client) => {
          await client.query('INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, $3, $4)', [customer, plan.reading, 'd1', plan.reading % 97]);
          await client.query(`INSERT INTO events (customer_id, seq, kind) VALUES ($1, $2, 'reading')`, [customer, plan.event]);
          const out: { firmware?: number; touched?: number } = {};
          if (plan.bump) {
            const u = await client.query<{ firmware: number }>('UPDATE devices SET firmware = firmware + 1 WHERE customer_id = $1 AND device_id = $2 RETURNING firmware', [customer, plan.bump]);
            if (u.rows[0]) out.firmware = u.rows[0].firmware;
          }
          if (plan.create) await client.query(`INSERT INTO devices (customer_id, device_id, name) VALUES ($1, $2, 'created by a writer')`, [customer, plan.create]);
          if (plan.touch?.op === 'update') {
            out.touched = (await client.query('UPDATE devices SET firmware = firmware + 1 WHERE customer_id = $1 AND device_id = $2', [customer, plan.touch.device])).rowCount ?? 0;
          } else if (plan.touch?.op === 'delete') {
            out.touched = (await client.query('DELETE FROM devices WHERE customer_id = $1 AND device_id = $2', [customer, plan.touch.device])).rowCount ?? 0;
          }
          return out;
        });
      } catch (err) {
        if (isFenceRefusal(err)) {
          this.refused++; // rolled back: ask the router again and repeat the same write
          continue;
        }
        this.errors++;
        if (this.errorMessages.length < 20) this.errorMessages.push(`${customer} in ${cell}: ${(err as Error).message}`);
        ledger.uncertain.readings.add(plan.reading);
        ledger.uncertain.events.add(plan.event);
        if (plan.create) ledger.uncertain.devices.add(plan.create);
        if (plan.touch) ledger.uncertain.devices.add(plan.touch.device);
        if (plan.bump) ledger.uncertain.devices.add(plan.bump);
        await sleep(20);
        return;
      }
      // Committed: the device got its acknowledgement.
      ledger.readings.set(plan.reading, cell);
      ledger.events.set(plan.event, cell);
      if (plan.bump && result.firmware !== undefined) {
        // Two writers may bump the same device: the higher firmware is the later commit.
        const known = ledger.devices.get(plan.bump);
        if (!known || known.firmware < result.firmware) ledger.devices.set(plan.bump, { firmware: result.firmware, cell });
      }
      if (plan.create) {
        ledger.devices.set(plan.create, { firmware: 0, cell });
        this.spareOf(customer).push(plan.create);
      }
      if (plan.touch) {
        const { device, op } = plan.touch;
        const before = ledger.devices.get(device);
        if (result.touched !== 1) {
          this.anomalies.push(`${customer}: device ${device}, acknowledged earlier by ${before?.cell}, was missing from ${cell} when a writer went to ${op} it`);
        } else if (op === 'delete') {
          ledger.devices.delete(device);
          ledger.deleted.set(device, cell);
        } else {
          ledger.devices.set(device, { firmware: (before?.firmware ?? 0) + 1, cell });
          this.spareOf(customer).push(device);
        }
      }
      ledger.byCell.set(cell, (ledger.byCell.get(cell) ?? 0) + 1);
      this.writes++;
      return;
    }
  }

  private giveBack(customer: string, plan: WritePlan): void {
    if (plan.touch) this.spareOf(customer).push(plan.touch.device);
  }
}

/**
 * Compares a cell's keys of a customer, table by table, with what must be there: the seeded rows
 * and every acknowledged write, deletions included, and nothing else (keys of writes with an
 * uncertain outcome may go either way). `exact: false` only checks that the acknowledged writes
 * are there (while writes go on). Returns the differences, empty when none.
 */
export function keySetProblems(held: RowsOf, seeded: Seeded, ledger: Ledger | undefined, options: { exact?: boolean } = {}): string[] {
  const exact = options.exact ?? true;
  const l = ledger ?? emptyLedger();
  const problems: string[] = [];
  const compare = (table: string, have: Set<string | number>, must: Set<string | number>, may: Set<string | number>) => {
    const missing = [...must].filter((k) => !have.has(k) && !may.has(k));
    if (missing.length) problems.push(`${table}: ${missing.length} missing (${missing.slice(0, 5).join(', ')})`);
    if (!exact) return;
    const extra = [...have].filter((k) => !must.has(k) && !may.has(k));
    if (extra.length) problems.push(`${table}: ${extra.length} that nobody wrote or that were deleted (${extra.slice(0, 5).join(', ')})`);
  };
  compare('readings', held.readings, new Set([...seeded.readings, ...l.readings.keys()]), l.uncertain.readings);
  compare('events', held.events, new Set([...seeded.events, ...l.events.keys()]), l.uncertain.events);
  const devices = new Set<string>([...seeded.devices, ...l.devices.keys()]);
  for (const d of l.deleted.keys()) devices.delete(d);
  compare('devices', new Set(held.devices.keys()), devices, l.uncertain.devices);
  for (const d of l.deleted.keys()) if (held.devices.has(d) && !l.uncertain.devices.has(d)) problems.push(`devices: ${d} is back after its deletion was acknowledged`);
  for (const [d, ack] of l.devices) {
    const got = held.devices.get(d);
    if (got === undefined || l.uncertain.devices.has(d)) continue;
    if (exact ? got !== ack.firmware : got < ack.firmware) problems.push(`devices: ${d} has firmware ${got}, acknowledged ${ack.firmware} by ${ack.cell}`);
  }
  return problems;
}
