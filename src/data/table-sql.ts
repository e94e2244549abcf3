// The SQL of a move, built from a table plan: keyset ranges, COPY in and out, checksums, batched
// deletes. Pure. Identifiers are always quoted; values are bind parameters, or escaped literals
// inside COPY (query), which cannot take parameters.
import { escapeIdentifier, escapeLiteral } from 'pg';
import type { TablePlan } from './tenant-tables.js';

/** A position in a table's keyset order: the text of each cursor column. */
export type Key = readonly string[];

/** Turns a value into SQL: a `$n` parameter or a quoted literal. */
export type Place = (value: string) => string;

export const asLiteral: Place = (value) => escapeLiteral(value);

export function paramPlacer(values: unknown[], first: unknown[] = []): Place {
  values.push(...first);
  return (value) => {
    values.push(value);
    return `$${values.length}`;
  };
}

/**
 * Which rows of a customer: keys after `after` (exclusive; null = from the first) up to `upTo`
 * (inclusive; null = to the last), further limited by `settled` (rows known to be committed).
 */
export interface KeyRange {
  after?: Key | null;
  upTo?: Key | null;
  settled?: SettledBound;
}

/**
 * The rows that can no longer appear late: up to an observed key, or with a watermark timestamp at
 * or before an instant. `key: null` means no row is settled yet.
 */
export type SettledBound = { kind: 'key'; key: Key | null } | { kind: 'time'; notAfter: string };

/** Session settings that make text output identical on every server (keys, text COPY, hashes). */
export const STABLE_OUTPUT_SQL =
  "SET LOCAL DateStyle = 'ISO, YMD'; SET LOCAL IntervalStyle = 'postgres'; SET LOCAL TimeZone = 'UTC'; " +
  "SET LOCAL extra_float_digits = 3; SET LOCAL bytea_output = 'hex'";

export function ident(name: string): string {
  return escapeIdentifier(name);
}

export function tableRef(plan: Pick<TablePlan, 'schema' | 'table'>): string {
  return `${ident(plan.schema)}.${ident(plan.table)}`;
}

function columnList(columns: readonly string[]): string {
  return columns.map(ident).join(', ');
}

function tuple(columns: readonly string[]): string {
  return columns.length === 1 ? ident(columns[0] as string) : `(${columnList(columns)})`;
}

export function keyCompare(columns: readonly string[], op: '>' | '<=' | '=', key: Key, place: Place): string {
  if (key.length !== columns.length) {
    throw new Error(`a key of ${key.length} values does not fit the cursor (${columns.join(', ')})`);
  }
  const values = key.map((v) => place(v));
  const right = values.length === 1 ? (values[0] as string) : `(${values.join(', ')})`;
  return `${tuple(columns)} ${op} ${right}`;
}

/**
 * A keyset bound, and for a cursor of several columns the bound it implies on the first one
 * (`(a, b) > (x, y)` implies `a >= x`): the planner estimates each bound of a row comparison on its
 * own, so a page-sized range between two keys of a customer who fills the table's statistics was
 * read by a scan of the whole table (the checks of a page); the first column's statistics lead it
 * to the index.
 */
function keyBound(columns: readonly string[], op: '>' | '<=', key: Key, place: Place): string[] {
  const bound = [keyCompare(columns, op, key, place)];
  if (columns.length > 1) bound.push(`${ident(columns[0] as string)} ${op === '>' ? '>=' : '<='} ${place(key[0] as string)}`);
  return bound;
}

/** `tenant = … AND <range>` for a customer's rows of the table. */
export function rangeWhere(plan: TablePlan, customer: string, range: KeyRange, place: Place): string {
  const parts = [`${ident(plan.tenantColumn)} = ${place(customer)}`];
  if (range.after) parts.push(...keyBound(plan.cursor, '>', range.after, place));
  if (range.upTo) parts.push(...keyBound(plan.cursor, '<=', range.upTo, place));
  const settled = range.settled;
  if (settled?.kind === 'key') {
    parts.push(...(settled.key ? keyBound(plan.cursor, '<=', settled.key, place) : ['false']));
  } else if (settled?.kind === 'time') {
    if (!plan.timeCursor || !plan.watermarkColumn) throw new Error(`table ${plan.name} has no time watermark`);
    parts.push(`${ident(plan.watermarkColumn)} <= ${place(settled.notAfter)}::timestamptz`);
  }
  return parts.join(' AND ');
}

function orderBy(plan: TablePlan, direction: 'ASC' | 'DESC'): string {
  return plan.cursor.map((c) => `${ident(c)} ${direction}`).join(', ');
}

function format(plan: TablePlan): string {
  return plan.binary ? 'binary' : 'text';
}

/** COPY (SELECT …) TO STDOUT of a customer's rows in a range, in keyset order, at most `limit`. */
export function copyOutSql(plan: TablePlan, customer: string, range: KeyRange, limit?: number): string {
  const where = rangeWhere(plan, customer, range, asLiteral);
  let select = `SELECT ${columnList(plan.columns)} FROM ${tableRef(plan)} WHERE ${where}`;
  if (limit !== undefined) {
    if (!Number.isSafeInteger(limit) || limit < 1) throw new Error(`page limit must be a positive integer, got ${limit}`);
    if (plan.cursor.length > 0) select += ` ORDER BY ${orderBy(plan, 'ASC')}`;
    select += ` LIMIT ${limit}`;
  }
  return `COPY (${select}) TO STDOUT (FORMAT ${format(plan)})`;
}

/** COPY … FROM STDIN into the table (or a staging table with the same columns). */
export function copyInSql(plan: TablePlan, into: string = tableRef(plan)): string {
  return `COPY ${into} (${columnList(plan.columns)}) FROM STDIN (FORMAT ${format(plan)})`;
}

export interface Statement {
  text: string;
  values: unknown[];
}

export function deleteRangeSql(plan: TablePlan, customer: string, range: KeyRange): Statement {
  const values: unknown[] = [];
  const where = rangeWhere(plan, customer, range, paramPlacer(values));
  return { text: `DELETE FROM ${tableRef(plan)} WHERE ${where}`, values };
}

/** The last key (in keyset order) of a customer's rows in a range: `SELECT key text[]`. */
export function lastKeySql(plan: TablePlan, customer: string, range: KeyRange): Statement {
  const values: unknown[] = [];
  const where = rangeWhere(plan, customer, range, paramPlacer(values));
  const key = `ARRAY[${plan.cursor.map((c) => `${ident(c)}::text`).join(', ')}]::text[]`;
  return {
    text: `SELECT ${key} AS key FROM ${tableRef(plan)} WHERE ${where} ORDER BY ${orderBy(plan, 'DESC')} LIMIT 1`,
    values,
  };
}

/** The last keys of two ranges in one query (`first`, `second`): a page's end and its settled end. */
export function lastKeysSql(plan: TablePlan, customer: string, first: KeyRange, second: KeyRange): Statement {
  const values: unknown[] = [];
  const place = paramPlacer(values);
  const key = `ARRAY[${plan.cursor.map((c) => `${ident(c)}::text`).join(', ')}]::text[]`;
  const one = (range: KeyRange) =>
    `(SELECT ${key} FROM ${tableRef(plan)} WHERE ${rangeWhere(plan, customer, range, place)} ORDER BY ${orderBy(plan, 'DESC')} LIMIT 1)`;
  return { text: `SELECT ${one(first)} AS first, ${one(second)} AS second`, values };
}

/** The hash of one row: its values without text output when every type can be hashed so. */
export function rowHash(plan: TablePlan, alias = 't'): string {
  const row = `ROW(${plan.checksumColumns.map((c) => `${alias}.${ident(c)}`).join(', ')})`;
  return plan.hashRecord ? `hash_record_extended(${row}, 0)` : `hashtextextended(${row}::text, 0)`;
}

/** Row count and order-independent checksum (xor of row hashes) of a customer's rows in a range. */
export function aggregateSql(plan: TablePlan, customer: string, range: KeyRange): Statement {
  const values: unknown[] = [];
  const where = rangeWhere(plan, customer, range, paramPlacer(values));
  return {
    text: `SELECT count(*)::text AS rows, coalesce(bit_xor(${rowHash(plan)}), 0)::text AS checksum FROM ${tableRef(plan)} t WHERE ${where}`,
    values,
  };
}

/** What deleting a customer's rows needs to know of a table. */
export type ClearTarget = Pick<TablePlan, 'schema' | 'table' | 'tenantColumn'> & { primaryKey: readonly string[] | null };

/** Deletes up to `limit` rows of a customer, by primary key (a router query on Citus too; ctid without one). */
export function deleteBatchSql(plan: ClearTarget, customer: string, limit: number): Statement {
  const t = ident(plan.tenantColumn);
  const key = plan.primaryKey && plan.primaryKey.length > 0 ? plan.primaryKey : null;
  const inner = `SELECT ${key ? columnList(key) : 'ctid'} FROM ${tableRef(plan)} WHERE ${t} = $1 LIMIT $2`;
  const match = key ? `${tuple(key)} IN (${inner})` : `ctid = ANY (ARRAY(${inner}))`;
  return { text: `DELETE FROM ${tableRef(plan)} WHERE ${t} = $1 AND ${match}`, values: [customer, limit] };
}

export const STAGING_TABLE = 'cell_operator_move_staging';

export function createStagingSql(plan: TablePlan): string {
  return `CREATE TEMP TABLE ${ident(STAGING_TABLE)} (LIKE ${tableRef(plan)}) ON COMMIT DROP`;
}

/** Inserts the staged rows that the table does not have yet (by any unique key). */
export function insertMissingSql(plan: TablePlan): string {
  const cols = columnList(plan.columns);
  const overriding = plan.identityAlways ? ' OVERRIDING SYSTEM VALUE' : '';
  return `INSERT INTO ${tableRef(plan)} (${cols})${overriding} SELECT ${cols} FROM ${ident(STAGING_TABLE)} ON CONFLICT DO NOTHING`;
}

/** The key of the customer's row at `offset` (from 0) in keyset order within a range: a batch boundary. */
export function nthKeySql(plan: TablePlan, customer: string, range: KeyRange, offset: number): Statement {
  const values: unknown[] = [];
  const where = rangeWhere(plan, customer, range, paramPlacer(values));
  values.push(offset);
  const key = `ARRAY[${plan.cursor.map((c) => `${ident(c)}::text`).join(', ')}]::text[]`;
  return {
    text: `SELECT ${key} AS key FROM ${tableRef(plan)} WHERE ${where} ORDER BY ${orderBy(plan, 'ASC')} OFFSET $${values.length} LIMIT 1`,
    values,
  };
}

/** The customer's newest key on a database: an observation for keyset settling. */
export function observeSql(plan: TablePlan, customer: string): Statement {
  return lastKeySql(plan, customer, {});
}

export function existsSql(plan: TablePlan, customer: string): Statement {
  return { text: `SELECT EXISTS (SELECT 1 FROM ${tableRef(plan)} WHERE ${ident(plan.tenantColumn)} = $1) AS present`, values: [customer] };
}

/** How many rows the customer has in the table, counted no further than `limit`. */
export function countUpToSql(plan: TablePlan, customer: string, limit: number): Statement {
  return {
    text: `SELECT count(*)::int AS n FROM (SELECT 1 FROM ${tableRef(plan)} WHERE ${ident(plan.tenantColumn)} = $1 LIMIT $2) t`,
    values: [customer, limit],
  };
}

// --- A batch of customers (data/move-batch.ts): all their rows, no key ranges -----------------

/** `tenant IN (…)`: the rows of every customer of a batch (each value typed by the column). */
function customersIn(plan: Pick<TablePlan, 'tenantColumn'>, customers: readonly string[], place: Place): string {
  if (customers.length === 0) throw new Error('a batch has at least one customer');
  return `${ident(plan.tenantColumn)} IN (${customers.map(place).join(', ')})`;
}

/** COPY out of every row of the batch's customers. */
export function copyOutManySql(plan: TablePlan, customers: readonly string[]): string {
  return `COPY (SELECT ${columnList(plan.columns)} FROM ${tableRef(plan)} WHERE ${customersIn(plan, customers, asLiteral)}) TO STDOUT (FORMAT ${format(plan)})`;
}

/** Deletes every row of the batch's customers. */
export function deleteManySql(plan: Pick<TablePlan, 'schema' | 'table' | 'tenantColumn'>, customers: readonly string[]): Statement {
  const values: unknown[] = [];
  return { text: `DELETE FROM ${tableRef(plan)} WHERE ${customersIn(plan, customers, paramPlacer(values))}`, values };
}

/**
 * aggregateSql of each customer of a batch, grouped by customer: `customer` is the tenant value as
 * text (a customer without rows has no row; one whose value reads back otherwise is the caller's to refuse).
 */
export function aggregateManySql(plan: TablePlan, customers: readonly string[]): Statement {
  const values: unknown[] = [];
  const t = ident(plan.tenantColumn);
  return {
    text: `SELECT t.${t}::text AS customer, count(*)::text AS rows, coalesce(bit_xor(${rowHash(plan)}), 0)::text AS checksum
             FROM ${tableRef(plan)} t WHERE t.${customersIn(plan, customers, paramPlacer(values))} GROUP BY t.${t}`,
    values,
  };
}

/**
 * How many rows each customer of a batch has, grouped by customer (`customer` as text, as
 * aggregateManySql): every row of theirs counted, no limit. On Citus, grouped by the distribution
 * column, it runs in the shards at once (countUpToManySql's per-customer subqueries are planned
 * there as one distributed subplan each).
 */
export function countManySql(plan: Pick<TablePlan, 'schema' | 'table' | 'tenantColumn'>, customers: readonly string[]): Statement {
  const values: unknown[] = [];
  const t = ident(plan.tenantColumn);
  return { text: `SELECT t.${t}::text AS customer, count(*)::text AS rows FROM ${tableRef(plan)} t WHERE t.${customersIn(plan, customers, paramPlacer(values))} GROUP BY t.${t}`, values };
}

/** countUpToSql of each customer of a batch, in one query: `i` is the customer's index in `customers`. */
export function countUpToManySql(plan: Pick<TablePlan, 'schema' | 'table' | 'tenantColumn'>, customers: readonly string[], limit: number): Statement {
  const values: unknown[] = [limit];
  const place = paramPlacer(values);
  const t = ident(plan.tenantColumn);
  const one = (c: string, i: number) => `SELECT ${i} AS i, (SELECT count(*) FROM (SELECT 1 FROM ${tableRef(plan)} WHERE ${t} = ${place(c)} LIMIT $1) x)::int AS n`;
  return { text: customers.map(one).join('\nUNION ALL '), values };
}
