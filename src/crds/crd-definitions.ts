// What each CRD says beyond its schemas: names, printer columns, selectable fields, and the
// restriction on metadata.name. The generator turns these plus the zod schemas into config/crd/.
import type { z } from 'zod';
import type { CelRule } from './cel.js';
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
  /** CEL rules on the whole object (the only place a rule can read metadata.name), with their TypeScript twins. */
  rootRules?: RootRule[];
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

/**
 * A workload names a Deployment, a Service, a KafkaUser and (through Strimzi) a Secret
 * `kafka-user-<name>` in the cell namespace. The cell's own children are named `<cell>` (the
 * Kafka) and `<cell>-...` (the database StatefulSets, Services and Secret, Strimzi's Services,
 * pods and Deployments), so a workload may not take the cell's name or start with `<cell>-`, nor
 * give its Kafka credentials the name of the database Secret.
 */
export interface RootRule extends CelRule {
  check: (object: { metadata?: { name?: string }; spec?: unknown }) => boolean;
}

/** The names of a Cell's workloads that CELL_WORKLOAD_NAMES_RULE refuses (cell-children.ts asserts the same). */
export function workloadNameClashes(cellName: string, workloads: readonly { name: string }[]): string[] {
  return workloads
    .map((w) => w.name)
    .filter((n) => n === cellName || n.startsWith(`${cellName}-`) || `kafka-user-${n}` === `${cellName}-db-credentials`);
}

export const CELL_WORKLOAD_NAMES_RULE: RootRule = {
  rule: "!has(self.spec.workloads) || self.spec.workloads.all(w, w.name != self.metadata.name && !w.name.startsWith(self.metadata.name + '-') && 'kafka-user-' + w.name != self.metadata.name + '-db-credentials')",
  message: 'spec.workloads: a workload may not be named after the cell or start with "<cell name>-": those names belong to the cell\'s database and Kafka objects (<cell>-db, <cell>-db-worker, <cell>-db-credentials, <cell>-kafka-bootstrap, ...)',
  fieldPath: '.spec.workloads',
  reason: 'FieldValueInvalid',
  check: (o) => {
    const workloads = (o.spec as { workloads?: { name: string }[] } | undefined)?.workloads ?? [];
    return workloadNameClashes(o.metadata?.name ?? '', workloads).length === 0;
  },
};

export const CELL_CRD: CrdDefinition = {
  names: CELL,
  source: 'src/crds/cell.ts',
  description: CELL_DESCRIPTION,
  spec: CellSpecSchema,
  status: CellStatusSchema,
  // The name prefixes Services, pods and the namespace cell-<name>: see CELL_NAME_PATTERN.
  metadataName: { pattern: CELL_NAME_PATTERN, maxLength: CELL_NAME_MAX_LENGTH },
  rootRules: [CELL_WORKLOAD_NAMES_RULE],
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
