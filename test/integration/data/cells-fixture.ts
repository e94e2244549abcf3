// Real databases for customer-move tests and benchmarks: a control-plane PostgreSQL server with
// the operator's schema and one server per cell with a telemetry schema, plus a fleet of writers
// that route every write through the placements table and retry on a fence, as a gateway does.
import pg from 'pg';
import { migrate } from '../../../src/store/migrate.js';
import { syncCell } from '../../../src/store/cells.js';
import { withTransaction } from '../../../src/store/transactions.js';
import type { CellDatabases } from '../../../src/data/table-plans.js';
import type { Tenancy } from '../../../src/data/tenant-tables.js';
import { reconcileCitus } from '../../../src/data/citus-cluster.js';
import { startCitus, type CitusCluster } from '../../support/citus.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';

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
    async stop() {
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
  return { readings: range(firstReading, rows.readings), events: range(firstEvent, rows.events) };
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

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Writers for a set of customers: each write looks up the customer's cell in the placements table
 * (503 while Fenced: sleep and retry), writes in that cell, and is acknowledged only after COMMIT.
 */
export class Writers {
  /** Acknowledged rows per customer. */
  readonly acked = new Map<string, RowsOf>();
  /** Ids of every attempted row (an unacknowledged write may still have committed). */
  readonly attempted = new Map<string, { readings: Set<number>; events: Set<number> }>();
  fenced = 0;
  errors = 0;
  writes = 0;
  private readonly inFlight = new Map<string, number>();
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly cells: Cells,
    private readonly customers: () => readonly string[],
    private readonly concurrency = 3,
    private readonly pauseMs = 2,
  ) {}

  start(): void {
    this.running = true;
    for (let i = 0; i < this.concurrency; i++) this.loops.push(this.loop(i));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    this.loops = [];
  }

  /** Waits until no write for `customer` is in flight (take it out of the list first). */
  async quiet(customer: string): Promise<void> {
    while ((this.inFlight.get(customer) ?? 0) > 0) await sleep(5);
  }

  private ackedOf(customer: string): RowsOf {
    let a = this.acked.get(customer);
    if (!a) {
      a = { readings: new Set(), events: new Set(), devices: new Map() };
      this.acked.set(customer, a);
    }
    return a;
  }

  private attemptedOf(customer: string) {
    let a = this.attempted.get(customer);
    if (!a) {
      a = { readings: new Set(), events: new Set() };
      this.attempted.set(customer, a);
    }
    return a;
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
      this.inFlight.set(customer, (this.inFlight.get(customer) ?? 0) + 1);
      try {
        await this.writeOnce(customer, n);
      } catch {
        this.errors++;
        await sleep(20);
      } finally {
        this.inFlight.set(customer, (this.inFlight.get(customer) ?? 1) - 1);
      }
      if (this.pauseMs) await sleep(this.pauseMs);
    }
  }

  private async writeOnce(customer: string, n: number): Promise<void> {
    for (;;) {
      const route = await this.cells.cp.query<{ cell: string; state: string }>('SELECT cell, state FROM placements WHERE customer_id = $1', [customer]);
      const r = route.rows[0];
      if (!r) throw new Error(`no placement for ${customer}`);
      if (r.state === 'Fenced') {
        this.fenced++;
        await sleep(5);
        if (!this.running) return;
        continue;
      }
      const pool = this.cells.pools[r.cell] as pg.Pool;
      const reading = newId();
      const event = newId();
      const attempted = this.attemptedOf(customer);
      attempted.readings.add(reading);
      attempted.events.add(event);
      const device = `d${n % 5}`;
      const firmware = await withTransaction(pool, async (client) => {
        await client.query('INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, $3, $4)', [customer, reading, `d${n % 10}`, n]);
        await client.query(`INSERT INTO events (customer_id, seq, kind) VALUES ($1, $2, 'reading')`, [customer, event]);
        if (n % 4 !== 0) return undefined;
        const u = await client.query<{ firmware: number }>(
          'UPDATE devices SET firmware = firmware + 1 WHERE customer_id = $1 AND device_id = $2 RETURNING firmware',
          [customer, device],
        );
        return u.rows[0]?.firmware;
      });
      // Committed: the device got its acknowledgement.
      const acked = this.ackedOf(customer);
      acked.readings.add(reading);
      acked.events.add(event);
      if (firmware !== undefined) acked.devices.set(device, firmware);
      this.writes++;
      return;
    }
  }
}

/** What a test checks after a move: every acknowledged write is in `cell`, nothing else is. */
export function missingAcked(acked: RowsOf | undefined, held: RowsOf): string[] {
  const problems: string[] = [];
  if (!acked) return problems;
  for (const id of acked.readings) if (!held.readings.has(id)) problems.push(`reading ${id}`);
  for (const id of acked.events) if (!held.events.has(id)) problems.push(`event ${id}`);
  for (const [device, firmware] of acked.devices) {
    const got = held.devices.get(device);
    if (got === undefined || got < firmware) problems.push(`device ${device} firmware ${got} < acknowledged ${firmware}`);
  }
  return problems;
}

/** Rows a cell holds that nobody wrote: neither seeded nor attempted by a writer. */
export function unexpectedRows(held: RowsOf, seeded: Seeded, attempted: { readings: Set<number>; events: Set<number> } | undefined): number[] {
  const out: number[] = [];
  for (const id of held.readings) if (!seeded.readings.has(id) && !attempted?.readings.has(id)) out.push(id);
  for (const id of held.events) if (!seeded.events.has(id) && !attempted?.events.has(id)) out.push(id);
  return out;
}
