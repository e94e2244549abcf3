// Measures rows and bytes per customer in one cell's database, cheaply and with a bound: a table
// below `exactBelowRows` rows is counted exactly (`count(*) GROUP BY tenant`); a larger one is
// read through `TABLESAMPLE SYSTEM` (whole pages, about `sampleRows` rows) and scaled up by the
// planner's row estimate. Bytes are the table's total size (indexes and TOAST included) split by
// row share. The result goes to the control plane through src/store/customer-sizes.ts.
import type { CellDatabase } from './table-plans.js';
import { readCellCatalog } from './cell-catalog.js';
import { ident } from './table-sql.js';
import { qualifiedName } from './tenant-tables.js';
import type { CustomerSize } from '../store/customer-sizes.js';

export interface SampleOptions {
  /** Tables with fewer rows than this are counted exactly. */
  exactBelowRows: number;
  /** About how many rows a sample of a large table reads. */
  sampleRows: number;
  /** Each statement's bound, so a sample can never hold a cell's database for long. */
  statementTimeoutMs: number;
}

export const DEFAULT_SAMPLE_OPTIONS: SampleOptions = { exactBelowRows: 200_000, sampleRows: 100_000, statementTimeoutMs: 30_000 };

/** One table's counts as read: per customer, from all rows (exact) or a sample of `sampledRows`. */
export interface TableCounts {
  table: string;
  counts: ReadonlyMap<string, number>;
  exact: boolean;
  /** Rows the counts cover. */
  sampledRows: number;
  /** The table's rows (exact count, or the planner's estimate). */
  totalRows: number;
  totalBytes: number;
}

export interface CellSizes {
  sizes: CustomerSize[];
  exact: boolean;
  tables: number;
  rows: number;
  bytes: number;
}

/** Adds up the tables' counts into rows and bytes per customer, scaling sampled tables to their size. Pure. */
export function sizesFromCounts(tables: readonly TableCounts[]): CellSizes {
  const by = new Map<string, CustomerSize>();
  let rows = 0;
  let bytes = 0;
  let exact = true;
  for (const t of tables) {
    exact &&= t.exact;
    bytes += t.totalBytes;
    const scale = t.exact || t.sampledRows === 0 ? 1 : t.totalRows / t.sampledRows;
    const bytesPerRow = t.totalRows > 0 ? t.totalBytes / t.totalRows : 0;
    for (const [customer, n] of t.counts) {
      const r = n * scale;
      rows += r;
      let s = by.get(customer);
      if (!s) by.set(customer, (s = { customerId: customer, rows: 0, bytes: 0 }));
      s.rows += r;
      s.bytes += r * bytesPerRow;
    }
  }
  const sizes = [...by.values()].map((s) => ({ customerId: s.customerId, rows: Math.round(s.rows), bytes: Math.round(s.bytes) }));
  return { sizes, exact, tables: tables.length, rows: Math.round(rows), bytes };
}

/** The tenant tables of a cell: those named by its spec, else every table with the tenant column. */
async function tenantTables(db: CellDatabase): Promise<{ schema: string; name: string }[]> {
  const catalog = await readCellCatalog(db.pool);
  const named = db.tenancy.tables?.map((t) => qualifiedName(t.name));
  const out: { schema: string; name: string }[] = [];
  for (const [key, t] of catalog.tables) {
    if (t.schema === 'pg_catalog' || t.schema === 'information_schema' || t.schema.startsWith('cell_operator')) continue;
    if (named ? !named.includes(key) : !t.columns.some((c) => c.name === db.tenancy.tenantColumn)) continue;
    out.push({ schema: t.schema, name: t.name });
  }
  return out.sort((a, b) => `${a.schema}.${a.name}`.localeCompare(`${b.schema}.${b.name}`));
}

/** Counts one table's rows per customer, exactly or from a sample, inside the statement bound. */
async function countTable(db: CellDatabase, table: { schema: string; name: string }, options: SampleOptions): Promise<TableCounts> {
  const ref = `${ident(table.schema)}.${ident(table.name)}`;
  const column = ident(db.tenancy.tenantColumn);
  const client = await db.pool.connect();
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(`SET LOCAL statement_timeout = ${Math.max(1, Math.floor(options.statementTimeoutMs))}`);
    const stats = await client.query<{ estimate: number; bytes: string }>(
      `SELECT greatest(c.reltuples, 0)::float8 AS estimate, pg_total_relation_size(c.oid)::text AS bytes
         FROM pg_class c WHERE c.oid = to_regclass($1)`,
      [`${ref}`],
    );
    const totalBytes = Number(stats.rows[0]?.bytes ?? 0);
    // A bounded probe: is the table small enough to count exactly? (reltuples may be unset before ANALYZE.)
    const probe = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM (SELECT 1 FROM ${ref} LIMIT $1) s`, [options.exactBelowRows]);
    const small = (probe.rows[0]?.n ?? 0) < options.exactBelowRows;
    let result: TableCounts;
    if (small) {
      const { rows } = await client.query<{ customer: string; n: number }>(`SELECT ${column}::text AS customer, count(*)::int AS n FROM ${ref} GROUP BY 1`);
      const counts = new Map(rows.filter((r) => r.customer !== null).map((r) => [r.customer, r.n]));
      const total = rows.reduce((n, r) => n + r.n, 0);
      result = { table: `${table.schema}.${table.name}`, counts, exact: true, sampledRows: total, totalRows: total, totalBytes };
    } else {
      const estimate = Math.max(Number(stats.rows[0]?.estimate ?? 0), options.exactBelowRows);
      const percent = Math.min(100, Math.max(0.0001, (100 * options.sampleRows) / estimate));
      let rows: { customer: string; n: number }[];
      let exact = false;
      await client.query('SAVEPOINT sample');
      try {
        ({ rows } = await client.query<{ customer: string; n: number }>(
          `SELECT ${column}::text AS customer, count(*)::int AS n FROM ${ref} TABLESAMPLE SYSTEM ($1) GROUP BY 1`,
          [percent],
        ));
      } catch {
        // A table that cannot be sampled (a Citus distributed table on some versions): counted, still under the statement bound.
        await client.query('ROLLBACK TO SAVEPOINT sample');
        ({ rows } = await client.query<{ customer: string; n: number }>(`SELECT ${column}::text AS customer, count(*)::int AS n FROM ${ref} GROUP BY 1`));
        exact = true;
      }
      const counts = new Map(rows.filter((r) => r.customer !== null).map((r) => [r.customer, r.n]));
      const sampled = rows.reduce((n, r) => n + r.n, 0);
      result = { table: `${table.schema}.${table.name}`, counts, exact, sampledRows: sampled, totalRows: exact ? sampled : estimate, totalBytes };
    }
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  } finally {
    client.release();
  }
}

/** Measures one cell: every tenant table in turn (one connection at a time: a sample never crowds the cell). */
export async function sampleCellSizes(db: CellDatabase, options: SampleOptions = DEFAULT_SAMPLE_OPTIONS): Promise<CellSizes> {
  const tables = await tenantTables(db);
  const counts: TableCounts[] = [];
  for (const t of tables) counts.push(await countTable(db, t, options));
  return sizesFromCounts(counts);
}
