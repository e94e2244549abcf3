// Where a move finds its cell databases and their table plans: a short-lived cache of each cell's
// catalog, so a drain of thousands of customers does not read the catalog for every step.
import type { Pool } from 'pg';
import { readCellCatalog } from './cell-catalog.js';
import { planTables, type CatalogTable, type CellCatalog, type TablePlan, type TablePlanResult, type Tenancy } from './tenant-tables.js';

/** A cell's database as a move sees it: a pool and the Cell's tenancy settings. */
export interface CellDatabase {
  pool: Pool;
  tenancy: Tenancy;
}

/** Resolves a cell name to its database (the operator builds pools from each Cell's endpoints). */
export type CellDatabases = (cell: string) => CellDatabase | Promise<CellDatabase>;

export class TablePlans {
  private readonly catalogs = new Map<string, { at: number; catalog: Promise<CellCatalog> }>();

  constructor(
    readonly cells: CellDatabases,
    private readonly ttlMs = 10_000,
  ) {}

  async database(cell: string): Promise<CellDatabase> {
    return this.cells(cell);
  }

  async catalog(cell: string, fresh = false): Promise<CellCatalog> {
    const cached = this.catalogs.get(cell);
    if (!fresh && cached && performance.now() - cached.at < this.ttlMs) return cached.catalog;
    const db = await this.cells(cell);
    const catalog = readCellCatalog(db.pool);
    this.catalogs.set(cell, { at: performance.now(), catalog });
    catalog.catch(() => this.catalogs.delete(cell));
    return catalog;
  }

  /** The plan of every tenant table for a move from `from` to `to`, or the refusals. */
  async plans(from: string, to: string, fresh = false): Promise<TablePlanResult> {
    const [fromDb, toDb] = await Promise.all([this.cells(from), this.cells(to)]);
    const [source, target] = await Promise.all([this.catalog(from, fresh), this.catalog(to, fresh)]);
    return planTables(source, target, fromDb.tenancy, toDb.tenancy);
  }

  async plan(from: string, to: string, table: string): Promise<TablePlan | undefined> {
    const result = await this.plans(from, to);
    return result.ok ? result.tables.find((t) => t.name === table) : undefined;
  }

  /** What clearing a side needs: the table as that side's catalog has it (undefined: gone). */
  async sideTable(cell: string, table: string): Promise<CatalogTable | undefined> {
    return (await this.catalog(cell)).tables.get(table);
  }

  invalidate(): void {
    this.catalogs.clear();
  }
}
