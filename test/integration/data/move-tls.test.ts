// TLS to the cells' databases, against real PostgreSQL servers that accept TLS connections only
// (hostssl in pg_hba.conf) with certificates made by openssl: the Cell's database check connects
// with verify-full and the CA of spec.database.external.caRef, refuses a wrong CA, a wrong host name
// and a server without TLS with a status naming the fix, and a customer moves between two such
// servers through the operator's own pools (CellPools), every session encrypted.
import { readFileSync } from 'node:fs';
import type pg from 'pg';
import type { Cell, CellSpecInput } from '../../../src/crds/cell.js';
import { exampleCell, EXAMPLE_CELL_SPEC } from '../../../src/controllers/cell/example-cell.js';
import { cellStatus } from '../../../src/controllers/cell/cell-status.js';
import { checkDatabase } from '../../../src/data/cell-database-check.js';
import { cellDatabaseSettings, readDatabaseCredentials } from '../../../src/data/cell-database-credentials.js';
import { CellPools } from '../../../src/data/cell-pools.js';
import { MoveEngine } from '../../../src/data/move-engine.js';
import type { CellPolicy } from '../../../src/policy/cell-policy.js';
import type { Informer } from '../../../src/runtime/informer.js';
import type { KubeRequest } from '../../../src/runtime/kube-client.js';
import { createPool } from '../../../src/store/connection.js';
import { syncCell } from '../../../src/store/cells.js';
import { migrate } from '../../../src/store/migrate.js';
import { FakeKubeClient } from '../../support/fake-kube-client.js';
import { makeUnrelatedCa, startPostgres, type PostgresServer } from '../../support/postgres.js';
import { placeCustomers, quietPool, rowsOf, seedCustomer, TELEMETRY_SCHEMA } from './cells-fixture.js';

const TIMEOUT = 120_000;
const OPS = 'cell-operator-system';
const policy: CellPolicy = { operatorNamespace: OPS, allowedNamespaces: [] };

let controlPlane: PostgresServer;
let servers: Record<'cell-a' | 'cell-b', PostgresServer>;
let plain: PostgresServer;
let cas: Record<string, string>;
const pools: pg.Pool[] = [];

beforeAll(async () => {
  const [cp, a, b, p] = await Promise.all([startPostgres(), startPostgres({ tls: true, hba: 'hostssl' }), startPostgres({ tls: true, hba: 'hostssl' }), startPostgres()]);
  controlPlane = cp!;
  servers = { 'cell-a': a!, 'cell-b': b! };
  plain = p!;
  cas = { 'cell-a-ca': readFileSync(a!.caFile!, 'utf8'), 'cell-b-ca': readFileSync(b!.caFile!, 'utf8'), 'wrong-ca': await makeUnrelatedCa() };
}, TIMEOUT);

afterAll(async () => {
  await Promise.all(pools.map((p) => p.end().catch(() => undefined)));
  await Promise.all([controlPlane, plain, ...Object.values(servers ?? {})].map((s) => s?.stop()));
}, TIMEOUT);

/** A Cell on an external server, its credentials in Secret ops/db and its CA in ConfigMap ops/<ca>. */
function externalCell(name: string, server: PostgresServer, external: { host?: string; ca?: string; sslMode?: 'verify-full' | 'verify-ca' | 'require' } = {}): Cell {
  const spec: CellSpecInput = {
    ...EXAMPLE_CELL_SPEC,
    workloads: [],
    database: {
      tenantColumn: 'customer_id',
      tables: [
        { name: 'readings', mode: 'AppendOnly', watermarkColumn: 'received_at' },
        { name: 'events', mode: 'AppendOnly' },
        { name: 'devices', mode: 'Mutable' },
      ],
      external: {
        host: external.host ?? 'localhost',
        port: server.port,
        database: 'postgres',
        ...(external.sslMode ? { sslMode: external.sslMode } : {}),
        secretRef: { name: 'db', namespace: OPS },
        ...(external.ca ? { caRef: { kind: 'ConfigMap', name: external.ca, namespace: OPS } } : {}),
      },
    },
  };
  return exampleCell(spec, { name });
}

/** The API server as the operator sees it: the credentials Secret and the CA ConfigMaps. */
function apiServer(): FakeKubeClient {
  const b64 = (s: string) => Buffer.from(s).toString('base64');
  return new FakeKubeClient((req: KubeRequest) => {
    if (req.path === `/api/v1/namespaces/${OPS}/secrets/db`) return { data: { username: b64('postgres'), password: b64('unused-with-trust-auth') } };
    const ca = /\/configmaps\/(.+)$/.exec(req.path)?.[1];
    if (ca && cas[ca]) return { data: { 'ca.crt': cas[ca] } };
    throw Object.assign(new Error('not found'), { statusCode: 404 });
  });
}

/** What the Cell reconciler does: read the credentials, check the database, and the DatabaseReady it reports. */
async function databaseReady(cell: Cell) {
  const credentials = await readDatabaseCredentials(apiServer(), cell, { policy });
  if (!credentials.value) throw new Error(credentials.problem.message);
  const check = await checkDatabase({ settings: { ...cellDatabaseSettings(cell, credentials.value), connectTimeoutMs: 5_000 }, external: true });
  const status = cellStatus(cell, { database: check }, new Date());
  return status.conditions?.find((c) => c.type === 'DatabaseReady');
}

describe('a cell on an external TLS-only server', () => {
  it('connects with verify-full (the default) and the CA of caRef', async () => {
    await expect(databaseReady(externalCell('right', servers['cell-a'], { ca: 'cell-a-ca' }))).resolves.toMatchObject({ status: 'True', reason: 'ConnectedWithoutCitus' });
  }, TIMEOUT);

  it('refuses a server signed by another CA, naming caRef', async () => {
    const condition = await databaseReady(externalCell('wrong-ca', servers['cell-a'], { ca: 'wrong-ca' }));
    expect(condition).toMatchObject({ status: 'False', reason: 'TLSVerificationFailed' });
    expect(condition?.message).toContain('not signed by the CA the operator was given');
    expect(condition?.message).toContain('spec.database.external.caRef');
    // Another server's CA is as wrong as an unrelated one; so is none (the system's roots).
    await expect(databaseReady(externalCell('other-ca', servers['cell-a'], { ca: 'cell-b-ca' }))).resolves.toMatchObject({ reason: 'TLSVerificationFailed' });
    await expect(databaseReady(externalCell('no-ca', servers['cell-a']))).resolves.toMatchObject({ reason: 'TLSVerificationFailed' });
  }, TIMEOUT);

  it('refuses a host name the certificate does not hold, naming the host; verify-ca accepts it', async () => {
    const condition = await databaseReady(externalCell('wrong-host', servers['cell-a'], { host: '127.0.0.1', ca: 'cell-a-ca' }));
    expect(condition).toMatchObject({ status: 'False', reason: 'TLSVerificationFailed' });
    expect(condition?.message).toContain('does not name the host 127.0.0.1');
    expect(condition?.message).toContain('spec.database.external.host');
    await expect(databaseReady(externalCell('verify-ca', servers['cell-a'], { host: '127.0.0.1', ca: 'cell-a-ca', sslMode: 'verify-ca' }))).resolves.toMatchObject({ status: 'True' });
  }, TIMEOUT);

  it('refuses a server without TLS, naming sslMode', async () => {
    const condition = await databaseReady(externalCell('plain', plain, { ca: 'cell-a-ca' }));
    expect(condition).toMatchObject({ status: 'False', reason: 'TLSUnavailable' });
    expect(condition?.message).toContain('spec.database.external.sslMode');
  }, TIMEOUT);
});

describe('a move between two TLS-only servers', () => {
  it('moves a customer through the operator\'s pools, every session encrypted and verified, reading the Secrets once', async () => {
    const cp = quietPool(controlPlane.url);
    pools.push(cp);
    await migrate(cp);
    const direct: Record<string, pg.Pool> = {};
    for (const name of ['cell-a', 'cell-b'] as const) {
      const server = servers[name];
      direct[name] = createPool({ host: 'localhost', port: server.port, user: server.user, database: 'postgres', sslmode: 'verify-full', sslCa: cas[`${name}-ca`] });
      pools.push(direct[name]);
      await direct[name].query(TELEMETRY_SCHEMA);
      await syncCell(cp, { name, region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: 1000 });
    }
    const customer = 'tls-mover';
    await placeCustomers(cp, [customer], 'cell-a');
    const seeded = await seedCustomer(direct['cell-a']!, customer, { readings: 500, events: 50, devices: 5 });

    const cellObjects: Record<string, Cell> = {
      'cell-a': externalCell('cell-a', servers['cell-a'], { ca: 'cell-a-ca' }),
      'cell-b': externalCell('cell-b', servers['cell-b'], { ca: 'cell-b-ca' }),
    };
    const kube = apiServer();
    const cellPools = new CellPools(kube, { get: (name: string) => cellObjects[name] } as unknown as Informer<Cell>, undefined, policy);
    try {
      const engine = new MoveEngine({ controlPlane: cp, cells: (name) => cellPools.database(name), settings: { pageRows: 100, settleLagMs: 0, drainWaitMs: 0, retentionMs: 0 } });
      const key = { migration: 'tls', customerId: customer };
      expect((await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' })).ok).toBe(true);
      const result = await engine.run(key);
      expect([result.outcome, result.move?.state]).toEqual(['Finished', 'Done']);

      const moved = await rowsOf(direct['cell-b']!, customer);
      expect([moved.readings.size, moved.events.size, moved.devices.size]).toEqual([seeded.readings.size, seeded.events.size, seeded.devices.size]);
      expect((await rowsOf(direct['cell-a']!, customer)).total).toBe(0);

      // The engine's sessions on both servers: TLS, and only TLS (pg_hba takes nothing else anyway).
      for (const name of ['cell-a', 'cell-b']) {
        const { rows } = await direct[name]!.query<{ ssl: boolean; n: number }>(
          `SELECT s.ssl, count(*)::int AS n FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.application_name = 'cell-operator-migration' GROUP BY s.ssl`,
        );
        expect({ name, rows }).toEqual({ name, rows: [{ ssl: true, n: expect.any(Number) }] });
      }
      // The credentials and CAs were read once per cell for the whole move, not once per action.
      const gets = kube.requests.filter((r) => r.method === 'GET').map((r) => r.path);
      expect(gets.sort()).toEqual(
        [`/api/v1/namespaces/${OPS}/configmaps/cell-a-ca`, `/api/v1/namespaces/${OPS}/configmaps/cell-b-ca`, `/api/v1/namespaces/${OPS}/secrets/db`, `/api/v1/namespaces/${OPS}/secrets/db`].sort(),
      );
    } finally {
      await cellPools.close();
    }
  }, TIMEOUT);
});
