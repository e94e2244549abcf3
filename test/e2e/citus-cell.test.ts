// A Cell on real Citus: its database is the external form naming a Citus coordinator (built from
// shared/thirdparty/citus, running as local processes with two workers) whose workers the
// operator manages. The Cell turns Ready with its workers registered and its tenant tables
// distributed; a worker added to the spec is registered and the shards rebalance onto it.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { condition, deleteCells, isReady, waitForCell, type LiveCell } from './support/cells.js';
import { exampleCellManifests } from './support/examples.js';
import { apply, kubectl } from './support/kube.js';
import { startOperator, stopAllOperators } from './support/operator.js';
import { startCitus, type CitusCluster } from '../support/citus.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';

const TIMEOUT_MS = 240_000;
const id = randomBytes(3).toString('hex');
const CELL = `citus-${id}`;
const SECRET_NAMESPACE = 'cell-databases';
const SECRET = `citus-${id}-database`;

let citus: CitusCluster;
let controlPlane: PostgresServer;
let databaseUrl: string;

type CitusStatus = { citusVersion?: string; workers?: number; distributedTables?: number; referenceTables?: number; rebalancing?: boolean };
const databaseStatus = (cell: LiveCell) => (cell.status as { database?: CitusStatus } | undefined)?.database;

async function query<T extends pg.QueryResultRow>(text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

function cellManifest(workers: PostgresServer[]) {
  const template = exampleCellManifests().find((m) => m.metadata.name === 'eu-west-1a')!;
  return {
    ...template,
    metadata: { name: CELL },
    spec: {
      ...template.spec,
      workloads: [],
      database: {
        external: {
          host: citus.coordinator.host,
          port: citus.coordinator.port,
          database: 'telemetry',
          sslMode: 'disable',
          secretRef: { name: SECRET, namespace: SECRET_NAMESPACE },
          workers: workers.map((w) => ({ host: w.host, port: w.port })),
        },
        shardCount: 8,
        tenantColumn: 'customer_id',
      },
    },
  };
}

describe('a Cell on Citus', () => {
  beforeAll(async () => {
    [citus, controlPlane] = await Promise.all([startCitus({ workers: 2 }), startPostgres()]);
    databaseUrl = await citus.createDatabase('telemetry');
    await query(`
      CREATE TABLE device_types (id int PRIMARY KEY, name text NOT NULL);
      CREATE TABLE devices (customer_id text NOT NULL, device_id text NOT NULL, type_id int, PRIMARY KEY (customer_id, device_id));
      CREATE TABLE readings (customer_id text NOT NULL, id bigint NOT NULL, value double precision, PRIMARY KEY (customer_id, id));
      INSERT INTO device_types VALUES (1, 'thermometer');
      INSERT INTO devices SELECT 'c' || (g % 40), 'd' || g, 1 FROM generate_series(1, 400) g;
      INSERT INTO readings SELECT 'c' || (g % 40), g, g FROM generate_series(1, 4000) g;`);
    const operator = await startOperator({ name: `citus-${id}`, databaseUrl: controlPlane.url, leaderElect: false, args: ['--resync=10'] });
    await operator.waitReady(60_000);
    await kubectl(['create', 'namespace', SECRET_NAMESPACE], { allowFailure: true });
    // The harness's servers trust local connections; the Secret is what a real coordinator would check.
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: SECRET, namespace: SECRET_NAMESPACE }, type: 'Opaque', stringData: { username: 'postgres', password: 'unused-trust-auth' } });
  }, TIMEOUT_MS);

  afterAll(async () => {
    await deleteCells([CELL]);
    await kubectl(['delete', 'secret', SECRET, '-n', SECRET_NAMESPACE, '--ignore-not-found'], { allowFailure: true });
    await stopAllOperators();
    await Promise.all([citus?.stop(), controlPlane?.stop()]);
  }, TIMEOUT_MS);

  it('turns Ready with its workers registered and its tenant tables distributed, and says which Citus and how many workers', async () => {
    await apply(cellManifest(citus.workers));
    const cell = await waitForCell(CELL, (c) => isReady(c) && databaseStatus(c)?.distributedTables === 2, 'to be Ready on Citus', 120_000);
    expect(condition(cell, 'DatabaseReady')).toMatchObject({ status: 'True', reason: 'Connected' });
    expect(condition(cell, 'DatabaseReady')?.message).toContain('Citus 13.2.2 with 2 active worker(s)');
    expect(databaseStatus(cell)).toMatchObject({ citusVersion: '13.2.2', workers: 2, distributedTables: 2, referenceTables: 1 });
    const nodes = await query<{ nodeport: number }>('SELECT nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY 1');
    expect(nodes.map((n) => n.nodeport)).toEqual(citus.workers.map((w) => w.port).sort((a, b) => a - b));
    const tables = await query<{ t: string; type: string }>('SELECT table_name::text AS t, citus_table_type AS type FROM citus_tables ORDER BY 1');
    expect(tables).toEqual([
      { t: 'device_types', type: 'reference' },
      { t: 'devices', type: 'distributed' },
      { t: 'readings', type: 'distributed' },
    ]);
  }, TIMEOUT_MS);

  it('registers a worker added to the spec and rebalances shards onto it, with every row still there', async () => {
    const added = await citus.addWorker();
    await apply(cellManifest(citus.workers));
    const cell = await waitForCell(CELL, (c) => databaseStatus(c)?.workers === 3 && databaseStatus(c)?.rebalancing === false && isReady(c), 'to have 3 workers and no rebalance running', 150_000);
    expect(condition(cell, 'DatabaseReady')?.message).toContain('with 3 active worker(s)');
    const onNew = await query<{ n: number }>(`SELECT count(*)::int AS n FROM citus_shards WHERE citus_table_type = 'distributed' AND nodeport = ${added.port}`);
    expect(onNew[0]?.n).toBeGreaterThan(0);
    expect(await query('SELECT (SELECT count(*) FROM devices)::int AS d, (SELECT count(*) FROM readings)::int AS r')).toEqual([{ d: 400, r: 4000 }]);
  }, TIMEOUT_MS);
});
