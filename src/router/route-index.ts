// The router's in-memory copy of the routing table, compact enough for millions of customers:
// a Map from customer id to a slot number, and the slot's cell, state, epoch and version in typed
// arrays (cell names interned to small integers). About 100 bytes per customer at 1,000,000.
//
// It is fed only in version order (IndexSync), so `version` is a cursor of the change feed: every
// change up to it has been applied. Subscribers (the SSE change stream) see changes in that order.
import type { RouteChange } from '../store/placements.js';

export type RouteState = 'Active' | 'Fenced' | 'Deleted';
const STATES: readonly RouteState[] = ['Active', 'Fenced', 'Deleted'];
const STATE_CODE: Record<RouteState, number> = { Active: 0, Fenced: 1, Deleted: 2 };
const DELETED = 2;
const NO_CELL = 0xffff;

export interface CellInfo {
  name: string;
  region: string;
  state: string;
  ready: boolean;
  endpoints: Record<string, string>;
}

export interface Route {
  customer: string;
  cell: string;
  region: string | null;
  epoch: number;
  state: 'Active' | 'Fenced';
  version: number;
  endpoints: Record<string, string>;
}

/** A snapshot page: rows in customer id order after `after`. */
export interface SnapshotPage {
  /** Start the change stream at the `version` of the first page: with it the copy is consistent. */
  version: number;
  items: RouteChange[];
  /** The `after` of the next page, or null on the last page. */
  next: string | null;
}

export type ChangeListener = (change: RouteChange) => void;

export class RouteIndex {
  private readonly slots = new Map<string, number>();
  private keys: string[] = [];
  private cellIds: Uint16Array;
  private states: Uint8Array;
  private epochs: Uint32Array;
  private versions: Float64Array;
  private count = 0;
  private live = 0;

  private readonly cellNames: string[] = [];
  private readonly cellIdByName = new Map<string, number>();
  private readonly cellInfo = new Map<string, CellInfo>();
  /** Per interned cell id: the pre-serialised tail of a route answer (region and endpoints). */
  private cellJsonTail: string[] = [];

  // Snapshot paging order: slots sorted by customer id, plus slots added since the last sort.
  private sorted = new Int32Array(0);
  private sortedVersion = 0;
  private unsorted: number[] = [];
  private lastMerge = 0;

  private readonly listeners = new Set<ChangeListener>();

  /** Bumps whenever the cell descriptions are replaced. */
  cellsGeneration = 0;
  /** Every change with version <= this has been applied. */
  version = 0;
  /** True once the initial load has completed. */
  loaded = false;

  constructor(initialCapacity = 1024) {
    const n = Math.max(16, initialCapacity);
    this.cellIds = new Uint16Array(n);
    this.states = new Uint8Array(n);
    this.epochs = new Uint32Array(n);
    this.versions = new Float64Array(n);
  }

  /** Customers currently placed (deleted ones excluded). */
  get size(): number {
    return this.live;
  }

  /** Makes room for `n` customers in one step (before a bulk load). */
  reserve(n: number): void {
    if (n > this.versions.length) this.grow(n);
  }

  private grow(min: number): void {
    const n = Math.max(min, Math.ceil(this.versions.length * 1.5));
    const cellIds = new Uint16Array(n);
    cellIds.set(this.cellIds);
    const states = new Uint8Array(n);
    states.set(this.states);
    const epochs = new Uint32Array(n);
    epochs.set(this.epochs);
    const versions = new Float64Array(n);
    versions.set(this.versions);
    this.cellIds = cellIds;
    this.states = states;
    this.epochs = epochs;
    this.versions = versions;
  }

  private internCell(name: string): number {
    let id = this.cellIdByName.get(name);
    if (id === undefined) {
      id = this.cellNames.length;
      if (id >= NO_CELL) throw new Error('more than 65534 distinct cells');
      this.cellNames.push(name);
      this.cellIdByName.set(name, id);
      this.cellJsonTail[id] = this.tailFor(name);
    }
    return id;
  }

  private tailFor(name: string): string {
    const info = this.cellInfo.get(name);
    return `,"region":${JSON.stringify(info?.region ?? null)},"endpoints":${JSON.stringify(info?.endpoints ?? {})}}`;
  }

  /** Replaces the cell descriptions (region, endpoints) served with every route. */
  setCells(cells: readonly CellInfo[]): void {
    this.cellsGeneration++;
    this.cellInfo.clear();
    for (const c of cells) this.cellInfo.set(c.name, c);
    for (const [name, id] of this.cellIdByName) this.cellJsonTail[id] = this.tailFor(name);
  }

  cells(): CellInfo[] {
    return [...this.cellInfo.values()];
  }

  /**
   * Applies one change of the feed. Changes must come in version order; a change not newer than
   * what the entry already holds is ignored. Returns whether it changed anything.
   */
  apply(change: RouteChange): boolean {
    let slot = this.slots.get(change.customerId);
    if (slot !== undefined && this.versions[slot]! >= change.version) return false;
    const state = STATE_CODE[change.state];
    if (slot === undefined) {
      if (state === DELETED) {
        this.version = Math.max(this.version, change.version);
        return false; // never knew it: nothing to forget
      }
      slot = this.count++;
      if (slot >= this.versions.length) this.grow(slot + 1);
      this.slots.set(change.customerId, slot);
      this.keys[slot] = change.customerId;
      this.unsorted.push(slot);
      this.live++;
    } else if (this.states[slot] === DELETED && state !== DELETED) {
      this.live++;
    } else if (this.states[slot] !== DELETED && state === DELETED) {
      this.live--;
    }
    this.cellIds[slot] = change.cell === null ? NO_CELL : this.internCell(change.cell);
    this.states[slot] = state;
    this.epochs[slot] = change.epoch;
    this.versions[slot] = change.version;
    this.version = Math.max(this.version, change.version);
    for (const listener of this.listeners) listener(change);
    return true;
  }

  applyAll(changes: readonly RouteChange[]): void {
    for (const c of changes) this.apply(c);
  }

  /**
   * Applies this replica's own committed writes without reading them back, but only when they
   * are exactly the next versions of the feed (consecutive from version + 1): then nothing can
   * sit between them and what the index already holds. Returns false (and applies nothing) when
   * they are not; the change feed brings them then.
   */
  applyIfNext(changes: readonly RouteChange[]): boolean {
    if (changes.length === 0) return true;
    const sorted = [...changes].sort((a, b) => a.version - b.version);
    for (let i = 0; i < sorted.length; i++) if ((sorted[i] as RouteChange).version !== this.version + 1 + i) return false;
    this.applyAll(sorted);
    return true;
  }

  /** The route of a customer, or undefined when unknown or deleted. */
  lookup(customer: string): Route | undefined {
    const slot = this.slots.get(customer);
    if (slot === undefined || this.states[slot] === DELETED) return undefined;
    const cell = this.cellNames[this.cellIds[slot]!] as string;
    const info = this.cellInfo.get(cell);
    return {
      customer,
      cell,
      region: info?.region ?? null,
      epoch: this.epochs[slot]!,
      state: STATES[this.states[slot]!] as 'Active' | 'Fenced',
      version: this.versions[slot]!,
      endpoints: info?.endpoints ?? {},
    };
  }

  /**
   * The JSON answer for a customer, built without intermediate objects (the hot path of the
   * router), with the cell and epoch for headers. Undefined when unknown or deleted.
   */
  lookupJson(customer: string): { json: string; cell: string; epoch: number; fenced: boolean } | undefined {
    const slot = this.slots.get(customer);
    if (slot === undefined) return undefined;
    const state = this.states[slot]!;
    if (state === DELETED) return undefined;
    const cellId = this.cellIds[slot]!;
    const cell = this.cellNames[cellId] as string;
    const epoch = this.epochs[slot]!;
    // customer ids and cell names are validated DNS names: nothing in them needs JSON escaping
    const json = `{"customer":"${customer}","cell":"${cell}","epoch":${epoch},"state":"${STATES[state]}","version":${this.versions[slot]}${this.cellJsonTail[cellId]}`;
    return { json, cell, epoch, fenced: state === 1 };
  }

  private ensureSorted(maxAgeMs: number): void {
    if (this.unsorted.length === 0) return;
    const now = Date.now();
    if (this.sorted.length > 0 && now - this.lastMerge < maxAgeMs) return;
    const keys = this.keys;
    const added = this.unsorted.sort((a, b) => ((keys[a] as string) < (keys[b] as string) ? -1 : 1));
    const merged = new Int32Array(this.sorted.length + added.length);
    let i = 0;
    let j = 0;
    let k = 0;
    while (i < this.sorted.length && j < added.length) {
      const a = this.sorted[i]!;
      const b = added[j]!;
      merged[k++] = (keys[a] as string) < (keys[b] as string) ? (i++, a) : (j++, b);
    }
    while (i < this.sorted.length) merged[k++] = this.sorted[i++]!;
    while (j < added.length) merged[k++] = added[j++]!;
    this.sorted = merged;
    this.unsorted = [];
    this.sortedVersion = this.version;
    this.lastMerge = now;
  }

  /**
   * One page of the table in customer id order (the order is the same on every replica). Each
   * row holds its latest state; the page's `version` is one at which the order was complete,
   * so a client that pages through and then follows changes from its first page's version
   * ends with an exact copy (keeping, per customer, the row with the highest version).
   */
  snapshotPage(after: string | undefined, limit: number, maxSortAgeMs = 1000): SnapshotPage {
    this.ensureSorted(maxSortAgeMs);
    const sorted = this.sorted;
    const keys = this.keys;
    let lo = 0;
    let hi = sorted.length;
    if (after !== undefined) {
      while (lo < hi) {
        const mid = (lo + hi) >>> 1;
        if ((keys[sorted[mid]!] as string) <= after) lo = mid + 1;
        else hi = mid;
      }
    }
    const items: RouteChange[] = [];
    let i = lo;
    for (; i < sorted.length && items.length < limit; i++) {
      const slot = sorted[i]!;
      if (this.states[slot] !== DELETED) items.push(this.changeAt(slot));
    }
    const next = i < sorted.length && items.length > 0 ? (items[items.length - 1] as RouteChange).customerId : null;
    return { version: this.unsorted.length === 0 ? this.version : this.sortedVersion, items, next };
  }

  /**
   * Slots of the customers changed after `since`, in version order (compacted: each customer
   * once, at its latest state). Slots, not objects, so that a full resync stays small.
   */
  changedSlotsSince(since: number): number[] {
    const out: number[] = [];
    const versions = this.versions;
    for (let slot = 0; slot < this.count; slot++) if (versions[slot]! > since) out.push(slot);
    // Slots are mostly created in version order: the adaptive sort is close to linear here.
    return out.sort((a, b) => versions[a]! - versions[b]!);
  }

  /** The current state of a slot, as a change-feed entry. */
  changeAt(slot: number): RouteChange {
    const cellId = this.cellIds[slot]!;
    return {
      customerId: this.keys[slot] as string,
      cell: cellId === NO_CELL ? null : (this.cellNames[cellId] as string),
      state: STATES[this.states[slot]!] as RouteState,
      epoch: this.epochs[slot]!,
      version: this.versions[slot]!,
    };
  }

  /** The latest state of every customer changed after `since`, in version order. */
  changesSince(since: number): RouteChange[] {
    return this.changedSlotsSince(since).map((slot) => this.changeAt(slot));
  }

  /** Calls `listener` with every change applied from now on, in version order. */
  subscribe(listener: ChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get subscriberCount(): number {
    return this.listeners.size;
  }
}
