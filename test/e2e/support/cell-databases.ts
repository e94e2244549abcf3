// Real PostgreSQL for the e2e cells: one throw-away server holding the databases of the example
// cells with an external database, reached by a login role that must present its password
// (scram-sha-256), so that a wrong password in a Secret really fails as it would against RDS.
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';
import type { CellManifest, Manifest } from './examples.js';

export interface CellDatabases {
  server: PostgresServer;
  host: string;
  port: number;
  /** Runs SQL as the superuser (trust auth) in `database` (default postgres). */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[], database?: string): Promise<pg.QueryResult<R>>;
  stop(): Promise<void>;
}

const quoteIdent = (name: string) => `"${name.replace(/"/g, '""')}"`;
const quoteLiteral = (value: string) => `'${value.replace(/'/g, "''")}'`;

/**
 * Starts a server, and for every external-database Cell of `manifests` creates its database and the
 * role of its credentials Secret (found among `manifests`), with that Secret's password required.
 */
export async function startCellDatabases(manifests: Manifest[]): Promise<CellDatabases> {
  const server = await startPostgres();
  const query = async <R extends pg.QueryResultRow>(sql: string, params: unknown[] = [], database = 'postgres') => {
    const client = new pg.Client({ host: server.host, port: server.port, user: server.user, database });
    await client.connect();
    try {
      return await client.query<R>(sql, params);
    } finally {
      await client.end();
    }
  };
  try {
    const roles = new Map<string, string>();
    for (const cell of manifests.filter((m): m is CellManifest => m.kind === 'Cell')) {
      const external = cell.spec.database.external;
      if (!external) continue;
      const secret = manifests.find(
        (m) => m.kind === 'Secret' && m.metadata.name === external.secretRef.name && m.metadata.namespace === external.secretRef.namespace,
      ) as (Manifest & { stringData?: Record<string, string> }) | undefined;
      const username = secret?.stringData?.username;
      const password = secret?.stringData?.password;
      if (!username || !password) throw new Error(`no credentials Secret for Cell ${cell.metadata.name} among the manifests`);
      if (!roles.has(username)) {
        await query(`CREATE ROLE ${quoteIdent(username)} LOGIN PASSWORD ${quoteLiteral(password)}`);
        roles.set(username, password);
      }
      await query(`CREATE DATABASE ${quoteIdent(external.database)} OWNER ${quoteIdent(username)}`);
    }
    await requirePasswords(server, [...roles.keys()], query);
  } catch (err) {
    await server.stop();
    throw err;
  }
  return { server, host: server.host, port: server.port, query, stop: () => server.stop() };
}

/** pg_hba.conf: these roles log in with scram-sha-256 over TCP; the superuser keeps trust. */
async function requirePasswords(server: PostgresServer, roles: string[], query: CellDatabases['query']): Promise<void> {
  if (roles.length === 0) return;
  const hba = path.join(server.dataDir, 'pg_hba.conf');
  const rules = roles.map((r) => `host all ${r} 127.0.0.1/32 scram-sha-256`).join('\n');
  // First match wins: our lines go before initdb's trust lines. Written in place (owner kept).
  writeFileSync(hba, `${rules}\n${readFileSync(hba, 'utf8')}`);
  await query('SELECT pg_reload_conf()');
}
