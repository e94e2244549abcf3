import { aggregateManySql, aggregateSql, copyOutManySql, copyOutSql, countManySql, countUpToManySql, deleteBatchSql, deleteManySql, deleteRangeSql, insertMissingSql, lastKeySql } from './table-sql.js';
import type { TablePlan } from './tenant-tables.js';

const plan: TablePlan = {
  name: 'public.readings',
  schema: 'public',
  table: 'readings',
  tenantColumn: 'customer_id',
  columns: ['customer_id', 'id', 'received_at', 'value'],
  checksumColumns: ['id', 'received_at', 'value'],
  primaryKey: ['customer_id', 'id'],
  cursor: ['received_at', 'id'],
  mode: 'AppendOnly',
  watermarkColumn: 'received_at',
  timeCursor: true,
  binary: true,
  hashRecord: true,
  identityAlways: false,
};

describe('table SQL', () => {
  it('pages a customer by keyset with quoted literals inside COPY (query), which takes no parameters', () => {
    expect(copyOutSql(plan, "o'brien", { after: ['2026-01-01 00:00:00+00', '7'] }, 500)).toBe(
      `COPY (SELECT "customer_id", "id", "received_at", "value" FROM "public"."readings" WHERE "customer_id" = 'o''brien' AND ("received_at", "id") > ('2026-01-01 00:00:00+00', '7') AND "received_at" >= '2026-01-01 00:00:00+00' ORDER BY "received_at" ASC, "id" ASC LIMIT 500) TO STDOUT (FORMAT binary)`,
    );
  });

  it('binds every value of an ordinary statement as a parameter', () => {
    expect(deleteRangeSql(plan, 'acme', { after: ['t', '1'], settled: { kind: 'time', notAfter: '2026-01-01 00:00:00+00' } })).toEqual({
      text: `DELETE FROM "public"."readings" WHERE "customer_id" = $1 AND ("received_at", "id") > ($2, $3) AND "received_at" >= $4 AND "received_at" <= $5::timestamptz`,
      values: ['acme', 't', '1', 't', '2026-01-01 00:00:00+00'],
    });
    expect(lastKeySql(plan, 'acme', { upTo: ['t', '9'], settled: { kind: 'key', key: null } }).text).toBe(
      `SELECT ARRAY["received_at"::text, "id"::text]::text[] AS key FROM "public"."readings" WHERE "customer_id" = $1 AND ("received_at", "id") <= ($2, $3) AND "received_at" <= $4 AND false ORDER BY "received_at" DESC, "id" DESC LIMIT 1`,
    );
  });

  it('bounds the first cursor column as the keyset bound implies, so the planner finds a page-sized range by the index', () => {
    expect(aggregateSql(plan, 'acme', { after: ['t1', '1'], upTo: ['t2', '9'] })).toEqual({
      text: expect.stringMatching(/WHERE "customer_id" = \$1 AND \("received_at", "id"\) > \(\$2, \$3\) AND "received_at" >= \$4 AND \("received_at", "id"\) <= \(\$5, \$6\) AND "received_at" <= \$7$/),
      values: ['acme', 't1', '1', 't1', 't2', '9', 't2'],
    });
    // One cursor column: the bound is already on it.
    expect(deleteRangeSql({ ...plan, cursor: ['id'] }, 'acme', { after: ['5'] }).text).toBe(`DELETE FROM "public"."readings" WHERE "customer_id" = $1 AND "id" > $2`);
  });

  it('checksums rows in a canonical column order, hashing values without text output when it can', () => {
    expect(aggregateSql(plan, 'acme', {}).text).toBe(
      `SELECT count(*)::text AS rows, coalesce(bit_xor(hash_record_extended(ROW(t."id", t."received_at", t."value"), 0)), 0)::text AS checksum FROM "public"."readings" t WHERE "customer_id" = $1`,
    );
    expect(aggregateSql({ ...plan, hashRecord: false }, 'acme', {}).text).toContain('hashtextextended(ROW(t."id", t."received_at", t."value")::text, 0)');
  });

  it('deletes in batches by primary key and inserts only missing rows, overriding identity columns when needed', () => {
    expect(deleteBatchSql(plan, 'acme', 100).text).toBe(
      `DELETE FROM "public"."readings" WHERE "customer_id" = $1 AND ("customer_id", "id") IN (SELECT "customer_id", "id" FROM "public"."readings" WHERE "customer_id" = $1 LIMIT $2)`,
    );
    expect(insertMissingSql({ ...plan, identityAlways: true })).toBe(
      `INSERT INTO "public"."readings" ("customer_id", "id", "received_at", "value") OVERRIDING SYSTEM VALUE SELECT "customer_id", "id", "received_at", "value" FROM "cell_operator_move_staging" ON CONFLICT DO NOTHING`,
    );
  });

  it('quotes identifiers that need it and rejects a key that does not fit the cursor', () => {
    const odd = { ...plan, schema: 'Tele"metry', table: 'Read ings', cursor: ['id'] };
    expect(copyOutSql(odd, 'a', {})).toContain('FROM "Tele""metry"."Read ings"');
    expect(() => copyOutSql(plan, 'a', { after: ['only-one'] })).toThrow('does not fit the cursor');
  });

  it("names a batch's customers as escaped literals inside COPY (query) and as parameters elsewhere, each typed by the tenant column", () => {
    expect(copyOutManySql(plan, ['acme', "o'brien"])).toBe(
      `COPY (SELECT "customer_id", "id", "received_at", "value" FROM "public"."readings" WHERE "customer_id" IN ('acme', 'o''brien')) TO STDOUT (FORMAT binary)`,
    );
    expect(deleteManySql(plan, ['acme', "o'brien"])).toEqual({ text: 'DELETE FROM "public"."readings" WHERE "customer_id" IN ($1, $2)', values: ['acme', "o'brien"] });
    expect(aggregateManySql(plan, ['acme'])).toEqual({
      text: expect.stringMatching(/^SELECT t\."customer_id"::text AS customer, count\(\*\)::text AS rows, coalesce\(bit_xor\(hash_record_extended\(ROW\(t\."id", t\."received_at", t\."value"\), 0\)\), 0\)::text AS checksum\s+FROM "public"\."readings" t WHERE t\."customer_id" IN \(\$1\) GROUP BY t\."customer_id"$/),
      values: ['acme'],
    });
    // Each customer counted no further than the limit, by its index (no text comparison with the tenant column).
    expect(countUpToManySql(plan, ['acme', 'globex'], 11)).toEqual({
      text: `SELECT 0 AS i, (SELECT count(*) FROM (SELECT 1 FROM "public"."readings" WHERE "customer_id" = $2 LIMIT $1) x)::int AS n\nUNION ALL SELECT 1 AS i, (SELECT count(*) FROM (SELECT 1 FROM "public"."readings" WHERE "customer_id" = $3 LIMIT $1) x)::int AS n`,
      values: [11, 'acme', 'globex'],
    });
    // On Citus: one query grouped by the distribution column, pushed down to the shards.
    expect(countManySql(plan, ['acme', 'globex'])).toEqual({
      text: 'SELECT t."customer_id"::text AS customer, count(*)::text AS rows FROM "public"."readings" t WHERE t."customer_id" IN ($1, $2) GROUP BY t."customer_id"',
      values: ['acme', 'globex'],
    });
    expect(() => deleteManySql(plan, [])).toThrow('at least one customer');
  });
});
