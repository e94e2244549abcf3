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

/** Why a cell cannot take this customer, or undefined when it can. Weight is judged separately. */
export function cellExclusion(cell: CellView, request: PlacementRequest): CellExclusion | undefined {
  const exclude = (reason: ExclusionReason, message: string): CellExclusion => ({ cell: cell.name, reason, message });
  if (request.region != null && cell.region !== request.region) {
    return exclude('OtherRegion', `in region ${cell.region}, not ${request.region}`);
  }
  if (cell.state !== 'Active') return exclude('NotActive', `${cell.state}, takes no new customers`);
  if (!cell.ready) return exclude('NotReady', 'not Ready');
  const used = cell.customers + (cell.reserved ?? 0);
  if (used >= cell.maxCustomers) {
    const held = cell.reserved ? ` incl. ${cell.reserved} reserved by migrations` : '';
    return exclude('Full', `full (${used}/${cell.maxCustomers} customers${held})`);
  }
  const devices = request.expectedDevices ?? 0;
  if (cell.maxDevices != null && (cell.devices ?? 0) + devices > cell.maxDevices) {
    return exclude('DevicesFull', `no room for ${devices} devices (${cell.devices ?? 0}/${cell.maxDevices} devices)`);
  }
  return undefined;
}

function spare(cell: CellView): number {
  return cell.maxCustomers - cell.customers - (cell.reserved ?? 0);
}

function describeExclusions(exclusions: readonly CellExclusion[]): string {
  return exclusions.map((e) => `${e.cell} ${e.message}`).join('; ');
}

/**
 * Decides the cell of a new customer. Eligible: Active, Ready, in the bound region (if any), under
 * maxCustomers (and maxDevices). `Hash` ranks eligible cells of non-zero weight by weighted
 * rendezvous hashing of the customer id; `LeastLoaded` by spare customer capacity (ties by hash).
 * A pin must name an eligible cell (weight does not matter for a pin).
 */
export function decidePlacement(
  request: PlacementRequest,
  cells: readonly CellView[],
  strategy: PlacementStrategy = 'Hash',
): PlacementDecision {
  const unschedulable = (reason: string, exclusions: readonly CellExclusion[] = []): PlacementDecision => ({
    kind: 'Unschedulable',
    reason,
    exclusions,
  });
  if (cells.length === 0) return unschedulable('no cells are registered');

  if (request.cell != null) {
    const pinned = cells.find((c) => c.name === request.cell);
    if (!pinned) return unschedulable(`pinned cell ${request.cell} does not exist`);
    const why = cellExclusion(pinned, request);
    if (why) return unschedulable(`pinned cell ${why.cell} is ${why.message}`, [why]);
    return { kind: 'Placed', cell: pinned.name, candidates: [pinned.name] };
  }

  if (request.region != null && !cells.some((c) => c.region === request.region)) {
    const regions = [...new Set(cells.map((c) => c.region))].sort();
    return unschedulable(`no cell in region ${request.region} (cells exist in ${regions.join(', ')})`);
  }

  const eligible: CellView[] = [];
  let exclusions: CellExclusion[] | undefined;
  for (const cell of cells) {
    const why =
      cellExclusion(cell, request) ??
      (cell.weight > 0 ? undefined : { cell: cell.name, reason: 'ZeroWeight' as const, message: 'has weight 0 (pinned customers only)' });
    if (why) (exclusions ??= []).push(why);
    else eligible.push(cell);
  }
  if (eligible.length === 0) {
    const all = exclusions ?? [];
    const where = request.region != null ? ` in region ${request.region}` : '';
    // Cells of other regions are listed last and briefly: they were never candidates.
    const local = all.filter((e) => e.reason !== 'OtherRegion');
    const other = all.filter((e) => e.reason === 'OtherRegion').map((e) => e.cell);
    const tail = other.length ? `; other regions: ${other.join(', ')}` : '';
    return unschedulable(`no eligible cell${where}: ${describeExclusions(local)}${tail}`, all);
  }

  const customerHash: U64 = hash64(request.customerId);
  const scored = eligible.map((cell) => ({
    cell,
    score: rendezvousScore(customerHash, cell.name, cell.weight),
  }));
  if (strategy === 'LeastLoaded') {
    scored.sort((a, b) => spare(b.cell) - spare(a.cell) || b.score - a.score || (a.cell.name < b.cell.name ? -1 : 1));
  } else {
    scored.sort((a, b) => b.score - a.score || (a.cell.name < b.cell.name ? -1 : 1));
  }
  const candidates = scored.map((s) => s.cell.name);
  return { kind: 'Placed', cell: candidates[0] as string, candidates };
}
