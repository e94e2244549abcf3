// The CellRebalancePolicy kind: keep the cells of a region (or a selected set) balanced. The
// controller computes a proposal (which customers, from where, to where, why, skew before and
// after), shows it in status, and on approval (spec.approve, or approval: Automatic) creates canary
// Migrations and follows them.
import { z } from 'zod';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { withCel } from './cel.js';
import { ConditionsSchema } from './condition.js';
import type { API_VERSION } from './group.js';
import { DurationSchema } from './kube-types.js';
import { CellNameSchema, CustomerIdSchema, RegionSchema } from './names.js';
import { parseWith, type ParseResult } from './parse.js';

export const REBALANCE_METRICS = ['Customers', 'Devices', 'Rows', 'Bytes'] as const;
export const REBALANCE_APPROVALS = ['Manual', 'Automatic'] as const;
export const REBALANCE_PHASES = ['Balanced', 'Proposed', 'Waiting', 'Moving', 'Failed'] as const;

/** Condition types a CellRebalancePolicy reports. */
export const REBALANCE_CONDITIONS = {
  ready: 'Ready',
  proposed: 'Proposed',
  progressing: 'Progressing',
} as const;

/** The most moves one proposal holds (the status lists each). */
export const MAX_PROPOSAL_MOVES = 500;

/** `HH:MM` in UTC. */
export const CLOCK_PATTERN = /^([01][0-9]|2[0-3]):[0-5][0-9]$/;
const ClockSchema = z.string().max(5).regex(CLOCK_PATTERN, 'must be a time of day HH:MM (UTC)');

const QuietHoursSchema = withCel(
  z
    .object({
      start: ClockSchema.describe('Start, HH:MM UTC.'),
      end: ClockSchema.describe('End, HH:MM UTC (before start: the window runs over midnight).'),
    })
    .describe('A daily window (UTC) in which no Migration is started; moves already running finish.'),
  [{ rule: 'self.start != self.end', message: 'quiet hours need start != end', fieldPath: '.end', check: (q) => q.start !== q.end }],
);

export const CellRebalancePolicySpecSchema = withCel(
  z.object({
    region: RegionSchema.optional().describe('Balance the cells of this region.'),
    cells: z
      .array(CellNameSchema.describe('A cell name.'))
      .min(2)
      .max(100)
      .optional()
      .describe('Balance these cells (with region: those of them in the region).'),
    goal: z
      .object({
        metric: z
          .enum(REBALANCE_METRICS)
          .default('Customers')
          .describe(
            "What is balanced, per cell relative to its weight: Customers, Devices (expected devices), Rows or Bytes (measured in the cells' databases, sampled every spec.sampleInterval).",
          ),
        maxSkewPercent: z
          .int()
          .min(1)
          .max(1000)
          .default(20)
          .describe("How far above its weighted share a cell may be: 20 means no cell holds more than 120% of its share of the region's load."),
      })
      .prefault({})
      .describe('What balanced means.'),
    limits: z
      .object({
        maxMovesPerHour: z.int().min(1).max(MAX_PROPOSAL_MOVES).default(50).describe('Customers moved per hour at most (a proposal holds at most this many).'),
        rowsPerSecond: z.int().min(1).optional().describe("Passed to the Migrations' spec.rateLimit.rowsPerSecond; unlimited when omitted."),
        minCustomersPerCell: z
          .int()
          .min(0)
          .default(0)
          .describe('A cell is never drained below this many customers by a rebalance.'),
        quietHours: z.array(QuietHoursSchema).max(8).optional().describe('Windows (UTC) in which no Migration is started.'),
      })
      .prefault({})
      .describe('How much and when.'),
    approval: z
      .enum(REBALANCE_APPROVALS)
      .default('Manual')
      .describe('Manual: a proposal runs once spec.approve names its id. Automatic: every proposal runs as soon as nothing else moves customers of these cells.'),
    approve: z
      .string()
      .max(32)
      .regex(/^[a-f0-9]{1,32}$/, 'must be a proposal id as status.proposal.id shows it')
      .optional()
      .describe(
        "Approves the proposal with this id (status.proposal.id): kubectl cells rebalance approve NAME, or kubectl patch cellrebalancepolicy NAME --type merge -p '{\"spec\":{\"approve\":\"<id>\"}}', or commit it in Git. A different proposal is not approved by it.",
      ),
    canaryPause: DurationSchema.default('1m').describe("How long each Migration waits after its canary (its first customer) before moving the rest."),
    sampleInterval: DurationSchema.default('1h').describe("How often rows and bytes per customer are sampled from the cells' databases (Rows and Bytes metrics)."),
    suspend: z.boolean().default(false).describe('true: propose nothing and start nothing; Migrations already started go on.'),
  }),
  [
    {
      rule: 'has(self.region) || has(self.cells)',
      message: 'spec.region or spec.cells must say which cells to balance',
      check: (s) => s.region !== undefined || s.cells !== undefined,
    },
  ],
).describe('Which cells to balance, towards what, within which limits, and who approves.');

const ProposedMoveSchema = z
  .object({
    customer: CustomerIdSchema.describe('Customer id.'),
    from: CellNameSchema.describe('Cell it leaves.'),
    to: CellNameSchema.describe('Cell it goes to.'),
    size: z.number().min(0).optional().describe('Its load in the goal metric.'),
    why: z.string().max(256).optional().describe('Why this customer, for a person.'),
  })
  .describe('One customer move of a proposal.');

const CellLoadSchema = z
  .object({
    cell: CellNameSchema.describe('Cell name.'),
    load: z.number().min(0).describe('Load in the goal metric now.'),
    share: z.number().min(0).describe('Its weighted share of the total load.'),
    after: z.number().min(0).optional().describe('Load once the proposal has run.'),
  })
  .describe('A cell and its load.');

export const CellRebalancePolicyStatusSchema = z
  .object({
    phase: z.enum(REBALANCE_PHASES).optional().describe('Balanced, Proposed (waiting for approval), Waiting (quiet hours, other migrations, the hourly limit), Moving, or Failed.'),
    observedGeneration: z.int().min(0).optional().describe('metadata.generation this status describes.'),
    proposal: z
      .object({
        id: z.string().max(32).describe('Approve with spec.approve set to this id.'),
        metric: z.enum(REBALANCE_METRICS).describe('The goal metric.'),
        skewBeforePercent: z.number().describe('How far the hottest cell is above its share now, in percent.'),
        skewAfterPercent: z.number().describe('The same once the proposal has run.'),
        reachesGoal: z.boolean().describe('false: the limits (moves, capacity, floors, bindings) keep the skew above the goal; the proposal still lowers it.'),
        moves: z.array(ProposedMoveSchema).max(MAX_PROPOSAL_MOVES).describe('Every move of the proposal.'),
        cells: z.array(CellLoadSchema).max(100).optional().describe('The cells and their loads.'),
      })
      .optional()
      .describe('The current proposal; absent when the cells are balanced.'),
    executing: z.string().max(32).optional().describe('The id of the proposal whose Migrations run now.'),
    migrations: z.array(z.string().max(253)).max(200).optional().describe('The Migrations created for it.'),
    lastSampledAt: z.iso.datetime().optional().describe('When sizes were last sampled from the cells.'),
    conditions: ConditionsSchema.optional(),
    message: z.string().max(32768).optional().describe('A sentence on what the policy is doing or waiting for, for a person.'),
  })
  .describe('The proposal and where it stands.');

export type CellRebalancePolicySpec = z.output<typeof CellRebalancePolicySpecSchema>;
export type CellRebalancePolicySpecInput = z.input<typeof CellRebalancePolicySpecSchema>;
export type CellRebalancePolicyStatus = z.output<typeof CellRebalancePolicyStatusSchema>;
export type RebalanceMetric = (typeof REBALANCE_METRICS)[number];
export type RebalancePhase = (typeof REBALANCE_PHASES)[number];

export interface CellRebalancePolicy {
  apiVersion: typeof API_VERSION;
  kind: 'CellRebalancePolicy';
  metadata: V1ObjectMeta;
  spec: CellRebalancePolicySpec;
  status?: CellRebalancePolicyStatus;
}

/** Validates and defaults a CellRebalancePolicy spec; errors name the field (`spec.goal.maxSkewPercent`). */
export function parseCellRebalancePolicySpec(input: unknown): ParseResult<CellRebalancePolicySpec> {
  return parseWith(CellRebalancePolicySpecSchema, input, 'spec');
}

export const CELL_REBALANCE_POLICY_DESCRIPTION =
  'A CellRebalancePolicy keeps the cells of a region (or a listed set) balanced: it proposes customer moves when the load per cell, relative to its weight, is skewed beyond the goal, and runs them as canary Migrations once approved (spec.approve) or automatically.';
