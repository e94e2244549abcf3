// Connects to a cell's database with its credentials and reports what is there (Citus or plain
// PostgreSQL, version, active workers, distributed tables), bringing a Citus cell to its desired
// shape on the way (src/data/citus-cluster.ts: workers registered or drained and removed,
// rebalance, tenant tables distributed). The errors become a DatabaseCheck with a PascalCase reason,
// never an exception, and never a password.
import { reconcileCitus, citusVersion, type CitusActionResult } from './citus-cluster.js';
import type { CitusAction, CitusDesired } from './citus-topology.js';
import { createClient, type DatabaseSettings } from '../store/connection.js';
import { classifyDatabaseError as classifyError } from '../store/database-errors.js';

/** What the reconciler learnt by connecting to the database with the cell's credentials. */
export type DatabaseCheck =
  | {
      connected: true;
      /** Citus when the citus extension is present; plain PostgreSQL works too. */
      engine: 'Citus' | 'PostgreSQL';
      serverVersion?: string;
      /** citus_version()'s number (13.2.2). */
      citusVersion?: string;
      /** Active Citus workers registered on the coordinator (leaving ones not counted). */
      workers?: number;
      shardCount?: number;
      distributedTables?: number;
      referenceTables?: number;
      /** A background shard rebalance is running. */
      rebalancing?: boolean;
      /** Leaving workers (host:port) whose shards are being moved off. */
      drainingWorkers?: string[];
      /** Customers of spec.database.isolatedCustomers whose rows have shards of their own. */
      isolatedCustomers?: string[];
      /** What the operator could not do on the coordinator, each with a reason and the fix. */
      problems?: { reason: string; message: string }[];
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
  /** Whose fields a person fixes when TLS fails: an external database's, or the operator's own in-cluster one. */
  external?: boolean;
  /** A Citus cell's desired shape (used only when the citus extension is there). */
  citus?: Omit<CitusDesired, 'shardCount'> & { shardCount?: number };
}

/** What a failed connection means for a person: which reason, and whether waiting can help. */
export function classifyDatabaseError(err: unknown, where: { host?: string; external?: boolean } = {}): Extract<DatabaseCheck, { connected: false }> {
  const { reason, code } = classifyError(err);
  const message = (err as { message?: string } | undefined)?.message ?? String(err);
  const external = where.external ?? true;
  switch (reason) {
    case 'TLSVerificationFailed':
      if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') {
        return {
          connected: false,
          reason,
          message: external
            ? `the server's certificate does not name the host ${where.host ?? ''} (${message}); set spec.database.external.host to a name the certificate holds, or sslMode verify-ca to check the CA only`
            : `the database's certificate does not name ${where.host ?? 'its Service'} (${message}); the pods restart with the certificate the operator issued for it`,
          // In-cluster, the operator's own certificate is on its way (the pods roll): waiting helps.
          stalled: external,
        };
      }
      return {
        connected: false,
        reason,
        message: external
          ? `the server's certificate is not signed by the CA the operator was given (${message}); put the CA that signed it in the Secret or ConfigMap of spec.database.external.caRef (no caRef: the system's trusted roots), or set sslMode require to encrypt without verifying`
          : `the database's certificate is not signed by the cell's CA (${message}); the pods restart with the certificate the operator issued (if they do not, delete them)`,
        stalled: external,
      };
    case 'TLSUnavailable':
      return {
        connected: false,
        reason,
        message: external
          ? `the server refused the encryption spec.database.external.sslMode asks for (${message}); turn TLS on at the server (ssl=on) and allow hostssl in pg_hba.conf, or choose an sslMode the server accepts`
          : `the database refused a TLS connection (${message}); its pods restart with TLS on (if they do not, delete them)`,
        stalled: external,
      };
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
  const where = { host: request.settings.host, external: request.external ?? true };
  try {
    await client.connect();
  } catch (err) {
    return classifyDatabaseError(err, where);
  }
  try {
    const version = await client.query<{ server_version: string }>('SHOW server_version');
    const serverVersion = version.rows[0]?.server_version;
    const citus = await citusVersion(client);
    if (citus === null) return { connected: true, engine: 'PostgreSQL', ...(serverVersion ? { serverVersion } : {}) };
    if (!request.citus) return { connected: true, engine: 'Citus', ...(serverVersion ? { serverVersion } : {}), citusVersion: citus };
    const shards = await client.query<{ citus_shard_count: string }>('SHOW citus.shard_count');
    const shardCount = request.citus.shardCount ?? Number(shards.rows[0]?.citus_shard_count ?? 32);
    const { facts, results, draining } = await reconcileCitus(client, { ...request.citus, shardCount });
    const distributed = facts.tables.filter((t) => t.kind === 'distributed');
    return {
      connected: true,
      engine: 'Citus',
      ...(serverVersion ? { serverVersion } : {}),
      citusVersion: facts.version,
      workers: facts.workers.filter((w) => w.isActive && !draining.includes(`${w.host}:${w.port}`)).length,
      shardCount: distributed[0]?.shardCount ?? shardCount,
      distributedTables: distributed.length,
      referenceTables: facts.tables.filter((t) => t.kind === 'reference').length,
      rebalancing: facts.rebalanceRunning,
      drainingWorkers: draining,
      isolatedCustomers: Object.entries(facts.isolated)
        .filter(([, isolated]) => isolated)
        .map(([customer]) => customer),
      problems: results.filter((r): r is Extract<CitusActionResult, { ok: false }> => !r.ok).map((r) => describeRefusal(r.action, r.message)),
    };
  } catch (err) {
    return classifyDatabaseError(err, where);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A refused Citus action as a reason and a sentence naming the fix. */
export function describeRefusal(action: CitusAction, message: string): { reason: string; message: string } {
  switch (action.kind) {
    case 'SetCoordinatorHost':
      return { reason: 'CoordinatorNotRegistered', message: `Cannot register the coordinator as ${action.host}:${action.port}: ${message}` };
    case 'AddWorker':
      return {
        reason: 'WorkerRegistrationFailed',
        message: `Cannot register worker ${action.host}:${action.port} (citus_add_node): ${message}. Check that it runs with shared_preload_libraries=citus, has the citus extension and accepts the coordinator's connections.`,
      };
    case 'StopPlacingShards':
    case 'RemoveWorker':
      return { reason: 'WorkerRemovalFailed', message: `Cannot remove worker ${action.host}:${action.port}: ${message}` };
    case 'StartRebalance':
      return { reason: 'RebalanceFailed', message: `Cannot start a shard rebalance (${action.reason}): ${message}` };
    case 'CreateReferenceTable':
      return { reason: 'ReferenceTableFailed', message: `Cannot make ${action.table} a reference table (it has no tenant column): ${message}` };
    case 'IsolateCustomer':
      return {
        reason: 'IsolationFailed',
        message: `Cannot give customer ${action.customer} shards of its own (isolate_tenant_to_new_shard on ${action.table}): ${message}. Fix it or remove the customer from spec.database.isolatedCustomers.`,
      };
    case 'DistributeTable':
      return {
        reason: 'DistributionFailed',
        message: `Cannot distribute ${action.table} by ${action.column}${action.colocateWith ? ` co-located with ${action.colocateWith}` : ''}: ${message}`,
      };
  }
}
