// The `placements` table: placing customers (one, or many per transaction for bulk onboarding),
// reading them, fencing them, and the change feed by version. Every write transaction takes the
// routing write lock first (see schema.ts), which makes placement exact: under the lock the
// placement row and the cell counters cannot change, so the decision taken is the one committed.
import type { Pool, PoolClient } from 'pg';
import { type CellRow, CELL_COLUMNS, cellFromRow, type Queryable } from './cells.js';
import {
  type CellExclusion,
  decidePlacement,
  type PlacementRequest,
  type PlacementStrategy,
} from './placement-decision.js';
import { validatePlacementRequest } from './placement-request.js';
import { ADVISORY_LOCK_CLASS, ROUTING_WRITE_LOCK_ID } from './schema.js';

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

/** Runs fn in a transaction on its own client; a client whose connection failed is discarded. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  // A checked-out client has no 'error' listener: without this a lost connection would crash the
  // process instead of failing the pending query.
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  try {
    await client.query('BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch((rollbackError: Error) => {
      broken = rollbackError;
    });
    if (isTransientDatabaseError(err)) broken ??= err as Error;
    throw err;
  } finally {
    client.off('error', onError);
    client.release(broken);
  }
}

const TRANSIENT_CODES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now (starting up, shutting down)
  '08000', '08003', '08006', '08001', '08004', // connection exceptions
  '53300', // too_many_connections
]);

/** Errors worth a retry with backoff: the server restarting, a lost connection, a deadlock. */
export function isTransientDatabaseError(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const e = err as { code?: string; message?: string };
  if (e.code && TRANSIENT_CODES.has(e.code)) return true;
  if (e.code && /^(ECONNREFUSED|ECONNRESET|EPIPE|ETIMEDOUT|ENOTFOUND|EAI_AGAIN|EHOSTUNREACH)$/.test(e.code)) return true;
  const message = e.message ?? '';
  return /Connection terminated|connection timeout|Client has encountered a connection error|Connection ended|timeout exceeded when trying to connect/i.test(message);
}

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

/**
 * Places many customers in one transaction with a fixed number of statements (lock, read the
 * existing rows, lock the cells, one INSERT … SELECT FROM unnest(…), commit), whatever the
 * batch size. Returns one result per request, in order: invalid and unschedulable requests are
 * reported and the others placed. A duplicate id within the batch gets its first occurrence's
 * answer. Nothing is half-done: a failure rolls the whole batch back and throws.
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
    await withTransaction(pool, async (client) => {
      await lockRoutingWrites(client);
      const ids = valid.map((v) => v.request.customerId);
      const existing = await client.query<DbPlacement>(`SELECT ${PLACEMENT_COLUMNS} FROM placements WHERE customer_id = ANY($1::text[])`, [ids]);
      const existingById = new Map(existing.rows.map((r) => [r.customer_id, placementFromRow(r)]));
      // Decide against a running copy of the counters so that the batch itself respects capacity.
      const cells = (await lockCells(client)).map((c) => ({ ...c }));
      const byName = new Map(cells.map((c) => [c.name, c]));
      const insert = { id: [] as string[], region: [] as (string | null)[], cell: [] as string[], devices: [] as number[], labels: [] as string[] };
      const inserted: { index: number; request: PlacementRequest }[] = [];
      for (const { index, request } of valid) {
        const found = existingById.get(request.customerId);
        if (found) {
          results[index] = { status: 'Existing', placement: found, differences: placementDifferences(request, found) };
          continue;
        }
        const decision = decidePlacement(request, cells, strategy);
        if (decision.kind === 'Unschedulable') {
          results[index] = { status: 'Unschedulable', customerId: request.customerId, reason: decision.reason, exclusions: decision.exclusions };
          continue;
        }
        const cell = byName.get(decision.cell) as CellRow;
        cell.customers += 1;
        cell.devices += request.expectedDevices ?? 0;
        insert.id.push(request.customerId);
        insert.region.push(request.region ?? null);
        insert.cell.push(decision.cell);
        insert.devices.push(request.expectedDevices ?? 0);
        insert.labels.push(JSON.stringify(request.labels ?? {}));
        inserted.push({ index, request });
      }
      if (inserted.length === 0) return;
      const { rows } = await client.query<DbPlacement>(
        `INSERT INTO placements (customer_id, region, cell, expected_devices, labels)
         SELECT id, region, cell, devices, labels::jsonb
           FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[]) AS r(id, region, cell, devices, labels)
         ON CONFLICT (customer_id) DO NOTHING
         RETURNING ${PLACEMENT_COLUMNS}`,
        [insert.id, insert.region, insert.cell, insert.devices, insert.labels],
      );
      const created = new Map(rows.map((r) => [r.customer_id, r]));
      for (const { index, request } of inserted) {
        const row = created.get(request.customerId);
        if (row) results[index] = { status: 'Created', placement: placementFromRow(row) };
      }
      // Under the lock nobody else can insert these ids; a miss here means a writer bypassed it.
      const missed = inserted.filter(({ index }) => results[index] === undefined);
      for (const { index, request } of missed) {
        const p = await getPlacement(client, request.customerId);
        if (!p) throw new Error(`customer ${request.customerId} was neither inserted nor found`);
        results[index] = { status: 'Existing', placement: p, differences: placementDifferences(request, p) };
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
