import { describeDatabase, poolConfig, resolveDatabaseSettings, sslAttempts, tlsOptions } from './connection.js';

const noEnv = {};

describe('database connection settings', () => {
  it('reads user, password, host, port, database and TLS settings from a URL', () => {
    const s = resolveDatabaseSettings(
      { url: 'postgresql://op%40x:p%2Fss@db.example:6432/control?sslmode=verify-full&sslrootcert=/etc/ca.crt&application_name=router' },
      noEnv,
    );
    expect(s).toMatchObject({ user: 'op@x', password: 'p/ss', host: 'db.example', port: 6432, database: 'control', sslmode: 'verify-full', sslRootCert: '/etc/ca.crt', applicationName: 'router' });
  });

  it('lets discrete fields override the URL', () => {
    const s = resolveDatabaseSettings({ url: 'postgres://a:b@h1:5432/d1', host: 'h2', database: 'd2' }, noEnv);
    expect(s).toMatchObject({ host: 'h2', database: 'd2', user: 'a', port: 5432 });
  });

  it('never shows the password in a description', () => {
    const s = resolveDatabaseSettings({ url: 'postgres://app:hunter2-secret@db:5432/cp?sslmode=require' }, noEnv);
    expect(describeDatabase(s)).toBe('postgres://app@db:5432/cp?sslmode=require');
    expect(describeDatabase(s)).not.toContain('hunter2');
  });

  it('refuses an unknown sslmode and a bad URL without echoing the password', () => {
    expect(() => resolveDatabaseSettings({ url: 'postgres://u:topsecret@h/d?sslmode=maybe' }, noEnv)).toThrow(/sslmode must be one of/);
    expect(() => resolveDatabaseSettings({ url: 'mysql://u:topsecret@h/d' }, noEnv)).toThrow(/postgres:\/\//);
    try {
      resolveDatabaseSettings({ url: 'mysql://u:topsecret@h/d' }, noEnv);
    } catch (err) {
      expect(String(err)).not.toContain('topsecret');
    }
  });

  it('maps sslmode to TLS options the way libpq means them', () => {
    const base = resolveDatabaseSettings({ host: 'db.internal' }, noEnv);
    const read = (p: string) => `PEM(${p})`;
    expect(sslAttempts({ ...base, sslmode: 'disable' }, read)).toEqual({ first: false });
    // allow: plain text first, TLS if refused; prefer: TLS first, plain text if refused. Neither verifies.
    expect(sslAttempts({ ...base, sslmode: 'allow', sslRootCert: '/ca' }, read)).toEqual({ first: false, fallback: { rejectUnauthorized: false } });
    expect(sslAttempts({ ...base, sslmode: 'prefer', sslRootCert: '/ca' }, read)).toEqual({ first: { rejectUnauthorized: false }, fallback: false });
    expect(sslAttempts({ ...base, sslmode: 'require' }, read)).toEqual({ first: { rejectUnauthorized: false } });
    expect(sslAttempts({ ...base, sslmode: 'verify-full', sslRootCert: 'system' }, read)).toEqual({ first: { rejectUnauthorized: true } });
    const requireWithCa = tlsOptions({ ...base, sslmode: 'require', sslRootCert: '/ca' }, read);
    expect(requireWithCa).toMatchObject({ ca: 'PEM(/ca)', rejectUnauthorized: true });
    expect(requireWithCa && requireWithCa.checkServerIdentity?.('other', {} as never)).toBeUndefined();
    expect(tlsOptions({ ...base, sslmode: 'verify-full', sslRootCert: '/ca', sslCert: '/c', sslKey: '/k' }, read)).toEqual({
      ca: 'PEM(/ca)',
      cert: 'PEM(/c)',
      key: 'PEM(/k)',
      rejectUnauthorized: true,
    });
  });

  it('takes sslmode and sslrootcert from PGSSLMODE and PGSSLROOTCERT below the URL\'s and the fields\'', () => {
    const env = { PGSSLMODE: 'verify-full', PGSSLROOTCERT: '/etc/ca.crt' };
    expect(resolveDatabaseSettings({ url: 'postgres://u@h/d' }, env)).toMatchObject({ sslmode: 'verify-full', sslRootCert: '/etc/ca.crt' });
    expect(resolveDatabaseSettings({ url: 'postgres://u@h/d?sslmode=require&sslrootcert=/x' }, env)).toMatchObject({ sslmode: 'require', sslRootCert: '/x' });
    expect(resolveDatabaseSettings({ url: 'postgres://u@h/d', sslCa: 'PEM' }, env).sslRootCert).toBeUndefined();
  });

  it('builds a pool configuration that parses bigint columns as numbers', () => {
    const config = poolConfig(resolveDatabaseSettings({ url: 'postgres://u@h/d', poolMax: 3 }, noEnv));
    expect(config).toMatchObject({ host: 'h', database: 'd', user: 'u', max: 3, ssl: false });
    const parse = config.types?.getTypeParser(20, 'text') as (v: string) => unknown;
    expect(parse('42')).toBe(42);
  });
});
