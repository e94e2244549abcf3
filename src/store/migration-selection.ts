// The customers a Migration moves, frozen in `migration_customers` in move order the first time it
// is reconciled (names, a label selector over the routing table's labels, all of the source cell,
// or those whose placement now prefers the target: a split), and the facts the decider needs about them: counts by the outcome of their moves, the next
// ones to start, those bound to another region. Counted in SQL: a reconcile of a 100k-customer drain
// reads a few rows, not the selection.
import type { Pool } from 'pg';
import type { LabelSelector } from '../crds/kube-types.js';
import type { MigrationSpec } from '../crds/migration.js';
import { moveOutcome, outcomeOf, type MoveDirection, type MoveOutcome, type MoveState } from '../data/move-state.js';
import { listCells } from './cells.js';
import { customersPreferring } from './placement-preference.js';
import { withTransaction, type Queryable } from './transactions.js';

export interface SelectedCustomer {
  id: string;
  /** The region the customer is bound to, or null. */
  region: string | null;
  /** The outcome of its move in this migration's journal; undefined when it has not started. */
  outcome?: MoveOutcome;
  /** Moved and cleaned up (journal state Done): its source rows are gone, an abort cannot bring it back. */
  cleanedUp?: boolean;
  /** Not started here, and another Migration has an open move of it (named here): it cannot start now. */
  busyIn?: string;
}

/** How many selected customers stand where, by the outcome of their move in this migration. */
export interface SelectionCounts {
  total: number;
  /** Not started: no journal row in this migration. */
  pending: number;
  /** Journal rows not yet running: they hold a concurrency slot. */
  queued: number;
  inFlight: number;
  moved: number;
  failed: number;
  movedBack: number;
  /** Moved customers whose cleanup ended: beyond an abort's reach. */
  cleanedUp: number;
}

/** What the decider needs to know about the selected customers. */
export interface SelectionFacts {
  counts: SelectionCounts;
  /** Customers not started yet that are bound to a region other than the target's (all bound ones when there is no target). */
  outOfRegion: {
    count: number;
    /** The first three of them in move order. */
    examples: { id: string; region: string }[];
  };
  /** The first customers not started yet that may start now, in move order; at least spec.maxConcurrent × spec.batchSize of them when there are that many. */
  next: string[];
  /** Customers not started yet that another Migration is moving (a customer has one open move at a time), with the first in move order. */
  busy: { count: number; example?: { id: string; migration: string } };
  /** When a move of this migration last left flight (its cut-over; for one that failed or rolled back, its end); undefined: none has, or not known. */
  lastEndedAt?: Date;
}

export function emptyCounts(): SelectionCounts {
  return { total: 0, pending: 0, queued: 0, inFlight: 0, moved: 0, failed: 0, movedBack: 0, cleanedUp: 0 };
}

/** Adds `n` customers with this outcome (undefined: not started) to the counts. */
export function tally(c: SelectionCounts, outcome: MoveOutcome | undefined, cleanedUp: boolean, n = 1): void {
  c.total += n;
  if (cleanedUp) c.cleanedUp += n;
  switch (outcome) {
    case undefined:
      c.pending += n;
      break;
    case 'Pending':
      c.queued += n;
      break;
    case 'InFlight':
    case 'MovingBack':
      c.inFlight += n;
      break;
    case 'Moved':
      c.moved += n;
      break;
    case 'Failed':
    case 'RolledBack':
      c.failed += n;
      break;
    case 'MovedBack':
      c.movedBack += n;
      break;
  }
}

/** The facts about a selection given as a list in move order, keeping the first `nextLimit` customers to start. */
export function selectionFacts(selected: readonly SelectedCustomer[], targetRegion: string | undefined, nextLimit: number): SelectionFacts {
  const counts = emptyCounts();
  const facts: SelectionFacts = { counts, outOfRegion: { count: 0, examples: [] }, next: [], busy: { count: 0 } };
  for (const s of selected) {
    tally(counts, s.outcome, s.cleanedUp === true);
    if (s.outcome !== undefined) continue;
    if (s.busyIn !== undefined) {
      facts.busy.count++;
      facts.busy.example ??= { id: s.id, migration: s.busyIn };
    } else if (facts.next.length < nextLimit) facts.next.push(s.id);
    if (s.region !== null && s.region !== targetRegion) {
      facts.outOfRegion.count++;
      if (facts.outOfRegion.examples.length < 3) facts.outOfRegion.examples.push({ id: s.id, region: s.region });
    }
  }
  return facts;
}

/** A label selector as a SQL condition over `p.labels` (jsonb), with its parameters from `$first`. */
export function selectorSql(selector: LabelSelector, first: number): { sql: string; params: unknown[] } {
  const parts: string[] = [];
  const params: unknown[] = [];
  const param = (value: unknown) => {
    params.push(value);
    return `$${first + params.length - 1}`;
  };
  if (selector.matchLabels && Object.keys(selector.matchLabels).length > 0) {
    parts.push(`p.labels @> ${param(JSON.stringify(selector.matchLabels))}::jsonb`);
  }
  for (const e of selector.matchExpressions ?? []) {
    const key = param(e.key);
    switch (e.operator) {
      case 'In':
        parts.push(`(p.labels ->> ${key}) = ANY(${param(e.values ?? [])}::text[])`);
        break;
      case 'NotIn': // Kubernetes semantics: a customer without the label matches NotIn
        parts.push(`NOT coalesce((p.labels ->> ${key}) = ANY(${param(e.values ?? [])}::text[]), false)`);
        break;
      case 'Exists':
        parts.push(`p.labels ? ${key}`);
        break;
      case 'DoesNotExist':
        parts.push(`NOT (p.labels ? ${key})`);
        break;
    }
  }
  return { sql: parts.length > 0 ? parts.join(' AND ') : 'true', params };
}

const ORDER_BY: Record<MigrationSpec['order'], string> = {
  // Canary on the smallest customers: fewest expected devices first, then by id for a stable order.
  SmallestFirst: 'p.expected_devices, p.customer_id',
  Hash: 'hashtext(p.customer_id), p.customer_id',
  Listed: 'n.ord',
};

export interface FreezeOptions {
  /** Customers pinned by a CustomerPlacement's spec.cell: a split (`preferTarget`) never selects them. */
  pinned?: ReadonlySet<string>;
}

/**
 * Freezes the selection once; for `all` (a drain) it also adds customers that arrived in the source
 * cell since, after those already selected. The reconciler cordons a drain's source before the first
 * freeze, so placement sends nobody new there; what this still adds comes from moves (another
 * migration's cut-over into the cell, an abort moving customers back). `preferTarget` (a split)
 * asks the placement function itself (placement-preference.ts) which customers of the source now
 * prefer the target, over the cells as the `cells` table describes them. Returns the listed names
 * that are not in the source cell.
 */
export async function freezeSelection(pool: Pool, migration: string, spec: MigrationSpec, options: FreezeOptions = {}): Promise<string[]> {
  // Made once, even when it selects nobody (migration_selections says so), in one transaction with its rows.
  const { rows } = await pool.query<{ frozen: boolean }>('SELECT EXISTS (SELECT 1 FROM migration_selections WHERE migration = $1) AS frozen', [migration]);
  const frozen = rows[0]?.frozen === true;
  if (frozen && spec.customers.names) return missingNames(pool, migration, spec.customers.names); // said at every reconcile
  if (frozen && !spec.customers.all) return [];
  return withTransaction(pool, async (client) => {
    const missing = await selectInto(client, migration, spec, options);
    await client.query('INSERT INTO migration_selections (migration) VALUES ($1) ON CONFLICT DO NOTHING', [migration]);
    return missing;
  });
}

/** The listed names the selection does not hold (they were not in the source cell when it was made). */
async function missingNames(pool: Queryable, migration: string, names: readonly string[]): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT n.id FROM unnest($2::text[]) AS n(id)
      WHERE NOT EXISTS (SELECT 1 FROM migration_customers m WHERE m.migration = $1 AND m.customer_id = n.id)`,
    [migration, names],
  );
  return rows.map((r) => r.id);
}

/** Adds the selected customers not yet in migration_customers; returns the listed names not in the source cell. */
async function selectInto(pool: Queryable, migration: string, spec: MigrationSpec, options: FreezeOptions): Promise<string[]> {
  const base = `INSERT INTO migration_customers (migration, customer_id, ordinal, region)
    SELECT $1, p.customer_id,
           coalesce((SELECT max(ordinal) FROM migration_customers WHERE migration = $1), 0) + row_number() OVER (ORDER BY ${ORDER_BY[spec.order]}),
           p.region`;
  if (spec.customers.names) {
    await pool.query(
      `${base} FROM unnest($3::text[]) WITH ORDINALITY AS n(id, ord) JOIN placements p ON p.customer_id = n.id
        WHERE p.cell = $2 ON CONFLICT DO NOTHING`,
      [migration, spec.from, spec.customers.names],
    );
    return missingNames(pool, migration, spec.customers.names);
  }
  if (spec.customers.preferTarget) {
    // One query at a time: this runs on the freeze's transaction client.
    const cells = await listCells(pool);
    const inSource = await pool.query<{ customer_id: string; region: string | null }>('SELECT customer_id, region FROM placements WHERE cell = $1', [spec.from]);
    const ids = customersPreferring(
      inSource.rows.map((r) => ({ id: r.customer_id, region: r.region })),
      cells,
      spec.to,
      options.pinned,
    );
    await pool.query(
      `${base} FROM unnest($3::text[]) AS n(id) JOIN placements p ON p.customer_id = n.id
        WHERE p.cell = $2 ON CONFLICT DO NOTHING`,
      [migration, spec.from, ids],
    );
    return [];
  }
  const where = spec.customers.selector ? selectorSql(spec.customers.selector, 3) : { sql: 'true', params: [] };
  await pool.query(
    `${base} FROM placements p
      WHERE p.cell = $2 AND ${where.sql}
        AND NOT EXISTS (SELECT 1 FROM migration_customers m WHERE m.migration = $1 AND m.customer_id = p.customer_id)
      ON CONFLICT DO NOTHING`,
    [migration, spec.from, ...where.params],
  );
  return [];
}

interface SelectedRow {
  customer_id: string;
  region: string | null;
  state: MoveState | null;
  direction: MoveDirection | null;
  abort_requested_at: Date | null;
  busy_in: string | null;
}

/** Journal states of a move that has ended; any other holds the customer (one open move per customer). */
const OPEN_MOVE = "o.state NOT IN ('Done', 'Failed', 'RolledBack')";

/**
 * The selected customers in move order, each with the outcome of its move in this migration: the
 * whole list, for tools and tests (the reconciler reads readSelectionFacts).
 */
export async function readSelection(pool: Pool, migration: string): Promise<SelectedCustomer[]> {
  const { rows } = await pool.query<SelectedRow>(
    `SELECT m.customer_id, m.region, j.state, j.direction, j.abort_requested_at, o.migration AS busy_in
       FROM migration_customers m
       LEFT JOIN migration_journal j ON j.migration = m.migration AND j.customer_id = m.customer_id
       LEFT JOIN migration_journal o ON j.state IS NULL AND o.customer_id = m.customer_id AND o.migration <> m.migration AND ${OPEN_MOVE}
      WHERE m.migration = $1
      ORDER BY m.ordinal`,
    [migration],
  );
  return rows.map((r) => {
    const selected: SelectedCustomer = { id: r.customer_id, region: r.region, ...(r.busy_in !== null ? { busyIn: r.busy_in } : {}) };
    if (r.state) {
      selected.outcome = moveOutcome({ state: r.state, direction: r.direction ?? 'Forward', abortRequestedAt: r.abort_requested_at });
      if (r.state === 'Done' && r.direction !== 'Reverse') selected.cleanedUp = true;
    }
    return selected;
  });
}

/** Not started: no journal row of this migration for the customer. */
const NOT_STARTED = 'NOT EXISTS (SELECT 1 FROM migration_journal j WHERE j.migration = m.migration AND j.customer_id = m.customer_id)';
/** Not being moved by another migration (its start would be refused). */
const NOT_BUSY = `NOT EXISTS (SELECT 1 FROM migration_journal o WHERE o.customer_id = m.customer_id AND o.migration <> m.migration AND ${OPEN_MOVE})`;

/**
 * What the decider needs to know about the selection, as selectionFacts() defines it over the list
 * readSelection returns: counts by outcome, the first `next` customers not started (move order),
 * and the not-started ones bound to a region other than `targetRegion`. One pass over the
 * selection in the database, and a handful of rows back whatever its size.
 */
export async function readSelectionFacts(pool: Pool, migration: string, options: { targetRegion: string | undefined; next: number }): Promise<SelectionFacts> {
  const targetRegion = options.targetRegion ?? null;
  const { rows: groups } = await pool.query<{
    state: MoveState | null;
    direction: MoveDirection | null;
    aborting: boolean;
    n: number;
    out_of_region: number;
    first_pending: string | null;
    last_ended: Date | null;
  }>(
    `SELECT j.state, j.direction, j.abort_requested_at IS NOT NULL AS aborting, count(*)::int AS n,
            (count(*) FILTER (WHERE j.state IS NULL AND m.region IS NOT NULL AND m.region IS DISTINCT FROM $2))::int AS out_of_region,
            min(m.ordinal) FILTER (WHERE j.state IS NULL) AS first_pending,
            max(coalesce(j.cut_over_at, j.finished_at)) AS last_ended
       FROM migration_customers m
       LEFT JOIN migration_journal j ON j.migration = m.migration AND j.customer_id = m.customer_id
      WHERE m.migration = $1
      GROUP BY 1, 2, 3`,
    [migration, targetRegion],
  );
  const counts = emptyCounts();
  let outOfRegion = 0;
  let firstPending: string | null = null;
  let lastEndedAt: Date | undefined;
  for (const g of groups) {
    const outcome = g.state ? outcomeOf(g.state, g.direction ?? 'Forward', g.aborting) : undefined;
    tally(counts, outcome, g.state === 'Done' && g.direction !== 'Reverse', g.n);
    outOfRegion += g.out_of_region;
    firstPending ??= g.first_pending;
    if (g.last_ended && (!lastEndedAt || g.last_ended > lastEndedAt)) lastEndedAt = g.last_ended;
  }
  const facts: SelectionFacts = { counts, outOfRegion: { count: outOfRegion, examples: [] }, next: [], busy: { count: 0 }, ...(lastEndedAt ? { lastEndedAt } : {}) };
  if (firstPending === null) return facts;
  // Customers start in move order, so the started ones are nearly all before the first one not
  // started: walking the order from there reads a few rows, not the whole selection.
  const [next, examples, busy] = await Promise.all([
    pool.query<{ customer_id: string }>(
      `SELECT m.customer_id FROM migration_customers m
        WHERE m.migration = $1 AND m.ordinal >= $2 AND ${NOT_STARTED} AND ${NOT_BUSY}
        ORDER BY m.ordinal LIMIT $3`,
      [migration, firstPending, options.next],
    ),
    outOfRegion === 0
      ? undefined
      : pool.query<{ customer_id: string; region: string }>(
          `SELECT m.customer_id, m.region FROM migration_customers m
            WHERE m.migration = $1 AND m.ordinal >= $3 AND m.region IS NOT NULL AND m.region IS DISTINCT FROM $2 AND ${NOT_STARTED}
            ORDER BY m.ordinal LIMIT 3`,
          [migration, targetRegion, firstPending],
        ),
    // From the open moves (a few, by the partial unique index), not from the selection (up to 100k).
    pool.query<{ customer_id: string; migration: string; n: number }>(
      `SELECT m.customer_id, o.migration, count(*) OVER ()::int AS n
         FROM migration_journal o
         JOIN migration_customers m ON m.migration = $1 AND m.customer_id = o.customer_id
        WHERE o.migration <> $1 AND ${OPEN_MOVE} AND ${NOT_STARTED}
        ORDER BY m.ordinal LIMIT 1`,
      [migration],
    ),
  ]);
  facts.next = next.rows.map((r) => r.customer_id);
  const firstBusy = busy.rows[0];
  if (firstBusy) facts.busy = { count: firstBusy.n, example: { id: firstBusy.customer_id, migration: firstBusy.migration } };
  facts.outOfRegion.examples = examples?.rows.map((r) => ({ id: r.customer_id, region: r.region })) ?? [];
  return facts;
}

/** Forgets a migration's selection (its archive keeps the journal, which names every customer moved). */
export async function dropSelection(db: Queryable, migration: string): Promise<void> {
  await db.query('DELETE FROM migration_customers WHERE migration = $1', [migration]);
  await db.query('DELETE FROM migration_selections WHERE migration = $1', [migration]);
}
