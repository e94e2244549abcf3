import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { X509Certificate } from 'node:crypto';
import { startPostgres } from '../../test/support/postgres.js';
import { createPool } from '../store/connection.js';
import { certificateHosts, issueCertificateAuthority, issueServerCertificate } from './certificates.js';

const run = promisify(execFile);
const NOW = new Date('2026-12-02T10:00:00Z');

/** `openssl verify` of a server certificate against a CA: its stdout, or its error. */
async function opensslVerify(ca: string, cert: string, purpose = 'sslserver'): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), 'certs-'));
  try {
    writeFileSync(join(dir, 'ca.pem'), ca);
    writeFileSync(join(dir, 'cert.pem'), cert);
    const at = String(Math.floor(NOW.getTime() / 1000) + 3600);
    const { stdout } = await run('openssl', ['verify', '-attime', at, '-purpose', purpose, '-x509_strict', '-CAfile', join(dir, 'ca.pem'), join(dir, 'cert.pem')]);
    return stdout.trim();
  } catch (err) {
    return `refused: ${(err as { stdout?: string; stderr?: string }).stderr ?? ''}${(err as { stdout?: string }).stdout ?? ''}`;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

describe('certificates issued with node:crypto', () => {
  const ca = issueCertificateAuthority('cell eu-west-1a database CA', NOW, 3650);
  const hosts = ['eu-west-1a-db.cell-eu-west-1a.svc', '*.eu-west-1a-db-worker.cell-eu-west-1a.svc', 'localhost', '127.0.0.1', '::1'];
  const server = issueServerCertificate(ca, hosts, NOW, 365);

  it('makes a self-signed CA that may sign servers only', () => {
    const cert = new X509Certificate(ca.cert);
    expect(cert.ca).toBe(true);
    expect(cert.subject).toBe('CN=cell eu-west-1a database CA');
    expect(cert.verify(cert.publicKey)).toBe(true);
    expect(Date.parse(cert.validTo) - NOW.getTime()).toBeGreaterThan(3649 * 86_400_000);
    expect(ca.key).toMatch(/^-----BEGIN PRIVATE KEY-----/);
  });

  it('signs a server certificate for DNS names, a wildcard and IP addresses', () => {
    const cert = new X509Certificate(server.cert);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(new X509Certificate(ca.cert))).toBe(true);
    expect(cert.verify(new X509Certificate(ca.cert).publicKey)).toBe(true);
    expect(cert.checkHost('eu-west-1a-db.cell-eu-west-1a.svc')).toBe('eu-west-1a-db.cell-eu-west-1a.svc');
    expect(cert.checkHost('eu-west-1a-db-worker-3.eu-west-1a-db-worker.cell-eu-west-1a.svc')).toBeDefined();
    expect(cert.checkHost('evil.example.com')).toBeUndefined();
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(cert.checkIP('::1')).toBe('::1');
    expect(certificateHosts(server.cert)).toEqual(['eu-west-1a-db.cell-eu-west-1a.svc', '*.eu-west-1a-db-worker.cell-eu-west-1a.svc', 'localhost', '127.0.0.1', '0:0:0:0:0:0:0:1']);
    expect(Date.parse(cert.validTo) - NOW.getTime()).toBeLessThanOrEqual(365 * 86_400_000);
  });

  it('never outlives its CA', () => {
    const shortCa = issueCertificateAuthority('short', NOW, 10);
    const cert = new X509Certificate(issueServerCertificate(shortCa, ['a.svc'], NOW, 365).cert);
    expect(cert.validTo).toBe(new X509Certificate(shortCa.cert).validTo);
  });

  it('passes openssl verify (strict X.509, purpose sslserver) against its CA, and only against it', async () => {
    await expect(opensslVerify(ca.cert, server.cert)).resolves.toMatch(/: OK$/);
    await expect(opensslVerify(ca.cert, ca.cert, 'any')).resolves.toMatch(/: OK$/);
    const other = issueCertificateAuthority('another CA', NOW, 3650);
    await expect(opensslVerify(other.cert, server.cert)).resolves.toMatch(/^refused/);
  });

  it('is served by a real PostgreSQL server, which a verify-full client accepts for a name it holds only', async () => {
    const pg = await startPostgres({ certificate: { ...issueServerCertificate(ca, ['localhost'], new Date(), 30), ca: ca.cert } });
    try {
      const connect = async (host: string) => {
        const pool = createPool({ host, port: pg.port, user: pg.user, database: 'postgres', sslmode: 'verify-full', sslCa: ca.cert, connectTimeoutMs: 5000 });
        try {
          return (await pool.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()')).rows[0]!.ssl;
        } finally {
          await pool.end();
        }
      };
      await expect(connect('localhost')).resolves.toBe(true);
      await expect(connect('127.0.0.1')).rejects.toThrow(/IP: 127\.0\.0\.1 is not in the cert's list/);
    } finally {
      await pg.stop();
    }
  });
});
