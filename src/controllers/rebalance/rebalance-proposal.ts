// The rebalance proposal: a pure function of the cells, their customers (sizes, bindings, pins)
// and the goal. It moves as few customers as it can, from the cells above their weighted share to
// those below, and never breaks a region binding, a pin, a capacity or a floor, nor makes a cell
// hotter than the hottest one was. No I/O, no clock: the reconciler reads, this decides.
import { createHash } from 'node:crypto';
import type { RebalanceMetric } from '../../crds/cell-rebalance-policy.js';
import type { CellView } from '../../store/placement-decision.js';
import { hash64 } from '../../store/rendezvous-hash.js';

/** What the proposal needs to know of a cell: what placement knows of it (a row of the `cells` table). */
export type RebalanceCell = CellView;

/** A placed customer of one of the cells. */
export interface RebalanceCustomer {
  id: string;
  cell: string;
  /** The region it is bound to, or null. */
  region: string | null;
  /** Pinned by a CustomerPlacement's spec.cell, or in a move right now: never proposed. */
  pinned: boolean;
  devices: number;
  /** Measured (src/store/customer-sizes.ts); undefined: never sampled, counts as 0. */
  rows?: number;
  bytes?: number;
}

export interface RebalanceGoal {
  metric: RebalanceMetric;
  /** No cell above (100 + this)% of its weighted share. */
  maxSkewPercent: number;
  /** At most this many moves. */
  maxMoves: number;
  /** No cell is taken below this many customers. */
  minCustomersPerCell: number;
}

export interface ProposedMove {
  customer: string;
  from: string;
  to: string;
  /** Its load in the goal metric. */
  size: number;
  why: string;
}

export interface CellLoad {
  cell: string;
  load: number;
  /** Its weighted share of the total load. */
  share: number;
  after: number;
}

export interface Proposal {
  /** A digest of the moves: what spec.approve must name. Empty when there are no moves. */
  id: string;
  metric: RebalanceMetric;
  moves: ProposedMove[];
  /** How far the hottest cell is above its share, in percent (0: none is above). */
  skewBefore: number;
  skewAfter: number;
  reachesGoal: boolean;
  cells: CellLoad[];
  /** Cells of the scope left out of the balance, and why. */
  ignored: { cell: string; why: string }[];
  /** One sentence for a person. */
  summary: string;
}

/** The load of one customer in the goal metric. */
export function customerSize(c: RebalanceCustomer, metric: RebalanceMetric): number {
  switch (metric) {
    case 'Customers':
      return 1;
    case 'Devices':
      return c.devices;
    case 'Rows':
      return c.rows ?? 0;
    case 'Bytes':
      return c.bytes ?? 0;
  }
}

/** Skew in percent: how far the load/share ratio of the hottest cell is above 1 (0 when all are at or below their share). */
export function skewPercent(loads: readonly number[], weights: readonly number[]): number {
  let total = 0;
  let weight = 0;
  for (let i = 0; i < loads.length; i++) {
    total += loads[i] as number;
    weight += weights[i] as number;
  }
  if (total <= 0 || weight <= 0) return 0;
  let worst = 0;
  for (let i = 0; i < loads.length; i++) {
    const share = (total * (weights[i] as number)) / weight;
    worst = Math.max(worst, (loads[i] as number) / share - 1);
  }
  return worst * 100;
}

function whyLeftOut(cell: RebalanceCell): string | undefined {
  if (cell.weight <= 0) return 'weight 0 (pinned customers only)';
  if (cell.state !== 'Active') return `${cell.state}`;
  if (cell.cordonedBy) return `cordoned by Migration ${cell.cordonedBy}`;
  return undefined;
}

const round2 = (n: number) => Math.round(n * 100) / 100;

interface Side {
  cell: RebalanceCell;
  index: number;
  load: number;
  share: number;
  customers: number;
  devices: number;
  /** Its customers' indices by size, largest first; sorted when the cell first gives. */
  bySize?: Int32Array;
}

/** The proposal id: a digest of the moves, so an approval names exactly one set of moves. */
export function proposalId(moves: readonly Pick<ProposedMove, 'customer' | 'from' | 'to'>[]): string {
  if (moves.length === 0) return '';
  const h = createHash('sha256');
  for (const m of moves) h.update(`${m.customer}\u0000${m.from}\u0000${m.to}\n`);
  return h.digest('hex').slice(0, 12);
}

/**
 * Proposes moves until no cell is above (100 + maxSkewPercent)% of its weighted share, or the
 * limits stop it. Each move takes the hottest cell's largest customer that fits the coldest
 * receiver's room below the goal (fewest moves), or failing that its smallest one that still
 * lowers the hottest cell without making the receiver as hot. Every move keeps: the customer's
 * region binding, its pin, the receiver's capacity (customers and devices), the donor's floor.
 */
export function proposeRebalance(cells: readonly RebalanceCell[], customers: readonly RebalanceCustomer[], goal: RebalanceGoal): Proposal {
  const ignored: { cell: string; why: string }[] = [];
  const sides: Side[] = [];
  const byName = new Map<string, Side>();
  for (const cell of [...cells].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
    const why = whyLeftOut(cell);
    if (why) {
      ignored.push({ cell: cell.name, why });
      continue;
    }
    const side: Side = { cell, index: sides.length, load: 0, share: 0, customers: cell.customers + (cell.reserved ?? 0), devices: cell.devices ?? 0 };
    sides.push(side);
    byName.set(cell.name, side);
  }

  // Loads, and the customers of each cell (as indices into `customers`).
  const sizes = new Float64Array(customers.length);
  const members: number[][] = sides.map(() => []);
  let total = 0;
  for (let i = 0; i < customers.length; i++) {
    const c = customers[i] as RebalanceCustomer;
    const side = byName.get(c.cell);
    if (!side) continue;
    const s = customerSize(c, goal.metric);
    sizes[i] = s;
    side.load += s;
    total += s;
    (members[side.index] as number[]).push(i);
  }
  // The routing table's counter and the customers read agree; a stale counter must not hide a floor.
  for (const s of sides) s.customers = Math.max(s.customers, (members[s.index] as number[]).length + (s.cell.reserved ?? 0));
  let weight = 0;
  for (const s of sides) weight += s.cell.weight;
  for (const s of sides) s.share = weight > 0 ? (total * s.cell.weight) / weight : 0;

  const ratio = (s: Side) => (s.share > 0 ? s.load / s.share : s.load > 0 ? Infinity : 0);
  const skewNow = () => Math.max(0, ...sides.map((s) => (ratio(s) - 1) * 100));
  const limit = 1 + goal.maxSkewPercent / 100;
  const skewBefore = sides.length > 0 ? skewNow() : 0;
  const loadsBefore = sides.map((s) => s.load);

  const taken = new Uint8Array(customers.length);
  const moves: ProposedMove[] = [];
  let tie: Float64Array | undefined;
  const sorted = (s: Side): Int32Array => {
    if (!s.bySize) {
      const list = Int32Array.from(members[s.index] as number[]);
      // Ties broken by a hash of the id (then the id): the order, hence the proposal, does not depend on the input's order.
      const t = (tie ??= new Float64Array(customers.length));
      for (const i of list) {
        const h = hash64((customers[i] as RebalanceCustomer).id);
        t[i] = h.hi * 4294967296 + h.lo;
      }
      list.sort(
        (a, b) =>
          (sizes[b] as number) - (sizes[a] as number) ||
          (t[a] as number) - (t[b] as number) ||
          ((customers[a] as RebalanceCustomer).id < (customers[b] as RebalanceCustomer).id ? -1 : 1),
      );
      s.bySize = list;
    }
    return s.bySize;
  };
  const fits = (i: number, donor: Side, receiver: Side): boolean => {
    const c = customers[i] as RebalanceCustomer;
    if (taken[i] || c.pinned || !((sizes[i] as number) > 0)) return false;
    if (c.region !== null && c.region !== receiver.cell.region) return false;
    if (receiver.customers + 1 > receiver.cell.maxCustomers) return false;
    if (receiver.cell.maxDevices != null && receiver.devices + c.devices > receiver.cell.maxDevices) return false;
    return donor.customers - 1 >= goal.minCustomersPerCell;
  };

  while (moves.length < goal.maxMoves && sides.length > 1) {
    const hot = [...sides].sort((a, b) => ratio(b) - ratio(a) || (a.cell.name < b.cell.name ? -1 : 1))[0];
    if (!hot || ratio(hot) <= limit) break;
    const hotRatio = ratio(hot);
    const receivers = sides.filter((s) => s !== hot && s.cell.ready && ratio(s) < hotRatio).sort((a, b) => ratio(a) - ratio(b));
    const list = sorted(hot);
    let chosen: { i: number; to: Side } | undefined;
    for (const to of receivers) {
      // The most the receiver can take and stay within the goal, and the least the hot cell must give.
      const room = to.share * limit - to.load;
      const cap = Math.min(room, hot.load - hot.share);
      // Largest customer of size <= cap (the list is largest first).
      let lo = 0;
      let hi = list.length;
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((sizes[list[mid] as number] as number) > cap) lo = mid + 1;
        else hi = mid;
      }
      for (let k = lo; k < list.length && !chosen; k++) if (fits(list[k] as number, hot, to)) chosen = { i: list[k] as number, to };
      // Else the smallest one that still lowers the hottest cell without making the receiver as hot.
      for (let k = lo - 1; k >= 0 && !chosen; k--) {
        const i = list[k] as number;
        if ((to.load + (sizes[i] as number)) / to.share >= hotRatio) break;
        if (fits(i, hot, to)) chosen = { i, to };
      }
      if (chosen) break;
    }
    // The hottest cell can give nothing: the skew cannot go below its ratio.
    if (!chosen) break;
    const c = customers[chosen.i] as RebalanceCustomer;
    const size = sizes[chosen.i] as number;
    const to = chosen.to;
    moves.push({
      customer: c.id,
      from: hot.cell.name,
      to: to.cell.name,
      size,
      why: `${hot.cell.name} holds ${Math.round(hotRatio * 100)}% of its share (goal ≤ ${Math.round(limit * 100)}%), ${to.cell.name} ${Math.round(ratio(to) * 100)}%; ${c.id} holds ${size} ${goal.metric.toLowerCase()}`,
    });
    taken[chosen.i] = 1;
    hot.load -= size;
    hot.customers -= 1;
    hot.devices -= c.devices;
    to.load += size;
    to.customers += 1;
    to.devices += c.devices;
  }

  const skewAfter = sides.length > 0 ? skewNow() : 0;
  const reachesGoal = skewAfter <= goal.maxSkewPercent + 1e-9;
  const id = proposalId(moves);
  const summary =
    moves.length === 0
      ? skewBefore <= goal.maxSkewPercent + 1e-9
        ? `balanced: the hottest cell is ${round2(skewBefore)}% above its share (goal ≤ ${goal.maxSkewPercent}%)`
        : `skewed ${round2(skewBefore)}% above share (goal ≤ ${goal.maxSkewPercent}%) but no move is possible within the bindings, pins, capacities and floors`
      : `${moves.length} moves bring the skew from ${round2(skewBefore)}% to ${round2(skewAfter)}% (goal ≤ ${goal.maxSkewPercent}%)${reachesGoal ? '' : `; the limits stop short of the goal`}`;
  return {
    id,
    metric: goal.metric,
    moves,
    skewBefore: round2(skewBefore),
    skewAfter: round2(skewAfter),
    reachesGoal,
    cells: sides.map((s, k) => ({ cell: s.cell.name, load: loadsBefore[k] as number, share: round2(s.share), after: s.load })),
    ignored,
    summary,
  };
}
