// The canary migration end to end: two Cells on real PostgreSQL servers, 20 customers placed with
// CustomerPlacements, a Migration [move 1, pause 5s, move 50%, pause {}, move 100%] run by the
// operator against the local control plane; every row arrives in the target exactly once.
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { apply, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { startOperator, type OperatorProcess } from './support/operator.js';

const SRC = 'canary-src';
const DST = 'canary-dst';
const REGION = 'eu-central-9';
const SECRETS_NS = 'canary-e2e-secrets';
const CUSTOMERS = Array.from({ length: 20 }, (_, i) => `canary-${String(i).padStart(2, '0')}`);
const MIGRATION = 'canary-e2e';

const TABLES = `
  CREATE TABLE readings (customer_id text NOT NULL, id bigint NOT NULL, received_at timestamptz NOT NULL DEFAULT now(),
                         value double precision NOT NULL, PRIMARY KEY (customer_id, id));
  CREATE TABLE devices (customer_id text NOT NULL, device_id text NOT NULL, name text NOT NULL, PRIMARY KEY (customer_id, device_id));`;

function cell(name: string, db: PostgresServer): object {
  return {
    apiVersion: 'cells.platform.io/v1alpha1',
    kind: 'Cell',
    metadata: { name },
    spec: {
      region: REGION,
      capacity: { maxCustomers: 100 },
      kafka: {
        controllers: { replicas: 1, storage: { size: '1Gi' } },
        brokers: { replicas: 1, storage: { size: '1Gi' } },
        topics: [{ name: 'telemetry', partitions: 3, replicas: 1 }],
      },
      database: {
        external: { host: db.host, port: db.port, database: db.database, sslMode: 'disable', secretRef: { name: `${name}-db`, namespace: SECRETS_NS } },
        tables: [{ name: 'readings', mode: 'AppendOnly' }, { name: 'devices', mode: 'Mutable' }],
      },
      deletionPolicy: 'Delete',
    },
  };
}

async function query<R extends pg.QueryResultRow>(db: PostgresServer, sql: string, params: unknown[] = []): Promise<R[]> {
  const client = new pg.Client({ connectionString: db.url });
  await client.connect();
  try {
    return (await client.query<R>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

async function rowsPerCustomer(db: PostgresServer, table: string): Promise<Map<string, number>> {
  const rows = await query<{ customer_id: string; n: string }>(db, `SELECT customer_id, count(*) AS n FROM ${table} GROUP BY customer_id`);
  return new Map(rows.map((r) => [r.customer_id, Number(r.n)]));
}

interface MigrationObject {
  spec: { promotedStep?: number };
  status?: { phase?: string; currentStep?: number; progress?: string; customers?: { moved?: number; total?: number }; message?: string };
}

describe('a canary migration', () => {
  let controlPlane: PostgresServer;
  let source: PostgresServer;
  let target: PostgresServer;
  let operator: OperatorProcess;
  const seen: string[] = [];

  beforeAll(async () => {
    [controlPlane, source, target] = await Promise.all([startPostgres(), startPostgres(), startPostgres()]);
    await Promise.all([query(source, TABLES), query(target, TABLES)]);
    await apply([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SECRETS_NS } },
      ...[SRC, DST].map((name) => ({
        apiVersion: 'v1',
        kind: 'Secret',
        metadata: { name: `${name}-db`, namespace: SECRETS_NS },
        stringData: { username: 'postgres', password: 'unused-with-trust-auth' },
      })),
    ]);
    operator = await startOperator({ name: 'canary', leaderElect: false, databaseUrl: controlPlane.url });
    await operator.waitReady();
    await apply([cell(SRC, source), cell(DST, target)]);
    await waitFor(
      async () => {
        const phases = await Promise.all([SRC, DST].map((n) => kubectl(['get', 'cell', n, '-o', 'jsonpath={.status.phase}'])));
        return phases.every((p) => p.stdout === 'Ready');
      },
      { timeoutMs: 90_000, description: 'both cells Ready' },
    );
    await apply(CUSTOMERS.map((id, i) => ({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'CustomerPlacement',
      metadata: { name: id, labels: { tier: 'standard' } },
      spec: { cell: SRC, region: REGION, expectedDevices: i },
    })));
    await waitFor(
      async () => {
        const list = await kubectlJson<{ items: { metadata: { name: string }; status?: { cell?: string } }[] }>(['get', 'customerplacements', '-o', 'json']);
        return list.items.filter((cp) => CUSTOMERS.includes(cp.metadata.name) && cp.status?.cell === SRC).length === CUSTOMERS.length;
      },
      { timeoutMs: 60_000, description: 'all 20 customers placed in the source cell' },
    );
    // Each customer: 40 readings and 3 devices in the source cell's database.
    await query(source, `INSERT INTO readings (customer_id, id, value) SELECT c, i, random() FROM unnest($1::text[]) c, generate_series(1, 40) i`, [CUSTOMERS]);
    await query(source, `INSERT INTO devices (customer_id, device_id, name) SELECT c, 'd' || i, 'device ' || i FROM unnest($1::text[]) c, generate_series(1, 3) i`, [CUSTOMERS]);
  }, 240_000);

  afterAll(async () => {
    await kubectl(['delete', 'migration', MIGRATION, '--ignore-not-found', '--wait=false']);
    await kubectl(['delete', 'customerplacements', ...CUSTOMERS, '--ignore-not-found', '--wait=false']);
    await operator?.stop();
    // Cells may still hold customers (their finalizer waits); remove it so the cluster is clean.
    for (const name of [SRC, DST]) {
      await kubectl(['patch', 'cell', name, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => undefined);
      await kubectl(['delete', 'cell', name, '--ignore-not-found', '--wait=false']);
    }
    await kubectl(['delete', 'namespace', SECRETS_NS, '--ignore-not-found', '--wait=false']);
    await Promise.all([controlPlane, source, target].map((s) => s?.stop()));
  }, 120_000);

  const migration = async () => kubectlJson<MigrationObject>(['get', 'migration', MIGRATION, '-o', 'json']);
  const record = (m: MigrationObject) => {
    const entry = `${m.status?.currentStep}:${m.status?.phase}`;
    if (seen[seen.length - 1] !== entry) seen.push(entry);
    return m;
  };

  it('moves one canary, pauses 5 s, moves half and waits for a person at pause: {}', async () => {
    await apply({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'Migration',
      metadata: { name: MIGRATION },
      spec: {
        from: SRC,
        to: DST,
        customers: { all: true },
        order: 'SmallestFirst',
        steps: [{ move: 1 }, { pause: { duration: '5s' } }, { move: '50%' }, { pause: {} }, { move: '100%' }],
        maxConcurrent: 4,
        drainWait: '200ms',
        retention: '3s',
      },
    });
    const atPause = await waitFor(
      async () => {
        const m = record(await migration());
        return m.status?.currentStep === 3 && m.status.phase === 'Paused' ? m : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 250, description: 'the migration to wait at step 3 (pause: {})' },
    );
    expect(atPause.status?.progress).toBe('10/20');
    expect(atPause.status?.message).toContain('promotedStep');
    // The timed pause after the canary was visible on the way, before the pause for a person.
    expect(seen).toContain('1:Paused');
    expect(seen.indexOf('1:Paused')).toBeLessThan(seen.indexOf('3:Paused'));
    // Each step is announced with an Event on the Migration.
    const events = await kubectlJson<{ items: { reason?: string; regarding?: { name?: string } }[] }>(['get', 'events.events.k8s.io', '-A', '-o', 'json']);
    const reasons = events.items.filter((e) => e.regarding?.name === MIGRATION).map((e) => e.reason);
    expect(reasons).toContain('StepStarted');
    // It really waits: a few seconds later it is still at the pause with 10 moved.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await migration()).status).toMatchObject({ currentStep: 3, phase: 'Paused', progress: '10/20' });
  }, 200_000);

  it('moved the smallest customers first, each with every row exactly once', async () => {
    const placed = await query<{ customer_id: string; cell: string; epoch: string }>(controlPlane, 'SELECT customer_id, cell, epoch FROM placements WHERE customer_id = ANY($1::text[])', [CUSTOMERS]);
    const moved = placed.filter((p) => p.cell === DST).map((p) => p.customer_id).sort();
    // SmallestFirst by expectedDevices: canary-00 .. canary-09.
    expect(moved).toEqual(CUSTOMERS.slice(0, 10));
    const targetReadings = await rowsPerCustomer(target, 'readings');
    const targetDevices = await rowsPerCustomer(target, 'devices');
    for (const id of moved) {
      expect(targetReadings.get(id)).toBe(40);
      expect(targetDevices.get(id)).toBe(3);
    }
    for (const id of CUSTOMERS.slice(10)) expect(targetReadings.get(id)).toBeUndefined();
  });

  it('goes on when promoted and succeeds; the source is cleaned up after the retention', async () => {
    await kubectl(['patch', 'migration', MIGRATION, '--type', 'merge', '-p', '{"spec":{"promotedStep":3}}']);
    const done = await waitFor(
      async () => {
        const m = record(await migration());
        return m.status?.phase === 'Succeeded' ? m : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500, description: 'the migration to succeed' },
    );
    expect(done.status).toMatchObject({ progress: '20/20', customers: { moved: 20, total: 20 } });
    const readings = await rowsPerCustomer(target, 'readings');
    for (const id of CUSTOMERS) expect(readings.get(id)).toBe(40);
    const [{ n: total } = { n: '0' }] = await query<{ n: string }>(target, 'SELECT count(*) AS n FROM readings');
    expect(Number(total)).toBe(20 * 40);
    // Cleanup after the 3 s retention: nothing of the moved customers is left in the source.
    await waitFor(async () => Number((await query<{ n: string }>(source, 'SELECT count(*) AS n FROM readings'))[0]?.n) === 0, {
      timeoutMs: 60_000,
      description: 'the source rows to be cleaned up',
    });
    expect(Number((await query<{ n: string }>(source, 'SELECT count(*) AS n FROM devices'))[0]?.n)).toBe(0);
    // The routing table and the CustomerPlacements agree: every customer in the target, epoch bumped.
    const placed = await query<{ cell: string; epoch: string }>(controlPlane, 'SELECT cell, epoch FROM placements WHERE customer_id = ANY($1::text[])', [CUSTOMERS]);
    expect(placed.every((p) => p.cell === DST && Number(p.epoch) >= 2)).toBe(true);
  }, 240_000);
});
