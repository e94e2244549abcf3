// The step grammar shared by the Migration (counted in customers) and the CellRelease (counted in
// cells), in the manner of Argo Rollouts: cumulative count targets (`N` or `"P%"`), pauses for a
// duration or until promoted (`pause: {}`), and the one pure walker that moves over the steps.
import { z } from 'zod';
import { withCel } from './cel.js';
import { DurationSchema, durationWithin, parseDuration } from './kube-types.js';

/** The most steps a Migration or a release may have. */
export const MAX_STEPS = 32;

/** A percentage step: "1%" to "100%". */
export const PERCENT_PATTERN = /^([1-9][0-9]?|100)%$/;

/** A count target: a number (at least 1) or a share from "1%" to "100%"; `description` says of what. */
export function countSchema(description: string) {
  return z.union([z.int().min(1), z.string().max(4).regex(PERCENT_PATTERN, 'must be a percentage from 1% to 100%')]).describe(description);
}

/** The longest timed pause: a year, like a Migration's retention (a longer one overflowed the clock). */
export const MAX_PAUSE = '8760h';

export const PauseSchema = z
  .object({
    duration: withCel(DurationSchema, [
      {
        rule: `duration(self) <= duration('${MAX_PAUSE}')`,
        message: `pause.duration must be at most ${MAX_PAUSE} (a year); wait longer with pause: {} and promote by hand`,
        check: (d) => durationWithin(d, 0, 8_760 * 3_600_000),
      },
    ]).optional().describe(
      'How long to wait (30s, 10m, 1h), at most 8760h. Omitted: wait until a person promotes the migration (spec.promotedStep).',
    ),
  })
  .describe('Wait before the next step: for a duration, or, as pause: {}, until promoted.');

/** The CEL rule (and its twin) of a step: exactly one of the count key or pause. */
export function oneOfCountOrPause<K extends string>(key: K) {
  return {
    rule: `has(self.${key}) != has(self.pause)`,
    message: `each step must set exactly one of ${key} or pause`,
    check: (s: Partial<Record<K, unknown>> & { pause?: unknown }) => (s[key] !== undefined) !== (s.pause !== undefined),
  };
}

/**
 * How many of `total` a count targets: percentages round up, so `1%` of 20 is 1, never 0. Capped
 * at `total`.
 */
export function countTarget(count: number | string, total: number): number {
  if (typeof count === 'number') return Math.min(count, total);
  const percent = Number(count.slice(0, -1));
  return Math.min(total, Math.ceil((total * percent) / 100));
}

/** A step as the walker sees it: a count target or a pause (the kind's own key mapped to `count`). */
export interface CountedStep {
  count?: number | string;
  pause?: { duration?: string };
}

export interface StepPosition {
  /** Index (from 0) of the step in progress. */
  step: number;
  /** When that step started (a timed pause ends relative to it). */
  stepStartedAt: Date;
}

/** Where the walk stopped: at a pause still running, at a count not reached yet, or past the last step. */
export type StepStop =
  | (StepPosition & { kind: 'pause'; end?: Date })
  | (StepPosition & { kind: 'count'; count: number | string; goal: number })
  | (StepPosition & { kind: 'end' });

export interface WalkInputs {
  now: Date;
  /** Every pause whose index is at most this has ended (spec.promotedStep). */
  promotedStep?: number;
  /** What a percentage counts from: the selected customers, or cells. */
  total: number;
  /** Whether a count step with this goal is complete (reached, nothing in flight). */
  complete: (goal: number) => boolean;
  /** The time a new step starts at (whole seconds, as the status shows it). */
  stepStart?: (now: Date) => Date;
}

/** When a timed pause that started at `startedAt` ends; undefined for `pause: {}` (or a count step). */
export function pauseEnd(step: CountedStep, startedAt: Date): Date | undefined {
  if (!step.pause?.duration) return undefined;
  return new Date(startedAt.getTime() + parseDuration(step.pause.duration));
}

/**
 * The step walker: from `at`, walks forward over the steps that are complete (a pause promoted or
 * over, a count reached) and stops at the first that needs time or work, or past the last one.
 */
export function walkCountedSteps(steps: readonly CountedStep[], at: StepPosition, inputs: WalkInputs): StepStop {
  const { now } = inputs;
  const begin = inputs.stepStart ?? ((d: Date) => d);
  let step = Math.max(0, Math.min(at.step, steps.length));
  let stepStartedAt = at.stepStartedAt;
  while (step < steps.length) {
    const current = steps[step] as CountedStep;
    if (current.pause) {
      const end = pauseEnd(current, stepStartedAt);
      const promoted = (inputs.promotedStep ?? -1) >= step;
      if (promoted || (end && now >= end)) {
        step++;
        stepStartedAt = begin(now);
        continue;
      }
      return { kind: 'pause', step, stepStartedAt, ...(end ? { end } : {}) };
    }
    const count = current.count as number | string;
    const goal = countTarget(count, inputs.total);
    if (inputs.complete(goal)) {
      step++;
      stepStartedAt = begin(now);
      continue;
    }
    return { kind: 'count', step, stepStartedAt, count, goal };
  }
  return { kind: 'end', step, stepStartedAt };
}
