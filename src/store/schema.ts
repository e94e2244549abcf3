// The control-plane database schema, as an ordered list of migrations. An applied migration is
// never edited (its checksum is checked at start): change the schema by appending a new one.
//
// Invariants the SQL below keeps, whoever writes (store functions, the migration engine, psql):
// - every write to `placements` draws its `version` from `routing_version_seq` while holding the
//   routing write lock (a transaction-scoped advisory lock), so versions become visible in commit
//   order: a reader that has seen version v has seen every version below v. That is what lets the
//   router and gateways follow changes by `version > cursor` without ever missing one.
// - `cells.customers` / `cells.devices` equal the count / sum of the cell's placements, kept by
//   statement-level triggers in the same transaction (one UPDATE per cell per statement, so bulk
//   inserts stay cheap), and a cell is never pushed over `max_customers` (counting `reserved`).
// - every change to `placements` sends NOTIFY cell_operator_routes (payload: the version), every
//   change to a cell's description NOTIFY cell_operator_cells (payload: the cell name).

/** Advisory-lock namespace of the operator: 0x63656c6c = 'cell'. */
export const ADVISORY_LOCK_CLASS = 0x63656c6c;
/** Held (session-scoped) while applying schema migrations. */
export const SCHEMA_LOCK_ID = 1;
/** Held (transaction-scoped) by every transaction that writes placements. */
export const ROUTING_WRITE_LOCK_ID = 2;

export const ROUTES_CHANNEL = 'cell_operator_routes';
export const CELLS_CHANNEL = 'cell_operator_cells';

export interface SchemaMigration {
  version: number;
  name: string;
  sql: string;
}

const routingTable = `
CREATE SEQUENCE routing_version_seq AS bigint;

CREATE TABLE cells (
  name          text PRIMARY KEY,
  region        text NOT NULL,
  state         text NOT NULL CHECK (state IN ('Active', 'Cordoned', 'Draining')),
  ready         boolean NOT NULL DEFAULT false,
  weight        integer NOT NULL DEFAULT 100 CHECK (weight >= 0),
  max_customers bigint NOT NULL CHECK (max_customers >= 0),
  customers     bigint NOT NULL DEFAULT 0 CHECK (customers >= 0),
  reserved      bigint NOT NULL DEFAULT 0 CHECK (reserved >= 0),
  max_devices   bigint CHECK (max_devices >= 0),
  devices       bigint NOT NULL DEFAULT 0 CHECK (devices >= 0),
  endpoints     jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(endpoints) = 'object'),
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now()
);
COMMENT ON COLUMN cells.customers IS 'exact count of placements in this cell, kept by triggers on placements';
COMMENT ON COLUMN cells.reserved IS 'capacity held by migrations in flight towards this cell';

-- The grammar is the one of src/store/customer-id.ts (a lowercase DNS subdomain of 1-63 chars).
CREATE TABLE placements (
  customer_id      text COLLATE "C" PRIMARY KEY
                   CHECK (length(customer_id) BETWEEN 1 AND 63
                          AND customer_id ~ '^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$'
                          AND customer_id <> 'changes'),
  region           text,
  cell             text NOT NULL REFERENCES cells (name) ON UPDATE RESTRICT ON DELETE RESTRICT,
  state            text NOT NULL DEFAULT 'Active' CHECK (state IN ('Active', 'Fenced')),
  epoch            bigint NOT NULL DEFAULT 1 CHECK (epoch >= 1),
  expected_devices bigint NOT NULL DEFAULT 0 CHECK (expected_devices >= 0),
  labels           jsonb NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(labels) = 'object'),
  version          bigint NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now(),
  updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX placements_version_idx ON placements (version);
CREATE INDEX placements_cell_idx ON placements (cell);
CREATE INDEX placements_labels_idx ON placements USING gin (labels jsonb_path_ops);

-- Deleted customers, so that the change feed can say so (nothing in the operator deletes one).
CREATE TABLE placement_tombstones (
  customer_id text COLLATE "C" PRIMARY KEY,
  version     bigint NOT NULL,
  deleted_at  timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX placement_tombstones_version_idx ON placement_tombstones (version);

CREATE FUNCTION placements_stamp_version() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock(${ADVISORY_LOCK_CLASS}, ${ROUTING_WRITE_LOCK_ID});
  NEW.version := nextval('routing_version_seq');
  IF TG_OP = 'UPDATE' THEN
    NEW.updated_at := now();
  END IF;
  RETURN NEW;
END
$fn$;
CREATE TRIGGER placements_stamp_version BEFORE INSERT OR UPDATE ON placements
  FOR EACH ROW EXECUTE FUNCTION placements_stamp_version();

CREATE FUNCTION placements_tombstone() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_advisory_xact_lock(${ADVISORY_LOCK_CLASS}, ${ROUTING_WRITE_LOCK_ID});
  INSERT INTO placement_tombstones (customer_id, version)
    VALUES (OLD.customer_id, nextval('routing_version_seq'))
    ON CONFLICT (customer_id) DO UPDATE SET version = EXCLUDED.version, deleted_at = now();
  RETURN OLD;
END
$fn$;
CREATE TRIGGER placements_tombstone AFTER DELETE ON placements
  FOR EACH ROW EXECUTE FUNCTION placements_tombstone();

-- Applies per-cell deltas (one row per cell) and refuses to push a cell over max_customers.
CREATE FUNCTION cells_apply_deltas(deltas jsonb) RETURNS void LANGUAGE plpgsql AS $fn$
DECLARE
  r record;
BEGIN
  FOR r IN
    UPDATE cells c
       SET customers = c.customers + d.n, devices = c.devices + d.dev
      FROM jsonb_to_recordset(deltas) AS d(cell text, n bigint, dev bigint)
     WHERE c.name = d.cell
    RETURNING c.name, c.customers, c.reserved, c.max_customers, d.n
  LOOP
    IF r.n > 0 AND r.customers + r.reserved > r.max_customers THEN
      RAISE EXCEPTION 'cell % is full (% customers + % reserved > max %)',
        r.name, r.customers - r.n, r.reserved, r.max_customers
        USING ERRCODE = 'check_violation', CONSTRAINT = 'cells_capacity';
    END IF;
  END LOOP;
END
$fn$;

CREATE FUNCTION placements_count_insert() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM cells_apply_deltas(
    (SELECT coalesce(jsonb_agg(jsonb_build_object('cell', cell, 'n', n, 'dev', dev) ORDER BY cell), '[]')
       FROM (SELECT cell, count(*) AS n, sum(expected_devices) AS dev FROM new_rows GROUP BY cell) g));
  RETURN NULL;
END
$fn$;
CREATE FUNCTION placements_count_update() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM cells_apply_deltas(
    (SELECT coalesce(jsonb_agg(jsonb_build_object('cell', cell, 'n', n, 'dev', dev) ORDER BY cell), '[]')
       FROM (SELECT cell, sum(n) AS n, sum(dev) AS dev
               FROM (SELECT cell, 1 AS n, expected_devices AS dev FROM new_rows
                     UNION ALL
                     SELECT cell, -1, -expected_devices FROM old_rows) x
              GROUP BY cell
             HAVING sum(n) <> 0 OR sum(dev) <> 0) g));
  RETURN NULL;
END
$fn$;
CREATE FUNCTION placements_count_delete() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM cells_apply_deltas(
    (SELECT coalesce(jsonb_agg(jsonb_build_object('cell', cell, 'n', -n, 'dev', -dev) ORDER BY cell), '[]')
       FROM (SELECT cell, count(*) AS n, sum(expected_devices) AS dev FROM old_rows GROUP BY cell) g));
  RETURN NULL;
END
$fn$;
CREATE TRIGGER placements_count_insert AFTER INSERT ON placements
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION placements_count_insert();
CREATE TRIGGER placements_count_update AFTER UPDATE ON placements
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION placements_count_update();
CREATE TRIGGER placements_count_delete AFTER DELETE ON placements
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION placements_count_delete();

CREATE FUNCTION placements_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  -- Under the routing write lock the sequence's last value is this transaction's newest version.
  PERFORM pg_notify('${ROUTES_CHANNEL}', (SELECT last_value FROM routing_version_seq)::text);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER placements_notify AFTER INSERT OR UPDATE OR DELETE ON placements
  FOR EACH STATEMENT EXECUTE FUNCTION placements_notify();

CREATE FUNCTION cells_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
  PERFORM pg_notify('${CELLS_CHANNEL}', CASE WHEN TG_OP = 'DELETE' THEN OLD.name ELSE NEW.name END);
  RETURN NULL;
END
$fn$;
CREATE TRIGGER cells_notify_insert_delete AFTER INSERT OR DELETE ON cells
  FOR EACH ROW EXECUTE FUNCTION cells_notify();
-- Counter updates do not notify: nothing downstream of the router depends on them.
CREATE TRIGGER cells_notify_update AFTER UPDATE ON cells
  FOR EACH ROW
  WHEN ((OLD.region, OLD.state, OLD.ready, OLD.weight, OLD.max_customers, OLD.max_devices, OLD.endpoints)
        IS DISTINCT FROM (NEW.region, NEW.state, NEW.ready, NEW.weight, NEW.max_customers, NEW.max_devices, NEW.endpoints))
  EXECUTE FUNCTION cells_notify();
`;

// Tables of the migration engine (issue 6): one journal row per customer move, its per-table
// progress, and the history of failures. Filled by src/data/ and the Migration controller.
const migrationJournal = `
CREATE TABLE migration_journal (
  migration     text NOT NULL,
  customer_id   text COLLATE "C" NOT NULL,
  source_cell   text NOT NULL,
  target_cell   text NOT NULL,
  state         text NOT NULL DEFAULT 'Pending'
                CHECK (state IN ('Pending', 'Copying', 'CatchingUp', 'Fenced', 'FinalSync', 'Verifying',
                                 'CutOver', 'Cleanup', 'Done', 'Failed', 'RollingBack', 'RolledBack')),
  step          integer NOT NULL DEFAULT 0,
  attempt       integer NOT NULL DEFAULT 0,
  source_epoch  bigint,
  rows_copied   bigint NOT NULL DEFAULT 0,
  bytes_copied  bigint NOT NULL DEFAULT 0,
  fenced_at     timestamptz,
  cut_over_at   timestamptz,
  cleanup_after timestamptz,
  last_error    text,
  started_at    timestamptz,
  finished_at   timestamptz,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (migration, customer_id),
  CHECK (source_cell <> target_cell)
);
CREATE INDEX migration_journal_state_idx ON migration_journal (migration, state);
-- A customer is in at most one unfinished move at a time.
CREATE UNIQUE INDEX migration_journal_one_open_move_idx ON migration_journal (customer_id)
  WHERE state NOT IN ('Done', 'Failed', 'RolledBack');
CREATE INDEX migration_journal_cleanup_idx ON migration_journal (cleanup_after) WHERE state = 'Cleanup';

CREATE TABLE migration_table_progress (
  migration       text NOT NULL,
  customer_id     text COLLATE "C" NOT NULL,
  table_name      text NOT NULL,
  phase           text NOT NULL CHECK (phase IN ('Copy', 'CatchUp', 'FinalSync', 'Verify', 'Cleanup')),
  last_key        jsonb,
  watermark       text,
  rows_copied     bigint NOT NULL DEFAULT 0,
  source_rows     bigint,
  target_rows     bigint,
  source_checksum text,
  target_checksum text,
  done            boolean NOT NULL DEFAULT false,
  updated_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (migration, customer_id, table_name),
  FOREIGN KEY (migration, customer_id) REFERENCES migration_journal (migration, customer_id) ON DELETE CASCADE
);
COMMENT ON COLUMN migration_table_progress.last_key IS 'primary key values of the last page committed on the target (keyset position)';

CREATE TABLE migration_failures (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  migration   text NOT NULL,
  customer_id text COLLATE "C" NOT NULL,
  state       text NOT NULL,
  reason      text NOT NULL,
  message     text NOT NULL,
  at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX migration_failures_recent_idx ON migration_failures (migration, at DESC);
`;

// Columns the per-customer move engine (src/data/) needs: the direction of a move (Reverse = an
// abort moving the customer back), the abort request, the cell holding a capacity reservation, the
// catch-up round, and per table the keyset positions that make every step re-runnable.
const moveEngineProgress = `
ALTER TABLE migration_journal
  ADD COLUMN direction          text NOT NULL DEFAULT 'Forward' CHECK (direction IN ('Forward', 'Reverse')),
  ADD COLUMN abort_requested_at timestamptz,
  ADD COLUMN failure_reason     text,
  ADD COLUMN reserved_cell      text,
  ADD COLUMN state_entered_at   timestamptz NOT NULL DEFAULT now(),
  ADD COLUMN catch_up_round     integer NOT NULL DEFAULT 0,
  ADD COLUMN round_rows         bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN migration_journal.direction IS 'Reverse: an abort after cut-over, moving the customer from target_cell back to source_cell';
COMMENT ON COLUMN migration_journal.reserved_cell IS 'cell whose cells.reserved this move holds (released at cut-over or failure)';

ALTER TABLE migration_table_progress
  ADD COLUMN position          integer NOT NULL DEFAULT 0,
  ADD COLUMN mode              text NOT NULL DEFAULT 'Mutable' CHECK (mode IN ('Mutable', 'AppendOnly')),
  ADD COLUMN cursor_columns    jsonb NOT NULL DEFAULT '[]'::jsonb,
  ADD COLUMN time_cursor       boolean NOT NULL DEFAULT false,
  ADD COLUMN caught_up         boolean NOT NULL DEFAULT false,
  ADD COLUMN resynced          boolean NOT NULL DEFAULT false,
  ADD COLUMN synced_key        jsonb,
  ADD COLUMN observed_key      jsonb,
  ADD COLUMN observed_at       timestamptz,
  ADD COLUMN settled_key       jsonb,
  ADD COLUMN settled_at        timestamptz,
  ADD COLUMN settled_fresh     boolean NOT NULL DEFAULT false,
  ADD COLUMN verified          boolean NOT NULL DEFAULT false,
  ADD COLUMN verified_key      jsonb,
  ADD COLUMN verified_rows     bigint,
  ADD COLUMN verified_checksum text,
  ADD COLUMN final_synced      boolean NOT NULL DEFAULT false,
  ADD COLUMN checked           boolean NOT NULL DEFAULT false,
  ADD COLUMN sweep_started     boolean NOT NULL DEFAULT false,
  ADD COLUMN sweep_key         jsonb,
  ADD COLUMN swept             boolean NOT NULL DEFAULT false,
  ADD COLUMN swept_rows        bigint NOT NULL DEFAULT 0,
  ADD COLUMN cleared           boolean NOT NULL DEFAULT false,
  ADD COLUMN bytes_copied      bigint NOT NULL DEFAULT 0;
COMMENT ON COLUMN migration_table_progress.synced_key IS 'every source row with a key up to here is on the target (rows above may still be missing)';
COMMENT ON COLUMN migration_table_progress.verified_key IS 'rows up to here were verified (count + checksum) before the fence';
`;

// The customers a Migration selected, frozen when it starts (in move order), so that a selection of
// 100k customers is computed once and counted in SQL, and a drain also picks up late arrivals.
const migrationSelection = `
CREATE TABLE migration_customers (
  migration   text NOT NULL,
  customer_id text COLLATE "C" NOT NULL,
  ordinal     bigint NOT NULL,
  region      text,
  PRIMARY KEY (migration, customer_id)
);
CREATE INDEX migration_customers_order_idx ON migration_customers (migration, ordinal);
`;

// Cleanup moves a table's source rows to the target batch by batch and passes again while late
// rows keep appearing; the passes are bounded (src/data/).
const moveSweepPasses = `
ALTER TABLE migration_table_progress ADD COLUMN sweep_passes integer NOT NULL DEFAULT 0;
`;

// The cordon a drain puts on its source cell (issue 6). It lives here, not in the Cell's spec,
// because the operator never writes a spec (Git is the truth): the Cell controller's upsert leaves
// these columns alone, placement treats a cordoned cell as not Active, and a change of the cordon
// notifies the cells channel like any change of the cell's description.
const drainCordon = `
ALTER TABLE cells
  ADD COLUMN cordoned_by text,
  ADD COLUMN cordoned_at timestamptz,
  ADD CONSTRAINT cells_cordon_complete CHECK ((cordoned_by IS NULL) = (cordoned_at IS NULL));
COMMENT ON COLUMN cells.cordoned_by IS 'the Migration (a drain) that holds this cell closed to new customers; NULL: no cordon';

DROP TRIGGER cells_notify_update ON cells;
CREATE TRIGGER cells_notify_update AFTER UPDATE ON cells
  FOR EACH ROW
  WHEN ((OLD.region, OLD.state, OLD.ready, OLD.weight, OLD.max_customers, OLD.max_devices, OLD.endpoints, OLD.cordoned_by)
        IS DISTINCT FROM (NEW.region, NEW.state, NEW.ready, NEW.weight, NEW.max_customers, NEW.max_devices, NEW.endpoints, NEW.cordoned_by))
  EXECUTE FUNCTION cells_notify();
`;

// Where a Migration stands in its steps (issue 11): the current step, when it started, and the
// phase last decided. The reconciler decides from this row, never from the Migration's status,
// which only mirrors it (a status can be lost, edited, or restored from a backup).
const migrationSteps = `
CREATE TABLE migration_steps (
  migration       text PRIMARY KEY,
  current_step    integer NOT NULL CHECK (current_step >= 0),
  step_started_at timestamptz NOT NULL,
  phase           text,
  started_at      timestamptz,
  completed_at    timestamptz,
  updated_at      timestamptz NOT NULL DEFAULT now()
);
`;

// The Kafka drain of a move under its fence (src/data/kafka-drain-state.ts): the end offsets
// recorded after the fence and the ingestion group's committed offsets, as one jsonb document.
const moveKafkaDrain = `
ALTER TABLE migration_journal ADD COLUMN kafka_drain jsonb CHECK (kafka_drain IS NULL OR jsonb_typeof(kafka_drain) = 'object');
COMMENT ON COLUMN migration_journal.kafka_drain IS 'the Kafka drain under the fence: topic, group, end offsets recorded after the fence, committed offsets last seen, times';
`;

// Measured size per customer (issue 19), sampled from the cells' databases so that a rebalance by
// rows or bytes is measured, not guessed: one row per customer, its latest sample (the size moves
// with the customer; `cell` says where it was measured), and per cell when and how it was sampled.
const customerSizes = `
CREATE TABLE customer_sizes (
  customer_id text COLLATE "C" PRIMARY KEY,
  cell        text NOT NULL,
  rows        bigint NOT NULL CHECK (rows >= 0),
  bytes       bigint NOT NULL CHECK (bytes >= 0),
  sampled_at  timestamptz NOT NULL
);
CREATE INDEX customer_sizes_cell_idx ON customer_sizes (cell);
COMMENT ON TABLE customer_sizes IS 'rows and bytes per customer in a cell database: exact below a bound, estimated from a TABLESAMPLE above it';

CREATE TABLE cell_size_samples (
  cell        text PRIMARY KEY,
  sampled_at  timestamptz NOT NULL,
  customers   bigint NOT NULL,
  rows        bigint NOT NULL,
  bytes       bigint NOT NULL,
  exact       boolean NOT NULL,
  tables      integer NOT NULL,
  duration_ms integer NOT NULL
);
`;

// Which Migration object a step record belongs to: a Migration deleted with its finalizer removed
// by hand leaves its rows under its name, and a new Migration of that name must not take them as its own.
const migrationStepsUid = `
ALTER TABLE migration_steps ADD COLUMN uid text;
COMMENT ON COLUMN migration_steps.uid IS 'metadata.uid of the Migration that wrote the record; NULL for records written before it was kept';
`;

// A selection is made once (a drain's also takes late arrivals): a row here says it was, even when it
// selected nobody (no rows in migration_customers). Without it an empty selection was made again at
// every reconcile, and a customer placed later joined a Migration that had already ended.
const selectionFrozen = `
CREATE TABLE migration_selections (
  migration text PRIMARY KEY,
  frozen_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO migration_selections (migration) SELECT DISTINCT migration FROM migration_customers;
-- A Migration that ended with nothing selected has no rows there, but was frozen.
INSERT INTO migration_selections (migration)
  SELECT migration FROM migration_steps WHERE phase IN ('Succeeded', 'Failed', 'Aborted') ON CONFLICT DO NOTHING;
`;

export const SCHEMA_MIGRATIONS: readonly SchemaMigration[] = [
  { version: 1, name: 'routing table: cells, placements, versions, counters, notifications', sql: routingTable },
  { version: 2, name: 'migration journal', sql: migrationJournal },
  { version: 3, name: 'move engine: direction, abort, reservation, per-table settle/verify/sweep progress', sql: moveEngineProgress },
  { version: 4, name: 'migration selection', sql: migrationSelection },
  { version: 5, name: 'move engine: cleanup sweep passes', sql: moveSweepPasses },
  { version: 6, name: 'cells: the cordon of a drain', sql: drainCordon },
  { version: 7, name: 'migration steps: the current step of each Migration', sql: migrationSteps },
  { version: 8, name: 'move engine: the Kafka drain under the fence', sql: moveKafkaDrain },
  { version: 9, name: 'measured size per customer and cell', sql: customerSizes },
  { version: 10, name: 'migration steps: the uid of the Migration that owns the record', sql: migrationStepsUid },
  { version: 11, name: 'migration selection: when it was frozen, empty or not', sql: selectionFrozen },
];
