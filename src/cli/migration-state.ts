// Where a Migration stands for the person at the terminal: which step it runs, whether it is over,
// and whether it waits for them to promote it. Read from its spec and status only.
import { getCondition } from '../runtime/conditions.js';
import { MIGRATION_CONDITIONS, type MigrationPhase, type MigrationStep } from '../crds/migration.js';
import type { ObservedMigration } from './observed.js';

export const FINISHED_PHASES: readonly MigrationPhase[] = ['Succeeded', 'Failed', 'Aborted'];

export function isFinished(m: ObservedMigration): boolean {
  const phase = m.status?.phase;
  return phase !== undefined && FINISHED_PHASES.includes(phase);
}

/**
 * The steps as the operator runs them: the spec's, then an implied final `move: 100%` (the same
 * rule as effectiveSteps in the migration decider; a test keeps the two in step).
 */
export function stepsAsRun(steps: readonly MigrationStep[] = []): MigrationStep[] {
  const last = steps[steps.length - 1];
  return last?.move === '100%' ? [...steps] : [...steps, { move: '100%' }];
}

/** `move 10%`, `move 1`, `pause 10m`, `pause (until promoted)`. */
export function describeStep(step: MigrationStep | undefined): string {
  if (!step) return 'done';
  if (step.move !== undefined) return `move ${step.move}`;
  return step.pause?.duration ? `pause ${step.pause.duration}` : 'pause (until promoted)';
}

/** The step the migration is at, and what it is; undefined before the operator's first status. */
export function currentStep(m: ObservedMigration): { index: number; step: MigrationStep | undefined; count: number } | undefined {
  const index = m.status?.currentStep;
  if (index === undefined) return undefined;
  const steps = stepsAsRun(m.spec?.steps);
  return { index, step: steps[index], count: steps.length };
}

export type PromotionWait =
  /** At a `pause: {}` step: it waits for a person. */
  | { kind: 'Pause'; step: number }
  /** At a timed pause: it ends by itself, a promotion ends it now. */
  | { kind: 'TimedPause'; step: number }
  /** Held because earlier moves failed: a promotion goes on despite them. */
  | { kind: 'FailedMoves'; step: number; failed: number };

/**
 * Whether promoting now would let the migration go on: it is Paused at a pause step, or held by
 * failed moves, and no promotion of that step is already on its way (spec.promotedStep).
 */
export function promotionWait(m: ObservedMigration): PromotionWait | undefined {
  const at = currentStep(m);
  if (m.status?.phase !== 'Paused' || !at || m.spec?.abort) return undefined;
  if ((m.spec?.promotedStep ?? -1) >= at.index) return undefined;
  if (at.step?.pause) return at.step.pause.duration ? { kind: 'TimedPause', step: at.index } : { kind: 'Pause', step: at.index };
  const gated = getCondition(m.status.conditions, MIGRATION_CONDITIONS.gated);
  if (gated?.status === 'True' && gated.reason === 'CustomersFailed') {
    return { kind: 'FailedMoves', step: at.index, failed: m.status.customers?.failed ?? 0 };
  }
  return undefined;
}
