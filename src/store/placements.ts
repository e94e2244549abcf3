// The `placements` table: placing customers (one, or many per transaction for bulk onboarding),
// reading them, fencing them, and the change feed by version. Every write transaction takes the
// routing write lock first (see schema.ts), which makes placement exact: under the lock the
// placement row and the cell counters cannot change, so the decision taken is the one committed.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool, PoolClient } from 'pg';
import pgCopy from 'pg-copy-streams';
import { type CellRow, CELL_COLUMNS, cellFromRow, listCells } from './cells.js';
import {
  type CellExclusion,
  decidePlacement,
  type PlacementRequest,
  type PlacementStrategy,
} from './placement-decision.js';
import { validatePlacementRequest } from './placement-request.js';
import { ADVISORY_LOCK_CLASS, ROUTING_WRITE_LOCK_ID } from './schema.js';
import { withTransaction, type Queryable } from './transactions.js';

export type PlacementState = 'Active' | 'Fenced';

export interface Placement {
  customerId: string;
  /** The bound region, or null when the customer may live in any region. */
  region: string | null;
  cell: string;
  state: PlacementState;
  /** Bumps on every move; gateways compare it to detect a move. */
  epoch: number;
  expectedDevices: number;
  labels: Record<string, string>;
  /** Position in the change feed (routing_version_seq). */
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** A field of a request that the existing placement does not match (nothing is changed). */
export interface PlacementDifference {
  field: 'region' | 'cell' | 'expectedDevices' | 'labels';
  requested: unknown;
  actual: unknown;
}

export type PlaceResult =
  | { status: 'Created'; placement: Placement }
  | { status: 'Existing'; placement: Placement; differences: PlacementDifference[] }
  | { status: 'Unschedulable'; customerId: string; reason: string; exclusions: readonly CellExclusion[] }
  | { status: 'Invalid'; customerId?: string; problems: string[] };

export interface PlaceOptions {
  strategy?: PlacementStrategy;
}

interface DbPlacement {
  customer_id: string;
  region: string | null;
  cell: string;
  state: PlacementState;
  epoch: number;
  expected_devices: number;
  labels: Record<string, string>;
  version: number;
  created_at: Date;
  updated_at: Date;
}

const PLACEMENT_COLUMNS = 'customer_id, region, cell, state, epoch, expected_devices, labels, version, created_at, updated_at';

function placementFromRow(r: DbPlacement): Placement {
  return {
    customerId: r.customer_id,
    region: r.region,
    cell: r.cell,
    state: r.state,
    epoch: r.epoch,
    expectedDevices: r.expected_devices,
    labels: r.labels,
    version: r.version,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * Takes the routing write lock for the current transaction. Call it first in any transaction that
 * writes `placements` or cell counters (e.g. a migration's cut-over): one lock order everywhere
 * (routing lock, then cells, then placement rows) means no deadlocks between writers.
 */
export async function lockRoutingWrites(client: PoolClient): Promise<void> {
  await client.query('SELECT pg_advisory_xact_lock($1, $2)', [ADVISORY_LOCK_CLASS, ROUTING_WRITE_LOCK_ID]);
}

/** BEGIN and lockRoutingWrites in one round trip (for inTransaction's `begin`): the lock's ids are constants. */
export const BEGIN_ROUTING_WRITES = `BEGIN; SELECT pg_advisory_xact_lock(${Number(ADVISORY_LOCK_CLASS)}, ${Number(ROUTING_WRITE_LOCK_ID)})`;

export async function getPlacement(db: Queryable, customerId: string): Promise<Placement | undefined> {
  const { rows } = await db.query<DbPlacement>(`SELECT ${PLACEMENT_COLUMNS} FROM placements WHERE customer_id = $1`, [customerId]);
  return rows[0] ? placementFromRow(rows[0]) : undefined;
}

function sameLabels(a: Record<string, string>, b: Record<string, string>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/** How a request differs from the existing placement (the CustomerPlacement reconciler's Drifted). */
export function placementDifferences(request: PlacementRequest, p: Placement): PlacementDifference[] {
  const out: PlacementDifference[] = [];
  if (request.region != null && request.region !== p.region) out.push({ field: 'region', requested: request.region, actual: p.region });
  if (request.cell != null && request.cell !== p.cell) out.push({ field: 'cell', requested: request.cell, actual: p.cell });
  if (request.expectedDevices !== undefined && request.expectedDevices !== p.expectedDevices) {
    out.push({ field: 'expectedDevices', requested: request.expectedDevices, actual: p.expectedDevices });
  }
  if (request.labels !== undefined && !sameLabels(request.labels, p.labels)) out.push({ field: 'labels', requested: request.labels, actual: p.labels });
  return out;
}

async function lockCells(client: PoolClient): Promise<CellRow[]> {
  // NO KEY UPDATE: the counters of these rows are about to change in this transaction.
  const { rows } = await client.query(`SELECT ${CELL_COLUMNS} FROM cells ORDER BY name FOR NO KEY UPDATE`);
  return rows.map(cellFromRow);
}

/**
 * Places one customer: sticky and idempotent (an existing placement is returned as is, with the
 * differences from the request), capacity checked and counted in the same transaction. Safe
 * under any number of concurrent callers for the same customer: one row, one answer.
 */
export async function placeCustomer(pool: Pool, request: PlacementRequest, options: PlaceOptions = {}): Promise<PlaceResult> {
  const validation = validatePlacementRequest(request);
  if (!validation.ok) return { status: 'Invalid', customerId: typeof request?.customerId === 'string' ? request.customerId : undefined, problems: validation.problems };
  const req = validation.request;
  const found = await getPlacement(pool, req.customerId); // fast path, no lock
  if (found) return { status: 'Existing', placement: found, differences: placementDifferences(req, found) };
  return withTransaction(pool, async (client): Promise<PlaceResult> => {
    await lockRoutingWrites(client);
    const existing = await getPlacement(client, req.customerId);
    if (existing) return { status: 'Existing', placement: existing, differences: placementDifferences(req, existing) };
    const decision = decidePlacement(req, await lockCells(client), options.strategy ?? 'Hash');
    if (decision.kind === 'Unschedulable') {
      return { status: 'Unschedulable', customerId: req.customerId, reason: decision.reason, exclusions: decision.exclusions };
    }
    const { rows } = await client.query<DbPlacement>(
      `INSERT INTO placements (customer_id, region, cell, expected_devices, labels)
       VALUES ($1, $2, $3, $4, $5) RETURNING ${PLACEMENT_COLUMNS}`,
      [req.customerId, req.region ?? null, decision.cell, req.expectedDevices ?? 0, JSON.stringify(req.labels ?? {})],
    );
    return { status: 'Created', placement: placementFromRow(rows[0] as DbPlacement) };
  });
}

interface Planned {
  index: number;
  request: PlacementRequest;
  cell: string;
}

/** The decisions for a batch against one view of the cells, with a running copy of the counters. */
interface BatchPlan {
  decided: Map<number, PlaceResult>;
  planned: Planned[];
  /** Customers and devices added per cell. */
  added: Map<string, { customers: number; devices: number }>;
  maxDevicesPerRequest: number;
}

function planBatch(
  valid: readonly { index: number; request: PlacementRequest }[],
  existing: ReadonlyMap<string, Placement>,
  cells: readonly CellRow[],
  strategy: PlacementStrategy,
): BatchPlan {
  const running = cells.map((c) => ({ ...c }));
  const byName = new Map(running.map((c) => [c.name, c]));
  const plan: BatchPlan = { decided: new Map(), planned: [], added: new Map(), maxDevicesPerRequest: 0 };
  for (const { index, request } of valid) {
    const found = existing.get(request.customerId);
    if (found) {
      plan.decided.set(index, { status: 'Existing', placement: found, differences: placementDifferences(request, found) });
      continue;
    }
    const decision = decidePlacement(request, running, strategy);
    if (decision.kind === 'Unschedulable') {
      plan.decided.set(index, { status: 'Unschedulable', customerId: request.customerId, reason: decision.reason, exclusions: decision.exclusions });
      continue;
    }
    const devices = request.expectedDevices ?? 0;
    const cell = byName.get(decision.cell) as CellRow;
    cell.customers += 1;
    cell.devices += devices;
    const a = plan.added.get(decision.cell) ?? { customers: 0, devices: 0 };
    a.customers += 1;
    a.devices += devices;
    plan.added.set(decision.cell, a);
    plan.maxDevicesPerRequest = Math.max(plan.maxDevicesPerRequest, devices);
    plan.planned.push({ index, request, cell: decision.cell });
  }
  return plan;
}

/** True when no cell came near its capacity with this batch added: then capacity did not shape any decision. */
function capacityIrrelevant(cells: readonly CellRow[], plan: BatchPlan): boolean {
  return cells.every((c) => {
    const a = plan.added.get(c.name) ?? { customers: 0, devices: 0 };
    if (c.customers + c.reserved + a.customers >= c.maxCustomers) return false;
    return c.maxDevices === null || c.devices + a.devices + plan.maxDevicesPerRequest <= c.maxDevices;
  });
}

function sameDescriptions(a: readonly CellRow[], b: readonly CellRow[]): boolean {
  if (a.length !== b.length) return false;
  return a.every((x, i) => {
    const y = b[i] as CellRow;
    return x.name === y.name && x.region === y.region && x.state === y.state && x.ready === y.ready && x.weight === y.weight && x.maxCustomers === y.maxCustomers && x.maxDevices === y.maxDevices && x.cordonedBy === y.cordonedBy;
  });
}

async function existingPlacements(db: Queryable, ids: readonly string[]): Promise<Map<string, Placement>> {
  const { rows } = await db.query<DbPlacement>(`SELECT ${PLACEMENT_COLUMNS} FROM placements WHERE customer_id = ANY($1::text[])`, [ids]);
  return new Map(rows.map((r) => [r.customer_id, placementFromRow(r)]));
}

/** COPY text format: escape what would end a field or a row. */
function copyField(value: string | null): string {
  if (value === null) return '\\N';
  return /[\\\t\n\r]/.test(value) ? value.replace(/[\\\t\n\r]/g, (c) => (c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r')) : value;
}

function* copyLines(planned: readonly Planned[]): Generator<string> {
  let chunk = '';
  for (const p of planned) {
    const r = p.request;
    chunk += `${copyField(r.customerId)}\t${copyField(r.region ?? null)}\t${copyField(p.cell)}\t${r.expectedDevices ?? 0}\t${copyField(JSON.stringify(r.labels ?? {}))}\n`;
    if (chunk.length > 256 * 1024) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/**
 * Inserts the planned rows (under the routing write lock) and returns their versions by id; an
 * id missing from the answer was placed by someone else meanwhile. The rows go in by COPY, as fast
 * as a raw load; versions are then known without reading the rows back, because under the lock
 * the trigger draws them one after the other in row order (checked). If a row turns out to exist
 * already, the COPY is undone and the rows go in by INSERT … ON CONFLICT DO NOTHING instead.
 */
async function insertPlanned(client: PoolClient, planned: readonly Planned[]): Promise<Map<string, number>> {
  const seq = await client.query<{ last_value: number; is_called: boolean }>('SELECT last_value, is_called FROM routing_version_seq');
  const before = seq.rows[0]!.is_called ? seq.rows[0]!.last_value : seq.rows[0]!.last_value - 1;
  await client.query('SAVEPOINT place_by_copy');
  try {
    await pipeline(
      Readable.from(copyLines(planned)),
      client.query(pgCopy.from('COPY placements (customer_id, region, cell, expected_devices, labels) FROM STDIN')),
    );
    await client.query('RELEASE SAVEPOINT place_by_copy');
  } catch (err) {
    if ((err as { code?: string }).code !== '23505') throw err; // unique_violation: placed meanwhile
    await client.query('ROLLBACK TO SAVEPOINT place_by_copy');
    return insertSkippingExisting(client, planned);
  }
  // Each copied row drew exactly one version, in row order; if nobody else drew one meanwhile
  // (the lock says nobody could), ours are exactly before+1 … before+n.
  const after = await client.query<{ last_value: number }>('SELECT last_value FROM routing_version_seq');
  if (after.rows[0]!.last_value - before === planned.length) {
    return new Map(planned.map((p, i) => [p.request.customerId, before + 1 + i]));
  }
  // Someone drew versions without the lock: read them back instead of deducing them.
  const { rows } = await client.query<[string, number]>({
    text: 'SELECT customer_id, version FROM placements WHERE customer_id = ANY($1::text[])',
    values: [planned.map((p) => p.request.customerId)],
    rowMode: 'array',
  });
  return new Map(rows);
}

async function insertSkippingExisting(client: PoolClient, planned: readonly Planned[]): Promise<Map<string, number>> {
  const { rows } = await client.query<[string, number]>({
    text: `INSERT INTO placements (customer_id, region, cell, expected_devices, labels)
           SELECT id, region, cell, devices, labels::jsonb
             FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS r(id, region, cell, devices, labels)
           ON CONFLICT (customer_id) DO NOTHING
           RETURNING customer_id, version`,
    values: [
      planned.map((p) => p.request.customerId),
      planned.map((p) => p.request.region ?? null),
      planned.map((p) => p.cell),
      planned.map((p) => p.request.expectedDevices ?? 0),
      planned.map((p) => JSON.stringify(p.request.labels ?? {})),
    ],
    rowMode: 'array',
  });
  return new Map(rows);
}

/**
 * Places many customers in one transaction with a fixed number of statements whatever the batch
 * size (one INSERT … SELECT FROM unnest(…)). Returns one result per request, in order: invalid
 * and unschedulable requests are reported and the others placed. A duplicate id within the batch
 * gets its first occurrence's answer. Nothing is half-done: a failure rolls the batch back and
 * throws.
 *
 * The decisions are taken before the routing write lock, so that batches in a row keep the
 * database busy; under the lock they are kept only if the cells' descriptions are unchanged and
 * no cell is near its capacity (then capacity shaped no decision and hashing alone decided), and
 * taken again under the lock otherwise (with the existing rows read first). Either way the result
 * is what a placement under the lock would have given.
 */
export async function placeCustomers(pool: Pool, requests: readonly PlacementRequest[], options: PlaceOptions = {}): Promise<PlaceResult[]> {
  const strategy = options.strategy ?? 'Hash';
  const results: (PlaceResult | undefined)[] = new Array(requests.length);
  const firstIndex = new Map<string, number>();
  const valid: { index: number; request: PlacementRequest }[] = [];
  const duplicates: { index: number; of: number }[] = [];
  requests.forEach((input, index) => {
    const v = validatePlacementRequest(input);
    if (!v.ok) {
      results[index] = { status: 'Invalid', customerId: typeof input?.customerId === 'string' ? input.customerId : undefined, problems: v.problems };
      return;
    }
    const of = firstIndex.get(v.request.customerId);
    if (of !== undefined) duplicates.push({ index, of });
    else {
      firstIndex.set(v.request.customerId, index);
      valid.push({ index, request: v.request });
    }
  });

  if (valid.length > 0) {
    const ids = valid.map((v) => v.request.customerId);
    // The early plan assumes every customer is new (bulk onboarding): one that exists makes the
    // COPY fail and the rows go in by INSERT … ON CONFLICT DO NOTHING, answering Existing.
    const cellsBefore = strategy === 'Hash' ? await listCells(pool) : undefined;
    const early = cellsBefore ? planBatch(valid, new Map(), cellsBefore, strategy) : undefined;

    await withTransaction(pool, async (client) => {
      // now() is the transaction's start: the created_at/updated_at default of every row below.
      const locked = await client.query<{ now: Date }>('SELECT pg_advisory_xact_lock($1, $2), now() AS now', [ADVISORY_LOCK_CLASS, ROUTING_WRITE_LOCK_ID]);
      const now = locked.rows[0]!.now;
      const cells = await lockCells(client);
      const keep = early && cellsBefore && sameDescriptions(cellsBefore, cells) && capacityIrrelevant(cellsBefore, early) && capacityIrrelevant(cells, early);
      const plan = keep && early ? early : planBatch(valid, await existingPlacements(client, ids), cells, strategy);
      for (const [index, result] of plan.decided) results[index] = result;
      const { planned } = plan;
      if (planned.length === 0) return;
      const versions = await insertPlanned(client, planned);
      const missed: Planned[] = [];
      for (const p of planned) {
        const version = versions.get(p.request.customerId);
        if (version === undefined) {
          missed.push(p);
          continue;
        }
        results[p.index] = {
          status: 'Created',
          placement: {
            customerId: p.request.customerId,
            region: p.request.region ?? null,
            cell: p.cell,
            state: 'Active',
            epoch: 1,
            expectedDevices: p.request.expectedDevices ?? 0,
            labels: p.request.labels ?? {},
            version,
            createdAt: now,
            updatedAt: now,
          },
        };
      }
      // Placed by someone else between the early look and the lock: theirs is the answer.
      if (missed.length > 0) {
        const found = await existingPlacements(client, missed.map((p) => p.request.customerId));
        for (const p of missed) {
          const placement = found.get(p.request.customerId);
          if (!placement) throw new Error(`customer ${p.request.customerId} was neither inserted nor found`);
          results[p.index] = { status: 'Existing', placement, differences: placementDifferences(p.request, placement) };
        }
      }
    });
  }
  for (const { index, of } of duplicates) results[index] = results[of];
  return results as PlaceResult[];
}

/** Fences or unfences a customer (the router answers 503 while Fenced). Checks the epoch if given. */
export async function setPlacementState(
  pool: Pool,
  customerId: string,
  state: PlacementState,
  expectedEpoch?: number,
): Promise<Placement | undefined> {
  return withTransaction(pool, async (client) => {
    await lockRoutingWrites(client);
    const { rows } = await client.query<DbPlacement>(
      `UPDATE placements SET state = $2
        WHERE customer_id = $1 AND ($3::bigint IS NULL OR epoch = $3) AND state IS DISTINCT FROM $2
        RETURNING ${PLACEMENT_COLUMNS}`,
      [customerId, state, expectedEpoch ?? null],
    );
    return rows[0] ? placementFromRow(rows[0]) : await getPlacement(client, customerId);
  });
}

export interface ListPlacementsOptions {
  /** Keyset: customer ids strictly after this one, in id order. */
  after?: string;
  limit?: number;
  cell?: string;
  /** matchLabels: every pair must be present (uses the GIN index). */
  labels?: Record<string, string>;
}

export async function listPlacements(db: Queryable, options: ListPlacementsOptions = {}): Promise<Placement[]> {
  const { rows } = await db.query<DbPlacement>(
    `SELECT ${PLACEMENT_COLUMNS} FROM placements
      WHERE ($1::text IS NULL OR customer_id > $1)
        AND ($2::text IS NULL OR cell = $2)
        AND ($3::jsonb IS NULL OR labels @> $3)
      ORDER BY customer_id LIMIT $4`,
    [options.after ?? null, options.cell ?? null, options.labels ? JSON.stringify(options.labels) : null, options.limit ?? 1000],
  );
  return rows.map(placementFromRow);
}

/** One entry of the change feed: the latest state of a customer at `version`. */
export interface RouteChange {
  customerId: string;
  /** null when the customer was deleted. */
  cell: string | null;
  state: PlacementState | 'Deleted';
  epoch: number;
  version: number;
}

/**
 * Changes with version > `since`, oldest first, at most `limit`. Because versions become visible
 * in commit order, following this with the last version seen never misses a change.
 */
export async function routeChangesSince(db: Queryable, since: number, limit: number): Promise<RouteChange[]> {
  const { rows } = await db.query<[string, string | null, PlacementState | 'Deleted', number, number]>({
    text: `(SELECT customer_id, cell, state, epoch, version FROM placements WHERE version > $1 ORDER BY version LIMIT $2)
           UNION ALL
           (SELECT customer_id, NULL, 'Deleted', 0, version FROM placement_tombstones WHERE version > $1 ORDER BY version LIMIT $2)
           ORDER BY version LIMIT $2`,
    values: [since, limit],
    rowMode: 'array',
  });
  return rows.map(([customerId, cell, state, epoch, version]) => ({ customerId, cell, state, epoch, version }));
}

// --- A move's writes: fence, unfence, cut-over (under the routing write lock the move takes) ----

/** The part of a placement a move checks before each of its writes. */
export interface PlacementView {
  cell: string;
  state: PlacementState;
  epoch: number;
}

export async function readPlacement(db: Queryable, customerId: string, forUpdate = false): Promise<PlacementView | undefined> {
  const { rows } = await db.query<{ cell: string; state: PlacementState; epoch: string | number }>(
    `SELECT cell, state, epoch FROM placements WHERE customer_id = $1${forUpdate ? ' FOR UPDATE' : ''}`,
    [customerId],
  );
  const r = rows[0];
  return r ? { cell: r.cell, state: r.state, epoch: Number(r.epoch) } : undefined;
}

/** Fences the placement if it is still Active in `cell` at `epoch`; true if it is fenced now. */
export async function fencePlacement(db: Queryable, customerId: string, cell: string, epoch: number): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE placements SET state = 'Fenced' WHERE customer_id = $1 AND cell = $2 AND epoch = $3 AND state = 'Active'`,
    [customerId, cell, epoch],
  );
  if (rowCount === 1) return true;
  const p = await readPlacement(db, customerId); // already fenced by this move (a re-run)?
  return p !== undefined && p.cell === cell && p.epoch === epoch && p.state === 'Fenced';
}

/** Lifts this move's fence (the placement still in `cell` at `epoch`); no-op otherwise. */
export async function unfencePlacement(db: Queryable, customerId: string, cell: string, epoch: number | null): Promise<void> {
  if (epoch === null) return;
  await db.query(`UPDATE placements SET state = 'Active' WHERE customer_id = $1 AND cell = $2 AND epoch = $3 AND state = 'Fenced'`, [
    customerId,
    cell,
    epoch,
  ]);
}

/** The cut-over itself: cell, epoch + 1 and the fence lifted, if the placement is still ours. */
export async function cutOverPlacement(db: Queryable, customerId: string, from: string, to: string, epoch: number): Promise<number | undefined> {
  const { rows } = await db.query<{ epoch: string | number }>(
    `UPDATE placements SET cell = $3, state = 'Active', epoch = epoch + 1
      WHERE customer_id = $1 AND cell = $2 AND epoch = $4 AND state = 'Fenced' RETURNING epoch`,
    [customerId, from, to, epoch],
  );
  return rows[0] ? Number(rows[0].epoch) : undefined;
}

/** readPlacement for many customers in one query (a batch of moves); absent ones left out. */
export async function readPlacements(db: Queryable, customerIds: readonly string[]): Promise<Map<string, PlacementView>> {
  const { rows } = await db.query<{ customer_id: string; cell: string; state: PlacementState; epoch: string | number }>(
    'SELECT customer_id, cell, state, epoch FROM placements WHERE customer_id = ANY($1::text[])',
    [[...customerIds]],
  );
  return new Map(rows.map((r) => [r.customer_id, { cell: r.cell, state: r.state, epoch: Number(r.epoch) }]));
}

/**
 * fencePlacement for a batch of moves out of `cell`, in one statement: each placement still Active
 * in `cell` at its move's epoch is fenced. Returns the customers fenced now or already (a re-run).
 */
export async function fencePlacements(db: Queryable, cell: string, members: readonly { customerId: string; epoch: number }[]): Promise<Set<string>> {
  const { rows } = await db.query<{ customer_id: string }>(
    `WITH m AS (SELECT * FROM unnest($2::text[], $3::bigint[]) AS m(customer_id, epoch)),
          u AS (UPDATE placements p SET state = 'Fenced' FROM m
                 WHERE p.customer_id = m.customer_id AND p.cell = $1 AND p.epoch = m.epoch AND p.state = 'Active' RETURNING p.customer_id)
     SELECT customer_id FROM u
     UNION SELECT p.customer_id FROM placements p JOIN m USING (customer_id) WHERE p.cell = $1 AND p.epoch = m.epoch AND p.state = 'Fenced'`,
    [cell, members.map((m) => m.customerId), members.map((m) => m.epoch)],
  );
  return new Set(rows.map((r) => r.customer_id));
}

/** cutOverPlacement for a batch of moves from `from` to `to`, in one statement: the customers cut over. */
export async function cutOverPlacements(db: Queryable, from: string, to: string, members: readonly { customerId: string; epoch: number }[]): Promise<Set<string>> {
  const { rows } = await db.query<{ customer_id: string }>(
    `UPDATE placements p SET cell = $2, state = 'Active', epoch = p.epoch + 1
       FROM unnest($3::text[], $4::bigint[]) AS m(customer_id, epoch)
      WHERE p.customer_id = m.customer_id AND p.cell = $1 AND p.epoch = m.epoch AND p.state = 'Fenced' RETURNING p.customer_id`,
    [from, to, members.map((m) => m.customerId), members.map((m) => m.epoch)],
  );
  return new Set(rows.map((r) => r.customer_id));
}
