// The demo's PostgreSQL servers: one for the control plane and, per cell, a Citus coordinator with
// two workers (test/support/citus.ts, from the cached Citus build) or, without Citus, one plain
// PostgreSQL. Throw-away clusters on free ports (trust auth). Each cell database belongs to the
// login role of the cell's credentials Secret and holds the tenant tables the Cells declare
// (readings, devices); on Citus the operator registers the workers and distributes the tables.
import pg from 'pg';
import { startCitus } from '../../test/support/citus.js';
import { startPostgres, type PostgresServer } from '../../test/support/postgres.js';

/** What a cell's database must look like: its name and the role of its credentials Secret. */
export interface CellDatabaseRequest {
  cell: string;
  database: string;
  username: string;
  password: string;
}

export interface CellDatabase extends CellDatabaseRequest {
  /** The cell's server: on Citus its coordinator. */
  server: PostgresServer;
  /** On Citus, the workers (none otherwise): the Cell names them, the operator registers them. */
  workers: PostgresServer[];
  /** Runs SQL in the cell database as its owner. */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]>;
}

export interface DemoDatabases {
  controlPlane: { server: PostgresServer; url: string; query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]): Promise<R[]> };
  cells: Map<string, CellDatabase>;
  /** Every server's data directory (to remove what a killed demo left behind). */
  dataDirs(): string[];
  /** Stops every server and deletes its files. */
  stop(): Promise<void>;
}

/**
 * The tenant tables of the example cells (spec.database.tables), keyed by customer_id; readings as
 * the ingestion worker writes them (customer_id, id, device, value: src/ingest/row-writer.ts).
 */
export const TENANT_TABLES = `
  CREATE TABLE readings (
    customer_id text NOT NULL,
    id          bigint NOT NULL,
    received_at timestamptz NOT NULL DEFAULT now(),
    value       double precision NOT NULL,
    device      text,
    PRIMARY KEY (customer_id, id)
  );
  CREATE INDEX readings_received_at_idx ON readings (customer_id, received_at, id);
  CREATE TABLE devices (
    customer_id text NOT NULL,
    device_id   text NOT NULL,
    name        text NOT NULL,
    PRIMARY KEY (customer_id, device_id)
  );`;

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

async function run<R extends pg.QueryResultRow>(config: pg.ClientConfig, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client(config);
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

/**
 * The role and the database on one server. On a Citus node the role is a superuser (the operator
 * registers workers with citus_add_node, which needs one) and the database has the extension.
 */
async function prepareNode(server: PostgresServer, request: CellDatabaseRequest, citus: boolean): Promise<void> {
  const admin = { host: server.host, port: server.port, user: server.user, database: 'postgres' };
  await run(admin, `CREATE ROLE ${quoteIdent(request.username)} LOGIN ${citus ? 'SUPERUSER ' : ''}PASSWORD ${quoteLiteral(request.password)}`);
  await run(admin, `CREATE DATABASE ${quoteIdent(request.database)} OWNER ${quoteIdent(request.username)}`);
  if (citus) await run({ ...admin, database: request.database }, 'CREATE EXTENSION IF NOT EXISTS citus');
}

async function prepareCellDatabase(server: PostgresServer, workers: PostgresServer[], request: CellDatabaseRequest): Promise<CellDatabase> {
  const citus = workers.length > 0;
  for (const node of [server, ...workers]) await prepareNode(node, request, citus);
  const owner = { host: server.host, port: server.port, user: request.username, password: request.password, database: request.database };
  await run(owner, TENANT_TABLES);
  return { ...request, server, workers, query: (sql, params) => run(owner, sql, params) };
}

/** A cell's servers: a Citus coordinator and two workers, or one plain PostgreSQL. */
interface CellServers {
  server: PostgresServer;
  workers: PostgresServer[];
}

async function startCellServers(citus: boolean): Promise<CellServers> {
  const settings = { max_connections: 100 };
  if (!citus) return { server: await startPostgres({ settings }), workers: [] };
  const cluster = await startCitus({ workers: 2, settings });
  return { server: cluster.coordinator, workers: cluster.workers };
}

export interface DemoDatabaseOptions {
  /** Each cell on a Citus coordinator with two workers (the Citus build must be there: citusBinDir()). */
  citus: boolean;
}

/**
 * Starts the servers in parallel. `onStarted` hears about each data directory as soon as it exists,
 * so a demo killed half-way can be cleaned up by the next one. On any failure, stops what started.
 */
export async function startDemoDatabases(cells: CellDatabaseRequest[], onStarted: (dataDir: string) => void, options: DemoDatabaseOptions = { citus: false }): Promise<DemoDatabases> {
  const names = ['control plane', ...cells.map((c) => `cell ${c.cell}`)];
  const started = await Promise.allSettled(
    names.map(async (_, i) => {
      const cell = await startCellServers(i > 0 && options.citus);
      for (const node of [cell.server, ...cell.workers]) onStarted(node.dataDir);
      return cell;
    }),
  );
  const servers = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value.server, ...s.value.workers] : []));
  const stopAll = async () => {
    await Promise.allSettled(servers.map((s) => s.stop()));
  };
  const failed = started.findIndex((s) => s.status === 'rejected');
  if (failed >= 0) {
    await stopAll();
    const reason = (started[failed] as PromiseRejectedResult).reason as unknown;
    throw new Error(`PostgreSQL for the ${names[failed]} did not start: ${reason instanceof Error ? reason.message : String(reason)}`);
  }
  try {
    const [cp, ...cellServers] = started.map((s) => (s as PromiseFulfilledResult<CellServers>).value) as [CellServers, ...CellServers[]];
    const cpServer = cp.server;
    const url = await cpServer.createDatabase('control_plane');
    const cellDatabases = await Promise.all(cells.map((request, i) => prepareCellDatabase(cellServers[i]!.server, cellServers[i]!.workers, request)));
    return {
      controlPlane: { server: cpServer, url, query: (sql, params) => run({ connectionString: url }, sql, params) },
      cells: new Map(cellDatabases.map((c) => [c.cell, c])),
      dataDirs: () => servers.map((s) => s.dataDir),
      stop: stopAll,
    };
  } catch (error) {
    await stopAll();
    throw error;
  }
}

/** Rows of one customer to insert: readings (append-only telemetry) and devices. */
export interface CustomerRows {
  customer: string;
  readings: number;
  devices: number;
}

/** Inserts the rows in one statement per table. Returns the totals. */
export async function insertCustomerRows(database: CellDatabase, rows: CustomerRows[]): Promise<{ readings: number; devices: number }> {
  if (rows.length === 0) return { readings: 0, devices: 0 };
  const customers = rows.map((r) => r.customer);
  await database.query(
    `INSERT INTO readings (customer_id, id, received_at, value)
       SELECT c, g, now() - (n - g) * interval '1 minute', round((20 + random() * 10)::numeric, 2)
         FROM unnest($1::text[], $2::int[]) AS t(c, n), generate_series(1, n) AS g`,
    [customers, rows.map((r) => r.readings)],
  );
  await database.query(
    `INSERT INTO devices (customer_id, device_id, name)
       SELECT c, 'dev-' || g, 'sensor ' || g FROM unnest($1::text[], $2::int[]) AS t(c, n), generate_series(1, n) AS g`,
    [customers, rows.map((r) => r.devices)],
  );
  return { readings: rows.reduce((s, r) => s + r.readings, 0), devices: rows.reduce((s, r) => s + r.devices, 0) };
}
