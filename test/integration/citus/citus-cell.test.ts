// The operator's Citus code (the Cell's database check) against a real Citus cluster: a coordinator
// and workers built from shared/thirdparty/citus, started as local PostgreSQL processes.
import pg from 'pg';
import { checkDatabase, type DatabaseCheck, type DatabaseCheckRequest } from '../../../src/data/cell-database-check.js';
import { startCitus, type CitusCluster } from '../../support/citus.js';

const TIMEOUT = 300_000;

type Connected = Extract<DatabaseCheck, { connected: true }>;

let cluster: CitusCluster;

beforeAll(async () => {
  cluster = await startCitus({ workers: 2 });
}, TIMEOUT);

afterAll(async () => {
  await cluster?.stop();
}, TIMEOUT);

async function query<T extends pg.QueryResultRow>(url: string, text: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

async function schema(url: string): Promise<void> {
  await query(
    url,
    `CREATE TABLE device_types (id int PRIMARY KEY, name text);
     CREATE TABLE devices (customer_id text, id bigint, type_id int, PRIMARY KEY (customer_id, id));
     CREATE TABLE readings (customer_id text, id bigint, value double precision, PRIMARY KEY (customer_id, id));
     INSERT INTO device_types SELECT g, 'type ' || g FROM generate_series(1, 5) g;
     INSERT INTO devices SELECT 'c' || (g % 50), g, 1 + g % 5 FROM generate_series(1, 500) g;
     INSERT INTO readings SELECT 'c' || (g % 50), g, g * 0.5 FROM generate_series(1, 5000) g;`,
  );
}

function request(url: string, workers: { host: string; port: number }[], shardCount = 8): DatabaseCheckRequest {
  const { hostname, port } = new URL(url);
  return {
    settings: { url },
    citus: { coordinator: { host: hostname, port: Number(port) }, workers, tenantColumn: 'customer_id', shardCount },
  };
}

const addresses = (c: CitusCluster) => c.workers.map((w) => ({ host: w.host, port: w.port }));

/** Checks again (as the reconciler does every 30 s) until `done` holds. */
async function checkUntil(req: DatabaseCheckRequest, done: (c: Connected) => boolean, timeoutMs = 120_000): Promise<Connected> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const check = await checkDatabase(req);
    if (!check.connected) throw new Error(`check failed: ${check.reason}: ${check.message}`);
    if (done(check)) return check;
    if (Date.now() > deadline) throw new Error(`gave up waiting: ${JSON.stringify(check)}`);
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function placementsByPort(url: string): Promise<Map<number, number>> {
  const rows = await query<{ nodeport: number; n: number }>(
    url,
    "SELECT nodeport, count(*)::int AS n FROM citus_shards WHERE citus_table_type = 'distributed' GROUP BY nodeport",
  );
  return new Map(rows.map((r) => [r.nodeport, r.n]));
}

describe('a Citus cell database checked by the operator', () => {
  it('registers the workers, distributes the tenant tables co-located in the cell\'s shard count, makes the others reference tables, and reports the Citus version and active workers', async () => {
    const url = await cluster.createDatabase('shape');
    await schema(url);

    const check = (await checkDatabase(request(url, addresses(cluster)))) as Connected;
    expect(check).toMatchObject({ connected: true, engine: 'Citus', citusVersion: '13.2.2', workers: 2, shardCount: 8, distributedTables: 2, referenceTables: 1, problems: [] });

    const tables = await query<{ table_name: string; citus_table_type: string; distribution_column: string; colocation_id: number; shard_count: number }>(
      url,
      'SELECT table_name::text, citus_table_type, distribution_column, colocation_id::int, shard_count::int FROM citus_tables ORDER BY 1',
    );
    expect(tables.map((t) => [t.table_name, t.citus_table_type, t.distribution_column, t.shard_count])).toEqual([
      ['device_types', 'reference', '<none>', 1],
      ['devices', 'distributed', 'customer_id', 8],
      ['readings', 'distributed', 'customer_id', 8],
    ]);
    expect(tables[1]?.colocation_id).toBe(tables[2]?.colocation_id);
    const placements = await placementsByPort(url);
    expect([...placements.keys()].sort()).toEqual(cluster.workers.map((w) => w.port).sort());
    // The rows moved into the shards: nothing lost on the way.
    expect(await query(url, 'SELECT (SELECT count(*) FROM devices)::int AS d, (SELECT count(*) FROM readings)::int AS r')).toEqual([{ d: 500, r: 5000 }]);

    // A second check changes nothing.
    const again = (await checkDatabase(request(url, addresses(cluster)))) as Connected;
    expect(again).toMatchObject({ workers: 2, distributedTables: 2, referenceTables: 1, rebalancing: false, problems: [] });
  }, TIMEOUT);

  it('gives a very large customer shards of its own in every co-located tenant table, and lists it as isolated', async () => {
    const url = await cluster.createDatabase('isolation');
    await schema(url);
    const base = request(url, addresses(cluster));
    await checkDatabase(base);
    const isolate = { ...base, citus: { ...base.citus!, isolatedCustomers: ['c7'] } };
    const check = (await checkDatabase(isolate)) as Connected;
    expect(check).toMatchObject({ isolatedCustomers: ['c7'], problems: [] });
    const shards = await query<{ t: string; alone: boolean; n: number }>(
      url,
      `SELECT t, s.shardminvalue = s.shardmaxvalue AS alone,
              (SELECT count(*)::int FROM pg_dist_shard x WHERE x.logicalrelid = t::regclass) AS n
         FROM unnest(ARRAY['devices', 'readings']) t
         JOIN pg_dist_shard s ON s.shardid = get_shard_id_for_distribution_column(t::regclass, 'c7'::text) ORDER BY t`,
    );
    expect(shards).toEqual([
      { t: 'devices', alone: true, n: 10 },
      { t: 'readings', alone: true, n: 10 },
    ]);
    expect(await query(url, "SELECT (SELECT count(*) FROM readings WHERE customer_id = 'c7')::int AS r")).toEqual([{ r: 100 }]);
    // Done once: the next check leaves it as it is.
    expect(await checkDatabase(isolate)).toMatchObject({ isolatedCustomers: ['c7'], problems: [] });
  }, TIMEOUT);

  it('says which worker it cannot register and why, without failing the check', async () => {
    const url = await cluster.createDatabase('unreachable');
    const check = (await checkDatabase(request(url, [...addresses(cluster), { host: '127.0.0.1', port: 1 }]))) as Connected;
    expect(check.connected).toBe(true);
    expect(check.workers).toBe(2);
    expect(check.problems?.[0]).toMatchObject({ reason: 'WorkerRegistrationFailed' });
    expect(check.problems?.[0]?.message).toContain('127.0.0.1:1');
  }, TIMEOUT);

  it('registers an added worker and rebalances shards onto it, then drains a removed one and removes it, with every row still there', async () => {
    const url = await cluster.createDatabase('scale');
    await schema(url);
    await checkDatabase(request(url, addresses(cluster)));

    const added = await cluster.addWorker();
    const grown = await checkUntil(request(url, addresses(cluster)), (c) => c.workers === 3 && !c.rebalancing);
    expect(grown.problems).toEqual([]);
    const spread = await placementsByPort(url);
    expect(spread.get(added.port)).toBeGreaterThan(0);

    const leaving = cluster.workers[0]!;
    const remaining = addresses(cluster).filter((w) => w.port !== leaving.port);
    const first = (await checkDatabase(request(url, remaining))) as Connected;
    expect(first.drainingWorkers).toEqual([`${leaving.host}:${leaving.port}`]);
    const shrunk = await checkUntil(request(url, remaining), (c) => (c.drainingWorkers ?? []).length === 0 && !c.rebalancing);
    expect(shrunk).toMatchObject({ workers: 2, problems: [] });
    const nodes = await query<{ nodeport: number }>(url, 'SELECT nodeport FROM pg_dist_node WHERE groupid <> 0 ORDER BY 1');
    expect(nodes.map((n) => n.nodeport)).toEqual(remaining.map((w) => w.port).sort((a, b) => a - b));
    expect((await placementsByPort(url)).has(leaving.port)).toBe(false);
    expect(await query(url, 'SELECT (SELECT count(*) FROM devices)::int AS d, (SELECT count(*) FROM readings)::int AS r')).toEqual([{ d: 500, r: 5000 }]);
  }, TIMEOUT);
});
