// Connection settings of the control-plane database: a URL and/or discrete fields, TLS modes in
// libpq's vocabulary (sslmode, sslrootcert, sslcert, sslkey), turned into a pg Pool. The password
// is kept out of every description and log line.
import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import pg from 'pg';
import type { Logger } from '../log.js';
import { LibpqClient, type LibpqClientConfig, type SslAttempt } from './libpq-client.js';

export type SslMode = 'disable' | 'allow' | 'prefer' | 'require' | 'verify-ca' | 'verify-full';
const SSL_MODES: readonly SslMode[] = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

export interface DatabaseSettings {
  /** postgres://user:password@host:port/database?sslmode=verify-full&sslrootcert=/path/ca.crt */
  url?: string;
  /** Discrete fields override the URL's. */
  host?: string;
  port?: number;
  database?: string;
  user?: string;
  password?: string;
  sslmode?: SslMode;
  /** Path of the CA bundle (PEM) that signs the server certificate; `system`: the system's trusted roots. */
  sslRootCert?: string;
  /** The CA bundle itself (PEM), e.g. from a Secret mounted as an env var. */
  sslCa?: string;
  /** Client certificate and key (PEM paths) for certificate authentication. */
  sslCert?: string;
  sslKey?: string;
  applicationName?: string;
  /** Pool size. Default 10. */
  poolMax?: number;
  connectTimeoutMs?: number;
  /** Server-side statement_timeout for every connection (0 = none). */
  statementTimeoutMs?: number;
}

export interface ResolvedDatabaseSettings extends Omit<DatabaseSettings, 'url'> {
  host: string;
  port: number;
  database: string;
  user: string;
  sslmode: SslMode;
}

export class DatabaseSettingsError extends Error {}

/** Merges the URL and the discrete fields; never echoes the password in an error. */
export function resolveDatabaseSettings(settings: DatabaseSettings, env: NodeJS.ProcessEnv = process.env): ResolvedDatabaseSettings {
  const fromUrl: Partial<ResolvedDatabaseSettings> = {};
  if (settings.url) {
    let url: URL;
    try {
      url = new URL(settings.url);
    } catch {
      throw new DatabaseSettingsError('database URL is not a valid URL (postgres://user:password@host:port/database)');
    }
    if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
      throw new DatabaseSettingsError(`database URL must start with postgres:// or postgresql://, not ${url.protocol}//`);
    }
    if (url.hostname) fromUrl.host = decodeURIComponent(url.hostname.replace(/^\[(.*)\]$/, '$1'));
    if (url.port) fromUrl.port = Number(url.port);
    if (url.username) fromUrl.user = decodeURIComponent(url.username);
    if (url.password) fromUrl.password = decodeURIComponent(url.password);
    const db = decodeURIComponent(url.pathname.replace(/^\//, ''));
    if (db) fromUrl.database = db;
    const q = url.searchParams;
    const host = q.get('host');
    if (host) fromUrl.host = host; // e.g. ?host=/var/run/postgresql for a Unix socket
    const sslmode = q.get('sslmode');
    if (sslmode !== null) fromUrl.sslmode = sslmode as SslMode;
    const map: [string, keyof DatabaseSettings][] = [
      ['sslrootcert', 'sslRootCert'],
      ['sslcert', 'sslCert'],
      ['sslkey', 'sslKey'],
      ['application_name', 'applicationName'],
    ];
    for (const [param, key] of map) {
      const v = q.get(param);
      if (v !== null) (fromUrl as Record<string, unknown>)[key] = v;
    }
    const timeout = q.get('connect_timeout');
    if (timeout !== null) fromUrl.connectTimeoutMs = Number(timeout) * 1000;
  }
  const defined = Object.fromEntries(Object.entries(settings).filter(([k, v]) => v !== undefined && k !== 'url'));
  const merged = { ...fromUrl, ...defined } as Partial<ResolvedDatabaseSettings>;
  const resolved: ResolvedDatabaseSettings = {
    ...merged,
    host: merged.host ?? env.PGHOST ?? 'localhost',
    port: merged.port ?? (env.PGPORT ? Number(env.PGPORT) : 5432),
    database: merged.database ?? env.PGDATABASE ?? merged.user ?? env.PGUSER ?? 'postgres',
    user: merged.user ?? env.PGUSER ?? 'postgres',
    sslmode: merged.sslmode ?? (env.PGSSLMODE as SslMode | undefined) ?? 'disable',
  };
  // libpq's environment defaults (the Helm chart sets them): below the URL and the discrete fields.
  if (resolved.sslRootCert === undefined && resolved.sslCa === undefined && env.PGSSLROOTCERT) resolved.sslRootCert = env.PGSSLROOTCERT;
  if (!Number.isInteger(resolved.port) || resolved.port < 1 || resolved.port > 65535) {
    throw new DatabaseSettingsError(`database port must be 1-65535, got ${String(resolved.port)}`);
  }
  if (!SSL_MODES.includes(resolved.sslmode)) {
    throw new DatabaseSettingsError(`sslmode must be one of ${SSL_MODES.join(', ')}, got ${JSON.stringify(resolved.sslmode)}`);
  }
  if (resolved.password === undefined && env.PGPASSWORD) resolved.password = env.PGPASSWORD;
  return resolved;
}

/** user@host:port/database?sslmode=… — safe to log. */
export function describeDatabase(s: ResolvedDatabaseSettings): string {
  return `postgres://${encodeURIComponent(s.user)}@${s.host}:${s.port}/${encodeURIComponent(s.database)}?sslmode=${s.sslmode}`;
}

/**
 * The connection attempts of a sslmode, in libpq's order and with libpq's meaning:
 * - `disable`: plain text only; `allow`: plain text, then TLS when the server refuses plain text;
 *   `prefer`: TLS, then plain text when the server has no TLS or refuses the TLS session. Neither
 *   checks the certificate (they never protected against an active attacker).
 * - `require`: TLS without checking the certificate, unless a root CA is given: then like verify-ca.
 * - `verify-ca`: TLS, the chain checked against the root CA; `verify-full`: the chain and the host
 *   name (a DNS or IP subjectAltName). Without a root CA, or with `sslrootcert=system`, the chain is
 *   checked against the system's trusted roots.
 */
export function sslAttempts(
  s: ResolvedDatabaseSettings,
  readFile: (path: string) => string = (p) => readFileSync(p, 'utf8'),
): { first: SslAttempt; fallback?: SslAttempt } {
  if (s.sslmode === 'disable') return { first: false };
  const client: ConnectionOptions = {};
  if (s.sslCert) client.cert = readFile(s.sslCert);
  if (s.sslKey) client.key = readFile(s.sslKey);
  const encryptOnly: ConnectionOptions = { ...client, rejectUnauthorized: false };
  if (s.sslmode === 'allow') return { first: false, fallback: encryptOnly };
  if (s.sslmode === 'prefer') return { first: encryptOnly, fallback: false };
  const ca = s.sslCa ?? (s.sslRootCert && s.sslRootCert !== 'system' ? readFile(s.sslRootCert) : undefined);
  const mode = s.sslmode === 'require' && ca ? 'verify-ca' : s.sslmode;
  if (mode === 'require') return { first: encryptOnly };
  const verified: ConnectionOptions = { ...client, ...(ca ? { ca } : {}), rejectUnauthorized: true };
  // verify-ca: the chain only, any host name. verify-full: node-postgres gives tls.connect the
  // host, which checks it against the certificate's names (servername is set for DNS names only).
  if (mode === 'verify-ca') verified.checkServerIdentity = () => undefined;
  return { first: verified };
}

/** The TLS options of the first attempt (false: plain text); see sslAttempts. */
export function tlsOptions(s: ResolvedDatabaseSettings, readFile?: (path: string) => string): SslAttempt {
  return sslAttempts(s, readFile).first;
}

// int8 columns (versions, epochs, counters) as numbers: all of them stay far below 2^53.
const INT8_OID = 20;
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') => {
    if (oid === INT8_OID && format !== 'binary') return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format ?? 'text');
  }) as typeof pg.types.getTypeParser,
};

export function poolConfig(s: ResolvedDatabaseSettings): pg.PoolConfig & LibpqClientConfig {
  const { first, fallback } = sslAttempts(s);
  const config: pg.PoolConfig & LibpqClientConfig = {
    host: s.host,
    port: s.port,
    database: s.database,
    user: s.user,
    ssl: first,
    ...(fallback !== undefined ? { sslFallback: fallback } : {}),
    // Each pooled connection negotiates TLS as libpq would (allow and prefer make a second attempt).
    Client: LibpqClient,
    max: s.poolMax ?? 10,
    connectionTimeoutMillis: s.connectTimeoutMs ?? 10_000,
    idleTimeoutMillis: 30_000,
    application_name: s.applicationName ?? 'cell-operator',
    types,
    // A server that vanished (a partition, a dead node) is noticed in seconds, not hours.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
  };
  if (s.password !== undefined) config.password = s.password;
  if (s.statementTimeoutMs) config.statement_timeout = s.statementTimeoutMs;
  return config;
}

/** Server-side TCP keepalive of a session: idle 10 s, then a probe every 5 s, dead after 4 lost ones. */
export const SERVER_KEEPALIVE_SQL = 'SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 4';

/** A pg Pool for the settings; idle-client errors (a restarted server) are logged, not thrown. */
export function createPool(settings: DatabaseSettings, log?: Logger): pg.Pool {
  const resolved = resolveDatabaseSettings(settings);
  const pool = new pg.Pool({
    ...poolConfig(resolved),
    // The server's side of keepalive: a vanished operator's session (and the session advisory lock
    // of the move it ran) ends within about 30 s, so another replica takes the move over. Awaited
    // before the client is handed out (a query sent at once beside it is one pg 9 would refuse).
    onConnect: async (client) => {
      await client.query(SERVER_KEEPALIVE_SQL).catch((err: Error) => log?.warn({ err: err.message, database: describeDatabase(resolved) }, 'could not set TCP keepalive on the server side'));
    },
  });
  pool.on('error', (err) => log?.warn({ err: err.message, database: describeDatabase(resolved) }, 'idle database connection failed'));
  return pool;
}

/** A single (non-pooled) client with the same settings, e.g. for LISTEN. */
export function createClient(settings: DatabaseSettings): pg.Client {
  const { max: _max, idleTimeoutMillis: _idle, Client: _client, ...config } = poolConfig(resolveDatabaseSettings(settings));
  return new LibpqClient(config);
}
