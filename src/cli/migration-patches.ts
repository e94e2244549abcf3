// The merge patches behind `kubectl cells migration promote|pause|resume|abort|retry`, decided from the
// Migration as read: a patch to send, nothing to do (said why), or a refusal a person can act on.
import type { MigrationSpec } from '../crds/migration.js';
import { currentStep, describeStep, isFinished, promotionWait } from './migration-state.js';
import type { ObservedMigration } from './observed.js';
import type { Decision } from './decision.js';

export interface MigrationPatch {
  /** retry.customers null: a merge patch removes the list an earlier retry left. */
  spec: Partial<Pick<MigrationSpec, 'promotedStep' | 'paused' | 'abort'>> & { retry?: { failedBefore: string; customers: string[] | null } };
}

export type PatchDecision = Decision<MigrationPatch>;

const nameOf = (m: ObservedMigration): string => m.metadata.name ?? '<name>';

function finishedRefusal(m: ObservedMigration, verb: string): PatchDecision {
  return { kind: 'refuse', message: `migration ${nameOf(m)} is ${m.status?.phase ?? 'over'}: nothing to ${verb}.` };
}

/** Promote: end the pause the migration waits at by setting spec.promotedStep to status.currentStep. */
export function promotePatch(m: ObservedMigration): PatchDecision {
  const name = nameOf(m);
  if (isFinished(m)) return finishedRefusal(m, 'promote');
  if (m.spec?.abort) return { kind: 'refuse', message: `migration ${name} is being aborted: there is nothing to promote.` };
  const at = currentStep(m);
  if (!at || !m.status?.phase) {
    return { kind: 'refuse', message: `migration ${name} has no status yet: the operator has not started it, so it is not waiting at a pause.` };
  }
  const wait = promotionWait(m);
  if (wait) {
    const what =
      wait.kind === 'FailedMoves'
        ? `step ${wait.step} goes on despite ${wait.failed} failed move(s)`
        : `the pause at step ${wait.step} ends`;
    return { kind: 'patch', patch: { spec: { promotedStep: wait.step } }, done: `migration ${name} promoted: ${what} (spec.promotedStep: ${wait.step}).` };
  }
  // At a pause step spec.paused does not matter: the pause holds it, and promote ends that.
  if (m.status.phase === 'Paused' && m.spec?.paused && !at.step?.pause) {
    return {
      kind: 'refuse',
      message: `migration ${name} is not waiting at a pause step: it is held by spec.paused at step ${at.index} (${describeStep(at.step)}). Resume it with: kubectl cells migration resume ${name}`,
    };
  }
  if ((m.spec?.promotedStep ?? -1) >= at.index && m.status.phase === 'Paused') {
    return {
      kind: 'noop',
      message: `migration ${name} is already promoted past step ${at.index} (spec.promotedStep: ${m.spec?.promotedStep}); the operator has not acted on it yet.`,
    };
  }
  const why = m.status.phase === 'Paused' && m.status.message ? ` It is held: ${m.status.message}` : '';
  return {
    kind: 'refuse',
    message: `migration ${name} is not waiting at a pause: it is ${m.status.phase} at step ${at.index} (${describeStep(at.step)}). Promote it when it pauses (kubectl cells migration watch ${name} tells you when).${why}`,
  };
}

/** Pause: spec.paused true; moves in flight finish, none start. */
export function pausePatch(m: ObservedMigration): PatchDecision {
  const name = nameOf(m);
  if (isFinished(m)) return finishedRefusal(m, 'pause');
  if (m.spec?.abort) return { kind: 'refuse', message: `migration ${name} is being aborted: an abort cannot be paused.` };
  if (m.spec?.paused) return { kind: 'noop', message: `migration ${name} is already paused (spec.paused: true).` };
  return {
    kind: 'patch',
    patch: { spec: { paused: true } },
    done: `migration ${name} paused: moves in flight finish, none start. Resume with: kubectl cells migration resume ${name}`,
  };
}

/** Resume: spec.paused false. A pause step is not ended by it: that is promote. */
export function resumePatch(m: ObservedMigration): PatchDecision {
  const name = nameOf(m);
  if (m.spec?.paused) return { kind: 'patch', patch: { spec: { paused: false } }, done: `migration ${name} resumed (spec.paused: false).` };
  const wait = promotionWait(m);
  const hint = wait ? ` It waits at step ${wait.step}: promote it with kubectl cells migration promote ${name}` : '';
  return { kind: 'noop', message: `migration ${name} is not paused by spec.paused: nothing to resume.${hint}` };
}

/** What an abort will do, said before a person confirms it. */
export function abortWarning(m: ObservedMigration): string {
  const c = m.status?.customers ?? {};
  const from = m.spec?.from ?? 'the source cell';
  const to = m.spec?.to ?? 'the target cell';
  return [
    `Aborting migration ${nameOf(m)} stops it and moves every customer already moved back from ${to} to ${from}`,
    `(now ${c.moved ?? 0} moved, ${c.inFlight ?? 0} in flight; customers whose cleanup has ended stay in ${to}).`,
    'This cannot be undone: spec.abort cannot be set back to false.',
  ].join('\n');
}

/** Abort: spec.abort true, after the caller had it confirmed (abortWarning). */
export function abortPatch(m: ObservedMigration): PatchDecision {
  const name = nameOf(m);
  if (m.status?.phase === 'Aborted') return { kind: 'noop', message: `migration ${name} is already Aborted.` };
  if (m.spec?.abort) return { kind: 'noop', message: `migration ${name} is already being aborted (spec.abort: true).` };
  return {
    kind: 'patch',
    patch: { spec: { abort: true } },
    done: `migration ${name} aborting: customers already moved go back to ${m.spec?.from ?? 'the source cell'}. Follow it with: kubectl cells migration watch ${name}`,
  };
}

/**
 * Retry: spec.retry.failedBefore = now (the operator starts again every move that failed before
 * it, once), for every failed customer or only `customers`.
 */
export function retryPatch(m: ObservedMigration, now: Date, customers?: readonly string[]): PatchDecision {
  const name = nameOf(m);
  if (m.spec?.abort || m.status?.phase === 'Aborted') return { kind: 'refuse', message: `migration ${name} is aborted: its failed customers stay where they are; create a new Migration to move them.` };
  const failed = m.status?.customers?.failed ?? 0;
  if (failed === 0) return { kind: 'refuse', message: `migration ${name} has no failed customer to retry (status.customers.failed is 0).` };
  const at = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  const who = customers?.length ? `customer(s) ${customers.join(', ')}` : `its ${failed} failed customer(s)`;
  return {
    kind: 'patch',
    patch: { spec: { retry: { failedBefore: at, customers: customers?.length ? [...customers] : null } } },
    done: `migration ${name}: ${who} move again (spec.retry.failedBefore: ${at}). Follow it with: kubectl cells migration watch ${name}`,
  };
}
