// What each CRD says beyond its schemas: names, printer columns, selectable fields, and the
// restriction on metadata.name. The generator turns these plus the zod schemas into config/crd/.
import type { z } from 'zod';
import { CELL_DESCRIPTION, CellSpecSchema, CellStatusSchema } from './cell.js';
import {
  CUSTOMER_PLACEMENT_DESCRIPTION,
  CustomerPlacementSpecSchema,
  CustomerPlacementStatusSchema,
} from './customer-placement.js';
import { CELL, CUSTOMER_PLACEMENT, MIGRATION, type KindNames } from './group.js';
import { MIGRATION_DESCRIPTION, MigrationSpecSchema, MigrationStatusSchema } from './migration.js';
import { CELL_NAME_MAX_LENGTH, CELL_NAME_PATTERN, CUSTOMER_ID_MAX_LENGTH, CUSTOMER_ID_PATTERN } from './names.js';

export interface PrinterColumn {
  name: string;
  type: 'string' | 'integer' | 'number' | 'boolean' | 'date';
  jsonPath: string;
  description: string;
  /** 0: always shown; 1: only with -o wide. */
  priority?: number;
}

export interface CrdDefinition {
  names: KindNames;
  /** Module the schemas live in, named in the generated file's header. */
  source: string;
  description: string;
  spec: z.ZodType;
  status: z.ZodType;
  /** Whether metadata.name is further restricted, and how. */
  metadataName?: { pattern: RegExp; maxLength: number };
  printerColumns: PrinterColumn[];
  /** Fields usable in `kubectl get --field-selector` (string, boolean or integer fields). */
  selectableFields: string[];
}

const AGE: PrinterColumn = {
  name: 'Age',
  type: 'date',
  jsonPath: '.metadata.creationTimestamp',
  description: 'Time since the object was created.',
};

export const CELL_CRD: CrdDefinition = {
  names: CELL,
  source: 'src/crds/cell.ts',
  description: CELL_DESCRIPTION,
  spec: CellSpecSchema,
  status: CellStatusSchema,
  // The name prefixes Services, pods and the namespace cell-<name>: see CELL_NAME_PATTERN.
  metadataName: { pattern: CELL_NAME_PATTERN, maxLength: CELL_NAME_MAX_LENGTH },
  printerColumns: [
    { name: 'Region', type: 'string', jsonPath: '.spec.region', description: 'Compliance region of the cell.' },
    { name: 'State', type: 'string', jsonPath: '.spec.state', description: 'Active, Cordoned or Draining.' },
    { name: 'Customers', type: 'integer', jsonPath: '.status.customers', description: 'Customers placed in the cell.' },
    {
      name: 'Ready',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: 'Status of the Ready condition.',
    },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Phase of the cell.', priority: 1 },
    AGE,
  ],
  selectableFields: ['.spec.region', '.spec.state'],
};

export const CUSTOMER_PLACEMENT_CRD: CrdDefinition = {
  names: CUSTOMER_PLACEMENT,
  source: 'src/crds/customer-placement.ts',
  description: CUSTOMER_PLACEMENT_DESCRIPTION,
  spec: CustomerPlacementSpecSchema,
  status: CustomerPlacementStatusSchema,
  metadataName: { pattern: CUSTOMER_ID_PATTERN, maxLength: CUSTOMER_ID_MAX_LENGTH },
  printerColumns: [
    { name: 'Cell', type: 'string', jsonPath: '.status.cell', description: 'Cell the customer lives in.' },
    { name: 'State', type: 'string', jsonPath: '.status.state', description: 'Pending, Active, Fenced or Unschedulable.' },
    { name: 'Epoch', type: 'integer', jsonPath: '.status.epoch', description: 'Placement epoch; bumps on every move.' },
    { name: 'Region', type: 'string', jsonPath: '.spec.region', description: 'Region the customer is bound to.', priority: 1 },
    { name: 'Pinned', type: 'string', jsonPath: '.spec.cell', description: 'Cell the customer is pinned to.', priority: 1 },
    AGE,
  ],
  selectableFields: ['.spec.region', '.spec.cell'],
};

export const MIGRATION_CRD: CrdDefinition = {
  names: MIGRATION,
  source: 'src/crds/migration.ts',
  description: MIGRATION_DESCRIPTION,
  spec: MigrationSpecSchema,
  status: MigrationStatusSchema,
  printerColumns: [
    { name: 'From', type: 'string', jsonPath: '.spec.from', description: 'Source cell.' },
    { name: 'To', type: 'string', jsonPath: '.spec.to', description: 'Target cell.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Phase of the migration.' },
    { name: 'Progress', type: 'string', jsonPath: '.status.progress', description: 'Customers moved out of those selected.' },
    { name: 'Step', type: 'integer', jsonPath: '.status.currentStep', description: 'Index of the current step.', priority: 1 },
    AGE,
  ],
  selectableFields: ['.spec.from', '.spec.to'],
};

export const CRD_DEFINITIONS: readonly CrdDefinition[] = [CELL_CRD, CUSTOMER_PLACEMENT_CRD, MIGRATION_CRD];
