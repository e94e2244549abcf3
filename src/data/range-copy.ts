// The data plane of a move: streams a customer's rows from one cell database to another with
// COPY … TO STDOUT piped into COPY … FROM STDIN, one target transaction per page or range, and
// computes the counts and checksums that verify them. Every write replaces a whole keyset range,
// so running it again after a crash (before the journal recorded it) gives the same result.
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Pool, PoolClient } from 'pg';
import pgCopy from 'pg-copy-streams';
import {
  aggregateManySql,
  aggregateSql,
  copyInSql,
  copyOutManySql,
  countManySql,
  countUpToManySql,
  deleteManySql,
  copyOutSql,
  countUpToSql,
  deleteBatchSql,
  deleteRangeSql,
  existsSql,
  lastKeySql,
  lastKeysSql,
  observeSql,
  STABLE_OUTPUT_SQL,
  type ClearTarget,
  type Key,
  type KeyRange,
  type SettledBound,
  type Statement,
} from './table-sql.js';
import { withClient } from '../store/transactions.js';
import type { TablePlan } from './tenant-tables.js';
import { poolHasCitus } from './cell-fence.js';
import { moverSql, ownMoveSql, type MoveOwner, type Mover } from './cell-fence-sql.js';

export interface Aggregate {
  rows: number;
  /** bit_xor of the row hashes, as the text of a bigint. */
  checksum: string;
}

export const EMPTY_AGGREGATE: Aggregate = { rows: 0, checksum: '0' };

/** Adds two disjoint ranges' aggregates (xor is its own inverse, so order does not matter). */
export function combineAggregates(a: Aggregate, b: Aggregate): Aggregate {
  return { rows: a.rows + b.rows, checksum: BigInt.asIntN(64, BigInt(a.checksum) ^ BigInt(b.checksum)).toString() };
}

export function sameAggregate(a: Aggregate, b: Aggregate): boolean {
  return a.rows === b.rows && BigInt(a.checksum) === BigInt(b.checksum);
}

/** Runs `fn` on a pooled client; on error the connection is destroyed (its transaction dies with it). */
function onClient<T>(pool: Pool, fn: (c: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, (c) => fn(c), { discardOn: 'any' });
}

/** Two clients at once (source and target), both destroyed if anything fails. */
function withClients<T>(source: Pool, target: Pool, fn: (s: PoolClient, t: PoolClient) => Promise<T>): Promise<T> {
  return onClient(source, (s) => onClient(target, (t) => fn(s, t)));
}

async function run(c: PoolClient, st: Statement): Promise<{ rows: Record<string, unknown>[]; rowCount: number }> {
  const r = await c.query(st.text, st.values);
  return { rows: r.rows as Record<string, unknown>[], rowCount: r.rowCount ?? 0 };
}

async function lastKey(c: PoolClient, st: Statement): Promise<Key | null> {
  const { rows } = await run(c, st);
  return (rows[0]?.key as string[] | undefined) ?? null;
}

/** Streams COPY out of `source` into COPY in on `target`; returns rows written and bytes moved. */
export async function pipeCopy(source: PoolClient, target: PoolClient, outSql: string, inSql: string): Promise<{ rows: number; bytes: number }> {
  let bytes = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      bytes += chunk.length;
      cb(null, chunk);
    },
  });
  const out = source.query(pgCopy.to(outSql));
  const into = target.query(pgCopy.from(inSql));
  await pipeline(out, counter, into);
  return { rows: into.rowCount, bytes };
}

/**
 * BEGIN with stable output; `mover`: the move whose writes these are (they pass its cell fence).
 * An owner (not a bare migration name) is checked next, before any write, in a query of its own:
 * Citus replays the whole query string of a propagated SET on the workers, where own_move must not
 * run (moverSql). Two round trips for an owner, one otherwise.
 */
async function begin(c: PoolClient, mode = '', mover?: Mover): Promise<void> {
  const open = `BEGIN${mode ? ` ${mode}` : ''}; ${STABLE_OUTPUT_SQL}`;
  await c.query(mover === undefined ? open : `${open}; ${moverSql(mover)}`);
  if (typeof mover === 'object') await c.query(ownMoveSql(mover));
}

/** The rows settled by the source's clock: a watermark at least `lagMs` old. */
function timeBoundSql(lagMs: number): string {
  if (!Number.isFinite(lagMs) || lagMs < 0) throw new Error(`settle lag must be a non-negative number, got ${lagMs}`);
  return `SELECT (clock_timestamp() - ${Math.round(lagMs)} * interval '1 millisecond')::text AS t`;
}

/** BEGIN with stable output settings and, for a time watermark, the settled bound: one round trip. */
async function beginSettled(source: PoolClient, mode: string, plan: TablePlan, settling: Settling): Promise<SettledBound> {
  if (!plan.timeCursor) {
    await begin(source, mode);
    return { kind: 'key', key: settling.settledKey };
  }
  // Several statements in one query answer one result each; pg's types know only the single case.
  const answer: unknown = await source.query(`BEGIN ${mode}; ${STABLE_OUTPUT_SQL}; ${timeBoundSql(settling.lagMs)}`);
  const results = answer as { rows: { t: string }[] }[];
  return { kind: 'time', notAfter: results.at(-1)?.rows[0]?.t as string };
}

export interface Settling {
  /** For time watermarks: the lag behind the source's clock. */
  lagMs: number;
  /** For keyset settling: the settled key (null: nothing settled yet). */
  settledKey: Key | null;
}


export interface PageResult {
  rows: number;
  bytes: number;
  /** The last key copied (null: the page was empty and `after` stays). */
  lastKey: Key | null;
  /** The last copied key whose row had settled when read (null: none). */
  settledLastKey: Key | null;
  /** The source had rows after this page when it was read (false: caught up). */
  more: boolean;
}

/**
 * Copies the next keyset page: in one target transaction, deletes the customer's rows after
 * `after` (a page an earlier crashed run committed without recording) and copies up to `limit`
 * source rows after `after`.
 */
export async function copyPage(
  source: Pool,
  target: Pool,
  plan: TablePlan,
  customer: string,
  after: Key | null,
  limit: number,
  settling: Settling,
  mover?: Mover,
): Promise<PageResult> {
  return withClients(source, target, async (s, t) => {
    // The two sides start at once: each round trip saved counts once per page, and a large
    // customer has hundreds of pages.
    const [settled] = await Promise.all([
      beginSettled(s, 'READ ONLY', plan, settling),
      (async () => {
        await begin(t, '', mover);
        await run(t, deleteRangeSql(plan, customer, { after }));
      })(),
    ]);
    const copied = await pipeCopy(s, t, copyOutSql(plan, customer, { after }, limit), copyInSql(plan));
    let last: Key | null = null;
    let settledLast: Key | null = null;
    if (copied.rows > 0) {
      const keys = await run(t, lastKeysSql(plan, customer, { after }, { after, settled }));
      last = (keys.rows[0]?.first as string[] | null) ?? null;
      settledLast = (keys.rows[0]?.second as string[] | null) ?? null;
    }
    await Promise.all([t.query('COMMIT'), s.query('COMMIT')]);
    // A full page may have more after it: the next page finds out (an empty page for a customer
    // whose rows are an exact multiple of the page) instead of a probe of the source on every page.
    return { rows: copied.rows, bytes: copied.bytes, lastKey: last, settledLastKey: settledLast, more: copied.rows === limit };
  });
}

export interface ResyncResult {
  rows: number;
  bytes: number;
  /** The last key of the replaced range that had settled (null: nothing in it). */
  settledLastKey: Key | null;
}

/** Replaces the target's rows in (after, upTo] that have settled by the source's. */
export async function resyncRange(
  source: Pool,
  target: Pool,
  plan: TablePlan,
  customer: string,
  after: Key | null,
  upTo: Key | null,
  settling: Settling,
  mover?: Mover,
): Promise<ResyncResult> {
  return withClients(source, target, async (s, t) => {
    const settled = await beginSettled(s, 'READ ONLY', plan, settling);
    const range: KeyRange = { after, upTo, settled };
    await begin(t, '', mover);
    await run(t, deleteRangeSql(plan, customer, range));
    const copied = await pipeCopy(s, t, copyOutSql(plan, customer, range), copyInSql(plan));
    const settledLast = copied.rows > 0 ? await lastKey(t, lastKeySql(plan, customer, range)) : null;
    await t.query('COMMIT');
    await s.query('COMMIT');
    return { rows: copied.rows, bytes: copied.bytes, settledLastKey: settledLast };
  });
}

export interface FinalSyncResult {
  rows: number;
  bytes: number;
  /** The source's rows in the range, in the very snapshot that was copied. */
  source: Aggregate;
}

/**
 * Replaces the target's rows after `after` (null: all the customer's rows) by the source's, and
 * checksums the source rows in the same snapshot: rows that reach the source later cannot make
 * the verification fail, and are swept at cleanup.
 */
export async function finalSync(source: Pool, target: Pool, plan: TablePlan, customer: string, after: Key | null, mover?: Mover): Promise<FinalSyncResult> {
  return withClients(source, target, async (s, t) => {
    // The source's snapshot and checksum, and the target's delete, at the same time.
    const sourceSide = async () => {
      await begin(s, 'ISOLATION LEVEL REPEATABLE READ READ ONLY');
      return aggregateOn(s, plan, customer, { after });
    };
    const targetSide = async () => {
      await begin(t, '', mover);
      await run(t, deleteRangeSql(plan, customer, { after }));
    };
    const [agg] = await Promise.all([sourceSide(), targetSide()]);
    const copied = await pipeCopy(s, t, copyOutSql(plan, customer, { after }), copyInSql(plan));
    await t.query('COMMIT');
    await s.query('COMMIT');
    return { rows: copied.rows, bytes: copied.bytes, source: agg };
  });
}

async function aggregateOn(c: PoolClient, plan: TablePlan, customer: string, range: KeyRange): Promise<Aggregate> {
  const { rows } = await run(c, aggregateSql(plan, customer, range));
  const r = rows[0] as { rows: string; checksum: string };
  return { rows: Number(r.rows), checksum: r.checksum };
}

/** Count and checksum of a customer's rows in a range (with stable text output when rows are hashed as text). */
export async function aggregate(db: Pool, plan: TablePlan, customer: string, range: KeyRange): Promise<Aggregate> {
  if (plan.hashRecord && !range.settled) {
    // Values hashed as they are: no session setting matters, one round trip.
    const st = aggregateSql(plan, customer, range);
    const { rows } = await db.query<{ rows: string; checksum: string }>(st.text, st.values);
    return { rows: Number(rows[0]?.rows ?? 0), checksum: rows[0]?.checksum ?? '0' };
  }
  return onClient(db, async (c) => {
    await begin(c, 'READ ONLY');
    const agg = await aggregateOn(c, plan, customer, range);
    await c.query('COMMIT');
    return agg;
  });
}

/** The columns a COPY of the table carries now (generated ones excluded), in column order. */
export async function copiedColumns(db: Pool, plan: Pick<TablePlan, 'schema' | 'table'>): Promise<string[]> {
  const { rows } = await db.query<{ columns: string[] | null }>(
    // The table by name (to_regclass: none when it is gone), not a join of the catalogs: a quarter
    // of the planning, on both cells at every check.
    `SELECT array_agg(a.attname::text ORDER BY a.attnum) AS columns FROM pg_attribute a
      WHERE a.attrelid = to_regclass(quote_ident($1) || '.' || quote_ident($2)) AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = ''`,
    [plan.schema, plan.table],
  );
  return rows[0]?.columns ?? [];
}

/** The customer's newest key (keyset settling), read with stable text output. */
export async function observeKey(db: Pool, plan: TablePlan, customer: string): Promise<Key | null> {
  return onClient(db, async (c) => {
    await begin(c, 'READ ONLY');
    const key = await lastKey(c, observeSql(plan, customer));
    await c.query('COMMIT');
    return key;
  });
}

/** How many rows the customer has in the table, counted no further than `limit`. */
export async function countUpTo(db: Pool, plan: TablePlan, customer: string, limit: number): Promise<number> {
  const st = countUpToSql(plan, customer, limit);
  const { rows } = await db.query<{ n: number }>(st.text, st.values);
  return rows[0]?.n ?? 0;
}

export async function hasRows(db: Pool, plan: TablePlan, customer: string): Promise<boolean> {
  const st = existsSql(plan, customer);
  const { rows } = await db.query<{ present: boolean }>(st.text, st.values);
  return rows[0]?.present === true;
}

/** Deletes up to `limit` of the customer's rows; returns how many. */
export async function deleteBatch(db: Pool, plan: ClearTarget, customer: string, limit: number, mover?: Mover): Promise<number> {
  const st = deleteBatchSql(plan, customer, limit);
  if (mover === undefined) {
    const r = await db.query(st.text, st.values);
    return r.rowCount ?? 0;
  }
  return onClient(db, async (c) => { // destroyed on any error: it may be inside the failed transaction
    await c.query(`BEGIN; ${moverSql(mover)}`);
    if (typeof mover === 'object') await c.query(ownMoveSql(mover)); // see begin()
    const r = await c.query(st.text, st.values);
    await c.query('COMMIT');
    return r.rowCount ?? 0;
  });
}

// --- A batch of customers (data/move-batch.ts) --------------------------------------------------

/** The writer of a batch's cell transactions: the migration (passes its fences), each member's owner checked. */
export interface BatchWriter {
  migration: string;
  owners: readonly MoveOwner[];
}

/** BEGIN for a batch's writes: as begin() with a mover, every owner checked (one statement each, one message). */
async function beginBatch(c: PoolClient, writer: BatchWriter): Promise<void> {
  await c.query(`BEGIN; ${STABLE_OUTPUT_SQL}; ${moverSql(writer.migration)}`);
  if (writer.owners.length > 0) await c.query(writer.owners.map(ownMoveSql).join(';\n'));
}

/**
 * Each customer's value from rows grouped by customer (`customer`: the tenant value as text), `none`
 * for one without rows; a customer that reads back under another value is refused (thrown).
 */
function byCustomer<R extends { customer: string }, T>(rows: readonly R[], customers: readonly string[], none: T, value: (r: R) => T, what: string): Map<string, T> {
  const out = new Map<string, T>(customers.map((c) => [c, none]));
  for (const r of rows) {
    if (!out.has(r.customer)) throw new Error(`a batch's ${what} found rows of customer ${JSON.stringify(r.customer)}, which is not one of its customers as written`);
    out.set(r.customer, value(r));
  }
  return out;
}

/** Each customer's aggregate from aggregateManySql's rows. */
function aggregatesOf(rows: Record<string, unknown>[], customers: readonly string[]): Map<string, Aggregate> {
  return byCustomer(rows as { customer: string; rows: string; checksum: string }[], customers, EMPTY_AGGREGATE, (r) => ({ rows: Number(r.rows), checksum: r.checksum }), 'checksum');
}

/** aggregate() of every customer of a batch (all their rows), grouped by customer in one query. */
export async function aggregateMany(db: Pool, plan: TablePlan, customers: readonly string[]): Promise<Map<string, Aggregate>> {
  const st = aggregateManySql(plan, customers);
  if (plan.hashRecord) return aggregatesOf((await db.query(st.text, st.values)).rows as Record<string, unknown>[], customers);
  return onClient(db, async (c) => {
    await begin(c, 'READ ONLY');
    const { rows } = await run(c, st);
    await c.query('COMMIT');
    return aggregatesOf(rows, customers);
  });
}

export interface FinalSyncManyResult {
  rows: number;
  bytes: number;
  /** Each customer's source rows, in the very snapshot that was copied. */
  source: Map<string, Aggregate>;
}

/**
 * finalSync() of a batch (all rows of every customer: none was verified before the fence): in one
 * target transaction the customers' rows are replaced by the source's, copied in one COPY, and
 * checksummed per customer in the copy's snapshot.
 */
export async function finalSyncMany(source: Pool, target: Pool, plan: TablePlan, customers: readonly string[], writer: BatchWriter): Promise<FinalSyncManyResult> {
  return withClients(source, target, async (s, t) => {
    const sourceSide = async () => {
      await begin(s, 'ISOLATION LEVEL REPEATABLE READ READ ONLY');
      return aggregatesOf((await run(s, aggregateManySql(plan, customers))).rows, customers);
    };
    const targetSide = async () => {
      await beginBatch(t, writer);
      await run(t, deleteManySql(plan, customers));
    };
    const [aggs] = await Promise.all([sourceSide(), targetSide()]);
    const copied = await pipeCopy(s, t, copyOutManySql(plan, customers), copyInSql(plan));
    const expected = [...aggs.values()].reduce((sum, a) => sum + a.rows, 0);
    // The COPY read the checksums' snapshot: anything else is a bug, and nothing is committed then.
    if (copied.rows !== expected) throw new Error(`a batch's final sync copied ${copied.rows} rows of ${plan.name}, its checksums counted ${expected}`);
    await t.query('COMMIT');
    await s.query('COMMIT');
    return { rows: copied.rows, bytes: copied.bytes, source: aggs };
  });
}

/**
 * How long countUpToMany's grouped count may take on Citus before each customer is counted on its
 * own: small customers take milliseconds; a customer of tens of millions of rows is not counted whole.
 */
export const GROUPED_COUNT_TIMEOUT_MS = 2_000;

/**
 * countUpTo() of every customer of a batch, in one query. On Citus the customers' rows are counted
 * whole, grouped (countManySql), within GROUPED_COUNT_TIMEOUT_MS; past it (a large member) each
 * customer is counted up to `limit` on its own.
 */
export async function countUpToMany(db: Pool, plan: Pick<TablePlan, 'schema' | 'table' | 'tenantColumn'>, customers: readonly string[], limit: number, options: { groupedTimeoutMs?: number } = {}): Promise<Map<string, number>> {
  if (await poolHasCitus(db)) {
    const counted = await countGrouped(db, plan, customers, options.groupedTimeoutMs ?? GROUPED_COUNT_TIMEOUT_MS);
    if (counted) return new Map([...counted].map(([c, n]) => [c, Math.min(n, limit)]));
  }
  const st = countUpToManySql(plan, customers, limit);
  const { rows } = await db.query<{ i: number; n: number }>(st.text, st.values);
  return new Map(rows.map((r) => [customers[r.i] as string, r.n]));
}

/** countManySql's counts, or undefined when it took longer than `timeoutMs` (cancelled: 57014). */
async function countGrouped(db: Pool, plan: Pick<TablePlan, 'schema' | 'table' | 'tenantColumn'>, customers: readonly string[], timeoutMs: number): Promise<Map<string, number> | undefined> {
  const st = countManySql(plan, customers);
  try {
    return await onClient(db, async (c) => {
      await c.query(`BEGIN READ ONLY; SET LOCAL statement_timeout = ${Math.max(1, Math.round(timeoutMs))}`);
      const { rows } = await c.query<{ customer: string; rows: string }>(st.text, st.values);
      await c.query('COMMIT');
      return byCustomer(rows, customers, 0, (r) => Number(r.rows), 'count');
    });
  } catch (err) {
    if ((err as { code?: unknown }).code === '57014') return undefined; // statement_timeout
    throw err;
  }
}

/** Deletes every row of a batch's customers, in one transaction with the batch's writer; returns how many. */
export async function deleteMany(db: Pool, plan: Pick<TablePlan, 'schema' | 'table' | 'tenantColumn'>, customers: readonly string[], writer: BatchWriter): Promise<number> {
  const st = deleteManySql(plan, customers);
  return onClient(db, async (c) => {
    await c.query(`BEGIN; ${moverSql(writer.migration)}`);
    if (writer.owners.length > 0) await c.query(writer.owners.map(ownMoveSql).join(';\n'));
    const r = await c.query(st.text, st.values);
    await c.query('COMMIT');
    return r.rowCount ?? 0;
  });
}
