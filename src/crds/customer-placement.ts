// The CustomerPlacement kind: the declarative door to the routing table for customers managed in
// Git (metadata.name is the customer id). The table itself lives in the control-plane database.
import { z } from 'zod';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { withCel } from './cel.js';
import { ConditionsSchema } from './condition.js';
import type { API_VERSION } from './group.js';
import { CellNameSchema, RegionSchema } from './names.js';
import { parseWith, type ParseResult } from './parse.js';

export const PLACEMENT_STATES = ['Pending', 'Active', 'Fenced', 'Unschedulable'] as const;

/** Condition types a CustomerPlacement reports. */
export const PLACEMENT_CONDITIONS = {
  ready: 'Ready',
  placed: 'Placed',
  drifted: 'Drifted',
} as const;

export const CustomerPlacementSpecSchema = withCel(
  z.object({
    region: RegionSchema.optional().describe(
      'Region the customer is bound to (data residency): it is only ever placed in, or moved to, cells of this region. Unbound when omitted; once set it cannot be changed or removed.',
    ),
    cell: CellNameSchema.optional().describe(
      'Pin to this cell. A new customer is placed there if the cell is eligible (Active, Ready, in the bound region, under capacity). For a placed customer a different cell does not move data: status says Drifted until a Migration moves the customer.',
    ),
    expectedDevices: z
      .int()
      .min(0)
      .default(0)
      .describe('Devices the customer is expected to connect: counted against cell capacity and used to order migrations (SmallestFirst).'),
  }),
  [
    {
      rule: '!has(oldSelf.region) || (has(self.region) && self.region == oldSelf.region)',
      message: 'spec.region cannot be changed or removed once set: moving a customer out of its region needs a new customer binding, not an edit',
      fieldPath: '.region',
    },
  ],
)
  .describe('Where the customer may and should live. Everything is optional: an empty or omitted spec places the customer in any eligible cell.')
  // Defaulted so that the region rule also sees an update that drops the whole spec.
  .prefault({});

export const CustomerPlacementStatusSchema = z
  .object({
    observedGeneration: z.int().min(0).optional().describe('metadata.generation this status describes.'),
    cell: z.string().max(63).optional().describe('The cell the customer lives in, from the routing table.'),
    region: z.string().max(63).optional().describe('Region of that cell.'),
    state: z
      .enum(PLACEMENT_STATES)
      .optional()
      .describe(
        'Pending: not placed yet. Active: served by status.cell. Fenced: being cut over by a migration (the router answers 503 with Retry-After for a bounded time). Unschedulable: no eligible cell; the Placed condition says why.',
      ),
    epoch: z
      .int()
      .min(0)
      .optional()
      .describe('Placement epoch from the routing table; bumps on every move, so a gateway can tell a stale route.'),
    placedAt: z.iso.datetime().optional().describe('When the customer was first placed.'),
    conditions: ConditionsSchema.optional(),
    message: z.string().max(32768).optional().describe('A sentence on the placement for a person, for example why no cell is eligible.'),
  })
  .describe('The customer as the routing table has it; mirrored, never the source of truth.');

export type CustomerPlacementSpec = z.output<typeof CustomerPlacementSpecSchema>;
export type CustomerPlacementSpecInput = z.input<typeof CustomerPlacementSpecSchema>;
export type CustomerPlacementStatus = z.output<typeof CustomerPlacementStatusSchema>;
export type PlacementState = (typeof PLACEMENT_STATES)[number];

export interface CustomerPlacement {
  apiVersion: typeof API_VERSION;
  kind: 'CustomerPlacement';
  metadata: V1ObjectMeta;
  spec: CustomerPlacementSpec;
  status?: CustomerPlacementStatus;
}

/** Validates and defaults a CustomerPlacement spec; errors name the field (`spec.cell`). */
export function parseCustomerPlacementSpec(input: unknown): ParseResult<CustomerPlacementSpec> {
  return parseWith(CustomerPlacementSpecSchema, input, 'spec');
}

export const CUSTOMER_PLACEMENT_DESCRIPTION =
  'A CustomerPlacement places one customer (metadata.name is the customer id) through the same code as the router and mirrors the routing table into its status. Deleting it never deletes data or the routing entry.';
