// A world for migration e2e tests: a control-plane PostgreSQL, two cells on real PostgreSQL
// servers (Ready through the operator and kwok's Strimzi), customers placed in the source cell by
// CustomerPlacements, rows for each, and the operator. Everything is named after `prefix`.
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';
import { apply, kubectl, kubectlJson, waitFor } from './kube.js';
import { startOperator, type OperatorOptions, type OperatorProcess } from './operator.js';

export const TENANT_TABLES = `
  CREATE TABLE readings (customer_id text NOT NULL, id bigint NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
                         value double precision NOT NULL, PRIMARY KEY (customer_id, id));
  CREATE TABLE devices (customer_id text NOT NULL, device_id text NOT NULL, name text NOT NULL, PRIMARY KEY (customer_id, device_id));`;

export async function sql<R extends pg.QueryResultRow = pg.QueryResultRow>(db: PostgresServer, text: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<R>(text, params)).rows;
  } finally {
    await client.end();
  }
}

export async function rowsPerCustomer(db: PostgresServer, table: string): Promise<Map<string, number>> {
  const rows = await sql<{ customer_id: string; n: string }>(db, `SELECT customer_id, count(*) AS n FROM ${table} GROUP BY customer_id`);
  return new Map(rows.map((r) => [r.customer_id, Number(r.n)]));
}

export interface MigrationObject {
  spec: { promotedStep?: number };
  status?: { phase?: string; currentStep?: number; progress?: string; customers?: { moved?: number; total?: number; failed?: number }; message?: string };
}

/** A Migration from the world's source cell to its target cell; `spec` adds to (or overrides) that. */
export function migrationManifest(world: Pick<MigrationWorld, 'sourceCell' | 'targetCell'>, name: string, spec: Record<string, unknown>): object {
  return { apiVersion: 'cells.platform.io/v1alpha1', kind: 'Migration', metadata: { name }, spec: { from: world.sourceCell, to: world.targetCell, ...spec } };
}

export interface MigrationWorld {
  source: PostgresServer;
  target: PostgresServer;
  controlPlane: PostgresServer;
  sourceCell: string;
  targetCell: string;
  customers: string[];
  operator: OperatorProcess;
  /** Starts a new operator (after a crash), with the same database. */
  restartOperator(): Promise<OperatorProcess>;
  migration(name: string): Promise<MigrationObject>;
  cleanup(migrations: string[]): Promise<void>;
}

/** A small Cell on an external PostgreSQL database (credentials in Secret `<name>-db` of `secretsNamespace`). */
export function cellManifest(
  name: string,
  region: string,
  db: { host: string; port: number; database: string },
  secretsNamespace: string,
  maxCustomers = 100,
): object {
  return {
    apiVersion: 'cells.platform.io/v1alpha1',
    kind: 'Cell',
    metadata: { name },
    spec: {
      region,
      capacity: { maxCustomers },
      kafka: {
        controllers: { replicas: 1, storage: { size: '1Gi' } },
        brokers: { replicas: 1, storage: { size: '1Gi' } },
        topics: [{ name: 'telemetry', partitions: 3, replicas: 1 }],
      },
      database: {
        external: { host: db.host, port: db.port, database: db.database, sslMode: 'disable', secretRef: { name: `${name}-db`, namespace: secretsNamespace } },
        tables: [{ name: 'readings', mode: 'AppendOnly' }, { name: 'devices', mode: 'Mutable' }],
      },
      deletionPolicy: 'Delete',
    },
  };
}

/** The namespace and the `<cell>-db` Secrets of cells on the throw-away servers (trust auth: any password). */
export function credentialSecrets(namespace: string, cells: string[]): object[] {
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: namespace } },
    ...cells.map((name) => ({
      apiVersion: 'v1',
      kind: 'Secret',
      metadata: { name: `${name}-db`, namespace },
      stringData: { username: 'postgres', password: 'unused-with-trust-auth' },
    })),
  ];
}

/** Waits until every named Cell reports phase Ready. */
export async function waitForReadyCells(names: string[]): Promise<void> {
  await waitFor(
    async () => {
      const phases = await Promise.all(names.map((n) => kubectl(['get', 'cell', n, '-o', 'jsonpath={.status.phase}'])));
      return phases.every((p) => p.stdout === 'Ready');
    },
    { timeoutMs: 90_000, description: `cells ${names.join(', ')} Ready` },
  );
}

export async function startMigrationWorld(options: {
  prefix: string;
  region: string;
  customers: number;
  readingsPerCustomer: number;
  operator?: OperatorOptions;
}): Promise<MigrationWorld> {
  const { prefix, region } = options;
  const sourceCell = `${prefix}-src`;
  const targetCell = `${prefix}-dst`;
  const secrets = `${prefix}-secrets`;
  const customers = Array.from({ length: options.customers }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);
  const [controlPlane, source, target] = await Promise.all([startPostgres(), startPostgres(), startPostgres()]);
  await Promise.all([sql(source, TENANT_TABLES), sql(target, TENANT_TABLES)]);
  await apply(credentialSecrets(secrets, [sourceCell, targetCell]));
  const operatorOptions: OperatorOptions = { name: prefix, leaderElect: false, databaseUrl: controlPlane.url, ...options.operator };
  let operator = await startOperator(operatorOptions);
  await operator.waitReady();
  await apply([cellManifest(sourceCell, region, source, secrets), cellManifest(targetCell, region, target, secrets)]);
  await waitForReadyCells([sourceCell, targetCell]);
  await apply(
    customers.map((id, i) => ({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'CustomerPlacement',
      metadata: { name: id, labels: { tier: 'standard' } },
      spec: { cell: sourceCell, region, expectedDevices: i },
    })),
  );
  await waitFor(
    async () => {
      const placed = await sql<{ n: string }>(controlPlane, 'SELECT count(*) AS n FROM placements WHERE cell = $1', [sourceCell]);
      return Number(placed[0]?.n) === customers.length;
    },
    { timeoutMs: 60_000, description: `all ${customers.length} customers placed in the source cell` },
  );
  await sql(source, 'INSERT INTO readings (customer_id, id, value) SELECT c, i, random() FROM unnest($1::text[]) c, generate_series(1, $2::int) i', [
    customers,
    options.readingsPerCustomer,
  ]);
  await sql(source, `INSERT INTO devices (customer_id, device_id, name) SELECT c, 'd' || i, 'device ' || i FROM unnest($1::text[]) c, generate_series(1, 3) i`, [customers]);

  return {
    source,
    target,
    controlPlane,
    sourceCell,
    targetCell,
    customers,
    get operator() {
      return operator;
    },
    async restartOperator() {
      operator = await startOperator(operatorOptions);
      await operator.waitReady();
      return operator;
    },
    migration: (name) => kubectlJson<MigrationObject>(['get', 'migration', name, '-o', 'json']),
    async cleanup(migrations) {
      for (const m of migrations) await kubectl(['delete', 'migration', m, '--ignore-not-found', '--wait=false']);
      await kubectl(['delete', 'customerplacements', ...customers, '--ignore-not-found', '--wait=false']);
      await operator.stop();
      for (const name of [...migrations.map((m) => `migration/${m}`), `cell/${sourceCell}`, `cell/${targetCell}`]) {
        // Objects may still wait on their finalizer (customers, open moves): the test is over.
        await kubectl(['patch', name, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => undefined);
      }
      await kubectl(['delete', 'cell', sourceCell, targetCell, '--ignore-not-found', '--wait=false']);
      await kubectl(['delete', 'namespace', secrets, '--ignore-not-found', '--wait=false']);
      await Promise.all([controlPlane, source, target].map((s) => s.stop()));
    },
  };
}

/** The connections a gateway-like writer needs: the routing table and each cell's database. */
export interface GatewayPools {
  routes: pg.Pool;
  cells: Map<string, pg.Pool>;
  end(): Promise<void>;
}

export function gatewayPools(world: MigrationWorld): GatewayPools {
  const routes = new pg.Pool({ connectionString: world.controlPlane.url, max: 4 });
  const cells = new Map([
    [world.sourceCell, new pg.Pool({ connectionString: world.source.url, max: 8 })],
    [world.targetCell, new pg.Pool({ connectionString: world.target.url, max: 8 })],
  ]);
  return { routes, cells, end: async () => void (await Promise.all([routes, ...cells.values()].map((p) => p.end()))) };
}

/**
 * A gateway-like writer: looks the customer up in the routing table, writes a reading to its cell,
 * and retries while the customer is fenced (the router's 503). Ids start at 1,000,000, above the
 * seeded rows; `acknowledged` holds the ids whose insert committed (the device got its 200), and
 * `acknowledgedIn` the cell each went to.
 */
export class GatewayWriter {
  readonly acknowledged: number[] = [];
  readonly acknowledgedIn = new Map<string, number[]>();
  fencedRetries = 0;
  private stopped = false;
  private next = 1_000_000;
  private readonly done: Promise<void>;

  constructor(
    private readonly pools: GatewayPools,
    readonly customer: string,
  ) {
    this.done = this.loop();
  }

  stop(): Promise<void> {
    this.stopped = true;
    return this.done;
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      const route = await this.pools.routes.query<{ cell: string; state: string }>('SELECT cell, state FROM placements WHERE customer_id = $1', [this.customer]);
      const row = route.rows[0];
      if (!row || row.state === 'Fenced') {
        this.fencedRetries++;
        await new Promise((r) => setTimeout(r, 50));
        continue;
      }
      const id = this.next++;
      const cell = this.pools.cells.get(row.cell);
      if (!cell) throw new Error(`unknown cell ${row.cell}`);
      try {
        await cell.query('INSERT INTO readings (customer_id, id, value) VALUES ($1, $2, 1)', [this.customer, id]);
      } catch (err) {
        // The cell database's fence (moments around a cut-over): not written, ask the router again.
        if ((err as { code?: string }).code !== 'ZF001') throw err;
        this.fencedRetries++;
        await new Promise((r) => setTimeout(r, 20));
        continue;
      }
      this.acknowledged.push(id);
      this.acknowledgedIn.set(row.cell, [...(this.acknowledgedIn.get(row.cell) ?? []), id]);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
