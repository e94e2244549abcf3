// The write fence inside a cell database, as SQL: a small versioned schema (`cell_operator`) with
// the table of fenced customers and a trigger on every tenant table that refuses a fenced
// customer's writes. Pure: statements only; cell-fence.ts runs them.
//
// Why in the data: a gateway may cache a route, an ingestion job may be configured with the old
// cell, a transaction may be open across the fence. The router's 503 is a courtesy; this trigger
// is the guarantee (see src/data/README.md, "The fence in the cell databases").
import { createHash } from 'node:crypto';
import { escapeIdentifier, escapeLiteral } from 'pg';

/** The schema the operator owns in every cell database. */
export const FENCE_SCHEMA = 'cell_operator';

/** The version of the fence schema this operator installs (see FENCE_SCHEMA_STEPS). */
export const FENCE_SCHEMA_VERSION = 9;

/**
 * SQLSTATE of a refused write: class ZF ("Z": implementation-defined by the SQL standard, unused
 * by PostgreSQL; "F": fence). A gateway or ingestion worker that sees it asks the router again.
 */
export const FENCE_SQLSTATE = 'ZF001';

/**
 * SQLSTATE of a move's cell transaction refused because another operator owns the move now (a
 * newer owner epoch in `move_owners`): the old owner lost the move's lock and must stop.
 */
export const LOST_OWNERSHIP_SQLSTATE = 'ZF002';

/** Advisory-lock class of the per-customer write lock: 0x66656e63 = 'fenc' (key: hashtext(customer)). */
export const CUSTOMER_LOCK_CLASS = 0x66656e63;

/** Advisory-lock class (transaction-scoped) serialising installs and upgrades: 0x696e7374 = 'inst'. */
export const INSTALL_LOCK_CLASS = 0x696e7374;

/** Session setting naming the migration whose own copy/cleanup writes pass the fence. */
export const MOVER_SETTING = 'cell_operator.move';

/** Name of the row trigger on every tenant table (updates and deletes, row by row, before the write). */
export const FENCE_TRIGGER = 'cell_operator_fence';

/**
 * Name of the statement trigger on every tenant table that checks inserts (schema step 4): once per
 * statement, after its rows are written, over the statement's new rows (a transition table). A
 * BEFORE ROW trigger would make every COPY insert row by row (PostgreSQL keeps its multi-row
 * inserts only for tables without one) and enter the trigger function for every row.
 */
export const FENCE_INSERT_TRIGGER = 'cell_operator_fence_insert';

/** The transition table of FENCE_INSERT_TRIGGER: the rows the statement inserted. */
const NEW_ROWS = 'cell_operator_new_rows';

/**
 * Transaction-local setting (set_config(…, true)) naming the last customer whose write passed the
 * fence in this transaction: its shared per-customer lock is held to the end of the transaction and
 * every fence that restricts a customer takes that lock exclusively (schema step 3), so no fence of
 * that customer can commit before this transaction ends, and the next inserts of that customer need
 * not ask again: the rest of a batch costs the trigger function's entry and one comparison. Not a defence against a database user who sets it by hand (who could
 * also drop the trigger); reverted with the (sub)transaction that set it, like the lock.
 */
export const PASSED_SETTING = 'cell_operator.passed';

/** The trigger on fence_state that moves each node's copy of the generation sequence up (schema step 7). */
export const GENERATION_TRIGGER = 'cell_operator_generation';

/** Session setting (SET LOCAL by fenceCustomer and markCustomer) that makes setting a fence row drain the customer's writers. */
export const DRAIN_SETTING = 'cell_operator.drain';

/**
 * Session setting (SET LOCAL beside DRAIN_SETTING, schema step 9): the change's drain bound in
 * milliseconds, counted from the statement's arrival on the node where the drain runs, so the
 * customers of one statement drain one after another within it in all.
 */
export const DRAIN_BOUND_SETTING = 'cell_operator.drain_ms';

/**
 * What the fence says about a customer in this cell: `Fenced` (source, from the fence to the
 * cut-over), `MovedOut` (source, after the cut-over until cleanup removed its rows), `MovingIn`
 * (target, until the cut-over).
 */
export type FenceRole = 'Fenced' | 'MovedOut' | 'MovingIn';

export interface SchemaStep {
  version: number;
  name: string;
  /** One message, or statements sent one by one (Citus propagates a trigger's DDL statement by statement). */
  sql: string | readonly string[];
  /** Statements after `sql` only where Citus runs (what only a cell with workers needs). */
  citus?: readonly string[];
}

const S = escapeIdentifier(FENCE_SCHEMA);

/**
 * The schema, one step per version, applied in order by installFenceSchema. `fence_state` holds the
 * generation of the newest fence change visible to a snapshot; the sequence `fence_generation`
 * holds the newest one, visible or not (sequences are not transactional): a REPEATABLE READ or
 * SERIALIZABLE writer whose snapshot is older than a fence change is told to retry (40001).
 */
export const FENCE_SCHEMA_STEPS: readonly SchemaStep[] = [
  {
    version: 1,
    name: 'fenced customers, fence generation',
    sql: `
CREATE TABLE IF NOT EXISTS ${S}.fenced_customers (
  customer_id text PRIMARY KEY,
  migration   text NOT NULL,
  role        text NOT NULL CHECK (role IN ('Fenced', 'MovedOut', 'MovingIn')),
  since       timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE ${S}.fenced_customers IS 'cell-operator: customers whose writes this cell refuses (trigger cell_operator_fence on every tenant table); written by the move engine only';
CREATE SEQUENCE IF NOT EXISTS ${S}.fence_generation AS bigint;
CREATE TABLE IF NOT EXISTS ${S}.fence_state (
  one        boolean PRIMARY KEY DEFAULT true CHECK (one),
  generation bigint NOT NULL
);
INSERT INTO ${S}.fence_state (generation) SELECT nextval('${FENCE_SCHEMA}.fence_generation') ON CONFLICT DO NOTHING;`,
  },
  {
    // The drain happens where the writers' locks are: a trigger on fenced_customers fires on every
    // placement of the table, so on Citus (a reference table) on the coordinator and on every worker,
    // inside the fence's distributed transaction, where the tenant tables' triggers take the shared
    // per-customer locks. A drain on the coordinator alone would not wait for a worker's writer.
    version: 2,
    name: 'drain on every node that holds the fence table',
    sql: `
CREATE OR REPLACE FUNCTION ${S}.drain_fenced_customer() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF NEW.role = 'Fenced' AND current_setting('${DRAIN_SETTING}', true) = 'on' THEN
    PERFORM pg_advisory_xact_lock(${CUSTOMER_LOCK_CLASS}, hashtext(NEW.customer_id));
  END IF;
  RETURN NULL;
END
$fn$;
DROP TRIGGER IF EXISTS cell_operator_drain ON ${S}.fenced_customers;
CREATE TRIGGER cell_operator_drain AFTER INSERT OR UPDATE ON ${S}.fenced_customers FOR EACH ROW EXECUTE FUNCTION ${S}.drain_fenced_customer();`,
  },
  {
    // Writers remember, for the rest of their transaction, a customer that passed the fence
    // (PASSED_SETTING): sound only if no fence of that customer can commit while they hold its
    // shared lock, so every fence that is set drains, whatever its role (MovingIn and MovedOut too).
    // The trigger function that remembers is replaced by the installer with every upgrade.
    version: 3,
    name: 'every fence drains; inserts remember a passed customer per transaction',
    sql: `
CREATE OR REPLACE FUNCTION ${S}.drain_fenced_customer() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF current_setting('${DRAIN_SETTING}', true) = 'on' THEN
    PERFORM pg_advisory_xact_lock(${CUSTOMER_LOCK_CLASS}, hashtext(NEW.customer_id));
  END IF;
  RETURN NULL;
END
$fn$;`,
  },
  {
    // Inserts are checked once a statement, after the rows are written (FENCE_INSERT_TRIGGER): the
    // row trigger keeps updates and deletes. The installer replaces each table's trigger with the
    // pair in one transaction (no moment without a fence); until then the v3 row trigger, whose
    // function still checks inserts, guards the table.
    version: 4,
    name: 'inserts checked once a statement over its new rows; COPY keeps its multi-row inserts',
    sql: `COMMENT ON SCHEMA ${S} IS 'cell-operator: the write fence of this cell (triggers ${FENCE_TRIGGER} and ${FENCE_INSERT_TRIGGER} on every tenant table); written by the move engine only'`,
  },
  {
    // A move's owner (the operator holding its lock in the control-plane database) numbers its
    // ownership with an epoch that grows with every lock taken; every cell transaction of the move
    // runs own_move first, which keeps the highest epoch under the row's lock and refuses a lower
    // one. A partitioned owner that lost its lock but still reaches the cells cannot commit there
    // once the new owner has written its epoch (the row lock orders an old owner's transaction in
    // flight before it). A plain table, on the Citus coordinator only: own_move runs there.
    version: 5,
    name: 'move owners: the epoch of the operator that owns each move',
    // On Citus a function created with DDL propagation on becomes a distributed object, and its
    // call is then sent to a worker, which has no move_owners: created locally, it runs here.
    sql: `
SELECT set_config('citus.enable_ddl_propagation', 'off', true);
CREATE TABLE IF NOT EXISTS ${S}.move_owners (
  migration   text NOT NULL,
  customer_id text NOT NULL,
  epoch       bigint NOT NULL,
  since       timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (migration, customer_id)
);
COMMENT ON TABLE ${S}.move_owners IS 'cell-operator: the owner epoch of each move that wrote this cell (own_move); written by the move engine only';
CREATE OR REPLACE FUNCTION ${S}.own_move(m text, c text, e bigint) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  held bigint;
BEGIN
  INSERT INTO ${S}.move_owners AS o (migration, customer_id, epoch) VALUES (m, c, e)
    ON CONFLICT (migration, customer_id) DO UPDATE SET epoch = EXCLUDED.epoch, since = now() WHERE o.epoch < EXCLUDED.epoch;
  SELECT o.epoch INTO held FROM ${S}.move_owners o WHERE o.migration = m AND o.customer_id = c FOR UPDATE;
  IF held > e THEN
    RAISE EXCEPTION USING
      ERRCODE = '${LOST_OWNERSHIP_SQLSTATE}',
      MESSAGE = format('migration %s''s move of customer %s is owned by another operator now (owner epoch %s, this one %s): this operator lost the move''s lock and stops', m, c, held, e),
      HINT = 'nothing to do: the operator that holds the move''s lock in the control-plane database goes on with it';
  END IF;
END
$fn$;
SELECT set_config('citus.enable_ddl_propagation', 'on', true);`,
  },
  {
    // The insert check in two queries a statement, whatever its customers (it took a lock and a
    // probe for each, one after the other). Nothing in the schema changes: the new version makes
    // the installer replace the trigger functions, which it does with every upgrade.
    version: 6,
    name: 'inserts: the statement\'s customers locked and their fences read in two queries',
    sql: 'SELECT 1',
  },
  {
    // A fence change on Citus in one or two messages instead of about ten round trips, and without
    // run_command_on_workers (48 ms a change: new connections to every worker): every node that
    // holds fence_state (the coordinator and each Citus worker: a reference table) moves its own copy
    // of the sequence up from a trigger, when the change writes its number there, under the row lock
    // and before the commit; and the number is drawn by number_fence_change() in the cell, where a
    // value computed after the lock can be written as a constant (Citus refuses nextval() or a
    // local sequence in a write to a reference table). The functions live on the coordinator only
    // (created without DDL propagation, like own_move); the trigger and its function on every node,
    // and only with Citus (without workers the change moves the one sequence itself: fenceChangeSql).
    version: 7,
    name: 'fence changes numbered in the cell (number_fence_change, lift_fence); every node moves its own sequence up',
    sql: [
      `SELECT set_config('citus.enable_ddl_propagation', 'off', true)`,
      `CREATE OR REPLACE FUNCTION ${S}.number_fence_change() RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
  g bigint;
BEGIN
  -- fence_state's row lock first: a change that holds it commits before this one reads the number.
  UPDATE ${S}.fence_state SET generation = generation RETURNING generation INTO g;
  g := GREATEST(g, (SELECT last_value FROM ${S}.fence_generation)) + 1;
  UPDATE ${S}.fence_state SET generation = g; -- cell_operator_generation moves each node's sequence up
  PERFORM setval('${FENCE_SCHEMA}.fence_generation', GREATEST(g, (SELECT last_value FROM ${S}.fence_generation)));
  RETURN g;
END
$fn$`,
      // A lift read first: on Citus a DELETE that finds nothing is still a distributed transaction
      // with every worker (a two-phase commit), and a move's last step lifts a fence already lifted.
      `CREATE OR REPLACE FUNCTION ${S}.lift_fence(c text, m text) RETURNS boolean LANGUAGE plpgsql AS $fn$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ${S}.fenced_customers f WHERE f.customer_id = c AND f.migration = m) THEN RETURN false; END IF;
  DELETE FROM ${S}.fenced_customers f WHERE f.customer_id = c AND f.migration = m;
  PERFORM ${S}.number_fence_change();
  RETURN true;
END
$fn$`,
      `SELECT set_config('citus.enable_ddl_propagation', 'on', true)`,
    ],
    citus: [
      // A worker added after the install has no sequence yet: created here, under fence_state's row
      // lock (two changes cannot both create it), without DDL propagation (a worker's own object).
      `CREATE OR REPLACE FUNCTION ${S}.raise_fence_generation() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  IF to_regclass('${FENCE_SCHEMA}.fence_generation') IS NULL THEN
    PERFORM set_config('citus.enable_ddl_propagation', 'off', true);
    CREATE SEQUENCE IF NOT EXISTS ${S}.fence_generation AS bigint;
  END IF;
  PERFORM setval('${FENCE_SCHEMA}.fence_generation', GREATEST(NEW.generation, (SELECT last_value FROM ${S}.fence_generation)));
  RETURN NULL;
END
$fn$`,
      `DROP TRIGGER IF EXISTS ${escapeIdentifier(GENERATION_TRIGGER)} ON ${S}.fence_state`,
      `CREATE TRIGGER ${escapeIdentifier(GENERATION_TRIGGER)} AFTER UPDATE ON ${S}.fence_state FOR EACH ROW
  WHEN (NEW.generation > OLD.generation) EXECUTE FUNCTION ${S}.raise_fence_generation()`,
    ],
  },
  {
    // The row trigger's function (replaced by installFence with the tables) lets a customer that
    // passed the fence in this transaction through its deletes and in-customer updates at once, as
    // its inserts: nothing else of the schema changes.
    version: 8,
    name: 'deletes and updates of a customer that passed in this transaction return at once',
    sql: `COMMENT ON SCHEMA ${S} IS 'cell-operator: the write fence of this cell (triggers ${FENCE_TRIGGER} and ${FENCE_INSERT_TRIGGER} on every tenant table); written by the move engine only'`,
  },
  {
    // A batch of moves sets the fences of many customers in one statement (one distributed write on
    // Citus, not one per customer). Its drains run one after another, row by row, and must end
    // within the change's bound in all: each row's drain waits only for what is left of it, counted
    // from the statement's arrival on this node (statement_timestamp(): on a Citus worker, when the
    // forwarded statement arrived there), then restores the whole bound for what follows (the
    // numbering). Without the bound setting (an older operator's change) a drain waits as before.
    // lift_fences is lift_fence for many customers, numbered once; on the coordinator only.
    version: 9,
    name: 'the drains of a many-customer fence change share one bound; lift_fences',
    sql: [
      `CREATE OR REPLACE FUNCTION ${S}.drain_fenced_customer() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  bound bigint;
  was text;
BEGIN
  IF current_setting('${DRAIN_SETTING}', true) = 'on' THEN
    bound := CASE WHEN current_setting('${DRAIN_BOUND_SETTING}', true) ~ '^[0-9]{1,12}$' THEN current_setting('${DRAIN_BOUND_SETTING}', true)::bigint END;
    IF bound IS NULL THEN
      PERFORM pg_advisory_xact_lock(${CUSTOMER_LOCK_CLASS}, hashtext(NEW.customer_id));
    ELSE
      was := current_setting('lock_timeout');
      PERFORM set_config('lock_timeout',
        greatest(1, least(bound, ceil(bound - extract(epoch FROM clock_timestamp() - statement_timestamp()) * 1000)))::bigint || 'ms', true);
      PERFORM pg_advisory_xact_lock(${CUSTOMER_LOCK_CLASS}, hashtext(NEW.customer_id));
      PERFORM set_config('lock_timeout', was, true);
    END IF;
  END IF;
  RETURN NULL;
END
$fn$`,
      `SELECT set_config('citus.enable_ddl_propagation', 'off', true)`,
      `CREATE OR REPLACE FUNCTION ${S}.lift_fences(cs text[], m text) RETURNS integer LANGUAGE plpgsql AS $fn$
DECLARE
  n integer;
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ${S}.fenced_customers f WHERE f.customer_id = ANY (cs) AND f.migration = m) THEN RETURN 0; END IF;
  DELETE FROM ${S}.fenced_customers f WHERE f.customer_id = ANY (cs) AND f.migration = m;
  GET DIAGNOSTICS n = ROW_COUNT;
  PERFORM ${S}.number_fence_change();
  RETURN n;
END
$fn$`,
      `SELECT set_config('citus.enable_ddl_propagation', 'on', true)`,
    ],
  },
];

/** The statements of a schema step, in order, on a database with Citus (`citus`) or without. */
export function stepStatements(step: SchemaStep, citus = false): readonly string[] {
  return [...(typeof step.sql === 'string' ? [step.sql] : step.sql), ...(citus ? (step.citus ?? []) : [])];
}

export const CREATE_SCHEMA_SQL = `CREATE SCHEMA IF NOT EXISTS ${S};
CREATE TABLE IF NOT EXISTS ${S}.schema_version (
  version    integer PRIMARY KEY,
  name       text NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * The refusal both trigger functions raise, for customer `c` and its fence row `f` (PL/pgSQL
 * variables of theirs). fenceRefusal() parses what it says.
 */
/** The words of the refusal's message for each role (REFUSE_SQL's CASE is made of them; fenceRefusal() compares). */
const ROLE_WORDS: Readonly<Record<FenceRole, string>> = { Fenced: 'fenced for a move', MovedOut: 'moved out', MovingIn: 'being moved in' };

const REFUSE_SQL = `RAISE EXCEPTION USING
    ERRCODE = '${FENCE_SQLSTATE}',
    MESSAGE = format('customer %s is %s in this cell by migration %s: ask the router again', c,
                     CASE f.role ${Object.entries(ROLE_WORDS).map(([role, words]) => `WHEN '${role}' THEN '${words}'`).join(' ')} END, f.migration),
    DETAIL = format('customer=%s migration=%s fence=%s', c, f.migration, f.role),
    HINT = 'ask the router again (GET /v1/routes/{customer}) and write to the cell it names';`;

/** The trigger function for one tenant column (the column is baked in: NEW.col, no per-row jsonb). */
export function fenceFunctionName(tenantColumn: string): string {
  return `fence_${createHash('sha256').update(tenantColumn).digest('hex').slice(0, 16)}`;
}

function qualifiedFunction(tenantColumn: string): string {
  return `${S}.${escapeIdentifier(fenceFunctionName(tenantColumn))}`;
}

/**
 * The row trigger's function (updates and deletes since step 4; inserts too while a table still has
 * the v3 trigger, during an upgrade). Fast path (no fence on the customer): one shared per-customer
 * transaction-level advisory lock, one primary-key probe, and, once the transaction has written,
 * the customer remembered as passed for the rest of the transaction (PASSED_SETTING): its next
 * rows return at the first lines (since step 8 deletes and updates that keep the row's customer too,
 * not only inserts: a cleanup's delete of a page of rows paid the lock and the lookup for each). The
 * lock comes first, so a write that waited for a fence reads the committed fence row afterwards (READ
 * COMMITTED takes a new snapshot per statement). Pure SQL, no cross-node state beyond
 * `fenced_customers` (a reference table on Citus, so a worker sees it locally). The move's own writer
 * (MOVER_SETTING) is remembered too. An update that moves a row to another customer is checked for
 * both, always.
 */
export function fenceFunctionSql(tenantColumn: string): string {
  const col = escapeIdentifier(tenantColumn);
  const fn = qualifiedFunction(tenantColumn);
  return `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  c text;
  f record;
  pass int := 1;
  v text;
BEGIN
  -- The customer passed already in this transaction (its lock is held: no fence of it can commit
  -- before the end): an insert, an update that keeps the row's customer, a delete return at once.
  -- Few expressions (in a VOLATILE function each costs a snapshot); OLD only where it is a row.
  IF TG_OP = 'DELETE' THEN
    IF NULLIF(current_setting('${PASSED_SETTING}', true), '') = OLD.${col}::text THEN RETURN OLD; END IF;
  ELSIF NULLIF(current_setting('${PASSED_SETTING}', true), '') = NEW.${col}::text THEN
    IF TG_OP = 'INSERT' THEN RETURN NEW; END IF;
    IF OLD.${col} IS NOT DISTINCT FROM NEW.${col} THEN RETURN NEW; END IF;
  END IF;
  LOOP
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND pass = 2) THEN c := OLD.${col}::text; ELSE c := NEW.${col}::text; END IF;
    v := pg_advisory_xact_lock_shared(${CUSTOMER_LOCK_CLASS}, hashtext(c))::text; -- an expression: PERFORM would run a query
    SELECT fc.role, fc.migration INTO f FROM ${S}.fenced_customers fc WHERE fc.customer_id = c;
    IF FOUND THEN
      IF current_setting('${MOVER_SETTING}', true) IS DISTINCT FROM f.migration THEN
        ${REFUSE_SQL}
      END IF;
      -- The move's own writer, past its own migration's fence: remembered like any writer that
      -- passed (the fence cannot change under the lock it holds), so a page's later rows pass at
      -- the first line instead of paying the lock and the lookup each.
      IF pg_current_xact_id_if_assigned() IS NOT NULL THEN v := set_config('${PASSED_SETTING}', c, true); END IF;
    ELSE
      IF current_setting('transaction_isolation') <> 'read committed' THEN
        -- A separate statement: a READ COMMITTED writer never plans it (a node that lacks the
        -- sequence would otherwise fail every write).
        IF (SELECT generation FROM ${S}.fence_state) < (SELECT last_value FROM ${S}.fence_generation) THEN
          RAISE EXCEPTION USING
            ERRCODE = '40001',
            MESSAGE = format('the write fences of this cell changed after this transaction''s snapshot was taken (customer %s): retry the transaction', c);
        END IF;
      END IF;
      -- Only once the transaction has written (its second row, typically): setting a GUC costs a
      -- walk over all of them at commit, which a one-row transaction would pay for nothing.
      IF pg_current_xact_id_if_assigned() IS NOT NULL THEN v := set_config('${PASSED_SETTING}', c, true); END IF;
    END IF;
    EXIT WHEN NOT (TG_OP = 'UPDATE' AND pass = 1 AND OLD.${col} IS DISTINCT FROM NEW.${col});
    pass := 2;
  END LOOP;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END
$fn$`;
}

/** The insert-checking statement function for one tenant column. */
export function fenceInsertFunctionName(tenantColumn: string): string {
  return `fence_insert_${createHash('sha256').update(tenantColumn).digest('hex').slice(0, 16)}`;
}

/**
 * The statement function that checks a statement's inserts (FENCE_INSERT_TRIGGER), after the rows
 * are written and before the statement ends, in two queries whatever the statement's rows and
 * customers (schema step 6): the customers among the new rows, each taking its shared per-customer
 * lock as it is found; then, in the next query's snapshot (READ COMMITTED takes one per statement,
 * so a fence the lock waited for is seen), the first of their fence rows that is not the move's own
 * (MOVER_SETTING), which refuses the whole statement, whose rows go with it. The locks are held to
 * the end of the transaction, as the row trigger's are, so no fence of these customers commits
 * before it ends. A COPY of a million rows pays the two queries once, and keeps PostgreSQL's
 * multi-row inserts; a batch of a hundred customers pays two queries, not two hundred.
 */
export function fenceInsertFunctionSql(tenantColumn: string): string {
  const col = escapeIdentifier(tenantColumn);
  const fn = `${S}.${escapeIdentifier(fenceInsertFunctionName(tenantColumn))}`;
  // Each customer's fence row by its key (LIMIT 1 keeps the subquery a nested loop over the
  // customers: a generic plan of "= ANY(customers)" reads the whole fence table).
  const fenceRows = (where: string) => `FROM unnest(customers) u(customer_id)
    CROSS JOIN LATERAL (SELECT fc.role, fc.migration FROM ${S}.fenced_customers fc WHERE fc.customer_id = u.customer_id LIMIT 1) f1 ${where}`;
  return `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  customers text[];
  c text;
  f record;
  unfenced boolean;
BEGIN
  -- The statement's customers, each locked as it is found, from its new rows alone: on a Citus
  -- worker a query that joins the transition table to the fence's (reference) table is refused by
  -- Citus's planner. (A volatile condition is not pushed below the DISTINCT: one lock a customer.)
  customers := ARRAY(SELECT d.c FROM (SELECT DISTINCT n.${col}::text AS c FROM ${NEW_ROWS} n) d
                      WHERE pg_advisory_xact_lock_shared(${CUSTOMER_LOCK_CLASS}, hashtext(d.c))::text IS NOT NULL);
  IF cardinality(customers) = 0 THEN RETURN NULL; END IF; -- nothing inserted (ON CONFLICT DO NOTHING, an empty SELECT)
  -- Then their fence rows, in a snapshot taken after every lock: the first one that is not the
  -- move's own refuses. One customer (a COPY of a move, a batch of one writer) by its key alone.
  IF cardinality(customers) = 1 THEN
    c := customers[1];
    SELECT fc.role, fc.migration INTO f FROM ${S}.fenced_customers fc WHERE fc.customer_id = c;
    unfenced := NOT FOUND;
    IF FOUND AND current_setting('${MOVER_SETTING}', true) IS DISTINCT FROM f.migration THEN
      ${REFUSE_SQL}
    END IF;
  ELSE
    SELECT u.customer_id, f1.role, f1.migration INTO f
      ${fenceRows(`WHERE f1.migration IS DISTINCT FROM current_setting('${MOVER_SETTING}', true) LIMIT 1`)};
    IF FOUND THEN
      c := f.customer_id;
      ${REFUSE_SQL}
    END IF;
    unfenced := true; -- counted below, only where it matters
  END IF;
  IF unfenced AND current_setting('transaction_isolation') <> 'read committed' THEN
    -- A snapshot older than a fence change may have missed the fence row of a customer that has
    -- none in it: the writer retries (see fence_state). As in the row trigger.
    IF (SELECT count(*) ${fenceRows('')}) < cardinality(customers)
       AND (SELECT generation FROM ${S}.fence_state) < (SELECT last_value FROM ${S}.fence_generation) THEN
      RAISE EXCEPTION USING
        ERRCODE = '40001',
        MESSAGE = 'the write fences of this cell changed after this transaction''s snapshot was taken: retry the transaction';
    END IF;
  END IF;
  RETURN NULL;
END
$fn$`;
}

export function tableRef(schema: string, table: string): string {
  return `${escapeIdentifier(schema)}.${escapeIdentifier(table)}`;
}

/**
 * The statements that put the fence's triggers on one tenant table, replacing any earlier form (a
 * v3 row trigger that also checked inserts, or one calling another column's function), in the
 * caller's transaction: no moment without a fence. CREATE TRIGGER takes a short SHARE ROW EXCLUSIVE
 * lock: only when missing. A partitioned table keeps the row trigger for inserts too: PostgreSQL
 * clones a row trigger onto every partition (present and future) but not a statement trigger, and
 * a writer may insert into a partition directly.
 */
export function createTriggerSql(schema: string, table: string, tenantColumn: string, partitioned = false): string[] {
  // One statement each: Citus propagates a trigger's DDL to the shards statement by statement.
  const t = tableRef(schema, table);
  const drop = [`DROP TRIGGER IF EXISTS ${escapeIdentifier(FENCE_TRIGGER)} ON ${t}`, `DROP TRIGGER IF EXISTS ${escapeIdentifier(FENCE_INSERT_TRIGGER)} ON ${t}`];
  const row = (events: string) => `CREATE TRIGGER ${escapeIdentifier(FENCE_TRIGGER)} BEFORE ${events} ON ${t}
  FOR EACH ROW EXECUTE FUNCTION ${qualifiedFunction(tenantColumn)}()`;
  if (partitioned) return [...drop, row('INSERT OR UPDATE OR DELETE')];
  return [
    ...drop,
    row('UPDATE OR DELETE'),
    `CREATE TRIGGER ${escapeIdentifier(FENCE_INSERT_TRIGGER)} AFTER INSERT ON ${t} REFERENCING NEW TABLE AS ${NEW_ROWS}
  FOR EACH STATEMENT EXECUTE FUNCTION ${S}.${escapeIdentifier(fenceInsertFunctionName(tenantColumn))}()`,
  ];
}

/**
 * Which tables carry the fence's triggers in their current form for this column, in schema $2,
 * enabled: a plain table the row trigger on updates and deletes only ($1, calling $3) and the
 * insert trigger ($4, calling $5); a partitioned table the row trigger on inserts too.
 * (pg_trigger.tgtype bit 4 is INSERT.) From the triggers by name, their functions by signature
 * (to_regprocedure): planned in about a third of the time of a scan of the tables joined to
 * triggers, functions and schemas, which a move's Prepare paid on both cells (0.3 against 0.9 ms).
 */
export const TRIGGERED_TABLES_SQL = `SELECT n.nspname AS schema, c.relname AS table
  FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE t.tgname = $1 AND t.tgfoid = to_regprocedure(quote_ident($2) || '.' || quote_ident($3) || '()')
   AND NOT t.tgisinternal AND t.tgenabled <> 'D' AND ((t.tgtype & 4) = 0) = (c.relkind <> 'p')
   AND (c.relkind = 'p' OR EXISTS (SELECT 1 FROM pg_trigger i
                WHERE i.tgrelid = c.oid AND i.tgname = $4 AND i.tgfoid = to_regprocedure(quote_ident($2) || '.' || quote_ident($5) || '()')
                  AND NOT i.tgisinternal AND i.tgenabled <> 'D'))`;

/** The parameters of TRIGGERED_TABLES_SQL for a tenant column. */
export function triggeredTablesParams(tenantColumn: string): string[] {
  return [FENCE_TRIGGER, FENCE_SCHEMA, fenceFunctionName(tenantColumn), FENCE_INSERT_TRIGGER, fenceInsertFunctionName(tenantColumn)];
}

// A fence change is numbered last, just before its commit, in commit order: fence_state's row lock
// first (a change that holds it commits before the next one reads), then the new number (above both
// the committed one and the sequence, which a change that rolled back may have moved up), written,
// and the sequences moved up to it (on Citus as a constant, by number_fence_change(): Citus refuses
// volatile functions such as nextval() in a write to a reference table; every node's copy of the
// sequence by schema step 7's trigger). So every change committed after a snapshot has a number
// above the snapshot's and the sequence is at least that number before the change commits: a
// REPEATABLE READ writer whose snapshot predates it sees generation < last_value.

/** The statement that sets the fences of escaped `customers` (one row each; on Citus one distributed write). */
function setFencesSql(customers: readonly string[], migration: string, role: string): string {
  return `INSERT INTO ${S}.fenced_customers (customer_id, migration, role, since)
VALUES ${customers.map((c) => `(${c}, ${migration}, ${role}, now())`).join(', ')}
ON CONFLICT (customer_id) DO UPDATE SET migration = EXCLUDED.migration, role = EXCLUDED.role,
  since = CASE WHEN ${S}.fenced_customers.role = EXCLUDED.role THEN ${S}.fenced_customers.since ELSE EXCLUDED.since END`;
}

/** The statement that lifts a migration's fences of escaped `customers`, as setFencesSql. */
function liftFenceSql(customers: readonly string[], migration: string): string {
  const which = customers.length === 1 ? `= ${customers[0]}` : `IN (${customers.join(', ')})`;
  return `DELETE FROM ${S}.fenced_customers WHERE customer_id ${which} AND migration = ${migration}`;
}

/** Transaction-local: whether fenceChangeSql's lift deleted a fence row (then, only then, the change is numbered). */
const LIFTED_SETTING = 'cell_operator.lifted';

/**
 * A lift of escaped `customers` that remembers whether it deleted a fence row, and the condition
 * that numbers the change only then (a number raised for nothing would only make REPEATABLE READ
 * writers retry).
 */
function liftRememberedSql(customers: readonly string[], migration: string): { lift: string; numbered: string } {
  return {
    lift: `WITH d AS (${liftFenceSql(customers, migration)} RETURNING 1)
SELECT set_config('${LIFTED_SETTING}', (count(*) > 0)::text, true) FROM d`,
    numbered: ` WHERE current_setting('${LIFTED_SETTING}') = 'true'`,
  };
}

/** Numbers a change on plain PostgreSQL: last, under fence_state's row lock, above both the committed number and the sequence. */
function numberChangeSql(numbered: string): string[] {
  return [
    `UPDATE ${S}.fence_state SET generation = generation${numbered}`,
    `WITH g AS (UPDATE ${S}.fence_state SET generation = GREATEST(generation, (SELECT last_value FROM ${S}.fence_generation)) + 1${numbered} RETURNING generation)
SELECT setval('${FENCE_SCHEMA}.fence_generation', GREATEST(g.generation, (SELECT last_value FROM ${S}.fence_generation))) FROM g`,
  ];
}

/**
 * A fence change: the owners checked (one move's, or every member's of a batch), the drain's
 * bound, the fences of some customers of one migration set or lifted (or neither: only numbered).
 */
export interface FenceChange {
  owners?: readonly MoveOwner[];
  drainMs?: number;
  set?: { customers: readonly string[]; migration: string; role: FenceRole };
  lift?: { customers: readonly string[]; migration: string };
}

/**
 * A fence change as messages of statements (the simple query protocol; its values are escaped
 * literals, such a message takes no parameters), in the order of the steps above: every owner
 * checked first, then the drain's settings, the fence rows (one statement for all the customers),
 * fence_state's row lock, and the number (the committed one and the sequence read after that
 * lock, one statement per step: in READ COMMITTED each statement of the message takes a snapshot
 * of its own). The customers' drains run row by row against one bound, `drainMs` after the
 * statement arrived (schema step 9): they end within `drainMs` in all, and each customer's writers
 * have what is left of it (all of it for the first); the numbering waits under the whole bound.
 *
 * Without Citus: one message, one round trip. On Citus (`citus`): the number is drawn by
 * number_fence_change() (schema step 7; it writes it as a constant, and every node's trigger moves its
 * sequence up), a lift is lift_fences() (which deletes and numbers only when there is a fence), and a change that drains takes three messages: Citus sends a propagated `SET`'s whole
 * query string to the workers of the transaction (a BEGIN in it would warn there, an own_move fail),
 * so the drain's settings go alone, between the BEGIN with the owner checks and the rest.
 */
export function fenceChangeSql(change: FenceChange, options: { citus?: boolean } = {}): string[] {
  const settings = change.drainMs !== undefined ? drainSettingsSql(change.drainMs) : undefined;
  const first = ['BEGIN', ...(change.owners ?? []).map(ownMoveSql)];
  const rest: string[] = [];
  let numbered = '';
  const set = change.set && change.set.customers.length > 0 ? change.set : undefined;
  const lift = change.lift && change.lift.customers.length > 0 ? change.lift : undefined;
  if (set) {
    if (!Object.hasOwn(ROLE_WORDS, set.role)) throw new Error(`unknown fence role ${JSON.stringify(set.role)}`);
    // Once each: a row twice in one INSERT … ON CONFLICT DO UPDATE is an error.
    rest.push(setFencesSql([...new Set(set.customers)].map((c) => escapeLiteral(c)), escapeLiteral(set.migration), escapeLiteral(set.role)));
  }
  if (lift) {
    const customers = [...new Set(lift.customers)].map((c) => escapeLiteral(c));
    if (options.citus && !set) {
      // Read first, deleted and numbered only when there is a fence: on Citus a DELETE that finds
      // nothing is still a distributed transaction with every worker.
      rest.push(`SELECT ${S}.lift_fences(ARRAY[${customers.join(', ')}]::text[], ${escapeLiteral(lift.migration)})`, 'COMMIT');
      return [[...first, ...rest].join(';\n')];
    }
    if (set) rest.push(liftFenceSql(customers, escapeLiteral(lift.migration))); // numbered for the set anyway
    else {
      // A lift that finds no fence of this migration changes nothing, and is not numbered.
      const lifted = liftRememberedSql(customers, escapeLiteral(lift.migration));
      rest.push(lifted.lift);
      numbered = lifted.numbered;
    }
  }
  if (options.citus) {
    rest.push(`SELECT ${S}.number_fence_change()`, 'COMMIT');
    return settings === undefined ? [[...first, ...rest].join(';\n')] : [first.join(';\n'), settings, rest.join(';\n')];
  }
  rest.push(...numberChangeSql(numbered));
  return [[...first, ...(settings === undefined ? [] : [settings]), ...rest, 'COMMIT'].join(';\n')];
}

/**
 * `SET LOCAL`s of a fence that drains: carried to the Citus workers of the transaction (where the
 * drain trigger of fenced_customers runs), bounded by the lock timeout, and the bound the drains
 * of one statement share (DRAIN_BOUND_SETTING).
 */
export function drainSettingsSql(ms: number): string {
  const bound = Math.max(1, Math.round(ms));
  return `SET LOCAL citus.propagate_set_commands = 'local'; ${lockTimeoutSql(ms)}; SET LOCAL ${DRAIN_SETTING} = 'on'; SET LOCAL ${DRAIN_BOUND_SETTING} = '${bound}'`;
}

export const READ_FENCE_SQL = `SELECT migration, role, since FROM ${S}.fenced_customers WHERE customer_id = $1`;

/** `SET LOCAL lock_timeout`: a bound in milliseconds (at least 1: 0 would mean no bound). */
export function lockTimeoutSql(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) throw new Error(`lock timeout must be a non-negative number of milliseconds, got ${ms}`);
  return `SET LOCAL lock_timeout = ${escapeLiteral(`${Math.max(1, Math.round(ms))}ms`)}`;
}

/** The operator owning a move, for its cell transactions: the epoch of the lock it holds (see schema step 5). */
export interface MoveOwner {
  migration: string;
  customer: string;
  /** A decimal number (a control-plane transaction id: it grows with every lock taken). */
  epoch: string;
}

/** The move's writer: its migration alone (passes the fence), or with its owner (checked against the cell's owner epoch). */
export type Mover = string | MoveOwner;

/** `SELECT own_move(…)`: refuses this transaction (ZF002) unless `owner` is the newest owner the cell knows of the move. */
export function ownMoveSql(owner: MoveOwner): string {
  if (!/^[0-9]+$/.test(owner.epoch)) throw new Error(`an owner epoch is a number, got ${JSON.stringify(owner.epoch)}`);
  return `SELECT ${S}.own_move(${escapeLiteral(owner.migration)}, ${escapeLiteral(owner.customer)}, ${owner.epoch})`;
}

/**
 * The owner claim (ownMove) as one message: a transaction of its own, bounded by `lockMs` (the wait
 * for an earlier owner's transaction in flight), whose only statement is own_move.
 */
export function claimMoveSql(owner: MoveOwner, lockMs: number): string {
  return ['BEGIN', lockTimeoutSql(lockMs), ownMoveSql(owner), 'COMMIT'].join(';\n');
}

/**
 * `SET LOCAL cell_operator.move = <migration>`: this transaction's writes belong to the move. An
 * owner's transaction runs ownMoveSql first, as a query of its own: Citus replays the whole query
 * string of a propagated SET on the workers, where own_move must not run.
 */
export function moverSql(mover: Mover): string {
  const migration = typeof mover === 'string' ? mover : mover.migration;
  // On Citus the trigger runs on the workers: propagate_set_commands = 'local' carries the SET LOCAL
  // to their connections of this transaction. (On plain PostgreSQL it is an unused placeholder.)
  return `SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL ${MOVER_SETTING} = ${escapeLiteral(migration)}`;
}


/** The message the trigger raises for a refusal (fenceFunctionSql's format()). */
export function refusalMessage(customer: string, migration: string, role: FenceRole): string {
  return `customer ${customer} is ${ROLE_WORDS[role]} in this cell by migration ${migration}: ask the router again`;
}

const REFUSAL_DETAIL = /^customer=(.*) migration=(.*) fence=(Fenced|MovedOut|MovingIn)$/;

/**
 * SQLSTATEs under which a layer between the writer and the trigger reports the worker's error with
 * its message and DETAIL intact but its code replaced: Citus's COPY into the shards (an
 * `INSERT … SELECT`, a COPY) says XX000 (multi_copy.c ReportCopyError).
 */
const RELAYED_SQLSTATES: ReadonlySet<string> = new Set(['XX000']);

/**
 * The fields of a fence refusal, parsed from the error's DETAIL; undefined when it is not one. Ours
 * is ZF001 with a `customer=… migration=… fence=…` DETAIL; relayed by Citus it is XX000 with the
 * same DETAIL, and then only when the message is the trigger's own for those very fields (an
 * unrelated internal error never carries it).
 */
export function fenceRefusal(err: unknown): { customer: string; migration: string; role: FenceRole } | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, detail, message } = err as { code?: unknown; detail?: unknown; message?: unknown };
  if (typeof code !== 'string' || (code !== FENCE_SQLSTATE && !RELAYED_SQLSTATES.has(code))) return undefined;
  const m = REFUSAL_DETAIL.exec(typeof detail === 'string' ? detail : '');
  if (!m) return undefined;
  const refusal = { customer: m[1] as string, migration: m[2] as string, role: m[3] as FenceRole };
  if (code !== FENCE_SQLSTATE && !(typeof message === 'string' && message.includes(refusalMessage(refusal.customer, refusal.migration, refusal.role)))) return undefined;
  return refusal;
}
