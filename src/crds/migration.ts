// The Migration kind: move customers from one cell to another in cumulative steps, canary first,
// with pauses a person promotes and an abort that moves everyone back.
import { z } from 'zod';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { listSet, withCel } from './cel.js';
import { ConditionsSchema } from './condition.js';
import type { API_VERSION } from './group.js';
import { DURATION_PATTERN, DurationSchema, durationWithin as within, LabelSelectorSchema, parseDuration } from './kube-types.js';
import { CellNameSchema, CustomerIdSchema } from './names.js';
import { parseWith, type ParseResult } from './parse.js';
import { countSchema, countTarget, MAX_STEPS, oneOfCountOrPause, PauseSchema, PERCENT_PATTERN } from './steps.js';

export const MIGRATION_ORDERS = ['SmallestFirst', 'Hash', 'Listed'] as const;
/** Customers a Migration moves at the same time unless spec.maxConcurrent says otherwise. */
export const DEFAULT_MAX_CONCURRENT = 4;
/** The largest spec.batchSize (src/data/move-settings.ts MAX_BATCH_SIZE: a batch's statements name every member). */
export const MAX_MOVE_BATCH = 200;
/**
 * Small customers an executor moves together unless spec.batchSize says otherwise: one, so that
 * maxConcurrent is the number of customers in flight (fenced at once, at most). A drain sets 20
 * (kubectl cells drain: DRAIN_MOVE_BATCH): 1,000 small customers at 20 cost about 2.5× the raw
 * copies, at 1 about 12–15× (docs/move-performance.md).
 */
export const DEFAULT_MOVE_BATCH = 1;
/**
 * The most customers a Migration may have in flight, maxConcurrent × batchSize: each is fenced (its
 * writes refused) and holds room in the target at once. Each field alone stays within it but the
 * product would not (100 × 200).
 */
export const MAX_MOVES_IN_FLIGHT = 1_000;
const maxConcurrentOf = (spec: string): string => `(has(${spec}.maxConcurrent) ? ${spec}.maxConcurrent : ${DEFAULT_MAX_CONCURRENT})`;
const batchSizeOf = (spec: string): string => `(has(${spec}.batchSize) ? ${spec}.batchSize : ${DEFAULT_MOVE_BATCH})`;
/** CEL: the customers a Migration spec may have in flight. */
const inFlight = (spec: string): string => `${maxConcurrentOf(spec)} * ${batchSizeOf(spec)}`;
/** The batch size a drain of a whole cell asks for (kubectl cells drain). */
export const DRAIN_MOVE_BATCH = 20;
export const MIGRATION_PHASES = ['Pending', 'Progressing', 'Paused', 'Succeeded', 'Failed', 'Aborted'] as const;

/** Condition types a Migration reports. */
export const MIGRATION_CONDITIONS = {
  ready: 'Ready',
  valid: 'Valid',
  progressing: 'Progressing',
  paused: 'Paused',
  gated: 'Gated',
  aborting: 'Aborting',
} as const;

/**
 * The most customers a `names` list may hold (keeps the object well under etcd's 1.5 MiB). A
 * client-side apply fits fewer: its annotation copy of the object is limited to 256 KiB.
 */
export const MAX_LISTED_CUSTOMERS = 10000;
export { MAX_STEPS };

/** A percentage step: "1%" to "100%". */
export const MOVE_PERCENT_PATTERN = PERCENT_PATTERN;

const MoveSchema = countSchema(
  'Cumulative target of the step: a number of customers (at least 1) or a share of the selection from "1%" to "100%". Customers already moved count towards it.',
);

export const MigrationStepSchema = withCel(
  z
    .object({
      move: MoveSchema.optional(),
      pause: PauseSchema.optional(),
    })
    .describe('One step: move customers, or pause.'),
  [oneOfCountOrPause('move')],
);

const CustomerSelectionSchema = withCel(
  z.object({
    names: listSet(z.array(CustomerIdSchema).min(1).max(MAX_LISTED_CUSTOMERS))
      .optional()
      .describe(
        'These customers by id (order: Listed moves them in this order), at most 10000. A client-side kubectl apply (and Argo CD without ServerSideApply=true) also keeps the object in the last-applied-configuration annotation, limited to 256 KiB: about 3,900 ids of 63 characters. Apply a longer list with kubectl apply --server-side.',
      ),
    selector: LabelSelectorSchema.optional().describe(
      "Customers of the source cell whose routing-table labels match (a CustomerPlacement's metadata.labels when the customer was first placed become its labels; later changes are not applied, and its Drifted condition says so).",
    ),
    all: z
      .boolean()
      .optional()
      .describe('true: every customer of the source cell (a drain). The source cell is cordoned first so nobody new lands there.'),
    preferTarget: z
      .boolean()
      .optional()
      .describe(
        "true: the customers of the source cell whose weighted rendezvous placement now prefers the target (a split: add a Cell, then move exactly the customers it wins). Computed once, with the placement function itself, over the cells' weights and regions, load ignored; customers pinned by a CustomerPlacement's spec.cell and customers bound to another region stay.",
      ),
  }),
  [
    {
      rule: '(has(self.names) ? 1 : 0) + (has(self.selector) ? 1 : 0) + (has(self.all) ? 1 : 0) + (has(self.preferTarget) ? 1 : 0) == 1',
      message: 'spec.customers must set exactly one of names, selector, all or preferTarget',
      check: (s) => [s.names, s.selector, s.all, s.preferTarget].filter((v) => v !== undefined).length === 1,
    },
    {
      rule: '!has(self.all) || self.all',
      message: 'spec.customers.all must be true when set; select fewer customers with names or selector',
      fieldPath: '.all',
      check: (s) => s.all !== false,
    },
    {
      rule: '!has(self.preferTarget) || self.preferTarget',
      message: 'spec.customers.preferTarget must be true when set; select customers with names or selector instead',
      fieldPath: '.preferTarget',
      check: (s) => s.preferTarget !== false,
    },
  ],
).describe('Which customers of the source cell to move: exactly one of names, selector, all or preferTarget.');

const immutable = (field: string) => ({
  rule: 'self == oldSelf',
  message: `spec.${field} is immutable: create a new Migration instead`,
});

export const MigrationSpecSchema = withCel(
  z.object({
    from: withCel(CellNameSchema, [immutable('from')]).describe('Source cell. Immutable.'),
    to: withCel(CellNameSchema, [immutable('to')]).describe(
      'Target cell: must differ from the source, be Active (a Cordoned or Draining spec.state holds the migration until it is Active again), and be in the same region for customers bound to a region. Immutable.',
    ),
    customers: withCel(CustomerSelectionSchema, [immutable('customers')]),
    order: z
      .enum(MIGRATION_ORDERS)
      .default('SmallestFirst')
      .describe(
        'Order in which customers move, so the canary is the least risky: SmallestFirst (fewest expected devices first, then by customer id; the routing table keeps no row counts), Hash (stable pseudo-random by customer id), Listed (the order of customers.names).',
      ),
    steps: z
      .array(MigrationStepSchema)
      .min(1)
      .max(MAX_STEPS)
      .describe(
        'Steps run in order, as in Argo Rollouts. Moves are cumulative targets, for example [move: 1, pause: {duration: 10m}, move: 10%, pause: {}, move: 100%]. After the last step every selected customer is moved: a final move: 100% is implied.',
      ),
    maxConcurrent: z
      .int()
      .min(1)
      .max(100)
      .default(DEFAULT_MAX_CONCURRENT)
      .describe('Customers moved at the same time. With batchSize above 1, executors moving at the same time, each one customer or up to batchSize small customers together (up to maxConcurrent × batchSize customers in flight, at most 1000).'),
    batchSize: z
      .int()
      .min(1)
      .max(MAX_MOVE_BATCH)
      .default(DEFAULT_MOVE_BATCH)
      .describe(
        'Small customers (all their rows within 10,000) moved together as one group by each of the maxConcurrent executors, up to this many: they share the fence changes, copies, checks and routing transactions, and up to maxConcurrent × batchSize moves are started at once (at most 1000). Each stays a move of its own: one that is large, refused, aborted or meets an error goes on alone. 1: one customer at a time per executor (the target then reserves room for maxConcurrent moves only).',
      ),
    rateLimit: z
      .object({
        rowsPerSecond: z.int().min(1).describe('Rows copied per second, over all customers in flight.'),
      })
      .optional()
      .describe('Throttle on copying so a move cannot starve the cells; unlimited when omitted.'),
    drainWait: DurationSchema.default('2s').describe(
      'Once a customer is fenced (the router answers 503), how long to wait for writes already in flight to reach the source before the final sync. Must leave 20s of maxFence for the database and Kafka drains.',
    ),
    maxFence: withCel(DurationSchema, [
      {
        rule: "duration(self) >= duration('30s') && duration(self) <= duration('1h')",
        message: 'spec.maxFence must be from 30s to 1h: the customer cannot write while fenced',
        check: (d) => within(d, 30_000, 3_600_000),
      },
    ])
      .default('60s')
      .describe(
        "The longest a customer may stay fenced (unable to write) during its cut-over; a move that holds its fence longer lifts it and moves the customer back. From 30s to 1h.",
      ),
    retention: withCel(DurationSchema, [
      {
        rule: "duration(self) <= duration('8760h')",
        message: 'spec.retention must be at most 8760h (a year)',
        check: (d) => within(d, 0, 8_760 * 3_600_000),
      },
    ])
      .default('24h')
      .describe(
        "How long the source keeps a moved customer's rows before cleanup. Until then abort can move the customer back; late rows are swept to the target before deletion. At most 8760h. A shorter retention also applies to the customers already waiting for their cleanup (counted from each one's cut-over); a longer one applies to the customers cut over after the change.",
      ),
    paused: z
      .boolean()
      .default(false)
      .describe(
        'true holds the migration: no new customer starts moving; customers in flight finish their move. false resumes. kubectl: kubectl patch migration NAME --type merge -p \'{"spec":{"paused":true}}\'; Git: commit the field.',
      ),
    promotedStep: z
      .int()
      .min(0)
      .optional()
      .describe(
        'Promotion: every pause whose step index (from 0) is at most this value ends now, an indefinite pause: {} included. To promote the pause the migration waits at, set it to status.currentStep: kubectl patch migration NAME --type merge -p \'{"spec":{"promotedStep":3}}\', or commit the field in Git.',
      ),
    retry: z
      .object({
        failedBefore: z.iso
          .datetime()
          .max(64)
          .describe(
            'Every customer whose move failed before this time starts moving again, once; a move that fails again after it stays Failed until a later time is set. A time more than a minute ahead of the operator\'s clock is refused (Valid=False, reason RetryInTheFuture): it would retry the same failures over and over.',
          ),
        customers: listSet(z.array(CustomerIdSchema).min(1).max(1000))
          .optional()
          .describe('Only these customers; every failed customer when omitted.'),
      })
      .optional()
      .describe(
        'Retry failed customers: kubectl cells migration retry NAME [--customer ID] sets failedBefore to now; in Git, commit a new time. Ignored while aborting.',
      ),
    abort: z
      .boolean()
      .default(false)
      .describe(
        'true stops the migration and moves every customer already moved back to the source cell (within the retention window, rows written to the target meanwhile included). Cannot be set back to false.',
      ),
  }),
  [
    {
      rule: 'self.from != self.to',
      message: 'spec.to must name a different cell than spec.from',
      fieldPath: '.to',
      check: (s) => s.from !== s.to,
    },
    {
      // New objects, and updates that change either field. A Migration stored before this rule keeps
      // its pair through other updates (an abort, a pause), which must never be refused.
      rule: `${inFlight('self')} <= ${MAX_MOVES_IN_FLIGHT} || (oldSelf.hasValue() && ${maxConcurrentOf('oldSelf.value()')} == ${maxConcurrentOf('self')} && ${batchSizeOf('oldSelf.value()')} == ${batchSizeOf('self')})`,
      optionalOldSelf: true,
      message: `spec.maxConcurrent × spec.batchSize must be at most ${MAX_MOVES_IN_FLIGHT}: that many customers are fenced (their writes refused) and hold room in the target at once; lower one of them`,
      fieldPath: '.batchSize',
      check: (s) => (s.maxConcurrent ?? DEFAULT_MAX_CONCURRENT) * (s.batchSize ?? DEFAULT_MOVE_BATCH) <= MAX_MOVES_IN_FLIGHT,
    },
    {
      rule: "!has(self.order) || self.order != 'Listed' || has(self.customers.names)",
      message: 'order Listed needs spec.customers.names: the list gives the order',
      fieldPath: '.order',
      check: (s) => s.order !== 'Listed' || s.customers.names !== undefined,
    },
    {
      rule: "duration(self.drainWait) + duration('20s') <= duration(self.maxFence)",
      message: 'spec.drainWait must leave 20s of spec.maxFence for the database and Kafka drains (the fence is lifted and the customer moved back after maxFence): shorten drainWait or raise maxFence',
      fieldPath: '.drainWait',
      check: (s) => !DURATION_PATTERN.test(s.drainWait) || !DURATION_PATTERN.test(s.maxFence) || parseDuration(s.drainWait) + 20_000 <= parseDuration(s.maxFence),
    },
    {
      rule: '!has(oldSelf.abort) || !oldSelf.abort || (has(self.abort) && self.abort)',
      message: 'spec.abort cannot be set back to false: the customers are already moving back; create a new Migration to move them again',
      fieldPath: '.abort',
    },
  ],
).describe('What to move, where, and how fast.');

const FailureSchema = z
  .object({
    customer: z.string().max(63).describe('Customer id.'),
    state: z.string().max(32).optional().describe('State of the move when it failed (Copying, Verifying, ...).'),
    reason: z.string().max(1024).describe('Machine-readable reason in PascalCase, for example ChecksumMismatch.'),
    message: z.string().max(4096).optional().describe('What went wrong, for a person.'),
    time: z.iso.datetime().optional().describe('When the move failed.'),
  })
  .describe('A failed customer move.');

const RetryingMoveSchema = z
  .object({
    customer: z.string().max(63).describe('Customer id.'),
    state: z.string().max(32).optional().describe('State of the move (Fenced, FinalSync, ...).'),
    attempts: z.int().min(1).describe('Failed attempts since its last successful action.'),
    lastError: z.string().max(4096).describe('The last attempt\'s error, for a person (a PascalCase reason first where there is one).'),
    time: z.iso.datetime().optional().describe('When the last attempt failed.'),
  })
  .describe('An unfinished customer move that is retrying after errors.');

export const MigrationStatusSchema = z
  .object({
    phase: z
      .enum(MIGRATION_PHASES)
      .optional()
      .describe('Pending, Progressing, Paused, Succeeded, Failed or Aborted.'),
    observedGeneration: z.int().min(0).optional().describe('metadata.generation this status describes.'),
    currentStep: z.int().min(0).optional().describe('Index (from 0) of the step in progress; equal to the number of steps once done.'),
    currentStepStartedAt: z.iso.datetime().optional().describe('When the current step started (a timed pause ends relative to it).'),
    progress: z
      .string()
      .max(64)
      .optional()
      .describe('moved/total customers, for example 81/812: the PROGRESS column.'),
    customers: z
      .object({
        total: z.int().min(0).optional().describe('Customers selected.'),
        pending: z.int().min(0).optional().describe('Selected customers not started yet.'),
        inFlight: z.int().min(0).optional().describe('Customers being moved now.'),
        moved: z.int().min(0).optional().describe('Customers moved (cut over to the target).'),
        failed: z.int().min(0).optional().describe('Customers whose move failed and was rolled back.'),
        movedBack: z.int().min(0).optional().describe('Customers moved back to the source by an abort.'),
      })
      .optional()
      .describe('Counts of customers by outcome; the per-customer detail is in the control-plane database journal.'),
    rowsCopied: z.int().min(0).optional().describe('Rows copied so far, over all customers.'),
    rowsPerSecond: z.number().min(0).optional().describe('Copy throughput measured over the last minute.'),
    estimatedCompletionTime: z.iso
      .datetime()
      .optional()
      .describe('When the migration should finish at the measured throughput, pauses excluded.'),
    startedAt: z.iso.datetime().optional().describe('When the first customer started moving.'),
    completedAt: z.iso.datetime().optional().describe('When the migration reached Succeeded, Failed or Aborted.'),
    latestFailures: z
      .array(FailureSchema)
      .max(10)
      .optional()
      .describe('The most recent failed moves, newest first (at most 10).'),
    retryingMoves: z
      .array(RetryingMoveSchema)
      .max(10)
      .optional()
      .describe('Unfinished moves retrying after errors, the most recently failed first (at most 10; absent when none). A move keeps its fence state while it retries: a persistent error here (FenceSchemaNewer, a cell that refuses connections) needs a person.'),
    retryingTotal: z.int().min(0).optional().describe('How many unfinished moves are retrying after errors (absent when none).'),
    conditions: ConditionsSchema.optional(),
    message: z.string().max(32768).optional().describe('A sentence on what the migration is doing or waiting for, for a person.'),
  })
  .describe('Progress of the migration: totals only, so a drain of 100k customers fits in one object.');

export type MigrationSpec = z.output<typeof MigrationSpecSchema>;
export type MigrationSpecInput = z.input<typeof MigrationSpecSchema>;
export type MigrationStatus = z.output<typeof MigrationStatusSchema>;
export type MigrationStep = z.output<typeof MigrationStepSchema>;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];
export type MigrationOrder = (typeof MIGRATION_ORDERS)[number];
export type CustomerSelection = MigrationSpec['customers'];
export type MigrationFailure = z.output<typeof FailureSchema>;
export type RetryingMove = z.output<typeof RetryingMoveSchema>;

export interface Migration {
  apiVersion: typeof API_VERSION;
  kind: 'Migration';
  metadata: V1ObjectMeta;
  spec: MigrationSpec;
  status?: MigrationStatus;
}

/** Validates and defaults a Migration spec; errors name the field (`spec.steps[2].move`). */
export function parseMigrationSpec(input: unknown): ParseResult<MigrationSpec> {
  return parseWith(MigrationSpecSchema, input, 'spec');
}

/** The number of customers a move step targets out of `total` selected (the shared countTarget). */
export function moveTarget(move: number | string, total: number): number {
  return countTarget(move, total);
}

export const MIGRATION_DESCRIPTION =
  'A Migration moves customers from one cell to another, canary first, in cumulative steps (move N or P%, pause for a duration or until promoted), without losing or duplicating a row. It can be paused, promoted and aborted through its spec, from kubectl or Git.';
