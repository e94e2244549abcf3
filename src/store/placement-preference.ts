// Where placement would put a customer today, load ignored: the cell a split's Migration
// (`customers: {preferTarget: true}`) compares with the target, and the rebalancer's notion of a
// customer's "home". It asks decidePlacement itself, so it can never disagree with the router.
import { type CellView, decidePlacement } from './placement-decision.js';

/** What the preference needs to know of a placed customer. */
export interface PreferenceCustomer {
  id: string;
  /** The region the customer is bound to (placements.region), or null. */
  region: string | null;
}

/**
 * The cells as the preference sees them: the same names, regions, states, cordons and weights as
 * placement, but empty and Ready. Capacity and readiness change where a new customer lands *now*;
 * they are not where a customer belongs (a move checks capacity itself, and reserves it).
 */
export function preferenceCells(cells: readonly CellView[]): CellView[] {
  return cells.map((c) => ({
    name: c.name,
    region: c.region,
    state: c.state,
    ready: true,
    cordonedBy: c.cordonedBy ?? null,
    weight: c.weight,
    maxCustomers: Number.MAX_SAFE_INTEGER,
    customers: 0,
    reserved: 0,
    maxDevices: null,
    devices: 0,
  }));
}

/** The cell weighted rendezvous hashing prefers for this customer among `cells` (from preferenceCells), or undefined when none is eligible. */
export function preferredCell(customer: PreferenceCustomer, cells: readonly CellView[]): string | undefined {
  const d = decidePlacement({ customerId: customer.id, region: customer.region }, cells, 'Hash');
  return d.kind === 'Placed' ? d.cell : undefined;
}

/**
 * The customers (of one source cell, in their given order) whose placement now prefers `target`:
 * the split's selection. Pinned customers stay where their pin says; a customer bound to a region
 * never prefers a cell of another one (decidePlacement excludes it).
 */
export function customersPreferring(
  customers: Iterable<PreferenceCustomer>,
  cells: readonly CellView[],
  target: string,
  pinned: ReadonlySet<string> = new Set(),
): string[] {
  const view = preferenceCells(cells);
  const chosen: string[] = [];
  for (const c of customers) {
    if (pinned.has(c.id)) continue;
    if (preferredCell(c, view) === target) chosen.push(c.id);
  }
  return chosen;
}
