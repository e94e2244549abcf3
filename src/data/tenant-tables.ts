// Which tables of a cell database hold a customer's rows, and how each one is moved: a pure plan
// made from the catalogs of the source and target databases, or the reasons it is refused.

/** How a table changes: AppendOnly rows are only inserted; Mutable rows change in place. */
export type TableMode = 'Mutable' | 'AppendOnly';

/** A tenant table as declared in a Cell's `spec.database.tables`. */
export interface TenantTableSpec {
  /** `table` (in public) or `schema.table`. */
  name: string;
  mode?: TableMode;
  /** AppendOnly only: an ever-increasing column (an insert timestamp) to catch up by. */
  watermarkColumn?: string;
}

/** What a move needs to know about a cell's tenancy (from the Cell's spec.database). */
export interface Tenancy {
  /** The column holding the customer id in every tenant table. */
  tenantColumn: string;
  /** The tenant tables; omitted: every table with the tenant column, as Mutable. */
  tables?: readonly TenantTableSpec[];
}

export interface CatalogColumn {
  name: string;
  /** `format_type(atttypid, atttypmod)`, e.g. `character varying(20)`. */
  type: string;
  typeOid: number;
  /** Element type of an array, base type of a domain (else equal to typeOid). */
  innerTypeOid: number;
  /** 'e' for enums (pg_type.typtype of the inner type). */
  innerTypeKind: string;
  /** The effective collation (provider:locale) of a collatable column, else null. */
  collation: string | null;
  generated: boolean;
  identityAlways: boolean;
  /** The column's default as `pg_get_expr` renders it (null: none); undefined when the catalog was not asked. */
  defaultExpr?: string | null;
  /** An identity column (ALWAYS or BY DEFAULT). */
  identity?: boolean;
}

export interface CatalogTable {
  schema: string;
  name: string;
  /** In attnum order, dropped columns excluded. */
  columns: CatalogColumn[];
  primaryKey: string[] | null;
  /** Column lists of the valid btree indexes (expression parts omitted). */
  indexes: string[][];
  /** The source of the functions of its enabled BEFORE INSERT row triggers (the fence's excluded); undefined when not read. */
  insertTriggerSources?: string[];
}

export interface CellCatalog {
  /** `server_version_num`. */
  serverVersion: number;
  /** Keyed by `schema.table`. */
  tables: ReadonlyMap<string, CatalogTable>;
}

/** How one table is moved: everything the SQL builders need. */
export interface TablePlan {
  /** `schema.table`: the key of its progress row. */
  name: string;
  schema: string;
  table: string;
  tenantColumn: string;
  /** Columns copied, in the source's order (generated columns are recomputed by the target). */
  columns: string[];
  /**
   * Columns hashed for verification, sorted by name so column order does not matter. The tenant
   * column is left out: every row checksummed together has the same value there.
   */
  checksumColumns: string[];
  primaryKey: string[];
  /** Keyset order of a customer's rows: the watermark (if any) then the key without the tenant column. */
  cursor: string[];
  mode: TableMode;
  watermarkColumn?: string;
  /** The watermark is a timestamptz set at insert: its settled bound follows the clock. */
  timeCursor: boolean;
  /** Binary COPY is safe: only built-in types (their OIDs match on every server). */
  binary: boolean;
  /** Every checksum column has an extended hash function: hash the row without text output. */
  hashRecord: boolean;
  /** A GENERATED ALWAYS identity column: inserts need OVERRIDING SYSTEM VALUE. */
  identityAlways: boolean;
}

export type RefusalReason =
  | 'TableNotFound'
  | 'NoTenantColumn'
  | 'NoPrimaryKey'
  | 'MissingOnTarget'
  | 'ColumnMismatch'
  | 'InvalidTableMode'
  | 'UnorderedKey'
  | 'TenantColumnMismatch'
  | 'NoTenantTables'
  | 'UnsupportedServer'
  | 'UnsafeWatermark';

export interface TableRefusal {
  table: string;
  reason: RefusalReason;
  message: string;
}

export type TablePlanResult =
  | { ok: true; tables: TablePlan[]; warnings: string[] }
  | { ok: false; refusals: TableRefusal[]; warnings: string[] };

/** bit_xor(bigint) and hash_record_extended arrived in PostgreSQL 14. */
export const MIN_SERVER_VERSION = 140000;
/** Types created by initdb have OIDs below this (FirstNormalObjectId). */
const FIRST_USER_OID = 16384;
/** Built-in types with an extended hash function (hash_record_extended can hash them). */
const HASHABLE_TYPE_OIDS: ReadonlySet<number> = new Set([
  16, 17, 18, 19, 20, 21, 23, 25, 26, 650, 700, 701, 774, 829, 869, 1042, 1043, 1082, 1083, 1114, 1184, 1186, 1266, 1700,
  2950, 3802,
]);
const TIMESTAMPTZ_OID = 1184;
const UUID_OID = 2950;

export function qualifiedName(spec: string): string {
  return spec.includes('.') ? spec : `public.${spec}`;
}

function columnsDiffer(table: string, source: CatalogTable, target: CatalogTable, keyColumns: ReadonlySet<string>): string[] {
  const problems: string[] = [];
  const targetColumns = new Map(target.columns.map((c) => [c.name, c]));
  const sourceNames = new Set(source.columns.map((c) => c.name));
  for (const s of source.columns) {
    const t = targetColumns.get(s.name);
    if (!t) {
      problems.push(`column ${s.name} (${s.type}) is missing on the target`);
      continue;
    }
    if (t.type !== s.type) problems.push(`column ${s.name} is ${s.type} on the source but ${t.type} on the target`);
    if (t.generated !== s.generated) problems.push(`column ${s.name} is ${s.generated ? '' : 'not '}generated on the source but ${t.generated ? '' : 'not '}on the target`);
    if (keyColumns.has(s.name) && t.collation !== s.collation) {
      problems.push(`key column ${s.name} sorts by collation ${s.collation ?? 'none'} on the source but ${t.collation ?? 'none'} on the target`);
    }
  }
  for (const t of target.columns) {
    if (!sourceNames.has(t.name)) problems.push(`column ${t.name} (${t.type}) exists only on the target`);
  }
  const sk = (source.primaryKey ?? []).join(', ');
  const tk = (target.primaryKey ?? []).join(', ');
  if (sk !== tk) problems.push(`the primary key is (${sk}) on the source but (${tk || 'none'}) on the target`);
  return problems.map((p) => `${table}: ${p}`);
}

/**
 * Plans the move of every tenant table, or refuses with one reason per problem (all of them, so
 * that a person fixes everything at once). Pure: catalogs in, plan out.
 */
export function planTables(source: CellCatalog, target: CellCatalog, sourceTenancy: Tenancy, targetTenancy?: Tenancy): TablePlanResult {
  const refusals: TableRefusal[] = [];
  const warnings: string[] = [];
  const tenant = sourceTenancy.tenantColumn;
  if (targetTenancy && targetTenancy.tenantColumn !== tenant) {
    refusals.push({
      table: '*',
      reason: 'TenantColumnMismatch',
      message: `the source cell finds customers by column ${tenant}, the target by ${targetTenancy.tenantColumn}: set the same spec.database.tenantColumn on both cells`,
    });
  }
  for (const [side, catalog] of [['source', source], ['target', target]] as const) {
    if (catalog.serverVersion < MIN_SERVER_VERSION) {
      refusals.push({
        table: '*',
        reason: 'UnsupportedServer',
        message: `the ${side} database runs PostgreSQL ${Math.floor(catalog.serverVersion / 10000)}; moves need 14 or newer (bit_xor, hash_record_extended)`,
      });
    }
  }

  let specs: TenantTableSpec[];
  if (sourceTenancy.tables && sourceTenancy.tables.length > 0) {
    specs = sourceTenancy.tables.map((t) => ({ ...t, name: qualifiedName(t.name) }));
  } else {
    specs = [...source.tables.values()]
      .filter((t) => t.columns.some((c) => c.name === tenant))
      .map((t) => ({ name: `${t.schema}.${t.name}`, mode: 'Mutable' as const }));
    if (specs.length === 0) {
      refusals.push({ table: '*', reason: 'NoTenantTables', message: `no table of the source database has the tenant column ${tenant}` });
    }
  }

  const tables: TablePlan[] = [];
  for (const spec of [...specs].sort((a, b) => a.name.localeCompare(b.name))) {
    const name = spec.name;
    const refuse = (reason: RefusalReason, message: string) => refusals.push({ table: name, reason, message });
    const src = source.tables.get(name);
    if (!src) {
      refuse('TableNotFound', `table ${name} is listed in the cell's spec.database.tables but does not exist in the source database`);
      continue;
    }
    if (!src.columns.some((c) => c.name === tenant)) {
      refuse('NoTenantColumn', `table ${name} has no tenant column ${tenant}: a move cannot tell its customers' rows apart`);
      continue;
    }
    if (!src.primaryKey || src.primaryKey.length === 0) {
      refuse(
        'NoPrimaryKey',
        `table ${name} has no primary key: a move pages and de-duplicates rows by it; add one (for example PRIMARY KEY (${tenant}, id))`,
      );
      continue;
    }
    const mode = spec.mode ?? 'Mutable';
    const keyWithoutTenant = src.primaryKey.filter((c) => c !== tenant);
    let cursor = keyWithoutTenant;
    let timeCursor = false;
    const columnsByName = new Map(src.columns.map((c) => [c.name, c]));
    if (spec.watermarkColumn !== undefined) {
      const w = columnsByName.get(spec.watermarkColumn);
      if (mode !== 'AppendOnly') {
        refuse('InvalidTableMode', `table ${name}: watermarkColumn applies only to mode AppendOnly`);
        continue;
      }
      if (!w) {
        refuse('InvalidTableMode', `table ${name}: watermark column ${spec.watermarkColumn} does not exist`);
        continue;
      }
      const unsafe = watermarkProblem(name, w, src);
      if (unsafe) {
        refuse('UnsafeWatermark', unsafe);
        continue;
      }
      cursor = [w.name, ...keyWithoutTenant.filter((c) => c !== w.name)];
      timeCursor = w.typeOid === TIMESTAMPTZ_OID;
    }
    if (mode === 'AppendOnly') {
      if (keyWithoutTenant.length === 0) {
        refuse('InvalidTableMode', `table ${name} holds one row per customer (its key is just ${tenant}): declare it Mutable`);
        continue;
      }
      const lead = columnsByName.get(cursor[0] as string);
      if (spec.watermarkColumn === undefined && lead?.typeOid === UUID_OID) {
        refuse(
          'UnorderedKey',
          `table ${name} is AppendOnly but its key starts with ${lead.name} (uuid), which new rows do not follow in order: declare a watermarkColumn (an insert timestamp) or make it Mutable`,
        );
        continue;
      }
    }
    const tgt = target.tables.get(name);
    if (!tgt) {
      refuse('MissingOnTarget', `table ${name} does not exist in the target database: create the same schema there first`);
      continue;
    }
    const keyColumns = new Set([...src.primaryKey, ...cursor]);
    const differences = columnsDiffer(name, src, tgt, keyColumns);
    if (differences.length > 0) {
      refuse('ColumnMismatch', `the target's columns differ from the source's: ${differences.join('; ')}`);
      continue;
    }
    const copied = src.columns.filter((c) => !c.generated);
    // Pages read in keyset order: an index on (tenant, cursor…) reads just the page, in order.
    const leading = [tenant, ...cursor];
    const indexed = src.indexes.some((cols) => leading.every((c, i) => cols[i] === c));
    if (!indexed) {
      warnings.push(`${name}: no index on (${leading.join(', ')}); each page of a move scans or sorts more than it copies`);
    }
    const plan: TablePlan = {
      name,
      schema: src.schema,
      table: src.name,
      tenantColumn: tenant,
      columns: copied.map((c) => c.name),
      checksumColumns: copied.map((c) => c.name).filter((c) => c !== tenant).sort(),
      primaryKey: src.primaryKey,
      cursor,
      mode,
      timeCursor,
      binary: src.columns.every((c) => c.typeOid < FIRST_USER_OID && c.innerTypeOid < FIRST_USER_OID),
      hashRecord: copied.filter((c) => c.name !== tenant).every((c) => HASHABLE_TYPE_OIDS.has(c.innerTypeOid) || c.innerTypeKind === 'e'),
      identityAlways: copied.some((c) => c.identityAlways),
    };
    if (spec.watermarkColumn !== undefined) plan.watermarkColumn = spec.watermarkColumn;
    tables.push(plan);
  }
  if (refusals.length > 0) return { ok: false, refusals, warnings };
  return { ok: true, tables, warnings };
}

/** One sentence naming every refusal, for a journal row and a Migration condition. */
export function describeRefusals(refusals: readonly TableRefusal[]): string {
  return refusals.map((r) => r.message).join('; ');
}

// Defaults that the database evaluates as the row is written: the clock (now() and its synonyms
// are the transaction's start, clock_timestamp() the insert's), or a sequence.
const DATABASE_SET_DEFAULT = /^(now\(\)|clock_timestamp\(\)|statement_timestamp\(\)|transaction_timestamp\(\)|CURRENT_TIMESTAMP|LOCALTIMESTAMP|nextval\()/i;

/**
 * Why a watermark column cannot be trusted to follow the order in which rows become visible, or
 * undefined. A move counts a row as copied once its watermark is older than the settle lag; a value
 * the writer chose (its own clock, a device's timestamp, a replayed batch) can be old when the row
 * commits, and a page already past it never copies the row: it is found missing only when cleanup
 * compares the source, and the move stops. So the value must come from the database: a clock or
 * sequence default, an identity, a generated column or a BEFORE INSERT trigger that assigns it.
 * Unknown (a catalog that did not read defaults): not refused. Pure.
 */
export function watermarkProblem(table: string, column: CatalogColumn, catalogTable: CatalogTable): string | undefined {
  if (column.defaultExpr === undefined || column.generated || column.identity === true) return undefined;
  const assigned = new RegExp(`\\bnew\\s*\\.\\s*"?${column.name.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}"?\\s*:?=`, 'i');
  if ((catalogTable.insertTriggerSources ?? []).some((src) => assigned.test(src))) return undefined;
  const fix = `give it DEFAULT clock_timestamp() (and let writers leave it out) or a BEFORE INSERT trigger that sets it, or remove watermarkColumn from the Cell's spec.database.tables (the table is then paged by its key)`;
  if (column.defaultExpr === null) {
    return `table ${table}: watermark column ${column.name} has no default and no trigger sets it, so writers choose its value and a row can commit with a watermark older than rows already copied (it would be missed): ${fix}`;
  }
  if (!DATABASE_SET_DEFAULT.test(column.defaultExpr.trim())) {
    return `table ${table}: watermark column ${column.name} defaults to ${column.defaultExpr}, not the database's clock or a sequence, so it does not follow the order in which rows commit: ${fix}`;
  }
  return undefined;
}
