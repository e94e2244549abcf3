// The in-cluster cell's TLS settings (database-builder.ts) on a real Citus cluster: every node
// serves a certificate issued by the operator's code for the cell's CA, and the coordinator reaches
// its workers with citus.node_conninfo's verify-full against that CA; the operator's own check
// connects with verify-full too. A CA the nodes were not issued by stops the coordinator.
import { writeFileSync } from 'node:fs';
import pg from 'pg';
import { checkDatabase } from '../../../src/data/cell-database-check.js';
import { issueCertificateAuthority, issueServerCertificate } from '../../../src/tls/certificates.js';
import { startCitus, type CitusCluster } from '../../support/citus.js';

const TIMEOUT = 300_000;
const ca = issueCertificateAuthority('cell citus-tls database CA', new Date(), 30);
const server = issueServerCertificate(ca, ['localhost', '127.0.0.1'], new Date(), 30);

let cluster: CitusCluster;

beforeAll(async () => {
  cluster = await startCitus({ workers: 2, certificate: { ...server, ca: ca.cert } });
  // As the StatefulSets' args do, with each node's own path of the CA.
  for (const node of [cluster.coordinator, ...cluster.workers]) {
    await query(node.url, `ALTER SYSTEM SET citus.node_conninfo TO 'sslmode=verify-full sslrootcert=${node.caFile!}'`);
    await query(node.url, 'SELECT pg_reload_conf()');
  }
}, TIMEOUT);

afterAll(async () => {
  await cluster?.stop();
}, TIMEOUT);

async function query<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

describe('Citus over the cell\'s TLS', () => {
  it('distributes and queries a table with every coordinator-to-worker connection verified and encrypted', async () => {
    const { host, port } = cluster.coordinator;
    const check = await checkDatabase({
      settings: { host, port, user: cluster.coordinator.user, database: 'postgres', sslmode: 'verify-full', sslCa: ca.cert },
      external: false,
      citus: { coordinator: { host, port }, workers: cluster.workers.map((w) => ({ host: w.host, port: w.port })), tenantColumn: 'customer_id', shardCount: 4 },
    });
    expect(check).toMatchObject({ connected: true, engine: 'Citus', workers: 2 });
    await query(cluster.url, `CREATE TABLE readings (customer_id text, id bigint, PRIMARY KEY (customer_id, id)); SELECT create_distributed_table('readings', 'customer_id', shard_count => 4)`);
    await query(cluster.url, `INSERT INTO readings SELECT 'c' || (g % 10), g FROM generate_series(1, 1000) g`);
    // One coordinator session keeps its worker connections open while the workers are asked who is connected.
    const coordinator = new pg.Client({ connectionString: cluster.url });
    await coordinator.connect();
    try {
      const { rows } = await coordinator.query<{ n: string }>('SELECT count(*) AS n FROM readings');
      expect(Number(rows[0]?.n)).toBe(1000);
      for (const worker of cluster.workers) {
        const sessions = await query<{ ssl: boolean; application_name: string }>(
          worker.url,
          `SELECT s.ssl, a.application_name FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) WHERE a.backend_type = 'client backend' AND a.pid <> pg_backend_pid()`,
        );
        expect(sessions.length).toBeGreaterThan(0);
        expect(sessions).toEqual(sessions.map((s) => ({ ...s, ssl: true })));
      }
    } finally {
      await coordinator.end();
    }
  }, TIMEOUT);

  it('refuses the workers when the coordinator checks them against another CA', async () => {
    const other = issueCertificateAuthority('another CA', new Date(), 30);
    // The coordinator's CA file is replaced: its new connections to the workers fail verification.
    writeFileSync(cluster.coordinator.caFile!, other.cert);
    await expect(query(cluster.url, 'SELECT count(*) FROM readings')).rejects.toThrow(/certificate verify failed/);
  }, TIMEOUT);
});
