import { startPostgres, type PostgresServer } from '../../test/support/postgres.js';
import { createPool, type DatabaseSettings } from './connection.js';

let server: PostgresServer;
beforeAll(async () => {
  server = await startPostgres({ tls: true });
}, 60_000);
afterAll(async () => {
  await server?.stop();
});

/** Connects with these settings and says whether the session is encrypted. */
async function encrypted(settings: DatabaseSettings): Promise<boolean> {
  const pool = createPool({ user: server.user, database: 'postgres', port: server.port, connectTimeoutMs: 5000, ...settings });
  try {
    const { rows } = await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    return rows[0]!.ssl;
  } finally {
    await pool.end();
  }
}

describe('TLS to the control-plane database (a real server with a throw-away CA)', () => {
  it('verifies the chain and the host name with verify-full', async () => {
    await expect(encrypted({ host: 'localhost', sslmode: 'verify-full', sslRootCert: server.caFile })).resolves.toBe(true);
  });

  it('refuses a certificate that does not name the host with verify-full, accepts it with verify-ca', async () => {
    await expect(encrypted({ host: '127.0.0.1', sslmode: 'verify-full', sslRootCert: server.caFile })).rejects.toThrow(/altnames|IP: 127\.0\.0\.1/);
    await expect(encrypted({ host: '127.0.0.1', sslmode: 'verify-ca', sslRootCert: server.caFile })).resolves.toBe(true);
  });

  it('refuses a server signed by an unknown CA when verifying', async () => {
    await expect(encrypted({ host: 'localhost', sslmode: 'verify-full' })).rejects.toThrow(/self[- ]signed|unable to verify|unable to get local issuer/i);
  });

  it('encrypts without checking with require, and not at all with disable', async () => {
    await expect(encrypted({ host: '127.0.0.1', sslmode: 'require' })).resolves.toBe(true);
    await expect(encrypted({ host: '127.0.0.1', sslmode: 'disable' })).resolves.toBe(false);
  });

  it('reads sslmode and sslrootcert from the URL', async () => {
    await expect(encrypted({ url: `postgres://${server.user}@localhost:${server.port}/postgres?sslmode=verify-full&sslrootcert=${encodeURIComponent(server.caFile!)}` })).resolves.toBe(true);
  });
});
