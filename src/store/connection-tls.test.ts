import { makeUnrelatedCa, startPostgres, type PostgresServer } from '../../test/support/postgres.js';
import { createClient, createPool, type DatabaseSettings } from './connection.js';

/** TLS, plain text and TLS; plain text only; TLS only (hostssl); TLS on but only plain text accepted (hostnossl). */
let server: PostgresServer;
let plain: PostgresServer;
let tlsOnly: PostgresServer;
let plainOnly: PostgresServer;
beforeAll(async () => {
  [server, plain, tlsOnly, plainOnly] = await Promise.all([
    startPostgres({ tls: true }),
    startPostgres(),
    startPostgres({ tls: true, hba: 'hostssl' }),
    startPostgres({ tls: true, hba: 'hostnossl' }),
  ]);
}, 120_000);
afterAll(async () => {
  await Promise.all([server, plain, tlsOnly, plainOnly].map((s) => s?.stop()));
});

/** Connects with these settings (a pool of 3, used at once) and says whether the sessions are encrypted. */
async function encrypted(settings: DatabaseSettings, on: PostgresServer = server): Promise<boolean> {
  const pool = createPool({ user: on.user, database: 'postgres', port: on.port, connectTimeoutMs: 5000, host: 'localhost', poolMax: 3, ...settings });
  try {
    const sessions = await Promise.all(
      [1, 2, 3].map(async () => (await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl, pg_sleep(0.05) WHERE pid = pg_backend_pid()')).rows[0]!.ssl),
    );
    expect(new Set(sessions).size).toBe(1);
    return sessions[0]!;
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

  it('refuses a server signed by another CA with verify-ca and require with a root CA', async () => {
    const wrong = await makeUnrelatedCa();
    await expect(encrypted({ sslmode: 'verify-ca', sslCa: wrong })).rejects.toThrow(/self[- ]signed|unable to verify|unable to get local issuer/i);
    await expect(encrypted({ sslmode: 'require', sslCa: wrong })).rejects.toThrow(/self[- ]signed|unable to verify|unable to get local issuer/i);
  });
});

describe('allow and prefer make libpq\'s second attempt', () => {
  it('prefer: TLS when the server has it, plain text when it has none or refuses TLS sessions', async () => {
    await expect(encrypted({ sslmode: 'prefer' })).resolves.toBe(true);
    await expect(encrypted({ sslmode: 'prefer' }, plain)).resolves.toBe(false);
    await expect(encrypted({ sslmode: 'prefer' }, plainOnly)).resolves.toBe(false);
    await expect(encrypted({ sslmode: 'prefer' }, tlsOnly)).resolves.toBe(true);
  });

  it('allow: plain text when the server takes it, TLS when it accepts only TLS', async () => {
    await expect(encrypted({ sslmode: 'allow' })).resolves.toBe(false);
    await expect(encrypted({ sslmode: 'allow' }, plain)).resolves.toBe(false);
    await expect(encrypted({ sslmode: 'allow' }, tlsOnly)).resolves.toBe(true);
  });

  it('never falls back where libpq would not: require on a server without TLS, disable on a TLS-only one', async () => {
    await expect(encrypted({ sslmode: 'require' }, plain)).rejects.toThrow(/does not support SSL/);
    await expect(encrypted({ sslmode: 'disable' }, tlsOnly)).rejects.toThrow(/no encryption/);
    await expect(encrypted({ sslmode: 'verify-full', sslRootCert: plainOnly.caFile }, plainOnly)).rejects.toThrow(/SSL encryption|SSL on/);
  });

  it('a single client that fell back ends once, when it is ended, and reports its errors as usual', async () => {
    const client = createClient({ user: plain.user, database: 'postgres', host: 'localhost', port: plain.port, sslmode: 'prefer' });
    const ends: string[] = [];
    client.on('end', () => ends.push('end'));
    await client.connect();
    await expect(client.query('SELECT 1/0')).rejects.toThrow(/division by zero/);
    const { rows } = await client.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
    expect(rows[0]!.ssl).toBe(false);
    expect(ends).toEqual([]);
    await client.end();
    await new Promise((r) => setImmediate(r));
    expect(ends).toEqual(['end']);
  });

  it('a refused second attempt fails with the server\'s reason', async () => {
    // allow: plain text refused by hostssl-only pg_hba, then TLS refused because the database is missing.
    await expect(encrypted({ sslmode: 'allow', database: 'nope' }, tlsOnly)).rejects.toThrow(/database "nope" does not exist/);
  });
});
