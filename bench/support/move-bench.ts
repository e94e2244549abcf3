// Shared parts of the customer-move benchmarks: two real cells and a control plane (the test
// fixture), fast seeding of many customers, the raw COPY pipe baseline, and per-action timing.
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import pgCopy from 'pg-copy-streams';
import type { MoveAction } from '../../src/data/move-decision.js';
import type { MoveHooks } from '../../src/data/move-executor.js';
import type { Tenancy } from '../../src/data/tenant-tables.js';
import { placeCustomers, startCells as startFixtureCells, type Cells } from '../../test/integration/data/cells-fixture.js';

export { placeCustomers, type Cells };

/**
 * The fixture's cells; with BENCH_CITUS=1 every cell is a Citus cluster (a coordinator and
 * BENCH_CITUS_WORKERS workers, default 2, the tables distributed by the operator's code), so
 * that every move benchmark and its raw-pipe baseline run against Citus.
 */
export function startCells(...args: Parameters<typeof startFixtureCells>): Promise<Cells> {
  const [names = ['cell-a', 'cell-b'], schema, options = {}] = args;
  if (process.env.BENCH_CITUS !== '1') return startFixtureCells(names, schema, options);
  return startFixtureCells(names, schema, { citus: names, citusWorkers: Number(process.env.BENCH_CITUS_WORKERS ?? 2), ...options });
}

/** readings only: the append-only telemetry table every benchmark moves. */
export const READINGS_ONLY: Tenancy = {
  tenantColumn: 'customer_id',
  tables: [{ name: 'readings', mode: 'AppendOnly', watermarkColumn: 'received_at' }],
};

export const READING_COLUMNS = 'customer_id, id, received_at, device, value';

export const customerName = (prefix: string, i: number): string => `${prefix}-${String(i).padStart(5, '0')}`;

/**
 * Inserts `rows` readings for each customer, in one statement per 100 customers. `live` (the
 * default): as a live system has them, the newest received just now (within the settle lag, so a
 * move must wait for them to settle and copy them again); `live: false`: a day old, settled
 * already (the old benchmarks' seeding).
 */
export async function seedReadings(pool: pg.Pool, customers: readonly string[], rows: number, firstId = 1, options: { live?: boolean } = {}): Promise<number> {
  let id = firstId;
  // Live: the last row of each customer is received now, the others a millisecond apart before it.
  const newest = options.live === false ? "now() - interval '1 day' + $3::int * interval '1 millisecond'" : 'now()';
  for (let i = 0; i < customers.length; i += 100) {
    const batch = customers.slice(i, i + 100);
    await pool.query(
      `INSERT INTO readings (customer_id, id, received_at, device, value)
       SELECT c.customer_id, $2::bigint + (c.n - 1) * $3::bigint + g, ${newest} - ($3::int - 1 - g) * interval '1 millisecond', 'd' || (g % 50), g * 0.25
         FROM unnest($1::text[]) WITH ORDINALITY AS c(customer_id, n), generate_series(0, $3::int - 1) g`,
      [batch, id, rows],
    );
    id += batch.length * rows;
  }
  await pool.query('VACUUM ANALYZE readings');
  return id;
}

/** The baseline: one COPY (SELECT …) TO STDOUT piped into COPY … FROM STDIN, both binary. */
export async function rawPipe(source: pg.Pool, target: pg.Pool, where: string, values: string[]): Promise<{ ms: number; rows: number }> {
  const s = await source.connect();
  const t = await target.connect();
  try {
    const literal = values.map((v) => s.escapeLiteral(v)).join(', ');
    const started = performance.now();
    // Triggers off: a customer moved out of the target cell is refused there by the cell fence,
    // and the baseline is the bare pipe anyway. On Citus the triggers run on the workers:
    // propagate_set_commands carries the SET LOCAL to them (a placeholder on plain PostgreSQL).
    await t.query("BEGIN; SET LOCAL citus.propagate_set_commands = 'local'; SET LOCAL session_replication_role = replica");
    const out = s.query(pgCopy.to(`COPY (SELECT ${READING_COLUMNS} FROM readings WHERE ${where.replace('$VALUES', literal)}) TO STDOUT (FORMAT binary)`));
    const into = t.query(pgCopy.from(`COPY readings (${READING_COLUMNS}) FROM STDIN (FORMAT binary)`));
    await pipeline(out, into);
    await t.query('COMMIT');
    return { ms: performance.now() - started, rows: into.rowCount };
  } finally {
    s.release();
    t.release();
  }
}

/**
 * The like-for-like baseline of N concurrent moves: N raw pipes at once over the same customers,
 * each pipe taking the next customer (one COPY per customer, as a move copies one customer).
 * Returns the wall time and the rows and time of each pipe.
 */
export async function rawPipesInParallel(source: pg.Pool, target: pg.Pool, customers: readonly string[], streams: number): Promise<{ ms: number; rows: number; pipeMs: number }> {
  let next = 0;
  let rows = 0;
  let pipeMs = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(streams, customers.length)) }, async () => {
      while (next < customers.length) {
        const c = customers[next++] as string;
        const r = await rawPipe(source, target, 'customer_id = $VALUES', [c]);
        rows += r.rows;
        pipeMs += r.ms;
      }
    }),
  );
  return { ms: performance.now() - started, rows, pipeMs };
}

/** Sums the wall time of each action kind, from the engine's hooks. */
export class ActionTimer implements MoveHooks {
  readonly ms = new Map<string, number>();
  readonly count = new Map<string, number>();
  private readonly started = new Map<string, number>();

  point(p: string, info: { key: { customerId: string }; action: MoveAction }): void {
    const id = `${info.key.customerId}/${info.action.kind}`;
    if (p === 'before-action') this.started.set(id, performance.now());
    if (p === 'after-action') {
      const t0 = this.started.get(id);
      if (t0 === undefined) return;
      this.ms.set(info.action.kind, (this.ms.get(info.action.kind) ?? 0) + performance.now() - t0);
      this.count.set(info.action.kind, (this.count.get(info.action.kind) ?? 0) + 1);
    }
  }

  total(...kinds: MoveAction['kind'][]): number {
    return kinds.reduce((sum, k) => sum + (this.ms.get(k) ?? 0), 0);
  }

  reset(): void {
    this.ms.clear();
    this.count.clear();
  }
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))] as number;
}

export const fmt = (n: number, digits = 0): string => n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
