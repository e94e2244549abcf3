// The `cells` table: the Cell controller upserts each Cell resource's description here
// (syncCell/removeCell); the counters (customers, devices) belong to the placement triggers, and
// the cordon of a drain (cordonCell/releaseCordons) to the Migration controller.
import { type CellState, type CellView, describeCordon } from './placement-decision.js';
import type { Queryable } from './transactions.js';


/** What the Cell controller knows of a Cell resource. */
export interface CellDescription {
  name: string;
  region: string;
  state: CellState;
  ready: boolean;
  weight: number;
  maxCustomers: number;
  maxDevices?: number | null;
  /** Where the cell's services are, served by the router with every route (kafkaBootstrap, …). */
  endpoints?: Record<string, string>;
}

export interface CellRow extends CellView {
  reserved: number;
  devices: number;
  maxDevices: number | null;
  endpoints: Record<string, string>;
  cordonedBy: string | null;
  /** When the current cordon was taken; null without a cordon. */
  cordonedAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type SyncCellResult =
  | { ok: true; cell: CellRow }
  | { ok: false; reason: 'RegionImmutable'; message: string; cell: CellRow };

export type RemoveCellResult =
  | { removed: true; existed: boolean }
  | { removed: false; reason: 'HasCustomers'; message: string; customers: number; reserved: number };

interface DbCell {
  name: string;
  region: string;
  state: CellState;
  ready: boolean;
  weight: number;
  max_customers: number;
  customers: number;
  reserved: number;
  max_devices: number | null;
  devices: number;
  endpoints: Record<string, string>;
  cordoned_by: string | null;
  cordoned_at: Date | null;
  created_at: Date;
  updated_at: Date;
}

export const CELL_COLUMNS =
  'name, region, state, ready, weight, max_customers, customers, reserved, max_devices, devices, endpoints, cordoned_by, cordoned_at, created_at, updated_at';

export function cellFromRow(r: DbCell): CellRow {
  return {
    name: r.name,
    region: r.region,
    state: r.state,
    ready: r.ready,
    weight: r.weight,
    maxCustomers: r.max_customers,
    customers: r.customers,
    reserved: r.reserved,
    maxDevices: r.max_devices,
    devices: r.devices,
    endpoints: r.endpoints,
    cordonedBy: r.cordoned_by,
    cordonedAt: r.cordoned_at,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/**
 * Inserts or updates a cell's description; its counters and its cordon are left alone. The region of an
 * existing cell never changes (it is the compliance boundary of its customers).
 */
export async function syncCell(db: Queryable, cell: CellDescription): Promise<SyncCellResult> {
  const { rows } = await db.query<DbCell>(
    `INSERT INTO cells (name, region, state, ready, weight, max_customers, max_devices, endpoints)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (name) DO UPDATE
        SET state = EXCLUDED.state, ready = EXCLUDED.ready, weight = EXCLUDED.weight,
            max_customers = EXCLUDED.max_customers, max_devices = EXCLUDED.max_devices,
            endpoints = EXCLUDED.endpoints, updated_at = now()
      WHERE cells.region = EXCLUDED.region
     RETURNING ${CELL_COLUMNS}`,
    [cell.name, cell.region, cell.state, cell.ready, cell.weight, cell.maxCustomers, cell.maxDevices ?? null, JSON.stringify(cell.endpoints ?? {})],
  );
  const row = rows[0];
  if (row) return { ok: true, cell: cellFromRow(row) };
  const existing = await getCell(db, cell.name);
  if (!existing) throw new Error(`cell ${cell.name} vanished during syncCell`);
  return {
    ok: false,
    reason: 'RegionImmutable',
    message: `cell ${cell.name} is in region ${existing.region}; its region cannot change to ${cell.region}`,
    cell: existing,
  };
}

/** Deletes a cell's row unless customers live there (or are on their way): then says why. */
export async function removeCell(db: Queryable, name: string): Promise<RemoveCellResult> {
  try {
    const { rowCount } = await db.query('DELETE FROM cells WHERE name = $1 AND customers = 0 AND reserved = 0', [name]);
    if (rowCount) return { removed: true, existed: true };
  } catch (err) {
    if ((err as { code?: string }).code !== '23503') throw err; // FK: a placement still points here
  }
  const cell = await getCell(db, name);
  if (!cell) return { removed: true, existed: false };
  return {
    removed: false,
    reason: 'HasCustomers',
    message: `cell ${name} still holds ${cell.customers} customers (${cell.reserved} more reserved by migrations); drain it first`,
    customers: cell.customers,
    reserved: cell.reserved,
  };
}

export type CordonResult =
  | { cordoned: true; cell: CellRow; /** True when this call took it (it was free, or stale). */ taken: boolean }
  | { cordoned: false; reason: 'UnknownCell'; message: string }
  | { cordoned: false; reason: 'CordonedByOther'; holder: string; message: string; cell: CellRow };

/**
 * Closes `cell` to new customers on behalf of the Migration `holder` (a drain); idempotent for the
 * same holder. Refused while another Migration holds it, unless that one is named in `replacing`
 * (its holder no longer exists). The UPDATE waits for placements in flight that locked the row,
 * and every placement after it sees the cordon: once this returns, only a migration's cut-over
 * can still bring a customer into the cell.
 */
export async function cordonCell(db: Queryable, cell: string, holder: string, options: { replacing?: string } = {}): Promise<CordonResult> {
  const { rows } = await db.query<DbCell>(
    `UPDATE cells SET cordoned_by = $2, cordoned_at = now()
      WHERE name = $1 AND (cordoned_by IS NULL OR cordoned_by = $3)
     RETURNING ${CELL_COLUMNS}`,
    [cell, holder, options.replacing ?? null],
  );
  if (rows[0]) return { cordoned: true, cell: cellFromRow(rows[0]), taken: true };
  const existing = await getCell(db, cell);
  if (!existing) return { cordoned: false, reason: 'UnknownCell', message: `there is no cell ${cell} in the control-plane database` };
  if (existing.cordonedBy === holder) return { cordoned: true, cell: existing, taken: false };
  const holderName = existing.cordonedBy ?? '';
  return {
    cordoned: false,
    reason: 'CordonedByOther',
    holder: holderName,
    message: `cell ${cell} is already ${describeCordon(holderName)}`,
    cell: existing,
  };
}

/** Lifts every cordon `holder` holds; returns the cells it opened again. */
export async function releaseCordons(db: Queryable, holder: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    'UPDATE cells SET cordoned_by = NULL, cordoned_at = NULL WHERE cordoned_by = $1 RETURNING name',
    [holder],
  );
  return rows.map((r) => r.name).sort();
}

export async function getCell(db: Queryable, name: string): Promise<CellRow | undefined> {
  const { rows } = await db.query<DbCell>(`SELECT ${CELL_COLUMNS} FROM cells WHERE name = $1`, [name]);
  return rows[0] ? cellFromRow(rows[0]) : undefined;
}

export async function listCells(db: Queryable): Promise<CellRow[]> {
  const { rows } = await db.query<DbCell>(`SELECT ${CELL_COLUMNS} FROM cells ORDER BY name`);
  return rows.map(cellFromRow);
}

/** Counts recomputed from the placements, for checks and repairs: should equal the counters. */
export async function countCellPlacements(db: Queryable): Promise<Map<string, { customers: number; devices: number }>> {
  const { rows } = await db.query<{ cell: string; customers: number; devices: number }>(
    'SELECT cell, count(*)::bigint AS customers, coalesce(sum(expected_devices), 0)::bigint AS devices FROM placements GROUP BY cell',
  );
  return new Map(rows.map((r) => [r.cell, { customers: r.customers, devices: r.devices }]));
}

// --- A move's reservation of room on its receiving cell ----------------------------------------

/** Which of these cells are in the table. */
export async function knownCells(db: Queryable, names: readonly string[]): Promise<Set<string>> {
  const { rows } = await db.query<{ name: string }>('SELECT name FROM cells WHERE name = ANY($1::text[])', [names]);
  return new Set(rows.map((r) => r.name));
}

/**
 * Reserves one customer of room on `cell` for a move. With `withinCapacity`, only while placed plus
 * reserved customers stay under max_customers; false when that refused it (or the cell is unknown).
 */
export async function reserveCapacity(db: Queryable, cell: string, options: { withinCapacity?: boolean } = {}): Promise<boolean> {
  const { rowCount } = await db.query(
    `UPDATE cells SET reserved = reserved + 1 WHERE name = $1${options.withinCapacity ? ' AND customers + reserved < max_customers' : ''}`,
    [cell],
  );
  return rowCount === 1;
}

/** Gives back a move's reservation (none when `cell` is null); `moves`: that many moves' at once (a batch). */
export async function releaseCapacity(db: Queryable, cell: string | null, moves = 1): Promise<void> {
  if (cell === null) return;
  await db.query('UPDATE cells SET reserved = greatest(reserved - $2, 0) WHERE name = $1', [cell, moves]);
}
