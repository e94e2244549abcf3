// Writers that do not follow the router, for the proofs that the fence lives in the cell databases
// (issue 12): a gateway that caches a customer's route for 30 s and asks again only after an
// error, updating and deleting Mutable rows besides inserting readings; an ingestion job pinned to
// one cell's database that never asks; a transaction left open across the fence. Each keeps a
// ledger of what a database acknowledged and of every error it got. Shared by the integration suite
// (engine in-process, injected crashes) and the e2e one (the operator process, SIGKILL).
//
// Tables written: readings (customer_id, id, device, value) and devices (customer_id, device_id,
// name, firmware), keyed by (customer_id, id) and (customer_id, device_id).
import type pg from 'pg';
import { fenceRefusal } from '../../src/data/cell-fence-sql.js';
import { sleep } from './router-client.js';

export interface Outcome {
  /** Reading ids acknowledged (the INSERT or COMMIT returned). */
  acked: Set<number>;
  /** Errors that were not the fence's: must stay empty. */
  otherErrors: string[];
  /** Writes a cell database refused with the fence's SQLSTATE. */
  refused: number;
}

export function outcome(): Outcome {
  return { acked: new Set(), otherErrors: [], refused: 0 };
}

/** Counts a fence refusal, records anything else as an error a test must not see. */
export function classify(o: Outcome, err: unknown): void {
  const code = (err as { code?: string }).code;
  if (fenceRefusal(err)) o.refused++; // ZF001, or Citus's XX000 relaying it
  else o.otherErrors.push(`${code}: ${(err as Error).message}`);
}

/** Seeded pseudo-random numbers in [0, 1): the same points on every run with the same seed. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

/** The customer's cell as the router gives it, or undefined while it answers 503 (fenced). */
export type RouteLookup = () => Promise<string | undefined>;

export interface CachingGatewayOptions {
  customer: string;
  /** The customer's devices at the start (all with firmware 0); the gateway works on these. */
  devices: readonly string[];
  route: RouteLookup;
  /** A cell's database. */
  pool: (cell: string) => pg.Pool;
  /** Reading ids, unique across every writer. */
  nextId: () => number;
  /** How long a route is cached. Default 30 s. */
  ttlMs?: number;
  /** Pause between writes. Default 3 ms. */
  pauseMs?: number;
  /** Writing (and the first lookup) starts once this settles; default at once. */
  startWhen?: Promise<unknown>;
}

/**
 * (a) + (d): a gateway that caches the route for 30 s and asks again only after an error. Besides
 * readings it updates, deletes and re-creates devices (Mutable), one at a time, so the expected
 * final state of every device is the last acknowledged operation on it. An update that does not
 * find the firmware it last had acknowledged (a lost update), or a delete that finds nothing, is
 * recorded as an error.
 */
export class CachingGateway {
  readonly readings = outcome();
  /** Device → firmware, or null once deleted; only acknowledged operations. */
  readonly devices = new Map<string, number | null>();
  /** Lookups made (cache misses). */
  asked = 0;
  /** Cells that acknowledged at least one write. */
  readonly wroteIn = new Set<string>();
  /** Acknowledged device operations, and per cell. */
  readonly deviceOps = { updated: 0, deleted: 0, recreated: 0 };
  readonly deviceOpsIn = new Map<string, number>();
  private cached: { cell: string; until: number } | undefined;
  private running = true;
  private stopping!: () => void;
  private readonly stopped = new Promise<void>((r) => (this.stopping = r));
  private readonly done: Promise<void>;

  constructor(private readonly o: CachingGatewayOptions) {
    for (const d of o.devices) this.devices.set(d, 0);
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    this.stopping();
    await this.done;
  }

  /** Devices whose last acknowledged operation left them present, with their firmware. */
  expectedDevices(): Map<string, number> {
    return new Map([...this.devices].filter((e): e is [string, number] => e[1] !== null));
  }

  private async route(): Promise<string | undefined> {
    if (this.cached && Date.now() < this.cached.until) return this.cached.cell;
    this.asked++;
    const cell = await this.o.route();
    if (cell === undefined) return undefined; // 503: ask again after a while
    this.cached = { cell, until: Date.now() + (this.o.ttlMs ?? 30_000) };
    return cell;
  }

  private async loop(): Promise<void> {
    const { customer, devices } = this.o;
    await Promise.race([this.o.startWhen, this.stopped]);
    let n = 0;
    while (this.running) {
      const cell = await this.route();
      if (!cell) {
        await sleep(20);
        continue;
      }
      const pool = this.o.pool(cell);
      n++;
      const device = devices[n % devices.length] as string;
      const known = this.devices.get(device);
      try {
        if (n % 3 === 0) {
          if (known === null || known === undefined) {
            await pool.query(`INSERT INTO devices (customer_id, device_id, name, firmware) VALUES ($1, $2, 'again', 100)`, [customer, device]);
            this.devices.set(device, 100);
            this.deviceOps.recreated++;
          } else if (n % 2 === 0) {
            const r = await pool.query(`DELETE FROM devices WHERE customer_id = $1 AND device_id = $2`, [customer, device]);
            if (r.rowCount !== 1) throw new Error(`device ${device} was not there to delete`);
            this.devices.set(device, null);
            this.deviceOps.deleted++;
          } else {
            const r = await pool.query<{ firmware: number }>(
              `UPDATE devices SET firmware = firmware + 1 WHERE customer_id = $1 AND device_id = $2 RETURNING firmware`,
              [customer, device],
            );
            if (r.rows[0]?.firmware !== known + 1) throw new Error(`device ${device} had firmware ${String(r.rows[0]?.firmware)}, expected ${known + 1}: an update was lost`);
            this.devices.set(device, known + 1);
            this.deviceOps.updated++;
          }
        } else {
          const id = this.o.nextId();
          await pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'gw', 1)`, [customer, id]);
          this.readings.acked.add(id);
        }
        this.wroteIn.add(cell);
        if (n % 3 === 0) this.deviceOpsIn.set(cell, (this.deviceOpsIn.get(cell) ?? 0) + 1);
      } catch (err) {
        classify(this.readings, err);
        this.cached = undefined; // only an error makes it ask again
      }
      await sleep(this.o.pauseMs ?? 3);
    }
  }
}

/** (b): an ingestion job configured with one cell's database, which never asks the router. */
export class PinnedWriter {
  readonly readings = outcome();
  private running = true;
  private readonly done: Promise<void>;

  constructor(private readonly o: { customer: string; pool: pg.Pool; nextId: () => number; pauseMs?: number }) {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.running = false;
    await this.done;
  }

  private async loop(): Promise<void> {
    while (this.running) {
      const id = this.o.nextId();
      try {
        await this.o.pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'pinned', 2)`, [this.o.customer, id]);
        this.readings.acked.add(id);
      } catch (err) {
        classify(this.readings, err);
      }
      await sleep(this.o.pauseMs ?? 5);
    }
  }
}

/**
 * (c): a transaction that writes a reading of the customer and stays open; `commit()` commits it
 * and records the outcome (acknowledged, fence refusal, or another error) in `result`.
 */
export async function openTransaction(pool: pg.Pool, customer: string, id: number): Promise<{ result: Outcome; commit(): Promise<void> }> {
  const result = outcome();
  const c = await pool.connect();
  try {
    await c.query('BEGIN');
    await c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'open-tx', 3)`, [customer, id]);
  } catch (err) {
    c.release(true);
    throw err;
  }
  return {
    result,
    async commit() {
      try {
        await c.query('COMMIT');
        result.acked.add(id);
      } catch (err) {
        classify(result, err);
      } finally {
        c.release();
      }
    },
  };
}

/** What the final cell holds of a customer's readings, against what was acknowledged: both lists empty when exactly once. */
export function readingsProblems(acked: Iterable<number>, held: ReadonlySet<number>): { missing: number[]; nobodyAcknowledged: number[] } {
  const must = new Set(acked);
  return { missing: [...must].filter((id) => !held.has(id)), nobodyAcknowledged: [...held].filter((id) => !must.has(id)) };
}
