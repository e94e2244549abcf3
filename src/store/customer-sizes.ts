// The `customer_sizes` and `cell_size_samples` tables: rows and bytes per customer as last sampled
// from a cell's database (src/data/customer-size-sampler.ts), replaced a cell at a time, and what
// the rebalancer reads back: every customer of a set of cells with its binding and size. A size
// follows its customer: a moved customer keeps its last sample until its new cell is sampled.
import type { Pool } from 'pg';
import { withTransaction, type Queryable } from './transactions.js';

export interface CustomerSize {
  customerId: string;
  rows: number;
  bytes: number;
}

export interface CellSample {
  cell: string;
  sampledAt: Date;
  customers: number;
  rows: number;
  bytes: number;
  /** Every table counted exactly (none large enough to be sampled). */
  exact: boolean;
  tables: number;
  durationMs: number;
}

/** Replaces the sizes measured in one cell with a new sample, in one transaction (a customer's latest sample wins). */
export async function recordCellSample(pool: Pool, sample: CellSample, sizes: readonly CustomerSize[]): Promise<void> {
  await withTransaction(pool, async (client) => {
    await client.query('DELETE FROM customer_sizes WHERE cell = $1', [sample.cell]);
    // In chunks, so a cell of 100k customers is a few statements and no parameter list overflows.
    const CHUNK = 20_000;
    for (let i = 0; i < sizes.length; i += CHUNK) {
      const part = sizes.slice(i, i + CHUNK);
      await client.query(
        `INSERT INTO customer_sizes (customer_id, cell, rows, bytes, sampled_at)
         SELECT u.id, $1, u.rows, u.bytes, $2 FROM unnest($3::text[], $4::bigint[], $5::bigint[]) AS u(id, rows, bytes)
         ON CONFLICT (customer_id) DO UPDATE SET cell = EXCLUDED.cell, rows = EXCLUDED.rows, bytes = EXCLUDED.bytes, sampled_at = EXCLUDED.sampled_at
           WHERE customer_sizes.sampled_at <= EXCLUDED.sampled_at`,
        [sample.cell, sample.sampledAt, part.map((s) => s.customerId), part.map((s) => Math.round(s.rows)), part.map((s) => Math.round(s.bytes))],
      );
    }
    await client.query(
      `INSERT INTO cell_size_samples (cell, sampled_at, customers, rows, bytes, exact, tables, duration_ms)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
       ON CONFLICT (cell) DO UPDATE SET sampled_at = EXCLUDED.sampled_at, customers = EXCLUDED.customers, rows = EXCLUDED.rows,
         bytes = EXCLUDED.bytes, exact = EXCLUDED.exact, tables = EXCLUDED.tables, duration_ms = EXCLUDED.duration_ms`,
      [sample.cell, sample.sampledAt, sample.customers, Math.round(sample.rows), Math.round(sample.bytes), sample.exact, sample.tables, Math.round(sample.durationMs)],
    );
  });
}

/** The last sample of each of these cells (a cell never sampled is absent). */
export async function readCellSamples(db: Queryable, cells: readonly string[]): Promise<Map<string, CellSample>> {
  const { rows } = await db.query<{
    cell: string;
    sampled_at: Date;
    customers: string;
    rows: string;
    bytes: string;
    exact: boolean;
    tables: number;
    duration_ms: number;
  }>('SELECT cell, sampled_at, customers, rows, bytes, exact, tables, duration_ms FROM cell_size_samples WHERE cell = ANY($1::text[])', [cells]);
  return new Map(
    rows.map((r) => [
      r.cell,
      { cell: r.cell, sampledAt: r.sampled_at, customers: Number(r.customers), rows: Number(r.rows), bytes: Number(r.bytes), exact: r.exact, tables: r.tables, durationMs: r.duration_ms },
    ]),
  );
}

/** A customer of the routing table with its latest measured size (undefined: never sampled). */
export interface SizedCustomer {
  id: string;
  cell: string;
  region: string | null;
  devices: number;
  rows?: number;
  bytes?: number;
}

/** Every customer placed in these cells, with its binding, expected devices and measured size: one query, streamed into plain objects. */
export async function readSizedCustomers(db: Queryable, cells: readonly string[]): Promise<SizedCustomer[]> {
  const { rows } = await db.query<{ customer_id: string; cell: string; region: string | null; expected_devices: string; rows: string | null; bytes: string | null }>(
    `SELECT p.customer_id, p.cell, p.region, p.expected_devices, s.rows, s.bytes
       FROM placements p LEFT JOIN customer_sizes s ON s.customer_id = p.customer_id
      WHERE p.cell = ANY($1::text[])`,
    [cells],
  );
  const out = new Array<SizedCustomer>(rows.length);
  for (let i = 0; i < rows.length; i++) {
    const r = rows[i] as (typeof rows)[number];
    const c: SizedCustomer = { id: r.customer_id, cell: r.cell, region: r.region, devices: Number(r.expected_devices) };
    if (r.rows !== null) c.rows = Number(r.rows);
    if (r.bytes !== null) c.bytes = Number(r.bytes);
    out[i] = c;
  }
  return out;
}

/** Forgets a removed cell's sizes. */
export async function forgetCellSizes(db: Queryable, cell: string): Promise<void> {
  await db.query('DELETE FROM customer_sizes WHERE cell = $1', [cell]);
  await db.query('DELETE FROM cell_size_samples WHERE cell = $1', [cell]);
}
