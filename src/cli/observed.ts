// What the plugin reads of Cells and Migrations: the objects as the API server sends them, in
// which anything the operator writes may still be missing (a Cell not reconciled yet has no status).
import type { CellSpec, CellStatus } from '../crds/cell.js';
import type { MigrationSpec, MigrationStatus, MigrationStep } from '../crds/migration.js';

export interface ObservedMeta {
  name?: string;
  generation?: number;
  resourceVersion?: string;
}

export interface ObservedCell {
  metadata: ObservedMeta;
  spec?: Partial<Pick<CellSpec, 'region' | 'state'>> & { capacity?: Partial<CellSpec['capacity']> };
  status?: CellStatus;
}

export interface ObservedMigration {
  metadata: ObservedMeta;
  spec?: Partial<Pick<MigrationSpec, 'from' | 'to' | 'paused' | 'abort' | 'promotedStep' | 'maxConcurrent'>> & {
    steps?: MigrationStep[];
  };
  status?: MigrationStatus;
}
