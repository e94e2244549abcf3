// The shape a Citus cell should have, decided from what its coordinator reports: which workers to
// register, which to drain and remove, when to rebalance, which tables to distribute by the tenant
// column (co-located) and which to make reference tables. Pure: facts in, ordered actions out.

/** A worker as pg_dist_node lists it, with the shards of distributed tables it holds. */
export interface CitusNode {
  host: string;
  port: number;
  isActive: boolean;
  shouldHaveShards: boolean;
  /** Placements of hash-distributed shards on this node (reference tables not counted). */
  placements: number;
}

/** A table of the cell database as Citus sees it. */
export interface CitusTable {
  /** `schema.table` as regclass prints it (quoted where needed). */
  name: string;
  schema: string;
  table: string;
  hasTenantColumn: boolean;
  /** distributed: hash-distributed; reference: on every node; local: not (yet) a Citus table; other: a Citus local table. */
  kind: 'distributed' | 'reference' | 'local' | 'other';
  distributionColumn?: string;
  colocationId?: number;
  shardCount?: number;
}

export interface CitusFacts {
  /** `citus_version()`'s number, e.g. 13.2.2. */
  version: string;
  /** Whether pg_dist_node has the coordinator (group 0). */
  coordinatorRegistered: boolean;
  /** Primary workers (group <> 0). */
  workers: CitusNode[];
  /** A background rebalance (or drain) job is scheduled or running. */
  rebalanceRunning: boolean;
  /** Shard moves the rebalancer would make now (get_rebalance_table_shards_plan). */
  plannedMoves: number;
  tables: CitusTable[];
  /** For each customer the spec wants isolated: whether its rows already have shards of their own. */
  isolated: Record<string, boolean>;
}

export interface WorkerAddress {
  host: string;
  port: number;
}

export interface CitusDesired {
  /** The coordinator's address as the workers reach it (citus_set_coordinator_host). */
  coordinator: WorkerAddress;
  /** The workers the cell has; undefined: the operator leaves pg_dist_node alone (not managed). */
  workers?: readonly WorkerAddress[];
  tenantColumn: string;
  /** Shards of each newly distributed table. */
  shardCount: number;
  /** When given, only these tables (`schema.table` or `table` in public) are tenant tables. */
  tenantTables?: readonly string[];
  /** Very large customers whose rows get shards of their own (isolate_tenant_to_new_shard). */
  isolatedCustomers?: readonly string[];
}

export type CitusAction =
  | { kind: 'SetCoordinatorHost'; host: string; port: number }
  | { kind: 'AddWorker'; host: string; port: number }
  /** No new shards on a worker that is leaving (citus_set_node_property shouldhaveshards false). */
  | { kind: 'StopPlacingShards'; host: string; port: number }
  /** A background rebalance: moves shards onto new workers and off those that are leaving. */
  | { kind: 'StartRebalance'; reason: string }
  | { kind: 'RemoveWorker'; host: string; port: number }
  | { kind: 'CreateReferenceTable'; table: string }
  | { kind: 'DistributeTable'; table: string; column: string; shardCount?: number; colocateWith?: string }
  /** The customer's rows in shards of their own, in `table` and every table co-located with it. */
  | { kind: 'IsolateCustomer'; table: string; customer: string };

export interface CitusPlan {
  actions: CitusAction[];
  /** Workers leaving that still hold shards: they are removed once the rebalance has moved them off. */
  draining: string[];
}

const addressOf = (w: WorkerAddress): string => `${w.host}:${w.port}`;

/** Whether a table is a tenant table of the cell (the tenant column, or listed by the spec). */
export function isTenantTable(table: Pick<CitusTable, 'schema' | 'table' | 'hasTenantColumn'>, tenantTables?: readonly string[]): boolean {
  if (!tenantTables) return table.hasTenantColumn;
  const qualified = `${table.schema}.${table.table}`;
  return tenantTables.some((t) => t === qualified || (table.schema === 'public' && t === table.table));
}

/**
 * The actions that bring the cell to the desired shape, in the order they must run: the
 * coordinator first (workers call back to it), then new workers, then reference tables (a
 * distributed table may reference them), then tenant tables, all co-located with the first one so
 * that a customer's rows of every table live on the same worker; then a rebalance if the new
 * workers (or leaving ones) call for it, and the removal of leaving workers once they are empty.
 */
export function planCitus(facts: CitusFacts, desired: CitusDesired): CitusPlan {
  const actions: CitusAction[] = [];
  const draining: string[] = [];
  if (!facts.coordinatorRegistered) actions.push({ kind: 'SetCoordinatorHost', ...desired.coordinator });

  const known = new Map(facts.workers.map((w) => [addressOf(w), w]));
  const wanted = desired.workers ? new Set(desired.workers.map(addressOf)) : undefined;
  let added = 0;
  for (const w of desired.workers ?? []) {
    if (known.has(addressOf(w))) continue;
    actions.push({ kind: 'AddWorker', host: w.host, port: w.port });
    added++;
  }

  const leaving = wanted ? facts.workers.filter((w) => !wanted.has(addressOf(w))) : [];
  for (const w of leaving) if (w.shouldHaveShards) actions.push({ kind: 'StopPlacingShards', host: w.host, port: w.port });

  const tenant = facts.tables.filter((t) => isTenantTable(t, desired.tenantTables));
  const others = facts.tables.filter((t) => !isTenantTable(t, desired.tenantTables));
  for (const t of others) if (t.kind === 'local') actions.push({ kind: 'CreateReferenceTable', table: t.name });

  // The co-location anchor: a tenant table already distributed by the tenant column, else the
  // first one by name, which gets the shard count.
  const byName = [...tenant].sort((a, b) => a.name.localeCompare(b.name));
  let anchor = byName.find((t) => t.kind === 'distributed' && t.distributionColumn === desired.tenantColumn)?.name;
  for (const t of byName) {
    if (t.kind !== 'local') continue;
    if (anchor) actions.push({ kind: 'DistributeTable', table: t.name, column: desired.tenantColumn, colocateWith: anchor });
    else {
      actions.push({ kind: 'DistributeTable', table: t.name, column: desired.tenantColumn, shardCount: desired.shardCount });
      anchor = t.name;
    }
  }

  // Isolation splits shards: not while a rebalance moves them, nor before the tenant tables are distributed.
  const distributedAnchor = byName.find((t) => t.kind === 'distributed' && t.distributionColumn === desired.tenantColumn)?.name;
  if (distributedAnchor && !facts.rebalanceRunning) {
    for (const customer of desired.isolatedCustomers ?? []) {
      if (facts.isolated[customer] === false) actions.push({ kind: 'IsolateCustomer', table: distributedAnchor, customer });
    }
  }

  const placed = leaving.filter((w) => w.placements > 0);
  const remaining = facts.workers.length - leaving.length + added;
  if (!facts.rebalanceRunning) {
    if (placed.length > 0 && remaining > 0) actions.push({ kind: 'StartRebalance', reason: `moving shards off ${placed.map(addressOf).join(', ')}` });
    else if (added > 0 && facts.tables.some((t) => t.kind === 'distributed')) actions.push({ kind: 'StartRebalance', reason: `spreading shards onto ${added} new worker(s)` });
    else if (facts.plannedMoves > 0 && leaving.length === 0) actions.push({ kind: 'StartRebalance', reason: `${facts.plannedMoves} shard move(s) would balance the workers` });
  }
  for (const w of leaving) {
    if (w.placements === 0) actions.push({ kind: 'RemoveWorker', host: w.host, port: w.port });
    else draining.push(addressOf(w));
  }
  return { actions, draining };
}
