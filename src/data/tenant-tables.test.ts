import { planTables, watermarkProblem, type CatalogColumn, type CatalogTable, type CellCatalog } from './tenant-tables.js';

const col = (name: string, type = 'text', typeOid = 25, more: Partial<CatalogColumn> = {}): CatalogColumn => ({
  name,
  type,
  typeOid,
  innerTypeOid: typeOid,
  innerTypeKind: 'b',
  collation: typeOid === 25 ? 'c:C' : null,
  generated: false,
  identityAlways: false,
  ...more,
});

const readings = (): CatalogTable => ({
  schema: 'public',
  name: 'readings',
  columns: [col('customer_id'), col('id', 'bigint', 20), col('received_at', 'timestamp with time zone', 1184), col('value', 'double precision', 701)],
  primaryKey: ['customer_id', 'id'],
  indexes: [['customer_id', 'id'], ['customer_id', 'received_at', 'id']],
});

function catalog(...tables: CatalogTable[]): CellCatalog {
  return { serverVersion: 150004, tables: new Map(tables.map((t) => [`${t.schema}.${t.name}`, t])) };
}

describe('planTables', () => {
  it('finds every table with the tenant column as Mutable when none are listed', () => {
    const other: CatalogTable = { schema: 'public', name: 'plans', columns: [col('id', 'integer', 23)], primaryKey: ['id'], indexes: [] };
    const result = planTables(catalog(readings(), other), catalog(readings(), other), { tenantColumn: 'customer_id' });
    expect(result).toMatchObject({ ok: true, tables: [{ name: 'public.readings', mode: 'Mutable', cursor: ['id'], binary: true, hashRecord: true }] });
  });

  it('pages an append-only table by its watermark then its key, following the clock for a timestamptz', () => {
    const result = planTables(catalog(readings()), catalog(readings()), {
      tenantColumn: 'customer_id',
      tables: [{ name: 'readings', mode: 'AppendOnly', watermarkColumn: 'received_at' }],
    });
    expect(result).toMatchObject({ ok: true, tables: [{ cursor: ['received_at', 'id'], timeCursor: true, checksumColumns: ['id', 'received_at', 'value'] }] });
    expect(result.warnings).toEqual([]);
  });

  it('refuses a table without a primary key, naming it and saying what to add', () => {
    const noKey: CatalogTable = { ...readings(), name: 'log', primaryKey: null };
    const result = planTables(catalog(noKey), catalog(noKey), { tenantColumn: 'customer_id' });
    expect(result).toMatchObject({ ok: false, refusals: [{ table: 'public.log', reason: 'NoPrimaryKey' }] });
    if (!result.ok) expect(result.refusals[0]?.message).toContain('add one (for example PRIMARY KEY (customer_id, id))');
  });

  it("lists every difference between the target's columns and the source's", () => {
    const target: CatalogTable = {
      ...readings(),
      columns: [col('customer_id'), col('id', 'integer', 23), col('received_at', 'timestamp with time zone', 1184), col('extra')],
    };
    const result = planTables(catalog(readings()), catalog(target), { tenantColumn: 'customer_id' });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.refusals).toHaveLength(1);
    const message = result.refusals[0]?.message ?? '';
    expect(message).toContain('column id is bigint on the source but integer on the target');
    expect(message).toContain('column value (double precision) is missing on the target');
    expect(message).toContain('column extra (text) exists only on the target');
  });

  it('refuses key columns that sort differently on the two servers', () => {
    const target = readings();
    target.columns[0] = col('customer_id', 'text', 25, { collation: 'i:en-US' });
    const result = planTables(catalog(readings()), catalog(target), { tenantColumn: 'customer_id' });
    expect(result).toMatchObject({ ok: false, refusals: [{ reason: 'ColumnMismatch', message: expect.stringContaining('sorts by collation') }] });
  });

  it('refuses an append-only table keyed by uuid without a watermark, and a missing target table', () => {
    const uuidKeyed: CatalogTable = { ...readings(), name: 'blobs', columns: [col('customer_id'), col('id', 'uuid', 2950)] };
    const result = planTables(catalog(uuidKeyed, readings()), catalog(), {
      tenantColumn: 'customer_id',
      tables: [{ name: 'blobs', mode: 'AppendOnly' }, { name: 'public.readings' }],
    });
    expect(result).toMatchObject({
      ok: false,
      refusals: [
        { table: 'public.blobs', reason: 'UnorderedKey' },
        { table: 'public.readings', reason: 'MissingOnTarget' },
      ],
    });
  });

  it('falls back to text COPY and text hashing for types defined in the database', () => {
    const withEnum: CatalogTable = { ...readings(), columns: [...readings().columns, col('status', 'status', 16500, { innerTypeKind: 'e' }), col('doc', 'json', 114)] };
    const result = planTables(catalog(withEnum), catalog(withEnum), { tenantColumn: 'customer_id' });
    expect(result).toMatchObject({ ok: true, tables: [{ binary: false, hashRecord: false }] });
  });

  it('warns when no index starts with the tenant column and the cursor', () => {
    const unindexed: CatalogTable = { ...readings(), indexes: [['id']], primaryKey: ['customer_id', 'id'] };
    const result = planTables(catalog(unindexed), catalog(unindexed), { tenantColumn: 'customer_id' });
    expect(result.warnings).toEqual([expect.stringContaining('no index on (customer_id, id)')]);
  });

  it('refuses servers older than PostgreSQL 14 and cells that disagree on the tenant column', () => {
    const old = { ...catalog(readings()), serverVersion: 130010 };
    const result = planTables(old, catalog(readings()), { tenantColumn: 'customer_id' }, { tenantColumn: 'tenant' });
    expect(result).toMatchObject({ ok: false, refusals: [{ reason: 'TenantColumnMismatch' }, { reason: 'UnsupportedServer' }] });
  });

  describe('a watermark column', () => {
    const spec = { tenantColumn: 'customer_id', tables: [{ name: 'readings', mode: 'AppendOnly' as const, watermarkColumn: 'received_at' }] };
    const withWatermark = (more: Partial<CatalogColumn>, triggers: string[] = []): CatalogTable => {
      const t = readings();
      t.columns[2] = col('received_at', 'timestamp with time zone', 1184, more);
      t.insertTriggerSources = triggers;
      return t;
    };

    it('is accepted when the database sets it: a clock or sequence default, an identity, a trigger', () => {
      for (const t of [
        withWatermark({ defaultExpr: 'clock_timestamp()' }),
        withWatermark({ defaultExpr: 'now()' }),
        withWatermark({ defaultExpr: 'CURRENT_TIMESTAMP' }),
        withWatermark({ defaultExpr: "nextval('readings_seq'::regclass)" }),
        withWatermark({ defaultExpr: null, identity: true }),
        withWatermark({ defaultExpr: null }, ['BEGIN\n  NEW.received_at := clock_timestamp();\n  RETURN NEW;\nEND']),
      ]) {
        expect(planTables(catalog(t), catalog(t), spec)).toMatchObject({ ok: true, tables: [{ cursor: ['received_at', 'id'] }] });
      }
    });

    it('is refused, naming the fix, when writers supply it: no default, or a default that is not the clock', () => {
      const supplied = withWatermark({ defaultExpr: null }, ['BEGIN NEW.value := 0; RETURN NEW; END']);
      const result = planTables(catalog(supplied), catalog(supplied), spec);
      expect(result).toMatchObject({ ok: false, refusals: [{ table: 'public.readings', reason: 'UnsafeWatermark' }] });
      if (!result.ok) {
        expect(result.refusals[0]?.message).toContain('watermark column received_at has no default and no trigger sets it');
        expect(result.refusals[0]?.message).toContain('give it DEFAULT clock_timestamp()');
      }
      const constant = withWatermark({ defaultExpr: "'2020-01-01 00:00:00+00'::timestamp with time zone" });
      expect(watermarkProblem('public.readings', constant.columns[2]!, constant)).toMatch(/defaults to '2020-01-01 .*not the database's clock or a sequence/);
    });

    it('is not judged when the catalog did not say how it is set', () => {
      expect(watermarkProblem('public.readings', col('received_at', 'timestamp with time zone', 1184), readings())).toBeUndefined();
    });
  });
});

