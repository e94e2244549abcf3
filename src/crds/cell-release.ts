// The CellRelease kind: new versions of the cells' workloads, brought to the cells step by step in
// the Migration's grammar counted in cells (canary cells first, then waves), gated on each cell's
// readiness, a bake time and an optional Prometheus query, with abort and automatic rollback in
// reverse order. The Cells' specs stay as written: the Cell controller overlays the versions.
import { z } from 'zod';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { listMap, listSet, withCel } from './cel.js';
import { ConditionsSchema } from './condition.js';
import type { API_VERSION } from './group.js';
import { DurationSchema, EnvSchema, LabelSelectorSchema, ResourceRequirementsSchema } from './kube-types.js';
import { CellNameSchema } from './names.js';
import { parseWith, type ParseResult } from './parse.js';
import { countSchema, MAX_STEPS, oneOfCountOrPause, PauseSchema } from './steps.js';

export const RELEASE_PHASES = ['Pending', 'Progressing', 'Paused', 'Succeeded', 'RollingBack', 'Failed', 'Aborted', 'Superseded'] as const;
/**
 * Where a cell stands in a release. Updating: the release's versions are applied, the cell is not
 * Ready with them yet. Baking: Ready with them, for the bake time (and the analysis). Updated:
 * baked. Failed: not Ready in time, or the analysis failed; it keeps the versions until its turn
 * to roll back. RollingBack: the versions are withdrawn. RolledBack: the cell runs its previous
 * versions again.
 */
export const RELEASE_CELL_STATES = ['Updating', 'Baking', 'Updated', 'Failed', 'RollingBack', 'RolledBack'] as const;
/** The states in which a cell runs the release's versions (the Cell controller overlays them). */
export const RELEASE_APPLIED_STATES: ReadonlySet<ReleaseCellState> = new Set(['Updating', 'Baking', 'Updated', 'Failed']);

export const RELEASE_CONDITIONS = {
  ready: 'Ready',
  valid: 'Valid',
  progressing: 'Progressing',
  paused: 'Paused',
  gated: 'Gated',
  superseded: 'Superseded',
  rolledBack: 'RollingBack',
} as const;

/** The most cells a release lists or reports (the status stays well under etcd's object size). */
export const MAX_RELEASE_CELLS = 500;
export const DEFAULT_PROGRESS_DEADLINE = '10m';

const immutable = (field: string) => ({
  rule: 'self == oldSelf',
  message: `spec.${field} is immutable: create a new CellRelease instead (it supersedes this one)`,
});

const ReleaseWorkloadSchema = withCel(
  z.object({
    name: z
      .string()
      .min(1)
      .max(50)
      .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must name a workload of the cells (spec.workloads[].name of a Cell)')
      .describe('Name of the workload in the cells (spec.workloads[].name of the Cells).'),
    image: z.string().min(1).max(512).optional().describe("New container image; the Cell's when omitted."),
    env: EnvSchema.optional().describe("Environment variables merged by name over the Cell's own workload env."),
    args: z.array(z.string().max(4096)).max(64).optional().describe("Arguments replacing the Cell's."),
    resources: ResourceRequirementsSchema.optional().describe("Compute resources replacing the Cell's."),
  }),
  [
    {
      rule: 'has(self.image) || has(self.env) || has(self.args) || has(self.resources)',
      message: 'a release workload must change at least one of image, env, args or resources',
      check: (w) => w.image !== undefined || w.env !== undefined || w.args !== undefined || w.resources !== undefined,
    },
  ],
).describe('What the release changes in one workload of every cell it reaches.');

const CellSelectionSchema = withCel(
  z.object({
    names: listSet(z.array(CellNameSchema).min(1).max(MAX_RELEASE_CELLS)).optional().describe('These cells, by name.'),
    selector: LabelSelectorSchema.optional().describe('Cells whose labels match.'),
  }),
  [
    {
      rule: '!(has(self.names) && has(self.selector))',
      message: 'set names or selector, not both',
      check: (s) => !(s.names !== undefined && s.selector !== undefined),
    },
  ],
);

const ReleaseStepSchema = withCel(
  z
    .object({
      cells: countSchema(
        'Cumulative target of the step: a number of cells (at least 1) or a share of the selected cells from "1%" to "100%". Cells already updated count towards it.',
      ).optional(),
      pause: PauseSchema.optional(),
    })
    .describe('One step: update cells, or pause.'),
  [oneOfCountOrPause('cells')],
);

const AnalysisSchema = withCel(
  z.object({
    prometheusUrl: z
      .string()
      .min(1)
      .max(512)
      .regex(/^https?:\/\/[^\s]+$/, 'must be an http(s) URL such as http://prometheus.monitoring:9090')
      .describe('Base URL of the Prometheus HTTP API (the operator GETs <url>/api/v1/query).'),
    query: z
      .string()
      .min(1)
      .max(4096)
      .describe('PromQL instant query run for each baking cell; {{cell}} and {{namespace}} are replaced by the cell name and its namespace.'),
    max: z.number().optional().describe('Every sample of the result must be at most this.'),
    min: z.number().optional().describe('Every sample of the result must be at least this.'),
    interval: DurationSchema.default('30s').describe('How often the query runs for each baking cell.'),
  }),
  [
    {
      rule: 'has(self.max) || has(self.min)',
      message: 'an analysis needs max or min: the bound every sample of the query must keep',
      check: (a) => a.max !== undefined || a.min !== undefined,
    },
  ],
).describe(
  'A Prometheus query per cell that must hold while the cell bakes (as an Argo Rollouts analysis): a sample out of bounds fails the cell and rolls the release back; an empty result or an unreachable Prometheus holds the bake.',
);

export const CellReleaseSpecSchema = withCel(
  z.object({
    version: withCel(z.string().min(1).max(63).regex(/^[A-Za-z0-9][-A-Za-z0-9_.+]*$/, 'must be a version label such as 2026.12.1 or v1.4.2'), [immutable('version')])
      .optional()
      .describe('Name of the version the release brings, shown in the Cells\' status.release; the release name when omitted. Immutable.'),
    workloads: withCel(listMap(z.array(ReleaseWorkloadSchema).min(1).max(50), ['name']), [immutable('workloads')]).describe(
      'The workload versions the release brings, merged by name over each reached Cell\'s own workloads. Immutable: a new version is a new CellRelease.',
    ),
    cells: CellSelectionSchema.optional().describe('Which cells the release updates: names or a label selector; every cell when omitted.'),
    canary: CellSelectionSchema.optional().describe('Cells updated before all others (in the order listed, or by name), for example those labelled canary=true.'),
    steps: z
      .array(ReleaseStepSchema)
      .min(1)
      .max(MAX_STEPS)
      .describe(
        'Steps run in order, as a Migration\'s: cumulative targets in cells, for example [cells: 1, pause: {duration: 10m}, cells: 50%, pause: {}, cells: 100%]. After the last step every selected cell is updated: a final cells: 100% is implied.',
      ),
    maxUnavailable: z.int().min(1).max(100).default(1).describe('Cells updated (or rolled back) at the same time.'),
    bakeTime: DurationSchema.default('0s').describe('How long each cell must stay Ready with the new versions before it counts as updated.'),
    progressDeadline: DurationSchema.default(DEFAULT_PROGRESS_DEADLINE).describe(
      'How long a reached cell may take to become Ready with the new versions; past it the cell fails and the release rolls back.',
    ),
    analysis: AnalysisSchema.optional(),
    paused: z.boolean().default(false).describe('true holds the release: no new cell is reached; cells being updated finish.'),
    promotedStep: z
      .int()
      .min(0)
      .optional()
      .describe(
        'Promotion: every pause whose step index (from 0) is at most this value ends now. To promote the pause the release waits at, set it to status.currentStep (kubectl cells release promote NAME).',
      ),
    abort: z
      .boolean()
      .default(false)
      .describe('true stops the release and puts every reached cell back on its previous versions, the last reached first. Cannot be set back to false.'),
  }),
  [
    {
      rule: '!has(self.cells) || !has(self.cells.names) || self.steps.all(s, !has(s.cells) || type(s.cells) == string || int(s.cells) <= size(self.cells.names))',
      message: 'spec.steps: a step counts more cells than spec.cells.names lists',
      fieldPath: '.steps',
      check: (s) => !s.cells?.names || s.steps.every((step) => typeof step.cells !== 'number' || step.cells <= (s.cells?.names?.length ?? 0)),
    },
    {
      rule: '!has(self.canary) || !has(self.canary.names) || !has(self.cells) || !has(self.cells.names) || self.canary.names.all(n, n in self.cells.names)',
      message: 'spec.canary.names must be cells of spec.cells.names',
      fieldPath: '.canary',
      check: (s) => !s.canary?.names || !s.cells?.names || s.canary.names.every((n) => s.cells?.names?.includes(n)),
    },
    {
      rule: '!has(oldSelf.abort) || !oldSelf.abort || (has(self.abort) && self.abort)',
      message: 'spec.abort cannot be set back to false: the cells are already going back; create a new CellRelease to release again',
      fieldPath: '.abort',
    },
  ],
).describe('What the release brings, to which cells, and how fast.');

const ReleaseCellStatusSchema = z
  .object({
    name: z.string().max(63).describe('Cell name.'),
    state: z.enum(RELEASE_CELL_STATES).describe('Updating, Baking, Updated, Failed, RollingBack or RolledBack.'),
    order: z.int().min(0).describe('Position in which the release reached the cell (from 0); a rollback goes in reverse.'),
    reachedAt: z.iso.datetime().describe('When the release reached the cell.'),
    since: z.iso.datetime().describe('When the cell entered its state (readiness, bake and deadlines count from it).'),
    readySince: z.iso.datetime().optional().describe('When the cell became Ready with the new versions.'),
    analysis: z
      .object({
        result: z.enum(['Passed', 'Failed', 'Inconclusive']).describe('Passed, Failed or Inconclusive (empty result, Prometheus unreachable).'),
        at: z.iso.datetime().describe('When the query ran.'),
        message: z.string().max(1024).optional().describe('The samples or the error.'),
      })
      .optional()
      .describe('The latest analysis of the cell.'),
    message: z.string().max(1024).optional().describe('Why the cell is where it is, for a person.'),
  })
  .describe('Where one cell stands in the release.');

const ReleaseStepStatusSchema = z
  .object({
    index: z.int().min(0).describe('Step index (from 0).'),
    step: z.string().max(64).describe('The step as written: cells: 1, pause: 10m, pause: {}.'),
    state: z.enum(['Pending', 'Running', 'Done']).describe('Pending, Running or Done.'),
    cells: z.int().min(0).optional().describe('Cells the step targets, counted over the selection.'),
  })
  .describe('One step of the release.');

export const CellReleaseStatusSchema = z
  .object({
    phase: z.enum(RELEASE_PHASES).optional().describe('Pending, Progressing, Paused, Succeeded, RollingBack, Failed, Aborted or Superseded.'),
    observedGeneration: z.int().min(0).optional().describe('metadata.generation this status describes.'),
    version: z.string().max(63).optional().describe('The version the release brings.'),
    currentStep: z.int().min(0).optional().describe('Index (from 0) of the step in progress; the number of steps once done.'),
    currentStepStartedAt: z.iso.datetime().optional().describe('When the current step started (a timed pause ends relative to it).'),
    progress: z.string().max(32).optional().describe('updated/selected cells, for example 2/5: the PROGRESS column.'),
    steps: z.array(ReleaseStepStatusSchema).max(MAX_STEPS + 1).optional().describe('Every step, the implied final one included.'),
    cells: listMap(z.array(ReleaseCellStatusSchema).max(MAX_RELEASE_CELLS), ['name'])
      .optional()
      .describe('The cells the release reached, and where each stands. This list is the release\'s journal: the Cell controller overlays the versions on the cells it names as reached.'),
    failure: z
      .object({
        cell: z.string().max(63).describe('The cell that failed.'),
        reason: z.string().max(64).describe('PascalCase: ProgressDeadlineExceeded, AnalysisFailed.'),
        message: z.string().max(2048).describe('What went wrong, for a person.'),
        at: z.iso.datetime().describe('When.'),
      })
      .optional()
      .describe('The failure that rolls the release back.'),
    startedAt: z.iso.datetime().optional().describe('When the first cell was reached.'),
    completedAt: z.iso.datetime().optional().describe('When the release reached Succeeded, Failed or Aborted.'),
    estimatedCompletionTime: z.iso.datetime().optional().describe('When the release should be over at the pace measured so far, pauses until promotion excluded.'),
    conditions: ConditionsSchema.optional(),
    message: z.string().max(32768).optional().describe('A sentence on what the release is doing or waiting for, for a person.'),
  })
  .describe('Progress of the release, per step and per cell.');

export type CellReleaseSpec = z.output<typeof CellReleaseSpecSchema>;
export type CellReleaseSpecInput = z.input<typeof CellReleaseSpecSchema>;
export type CellReleaseStatus = z.output<typeof CellReleaseStatusSchema>;
export type ReleaseCellStatus = z.output<typeof ReleaseCellStatusSchema>;
export type ReleaseWorkload = CellReleaseSpec['workloads'][number];
export type ReleasePhase = (typeof RELEASE_PHASES)[number];
export type ReleaseCellState = (typeof RELEASE_CELL_STATES)[number];
export type CellSelection = NonNullable<CellReleaseSpec['cells']>;

export interface CellRelease {
  apiVersion: typeof API_VERSION;
  kind: 'CellRelease';
  metadata: V1ObjectMeta;
  spec: CellReleaseSpec;
  status?: CellReleaseStatus;
}

/** Validates and defaults a CellRelease spec; errors name the field (`spec.steps[2].cells`). */
export function parseCellReleaseSpec(input: unknown): ParseResult<CellReleaseSpec> {
  return parseWith(CellReleaseSpecSchema, input, 'spec');
}

/** The version a release brings: spec.version, or its name. */
export function releaseVersion(release: Pick<CellRelease, 'metadata' | 'spec'>): string {
  return release.spec.version ?? release.metadata.name ?? '';
}

export const CELL_RELEASE_DESCRIPTION =
  'A CellRelease brings new workload versions to cells step by step: canary cells first, then waves counted in cells (cells N or P%, pause for a duration or until promoted), each cell gated on being Ready with the new versions for a bake time (and an optional Prometheus query). A failing cell stops the release and every reached cell goes back to its previous versions, the last first. Pause, promote and abort through its spec, from kubectl or Git.';
