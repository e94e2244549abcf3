// Where a new customer goes: a pure function of the request, the cells and the strategy (no I/O,
// no clock). The store commits its answer in one transaction (placements.ts); the router, the
// batch onboarding and the CustomerPlacement reconciler all decide through here.
import { hash64, rendezvousScore, type U64 } from './rendezvous-hash.js';

export type CellState = 'Active' | 'Cordoned' | 'Draining';
export type PlacementStrategy = 'Hash' | 'LeastLoaded';
export const PLACEMENT_STRATEGIES: readonly PlacementStrategy[] = ['Hash', 'LeastLoaded'];

/** What placement needs to know of a cell (a row of the `cells` table). */
export interface CellView {
  name: string;
  region: string;
  state: CellState;
  ready: boolean;
  /** The Migration whose drain closed this cell to new customers (src/store/cells.ts); null: none. */
  cordonedBy?: string | null;
  /** Share of new placements; 0 takes pinned customers only. */
  weight: number;
  maxCustomers: number;
  customers: number;
  /** Capacity held by migrations in flight. */
  reserved?: number;
  /** null/undefined: no device limit. */
  maxDevices?: number | null;
  devices?: number;
}

export interface PlacementRequest {
  customerId: string;
  /** Bind the customer to cells of this region (compliance boundary). */
  region?: string | null;
  /** Pin to this cell; it must be eligible. */
  cell?: string | null;
  expectedDevices?: number;
  labels?: Record<string, string>;
}

export type ExclusionReason = 'NotActive' | 'NotReady' | 'OtherRegion' | 'Full' | 'DevicesFull' | 'ZeroWeight';

export interface CellExclusion {
  cell: string;
  reason: ExclusionReason;
  /** A short phrase a person can act on, e.g. `full (100/100 customers)`. */
  message: string;
}

export type PlacementDecision =
  | {
      kind: 'Placed';
      cell: string;
      /** Every eligible cell, best first (`cell` is the first): the fallbacks if `cell` fills up meanwhile. */
      candidates: readonly string[];
    }
  | {
      kind: 'Unschedulable';
      /** One sentence naming each cell and why it was excluded. */
      reason: string;
      exclusions: readonly CellExclusion[];
    };

/** A drain's cordon as a person reads it: `cordoned by Migration eu-1a-drain (drain)`. */
export function describeCordon(migration: string): string {
  return `cordoned by Migration ${migration} (drain)`;
}

// Hot path (a million decisions in a bulk onboarding): no closures created per call.

function exclusion(cell: CellView, reason: ExclusionReason, message: string): CellExclusion {
  return { cell: cell.name, reason, message };
}

/** Why a cell cannot take this customer, or undefined when it can. Weight is judged separately. */
export function cellExclusion(cell: CellView, request: PlacementRequest): CellExclusion | undefined {
  if (request.region != null && cell.region !== request.region) {
    return exclusion(cell, 'OtherRegion', `in region ${cell.region}, not ${request.region}`);
  }
  if (cell.state !== 'Active') return exclusion(cell, 'NotActive', `${cell.state}, takes no new customers`);
  // A drain's cordon counts as not Active, whatever the spec says (the spec is Git's, the cordon ours).
  if (cell.cordonedBy) return exclusion(cell, 'NotActive', `${describeCordon(cell.cordonedBy)}, takes no new customers`);
  if (!cell.ready) return exclusion(cell, 'NotReady', 'not Ready');
  const used = cell.customers + (cell.reserved ?? 0);
  if (used >= cell.maxCustomers) {
    const held = cell.reserved ? ` incl. ${cell.reserved} reserved by migrations` : '';
    return exclusion(cell, 'Full', `full (${used}/${cell.maxCustomers} customers${held})`);
  }
  const devices = request.expectedDevices ?? 0;
  if (cell.maxDevices != null && (cell.devices ?? 0) + devices > cell.maxDevices) {
    return exclusion(cell, 'DevicesFull', `no room for ${devices} devices (${cell.devices ?? 0}/${cell.maxDevices} devices)`);
  }
  return undefined;
}

function spare(cell: CellView): number {
  return cell.maxCustomers - cell.customers - (cell.reserved ?? 0);
}

function unschedulable(reason: string, exclusions: readonly CellExclusion[] = []): PlacementDecision {
  return { kind: 'Unschedulable', reason, exclusions };
}

function describeUnschedulable(request: PlacementRequest, all: readonly CellExclusion[]): PlacementDecision {
  const where = request.region != null ? ` in region ${request.region}` : '';
  // Cells of other regions are listed last and briefly: they were never candidates.
  const local: string[] = [];
  const other: string[] = [];
  for (const e of all) {
    if (e.reason === 'OtherRegion') other.push(e.cell);
    else local.push(`${e.cell} ${e.message}`);
  }
  const tail = other.length ? `; other regions: ${other.join(', ')}` : '';
  return unschedulable(`no eligible cell${where}: ${local.join('; ')}${tail}`, all);
}

interface Scored {
  cell: CellView;
  score: number;
}

function byName(a: Scored, b: Scored): number {
  return a.cell.name < b.cell.name ? -1 : a.cell.name > b.cell.name ? 1 : 0;
}
function byScore(a: Scored, b: Scored): number {
  return b.score - a.score || byName(a, b);
}
function bySpare(a: Scored, b: Scored): number {
  return spare(b.cell) - spare(a.cell) || byScore(a, b);
}

const ZERO_WEIGHT = 'has weight 0 (pinned customers only)';

/**
 * Decides the cell of a new customer. Eligible: Active and not cordoned by a drain, Ready, in the bound region (if any), under
 * maxCustomers (and maxDevices). `Hash` ranks eligible cells of non-zero weight by weighted
 * rendezvous hashing of the customer id; `LeastLoaded` by spare customer capacity (ties by hash).
 * A pin must name an eligible cell (weight does not matter for a pin).
 */
export function decidePlacement(
  request: PlacementRequest,
  cells: readonly CellView[],
  strategy: PlacementStrategy = 'Hash',
): PlacementDecision {
  if (cells.length === 0) return unschedulable('no cells are registered');

  if (request.cell != null) {
    let pinned: CellView | undefined;
    for (const c of cells) if (c.name === request.cell) pinned = c;
    if (!pinned) return unschedulable(`pinned cell ${request.cell} does not exist`);
    const why = cellExclusion(pinned, request);
    if (why) return unschedulable(`pinned cell ${why.cell} is ${why.message}`, [why]);
    return { kind: 'Placed', cell: pinned.name, candidates: [pinned.name] };
  }

  let inRegion = request.region == null;
  for (let i = 0; i < cells.length && !inRegion; i++) inRegion = (cells[i] as CellView).region === request.region;
  if (!inRegion) {
    const regions = [...new Set(cells.map(regionOf))].sort();
    return unschedulable(`no cell in region ${request.region} (cells exist in ${regions.join(', ')})`);
  }

  const customerHash: U64 = hash64(request.customerId);
  const scored: Scored[] = [];
  let exclusions: CellExclusion[] | undefined;
  for (const cell of cells) {
    const why = cellExclusion(cell, request) ?? (cell.weight > 0 ? undefined : exclusion(cell, 'ZeroWeight', ZERO_WEIGHT));
    if (why) (exclusions ??= []).push(why);
    else scored.push({ cell, score: rendezvousScore(customerHash, cell.name, cell.weight) });
  }
  if (scored.length === 0) return describeUnschedulable(request, exclusions ?? []);
  scored.sort(strategy === 'LeastLoaded' ? bySpare : byScore);
  const candidates = new Array<string>(scored.length);
  for (let i = 0; i < scored.length; i++) candidates[i] = (scored[i] as Scored).cell.name;
  return { kind: 'Placed', cell: candidates[0] as string, candidates };
}

function regionOf(cell: CellView): string {
  return cell.region;
}
