// Reads the catalog of a cell database (tables, columns, keys, indexes): the input of the pure
// table plan in tenant-tables.ts.
import type { Pool, PoolClient } from 'pg';
import type { CatalogColumn, CatalogTable, CellCatalog } from './tenant-tables.js';

type Queryable = Pool | PoolClient;

// The effective locale of a collation, whatever the server version calls the column
// (daticulocale in 15-16, datlocale from 17): read through to_jsonb so a missing column is null.
const COLUMNS_SQL = `
WITH db AS (
  SELECT coalesce(to_jsonb(d) ->> 'datlocprovider', 'c') || ':' ||
         coalesce(to_jsonb(d) ->> 'datlocale', to_jsonb(d) ->> 'daticulocale', d.datcollate) AS coll
    FROM pg_database d WHERE d.datname = current_database()
)
SELECT n.nspname AS schema, c.relname AS table, a.attname AS column,
       format_type(a.atttypid, a.atttypmod) AS type, a.atttypid::int AS type_oid,
       inner_t.oid::int AS inner_type_oid, inner_t.typtype::text AS inner_type_kind,
       CASE WHEN a.attcollation = 0 THEN NULL
            WHEN a.attcollation = 100 THEN (SELECT coll FROM db)
            ELSE (SELECT co.collprovider::text || ':' ||
                         coalesce(to_jsonb(co) ->> 'colllocale', to_jsonb(co) ->> 'colliculocale', co.collcollate, co.collname)
                    FROM pg_collation co WHERE co.oid = a.attcollation) END AS collation,
       a.attgenerated <> '' AS generated, a.attidentity = 'a' AS identity_always,
       a.attidentity <> '' AS identity, pg_get_expr(ad.adbin, ad.adrelid) AS default_expr
  FROM pg_class c
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
  JOIN pg_type t ON t.oid = a.atttypid
  JOIN pg_type inner_t ON inner_t.oid = CASE WHEN t.typtype = 'd' THEN t.typbasetype
                                             WHEN t.typelem <> 0 AND t.typlen = -1 THEN t.typelem
                                             ELSE t.oid END
 WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition AND c.relpersistence <> 't'
   AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_toast%'
   AND n.nspname NOT LIKE 'pg\\_temp%' AND n.nspname <> 'citus'
 ORDER BY n.nspname, c.relname, a.attnum`;

const INDEXES_SQL = `
SELECT n.nspname AS schema, c.relname AS table, i.indisprimary AS primary,
       array(SELECT a.attname::text
               FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, ord)
               LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
              ORDER BY k.ord) AS columns
  FROM pg_index i
  JOIN pg_class c ON c.oid = i.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_class ic ON ic.oid = i.indexrelid
  JOIN pg_am am ON am.oid = ic.relam
 WHERE i.indisvalid AND am.amname = 'btree' AND c.relkind IN ('r', 'p') AND NOT c.relispartition
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')`;

// The functions of the enabled BEFORE INSERT row triggers (tgtype bits: 1 row, 2 before, 4 insert),
// the fence's own excluded: a watermark a trigger assigns is set by the database.
const INSERT_TRIGGERS_SQL = `
SELECT n.nspname AS schema, c.relname AS table, p.prosrc AS source
  FROM pg_trigger t
  JOIN pg_class c ON c.oid = t.tgrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  JOIN pg_proc p ON p.oid = t.tgfoid
 WHERE NOT t.tgisinternal AND t.tgenabled <> 'D' AND t.tgname <> 'cell_operator_fence' AND (t.tgtype & 7) = 7
   AND n.nspname NOT IN ('pg_catalog', 'information_schema')`;

interface ColumnRow {
  schema: string;
  table: string;
  column: string;
  type: string;
  type_oid: number;
  inner_type_oid: number;
  inner_type_kind: string;
  collation: string | null;
  generated: boolean;
  identity_always: boolean;
  identity: boolean;
  default_expr: string | null;
}

interface IndexRow {
  schema: string;
  table: string;
  primary: boolean;
  /** null for an expression part. */
  columns: (string | null)[];
}

export async function readCellCatalog(db: Queryable): Promise<CellCatalog> {
  const version = await db.query<{ v: string }>(`SELECT current_setting('server_version_num') AS v`);
  const columns = await db.query<ColumnRow>(COLUMNS_SQL);
  const indexes = await db.query<IndexRow>(INDEXES_SQL);
  const triggers = await db.query<{ schema: string; table: string; source: string }>(INSERT_TRIGGERS_SQL);
  const tables = new Map<string, CatalogTable>();
  for (const r of columns.rows) {
    const key = `${r.schema}.${r.table}`;
    let table = tables.get(key);
    if (!table) {
      table = { schema: r.schema, name: r.table, columns: [], primaryKey: null, indexes: [], insertTriggerSources: [] };
      tables.set(key, table);
    }
    const column: CatalogColumn = {
      name: r.column,
      type: r.type,
      typeOid: r.type_oid,
      innerTypeOid: r.inner_type_oid,
      innerTypeKind: r.inner_type_kind,
      collation: r.collation,
      generated: r.generated,
      identityAlways: r.identity_always,
      identity: r.identity,
      defaultExpr: r.default_expr,
    };
    table.columns.push(column);
  }
  for (const r of indexes.rows) {
    const table = tables.get(`${r.schema}.${r.table}`);
    if (!table) continue;
    // An expression part ends the usable prefix of the index.
    const end = r.columns.indexOf(null);
    const usable = (end < 0 ? r.columns : r.columns.slice(0, end)) as string[];
    if (r.primary) table.primaryKey = usable;
    table.indexes.push(usable);
  }
  for (const r of triggers.rows) tables.get(`${r.schema}.${r.table}`)?.insertTriggerSources?.push(r.source);
  return { serverVersion: Number(version.rows[0]?.v ?? 0), tables };
}
