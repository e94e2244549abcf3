// Installs, upgrades and drives the write fence inside a cell database (SQL in cell-fence-sql.ts):
// the versioned `cell_operator` schema, the trigger on every tenant table, and a customer's fence
// (set with a bounded per-customer drain, changed, lifted). Idempotent: every call can run again.
import type { Pool, PoolClient } from 'pg';
import { inTransaction as inClientTransaction, withClient } from '../store/transactions.js';
import {
  CREATE_SCHEMA_SQL,
  createTriggerSql,
  FENCE_SCHEMA,
  FENCE_SCHEMA_STEPS,
  FENCE_SCHEMA_VERSION,
  claimMoveSql,
  fenceChangeSql,
  fenceFunctionSql,
  fenceInsertFunctionSql,
  INSTALL_LOCK_CLASS,
  lockTimeoutSql,
  READ_FENCE_SQL,
  stepStatements,
  tableRef,
  TRIGGERED_TABLES_SQL,
  triggeredTablesParams,
  type FenceChange,
  type FenceRole,
  type MoveOwner,
} from './cell-fence-sql.js';

/**
 * The cell's fence schema is newer than this operator knows (a newer operator installed it): this
 * one must not touch the fence or the moves of the cell, neither downgrade it nor half-use it.
 */
export class FenceSchemaNewer extends Error {
  readonly code = 'FENCE_SCHEMA_NEWER';
  readonly reason = 'FenceSchemaNewer';
  constructor(readonly found: number) {
    super(
      `the cell database's fence schema ${FENCE_SCHEMA} is at version ${found}, newer than version ${FENCE_SCHEMA_VERSION} that this operator knows: a newer operator installed it. Upgrade this operator (every replica) to the version that installed it; until then it does not touch this cell's fence or moves`,
    );
    this.name = 'FenceSchemaNewer';
  }
}

/** Refuses a schema newer than this operator's (see FenceSchemaNewer). */
function refuseNewer(version: number): void {
  if (version > FENCE_SCHEMA_VERSION) throw new FenceSchemaNewer(version);
}

export interface FencedTable {
  schema: string;
  table: string;
}

/**
 * Runs `fn` in a transaction on a pooled client (store/transactions.ts, the one way); the
 * connection is destroyed on any error (a fence change may hold locks or settings).
 */
function inTransaction<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, (c) => inClientTransaction(c, () => fn(c)), { discardOn: 'any' });
}

/** Whether the database runs Citus (the fence table then becomes a reference table). */
async function hasCitus(c: PoolClient | Pool): Promise<boolean> {
  const { rows } = await c.query<{ citus: boolean }>(`SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'citus') AS citus`);
  return rows[0]?.citus === true;
}

// Per pool, once: a fence change picks its form by it (fenceChangeSql). A cell database does not
// turn into Citus under a running operator (its fence tables are made reference tables when the
// schema is installed with Citus present, not later).
const citusPools = new WeakMap<Pool, Promise<boolean>>();

/** Whether the cell's database runs Citus, asked once per pool. */
export function poolHasCitus(pool: Pool): Promise<boolean> {
  let known = citusPools.get(pool);
  if (!known) {
    known = hasCitus(pool);
    citusPools.set(pool, known);
    known.catch(() => citusPools.delete(pool));
  }
  return known;
}

/**
 * A transaction sent as messages (fenceChangeSql, claimMoveSql) on a pooled client, one round trip
 * each; the connection is destroyed on any error (it may be left in the failed transaction).
 */
async function send(pool: Pool, messages: readonly string[]): Promise<void> {
  await withClient(
    pool,
    async (c) => {
      for (const sql of messages) await c.query(sql);
    },
    { discardOn: 'any' },
  );
}

/**
 * Brings the fence schema to FENCE_SCHEMA_VERSION and the tenant column's trigger function up to
 * date, then puts the trigger on every table of `tables` that lacks it. Concurrent installers wait
 * for each other (a transaction-level advisory lock); `lockTimeoutMs` bounds the wait for a busy
 * table's lock (CREATE TRIGGER briefly blocks its writers), after which the call fails and is
 * retried by the move. Returns the tables that got the trigger now.
 */
export async function installFence(pool: Pool, tenantColumn: string, tables: readonly FencedTable[], options: { lockTimeoutMs?: number } = {}): Promise<FencedTable[]> {
  const present = async (c: PoolClient): Promise<{ version: number; triggered: Set<string> }> => {
    // A catalog scan, not to_regclass: after waiting for another installer, the syscache may still
    // hold a stale "no such table" (invalidations are read when a relation is locked).
    const exists = await c.query<{ t: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1 AND c.relname = 'schema_version') AS t`,
      [FENCE_SCHEMA],
    );
    let version = 0;
    if (exists.rows[0]?.t) {
      const { rows } = await c.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${FENCE_SCHEMA}.schema_version`);
      version = rows[0]?.version ?? 0;
    }
    const triggered = new Set<string>();
    if (version > 0) {
      const t = await c.query<{ schema: string; table: string }>(TRIGGERED_TABLES_SQL, triggeredTablesParams(tenantColumn));
      for (const r of t.rows) triggered.add(`${r.schema}.${r.table}`);
    }
    return { version, triggered };
  };
  // The common case (everything installed) is one read, without a lock or a write.
  const state = await presentAtOnce(pool, tenantColumn);
  refuseNewer(state.version);
  if (state.version >= FENCE_SCHEMA_VERSION && tables.every((t) => state.triggered.has(`${t.schema}.${t.table}`))) return [];
  await inTransaction(pool, async (c) => {
    await c.query(lockTimeoutSql(options.lockTimeoutMs ?? 2_000));
    await c.query('SELECT pg_advisory_xact_lock($1, 0)', [INSTALL_LOCK_CLASS]);
    const now = await present(c);
    refuseNewer(now.version); // a newer operator upgraded it meanwhile
    if (now.version < FENCE_SCHEMA_VERSION) {
      const citus = await hasCitus(c);
      await c.query(CREATE_SCHEMA_SQL);
      await applySteps(c, now.version, citus);
      if (citus) {
        // Every worker must see the fence table locally (the trigger runs there): a reference table.
        await c.query(
          `SELECT create_reference_table(t) FROM unnest(ARRAY['${FENCE_SCHEMA}.fenced_customers', '${FENCE_SCHEMA}.fence_state']::regclass[]) t
            WHERE NOT EXISTS (SELECT 1 FROM pg_dist_partition p WHERE p.logicalrelid = t)`,
        );
        // A change numbered now: every worker's copy of the generation sequence is created by its
        // trigger (schema step 7) before a REPEATABLE READ writer there needs it.
        await c.query(`SELECT ${FENCE_SCHEMA}.number_fence_change()`);
      }
    }
    // Replaced whenever something was missing: an upgrade, a new tenant column, a new table.
    await c.query(fenceFunctionSql(tenantColumn));
    await c.query(fenceInsertFunctionSql(tenantColumn));
  });
  // One table a transaction: CREATE TRIGGER waits for the table's writers, and a writer holding
  // another table that this transaction had already locked would make a deadlock (and fail the
  // writer's transaction). Holding one table's lock at a time, the installer never closes a cycle.
  const added: FencedTable[] = [];
  for (const t of tables) {
    const done = await inTransaction(pool, async (c) => {
      // Short: writers queue behind a CREATE TRIGGER waiting for the table; better to retry later.
      await c.query(lockTimeoutSql(options.lockTimeoutMs ?? 2_000));
      // Citus refuses triggers on distributed tables unless told they are safe; this one reads only
      // the fence's reference tables, which every worker holds, so it is.
      if (await hasCitus(c)) await c.query('SET LOCAL citus.enable_unsafe_triggers = on');
      await c.query('SELECT pg_advisory_xact_lock($1, 0)', [INSTALL_LOCK_CLASS]);
      if ((await present(c)).triggered.has(`${t.schema}.${t.table}`)) return false;
      const kind = await c.query<{ partitioned: boolean }>(`SELECT relkind = 'p' AS partitioned FROM pg_class WHERE oid = $1::regclass`, [tableRef(t.schema, t.table)]);
      const partitioned = kind.rows[0]?.partitioned === true;
      for (const sql of createTriggerSql(t.schema, t.table, tenantColumn, partitioned)) await c.query(sql); // replaces an older form, or one calling another column's function
      return true;
    });
    if (done) added.push(t);
  }
  return added;
}

/**
 * The installed fence schema's version and the tables carrying this column's trigger, in one
 * query (outside a transaction: a missing schema is an error that only says "version 0").
 */
async function presentAtOnce(pool: Pool, tenantColumn: string): Promise<{ version: number; triggered: Set<string> }> {
  const read = async () => {
    const { rows } = await pool.query<{ version: number | null; triggered: string[] }>(
      `SELECT (SELECT max(version) FROM ${FENCE_SCHEMA}.schema_version) AS version,
              ARRAY(SELECT t.schema || '.' || t.table FROM (${TRIGGERED_TABLES_SQL}) t) AS triggered`,
      triggeredTablesParams(tenantColumn),
    );
    return { version: rows[0]?.version ?? 0, triggered: new Set(rows[0]?.triggered ?? []) };
  };
  return unlessNoSchema(read(), { version: 0, triggered: new Set<string>() });
}

/** The installed fence schema's version (0: none), one read outside a transaction. */
async function installedVersion(pool: Pool): Promise<number> {
  const read = async () => (await pool.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${FENCE_SCHEMA}.schema_version`)).rows[0]?.version ?? 0;
  return unlessNoSchema(read(), 0);
}

/** What `read` finds, or `none` where the fence schema is missing (an error that only says "not installed"). */
async function unlessNoSchema<T>(read: Promise<T>, none: T): Promise<T> {
  try {
    return await read;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (code === '42P01' || code === '3F000') return none; // no fence schema yet
    throw err;
  }
}

/**
 * Applies the fence schema's steps after version `from`, each recorded in schema_version, in the
 * caller's transaction (which holds the install lock). On Citus the drain trigger of
 * fenced_customers must run on every placement of it (see step 2): triggers declared safe.
 */
async function applySteps(c: PoolClient, from: number, citus: boolean): Promise<void> {
  if (citus) await c.query('SET LOCAL citus.enable_unsafe_triggers = on');
  for (const step of FENCE_SCHEMA_STEPS) {
    if (step.version <= from) continue;
    for (const sql of stepStatements(step, citus)) await c.query(sql);
    await c.query(`INSERT INTO ${FENCE_SCHEMA}.schema_version (version, name) VALUES ($1, $2)`, [step.version, step.name]);
  }
}

/**
 * A fence change (fenceChangeSql) on a pooled client: a single move's (fenceCustomer, markCustomer,
 * liftFence) or a batch's, the fences of many customers of one migration set (their drains one
 * after another within `drainMs` in all) or lifted, every owner checked. One message, one round
 * trip; on Citus three when it drains. Throws the lock timeout (55P03) when a customer's writers
 * outlast the bound: nothing is fenced then. After a failure, a change that changes no fence (best
 * effort; the next change catches up too): a number the failed one may have raised the sequence to
 * refuses no writer.
 */
export async function changeFences(pool: Pool, change: FenceChange): Promise<void> {
  const citus = await poolHasCitus(pool);
  try {
    await send(pool, fenceChangeSql(change, { citus }));
  } catch (err) {
    if (change.set || change.lift) await send(pool, fenceChangeSql({}, { citus })).catch(() => undefined);
    throw err;
  }
}

const owners = (owner?: MoveOwner): { owners?: MoveOwner[] } => (owner ? { owners: [owner] } : {});

/**
 * Fences a customer in this cell (`role`), then waits for every transaction that wrote the
 * customer's rows (their shared per-customer locks) to end, at most `drainMs`; one transaction, so
 * a drain that does not finish in time leaves no fence behind. The wait happens in the drain trigger
 * of fenced_customers, on every node that holds the table (the coordinator and each Citus worker).
 * Unrelated transactions are never waited for. Throws the lock timeout (SQLSTATE 55P03) when the
 * customer's writers outlast it.
 */
export async function fenceCustomer(pool: Pool, customer: string, migration: string, role: FenceRole, drainMs: number, owner?: MoveOwner): Promise<void> {
  await changeFences(pool, { ...owners(owner), drainMs, set: { customers: [customer], migration, role } });
}

/** How long markCustomer waits for the customer's writers by default (there should be none). */
export const MARK_DRAIN_MS = 5_000;

/**
 * Sets a fence where the customer's writers are not expected (MovingIn on a target, MovedOut after
 * a fence). It drains all the same, bounded by `drainMs`: a writer that passed the fence remembers
 * it until its transaction ends (PASSED_SETTING), so no fence may commit under its shared lock.
 */
export async function markCustomer(pool: Pool, customer: string, migration: string, role: FenceRole, drainMs = MARK_DRAIN_MS, owner?: MoveOwner): Promise<void> {
  await fenceCustomer(pool, customer, migration, role, drainMs, owner);
}

/** Lifts this migration's fence of the customer (a no-op when there is none, past the owner check). */
export async function liftFence(pool: Pool, customer: string, migration: string, owner?: MoveOwner): Promise<void> {
  await changeFences(pool, { ...owners(owner), lift: { customers: [customer], migration } });
}

export interface CustomerFence {
  migration: string;
  role: FenceRole;
  since: Date;
}

export async function readFence(pool: Pool, customer: string): Promise<CustomerFence | undefined> {
  const { rows } = await pool.query<CustomerFence>(READ_FENCE_SQL, [customer]);
  return rows[0];
}

/**
 * Records `owner` as the move's owner in this cell (schema step 5), in a transaction of its own:
 * waits for a transaction of an earlier owner that is still writing here (the row's lock), after
 * which no earlier owner commits anything of the move in this cell. Throws ZF002 when a newer owner
 * is recorded already, FenceSchemaNewer when a newer operator's schema is installed. A cell whose
 * fence schema predates step 5 (a move begun by an older operator) gets its schema upgraded first.
 */
export async function ownMove(pool: Pool, owner: MoveOwner): Promise<void> {
  const version = await installedVersion(pool);
  refuseNewer(version);
  if (version === 0) return; // no fence here yet: the move has written nothing to this cell
  if (version < FENCE_SCHEMA_VERSION) await upgradeSchema(pool);
  await send(pool, [claimMoveSql(owner, MARK_DRAIN_MS)]); // one round trip: nothing in it is Citus's
}

/** Applies the fence schema's missing steps (not the triggers: installFence does those, with the tables). */
async function upgradeSchema(pool: Pool): Promise<void> {
  await inTransaction(pool, async (c) => {
    await c.query(lockTimeoutSql(2_000));
    await c.query('SELECT pg_advisory_xact_lock($1, 0)', [INSTALL_LOCK_CLASS]);
    const { rows } = await c.query<{ version: number | null }>(`SELECT max(version) AS version FROM ${FENCE_SCHEMA}.schema_version`);
    const version = rows[0]?.version ?? 0;
    refuseNewer(version);
    await applySteps(c, version, await hasCitus(c));
  });
}
