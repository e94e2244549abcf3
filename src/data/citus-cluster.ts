// The Citus side of a cell database: reads what the coordinator knows (version, workers and their
// shards, rebalance jobs, which tables are distributed) and performs the actions planned by
// citus-topology.ts, each one on its own so one refusal does not stop the others.
import type { ClientBase } from 'pg';
import { planCitus, type CitusAction, type CitusDesired, type CitusFacts, type CitusNode, type CitusTable } from './citus-topology.js';

/** Schemas of Citus itself and of the operator (its fence), never distributed by the operator. */
export const NON_TENANT_SCHEMAS = ['citus', 'citus_internal', 'columnar', 'columnar_internal', 'cell_operator'] as const;

/** How long one distribution or node statement may run (a large legacy table copies its rows). */
const CITUS_STATEMENT_TIMEOUT = '5min';

const WORKERS_SQL = `
SELECT n.nodename AS host, n.nodeport AS port, n.isactive AS is_active, n.shouldhaveshards AS should_have_shards,
       (SELECT count(*) FROM pg_dist_placement pl
          JOIN pg_dist_shard s ON s.shardid = pl.shardid
          JOIN pg_dist_partition p ON p.logicalrelid = s.logicalrelid
         WHERE pl.groupid = n.groupid AND p.partmethod = 'h')::int AS placements
  FROM pg_dist_node n
 WHERE n.noderole = 'primary' AND n.groupid <> 0
 ORDER BY n.nodename, n.nodeport`;

const TABLES_SQL = `
SELECT c.oid::regclass::text AS name, n.nspname AS schema, c.relname AS table,
       EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = $1 AND a.attnum > 0 AND NOT a.attisdropped) AS has_tenant_column,
       p.partmethod::text AS partmethod, p.repmodel::text AS repmodel, p.colocationid AS colocation_id,
       CASE WHEN p.partmethod = 'h' THEN column_to_column_name(p.logicalrelid, p.partkey) END AS distribution_column,
       (SELECT count(*) FROM pg_dist_shard s WHERE s.logicalrelid = c.oid)::int AS shard_count
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_dist_partition p ON p.logicalrelid = c.oid
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence = 'p'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
   AND n.nspname <> ALL ($2::text[])
   AND NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1`;

interface TableRow {
  name: string;
  schema: string;
  table: string;
  has_tenant_column: boolean;
  partmethod: string | null;
  repmodel: string | null;
  colocation_id: number | null;
  distribution_column: string | null;
  shard_count: number;
}

/** The Citus version of the coordinator, or null when the citus extension is not installed. */
export async function citusVersion(db: ClientBase): Promise<string | null> {
  const ext = await db.query<{ extversion: string }>("SELECT extversion FROM pg_extension WHERE extname = 'citus'");
  if (ext.rowCount === 0) return null;
  const v = await db.query<{ v: string }>('SELECT citus_version() AS v');
  return /Citus (\S+)/.exec(v.rows[0]?.v ?? '')?.[1] ?? ext.rows[0]?.extversion ?? 'unknown';
}

/** Whether each customer's shard holds that customer alone (min = max hash value), read on `table`. */
async function readIsolation(db: ClientBase, table: string | undefined, customers: readonly string[]): Promise<Record<string, boolean>> {
  if (!table || customers.length === 0) return {};
  const { rows } = await db.query<{ customer: string; isolated: boolean }>(
    `SELECT c AS customer, s.shardminvalue = s.shardmaxvalue AS isolated
       FROM unnest($2::text[]) AS c
       JOIN pg_dist_shard s ON s.shardid = get_shard_id_for_distribution_column($1::regclass, c)`,
    [table, customers],
  );
  return Object.fromEntries(rows.map((r) => [r.customer, r.isolated]));
}

export async function readCitusFacts(db: ClientBase, tenantColumn: string, isolatedCustomers: readonly string[] = []): Promise<CitusFacts> {
  const version = (await citusVersion(db)) ?? 'unknown';
  const coordinator = await db.query("SELECT 1 FROM pg_dist_node WHERE groupid = 0");
  const workers = await db.query<{ host: string; port: number; is_active: boolean; should_have_shards: boolean; placements: number }>(WORKERS_SQL);
  const jobs = await db.query<{ n: number }>(
    "SELECT count(*)::int AS n FROM pg_dist_background_job WHERE state IN ('scheduled', 'running', 'cancelling', 'failing')",
  );
  const tables = await db.query<TableRow>(TABLES_SQL, [tenantColumn, NON_TENANT_SCHEMAS]);
  const hasDistributed = tables.rows.some((t) => t.partmethod === 'h');
  const anchor = tables.rows.find((t) => t.partmethod === 'h' && t.distribution_column === tenantColumn)?.name;
  const isolated = await readIsolation(db, anchor, isolatedCustomers);
  // The rebalancer's plan is only worth asking for when there is something to move.
  const planned =
    hasDistributed && workers.rows.length > 1
      ? Number((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM get_rebalance_table_shards_plan()')).rows[0]?.n ?? 0)
      : 0;
  return {
    version,
    coordinatorRegistered: (coordinator.rowCount ?? 0) > 0,
    workers: workers.rows.map(
      (w): CitusNode => ({ host: w.host, port: w.port, isActive: w.is_active, shouldHaveShards: w.should_have_shards, placements: w.placements }),
    ),
    rebalanceRunning: (jobs.rows[0]?.n ?? 0) > 0,
    plannedMoves: planned,
    tables: tables.rows.map((t): CitusTable => ({
      name: t.name,
      schema: t.schema,
      table: t.table,
      hasTenantColumn: t.has_tenant_column,
      kind: t.partmethod === 'h' ? 'distributed' : t.partmethod === 'n' && t.repmodel === 't' ? 'reference' : t.partmethod ? 'other' : 'local',
      ...(t.distribution_column ? { distributionColumn: t.distribution_column } : {}),
      ...(t.colocation_id !== null ? { colocationId: t.colocation_id } : {}),
      ...(t.partmethod === 'h' ? { shardCount: t.shard_count } : {}),
    })),
    isolated,
  };
}

/** What one action did: done, or refused with the server's message. */
export type CitusActionResult = { action: CitusAction; ok: true } | { action: CitusAction; ok: false; message: string };

/** One statement per action, parameterised (table names go through regclass, never into the SQL text). */
export async function applyCitusAction(db: ClientBase, action: CitusAction): Promise<void> {
  switch (action.kind) {
    case 'SetCoordinatorHost':
      await db.query('SELECT citus_set_coordinator_host($1, $2)', [action.host, action.port]);
      return;
    case 'AddWorker':
      await db.query('SELECT citus_add_node($1, $2)', [action.host, action.port]);
      return;
    case 'StopPlacingShards':
      await db.query("SELECT citus_set_node_property($1, $2, 'shouldhaveshards', false)", [action.host, action.port]);
      return;
    case 'StartRebalance':
      // In the background (a job of Citus's own task queue): the reconcile does not wait for shard
      // moves. block_writes needs no logical replication: writes to a shard wait while it moves.
      await db.query("SELECT citus_rebalance_start(shard_transfer_mode := 'block_writes')");
      return;
    case 'RemoveWorker':
      await db.query('SELECT citus_remove_node($1, $2)', [action.host, action.port]);
      return;
    case 'CreateReferenceTable':
      await db.query('SELECT create_reference_table($1::regclass)', [action.table]);
      return;
    case 'DistributeTable':
      if (action.colocateWith) {
        await db.query('SELECT create_distributed_table($1::regclass, $2, colocate_with := $3)', [action.table, action.column, action.colocateWith]);
      } else {
        // colocate_with none: the first tenant table starts a co-location group of its own, with the
        // cell's shard count, that the other tenant tables join.
        await db.query("SELECT create_distributed_table($1::regclass, $2, shard_count := $3, colocate_with := 'none')", [
          action.table,
          action.column,
          action.shardCount ?? null,
        ]);
      }
      return;
    case 'IsolateCustomer':
      // CASCADE: every co-located tenant table, so that the customer's rows stay together.
      await db.query("SELECT isolate_tenant_to_new_shard($1::regclass, $2::text, 'CASCADE', shard_transfer_mode := 'block_writes')", [
        action.table,
        action.customer,
      ]);
      return;
  }
}

export interface CitusReconcileResult {
  /** Facts after the actions ran. */
  facts: CitusFacts;
  results: CitusActionResult[];
  /** Workers leaving that still hold shards. */
  draining: string[];
}

/**
 * Reads the coordinator, plans, performs every planned action (a refused one is reported, the next
 * ones still run unless they depend on it) and reads again for the status.
 */
export async function reconcileCitus(db: ClientBase, desired: CitusDesired): Promise<CitusReconcileResult> {
  await db.query(`SET statement_timeout = '${CITUS_STATEMENT_TIMEOUT}'`);
  const isolate = desired.isolatedCustomers ?? [];
  const before = await readCitusFacts(db, desired.tenantColumn, isolate);
  const plan = planCitus(before, desired);
  const results: CitusActionResult[] = [];
  let distributionFailed = false;
  for (const action of plan.actions) {
    // A tenant table that could not join the co-location group leaves the rest for the next pass.
    if (action.kind === 'DistributeTable' && distributionFailed) continue;
    try {
      await applyCitusAction(db, action);
      results.push({ action, ok: true });
    } catch (err) {
      results.push({ action, ok: false, message: (err as Error).message });
      if (action.kind === 'DistributeTable' && !action.colocateWith) distributionFailed = true;
    }
  }
  const facts = plan.actions.length > 0 ? await readCitusFacts(db, desired.tenantColumn, isolate) : before;
  return { facts, results, draining: planCitus(facts, desired).draining };
}
