// What each CRD says beyond its schemas: names, printer columns, selectable fields, and the
// restriction on metadata.name. The generator turns these plus the zod schemas into config/crd/.
import type { z } from 'zod';
import { CELL_DESCRIPTION, CellSpecSchema, CellStatusSchema } from './cell.js';
import {
  CUSTOMER_PLACEMENT_DESCRIPTION,
  CustomerPlacementSpecSchema,
  CustomerPlacementStatusSchema,
} from './customer-placement.js';
import {
  CELL_REBALANCE_POLICY_DESCRIPTION,
  CellRebalancePolicySpecSchema,
  CellRebalancePolicyStatusSchema,
} from './cell-rebalance-policy.js';
import { CELL_RELEASE_DESCRIPTION, CellReleaseSpecSchema, CellReleaseStatusSchema } from './cell-release.js';
import { CELL, CELL_REBALANCE_POLICY, CELL_RELEASE, CUSTOMER_PLACEMENT, MIGRATION, type KindNames } from './group.js';
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
    { name: 'State', type: 'string', jsonPath: '.spec.state', description: 'Active, Cordoned or Draining (spec.state).' },
    // Phase next to State: a drain cordons the cell without touching spec.state, so only the phase shows it.
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Provisioning, Ready, Updating (a rollout that keeps serving), Degraded, Draining (spec.state or a drain) or Deleting.' },
    { name: 'Customers', type: 'integer', jsonPath: '.status.customers', description: 'Customers placed in the cell.' },
    { name: 'Capacity', type: 'integer', jsonPath: '.spec.capacity.maxCustomers', description: 'Customers the cell can hold.', priority: 1 },
    {
      name: 'Ready',
      type: 'string',
      jsonPath: '.status.conditions[?(@.type=="Ready")].status',
      description: 'Status of the Ready condition.',
    },
    { name: 'Message', type: 'string', jsonPath: '.status.message', description: 'What the cell is waiting for.', priority: 1 },
    { name: 'Release', type: 'string', jsonPath: '.status.release.version', description: 'Version of the newest CellRelease its Deployments carry.', priority: 1 },
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
    { name: 'Step', type: 'integer', jsonPath: '.status.currentStep', description: 'Index (from 0) of the step in progress; the number of steps once done.' },
    { name: 'Progress', type: 'string', jsonPath: '.status.progress', description: 'Customers moved out of those selected.' },
    { name: 'Failed', type: 'integer', jsonPath: '.status.customers.failed', description: 'Customers whose move failed.', priority: 1 },
    { name: 'Message', type: 'string', jsonPath: '.status.message', description: 'What the migration is doing or waiting for.', priority: 1 },
    AGE,
  ],
  selectableFields: ['.spec.from', '.spec.to'],
};

export const CELL_REBALANCE_POLICY_CRD: CrdDefinition = {
  names: CELL_REBALANCE_POLICY,
  source: 'src/crds/cell-rebalance-policy.ts',
  description: CELL_REBALANCE_POLICY_DESCRIPTION,
  spec: CellRebalancePolicySpecSchema,
  status: CellRebalancePolicyStatusSchema,
  printerColumns: [
    { name: 'Region', type: 'string', jsonPath: '.spec.region', description: 'Region whose cells are balanced.' },
    { name: 'Metric', type: 'string', jsonPath: '.spec.goal.metric', description: 'What is balanced.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Balanced, Proposed, Waiting, Moving or Failed.' },
    { name: 'Skew', type: 'number', jsonPath: '.status.proposal.skewBeforePercent', description: 'How far the hottest cell is above its share, in percent.' },
    { name: 'After', type: 'number', jsonPath: '.status.proposal.skewAfterPercent', description: 'The same once the proposal has run.' },
    { name: 'Proposal', type: 'string', jsonPath: '.status.proposal.id', description: 'Approve it with spec.approve.' },
    { name: 'Approval', type: 'string', jsonPath: '.spec.approval', description: 'Manual or Automatic.', priority: 1 },
    { name: 'Message', type: 'string', jsonPath: '.status.message', description: 'What the policy is doing or waiting for.', priority: 1 },
    AGE,
  ],
  selectableFields: ['.spec.region'],
};

export const CELL_RELEASE_CRD: CrdDefinition = {
  names: CELL_RELEASE,
  source: 'src/crds/cell-release.ts',
  description: CELL_RELEASE_DESCRIPTION,
  spec: CellReleaseSpecSchema,
  status: CellReleaseStatusSchema,
  printerColumns: [
    { name: 'Version', type: 'string', jsonPath: '.status.version', description: 'The version the release brings.' },
    { name: 'Phase', type: 'string', jsonPath: '.status.phase', description: 'Phase of the release.' },
    { name: 'Step', type: 'integer', jsonPath: '.status.currentStep', description: 'Index (from 0) of the step in progress; the number of steps once done.' },
    { name: 'Progress', type: 'string', jsonPath: '.status.progress', description: 'Cells updated out of those selected.' },
    { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status', description: 'Status of the Ready condition.' },
    { name: 'Message', type: 'string', jsonPath: '.status.message', description: 'What the release is doing or waiting for.', priority: 1 },
    AGE,
  ],
  selectableFields: [],
};

export const CRD_DEFINITIONS: readonly CrdDefinition[] = [CELL_CRD, CUSTOMER_PLACEMENT_CRD, MIGRATION_CRD, CELL_REBALANCE_POLICY_CRD, CELL_RELEASE_CRD];
