// Connects to a cell's database with its credentials and reports what is there (Citus or plain
// PostgreSQL, version, registered workers, shard count), registering missing Citus workers. The
// errors become a DatabaseCheck with a PascalCase reason, never an exception, and never a password.
import { createClient, type DatabaseSettings } from '../store/connection.js';
import { classifyDatabaseError as classifyError } from '../store/database-errors.js';

/** What the reconciler learnt by connecting to the database with the cell's credentials. */
export type DatabaseCheck =
  | {
      connected: true;
      /** Citus when the citus extension is present; plain PostgreSQL works too. */
      engine: 'Citus' | 'PostgreSQL';
      serverVersion?: string;
      /** Citus workers registered on the coordinator. */
      workers?: number;
      shardCount?: number;
    }
  | {
      connected: false;
      /** PascalCase: Unreachable, AuthenticationFailed, SecretMissing, ... */
      reason: string;
      message: string;
      /** True when waiting will not help and a person must act (wrong password, missing Secret). */
      stalled: boolean;
    };

export interface DatabaseCheckRequest {
  settings: DatabaseSettings;
  /** In-cluster Citus: the worker hosts that must be registered on the coordinator. */
  workerHosts?: string[];
  workerPort?: number;
}

/** What a failed connection means for a person: which reason, and whether waiting can help. */
export function classifyDatabaseError(err: unknown): Extract<DatabaseCheck, { connected: false }> {
  const { reason, code } = classifyError(err);
  const message = (err as { message?: string } | undefined)?.message ?? String(err);
  switch (reason) {
    case 'AuthenticationFailed':
      return { connected: false, reason, message: `authentication failed (${message}); check the credentials in the Secret`, stalled: true };
    case 'DatabaseMissing':
      return { connected: false, reason, message: `${message}; create it or fix spec.database.external.database`, stalled: true };
    case 'Unreachable':
      if (code) return { connected: false, reason, message: `the server does not answer (${code})`, stalled: false };
  }
  if (/timeout/i.test(message)) return { connected: false, reason: 'Unreachable', message: 'the connection timed out', stalled: false };
  return { connected: false, reason: 'ConnectionFailed', message, stalled: false };
}

export async function checkDatabase(request: DatabaseCheckRequest): Promise<DatabaseCheck> {
  const client = createClient({ connectTimeoutMs: 5_000, statementTimeoutMs: 10_000, applicationName: 'cell-operator-check', ...request.settings });
  client.on('error', () => undefined); // a dropped connection after the check must not crash the process
  try {
    await client.connect();
  } catch (err) {
    return classifyDatabaseError(err);
  }
  try {
    const version = await client.query<{ server_version: string }>('SHOW server_version');
    const citus = await client.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'citus'");
    const serverVersion = version.rows[0]?.server_version;
    if (citus.rowCount === 0) return { connected: true, engine: 'PostgreSQL', ...(serverVersion ? { serverVersion } : {}) };

    for (const host of request.workerHosts ?? []) {
      // citus_add_node is idempotent for a node already in pg_dist_node.
      await client.query('SELECT citus_add_node($1, $2)', [host, request.workerPort ?? 5432]);
    }
    const workers = await client.query<{ n: string }>("SELECT count(*) AS n FROM pg_dist_node WHERE noderole = 'primary' AND groupid <> 0");
    const shards = await client.query<{ citus_shard_count: string }>('SHOW citus.shard_count');
    return {
      connected: true,
      engine: 'Citus',
      ...(serverVersion ? { serverVersion } : {}),
      workers: Number(workers.rows[0]?.n ?? 0),
      shardCount: Number(shards.rows[0]?.citus_shard_count ?? 0),
    };
  } catch (err) {
    return classifyDatabaseError(err);
  } finally {
    await client.end().catch(() => undefined);
  }
}
