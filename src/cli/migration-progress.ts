// `kubectl cells migration watch`: a Migration's progress as a bar with its step, phase, counts,
// rows and ETA (a block redrawn in place on a terminal, one line per change otherwise), and when
// the watch ends: the migration is over, or it waits for a person (then the command to type).
import type { ObservedMigration } from './observed.js';
import { currentStep, describeStep, promotionWait } from './migration-state.js';
import { count, percent, textBar } from './text-bar.js';

const BAR_WIDTH = 30;

/** 45s, 6m 12s, 2h 05m, 3d 4h: how long until the ETA. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h ${String(m % 60).padStart(2, '0')}m`;
  return `${Math.floor(h / 24)}d ${h % 24}h`;
}

/** `ETA 6m 12s (14:32:10 UTC)`, or nothing when the operator gives none or the migration is over. */
export function etaText(m: ObservedMigration, now: Date): string | undefined {
  const eta = m.status?.estimatedCompletionTime;
  if (!eta || m.status?.completedAt) return undefined;
  const at = new Date(eta);
  if (Number.isNaN(at.getTime())) return undefined;
  const left = at.getTime() - now.getTime();
  const iso = at.toISOString();
  const clock = left < 86_400_000 ? `${iso.slice(11, 19)} UTC` : `${iso.slice(0, 10)} ${iso.slice(11, 16)} UTC`;
  return left > 0 ? `ETA ${formatDuration(left)} (${clock})` : `ETA due now (${clock})`;
}

function phaseText(m: ObservedMigration): string {
  const phase = m.status?.phase ?? 'Pending';
  return m.spec?.abort && phase !== 'Aborted' ? `${phase} (aborting)` : phase;
}

function stepText(m: ObservedMigration): string {
  const at = currentStep(m);
  if (!at) return 'step -';
  if (at.index >= at.count) return `all ${at.count} steps done`;
  // Steps count from 0, as in status.currentStep, spec.promotedStep and the operator's messages.
  return `step ${at.index} of 0..${at.count - 1}: ${describeStep(at.step)}`;
}

/** The bar: customers moved out of the selection; while aborting, customers moved back. */
function barText(m: ObservedMigration): string {
  const c = m.status?.customers ?? {};
  if (m.spec?.abort) {
    const movedBack = c.movedBack ?? 0;
    const goingBack = movedBack + (c.moved ?? 0) + (c.inFlight ?? 0);
    return `${textBar(movedBack, goingBack, BAR_WIDTH)} ${percent(movedBack, goingBack).padStart(4)}  ${count(movedBack)}/${count(goingBack)} moved back`;
  }
  const moved = c.moved ?? 0;
  const total = c.total ?? 0;
  return `${textBar(moved, total, BAR_WIDTH)} ${percent(moved, total).padStart(4)}  ${count(moved)}/${count(total)} moved`;
}

function countsText(m: ObservedMigration): string {
  const c = m.status?.customers ?? {};
  const parts = [`${count(c.inFlight ?? 0)} in flight`, `${count(c.pending ?? 0)} pending`, `${count(c.failed ?? 0)} failed`];
  if (c.movedBack) parts.push(`${count(c.movedBack)} moved back`);
  const rows = m.status?.rowsCopied;
  if (rows !== undefined) {
    const rate = m.status?.rowsPerSecond;
    parts.push(`${count(rows)} rows copied${rate ? ` (${count(Math.round(rate))}/s)` : ''}`);
  }
  return parts.join(', ');
}

/** One line, for logs and pipes: printed each time it changes. */
export function renderMigrationLine(m: ObservedMigration, now: Date): string {
  const eta = etaText(m, now);
  return [m.metadata.name ?? '', phaseText(m), stepText(m), barText(m), countsText(m), ...(eta ? [eta] : [])].join('  ');
}

/** A few lines, for a terminal: redrawn in place every second. */
export function renderMigrationBlock(m: ObservedMigration, now: Date): string[] {
  const eta = etaText(m, now);
  const stale =
    m.status?.observedGeneration !== undefined && m.metadata.generation !== undefined && m.status.observedGeneration < m.metadata.generation
      ? ' (the operator has not caught up with the latest spec yet)'
      : '';
  return [
    `Migration ${m.metadata.name ?? ''}: ${m.spec?.from ?? '?'} -> ${m.spec?.to ?? '?'}  ${phaseText(m)}  ${stepText(m)}${stale}`,
    barText(m),
    [countsText(m), ...(eta ? [eta] : [])].join(', '),
    ...(m.status?.message ? [m.status.message] : []),
    ...retryingText(m),
  ];
}

/** The moves retrying after errors, if any: how many, and the latest's error (clipped to a line). */
function retryingText(m: ObservedMigration): string[] {
  const latest = m.status?.retryingMoves?.[0];
  const total = m.status?.retryingTotal ?? m.status?.retryingMoves?.length ?? 0;
  if (!latest || total === 0) return [];
  const error = latest.lastError.length > 160 ? `${latest.lastError.slice(0, 159)}…` : latest.lastError;
  return [
    `${count(total)} move(s) retrying after errors (status.retryingMoves); latest: ${latest.customer}${latest.state ? ` in ${latest.state}` : ''}, ${latest.attempts} attempt(s): ${error}`,
  ];
}

export interface WatchEnd {
  /** 0: succeeded, or waits for a person; 1: failed or aborted. */
  exitCode: 0 | 1;
  lines: string[];
}

/**
 * Whether watching is over, and what to say: the migration is Succeeded, Failed or Aborted, or
 * it waits for a promotion (a `pause: {}` step, or failed moves holding it), and nothing else
 * will move it. A timed pause or spec.paused are watched through.
 */
export function watchEnd(m: ObservedMigration): WatchEnd | undefined {
  const name = m.metadata.name ?? '<name>';
  const message = m.status?.message ? [m.status.message] : [];
  switch (m.status?.phase) {
    case 'Succeeded':
      return { exitCode: 0, lines: [`Migration ${name} succeeded.`, ...message] };
    case 'Aborted':
      return { exitCode: 1, lines: [`Migration ${name} was aborted.`, ...message] };
    case 'Failed': {
      const failures = (m.status.latestFailures ?? []).slice(0, 5).map((f) => `  ${f.customer}: ${f.reason}${f.message ? ` (${f.message})` : ''}`);
      return { exitCode: 1, lines: [`Migration ${name} failed.`, ...message, ...(failures.length > 0 ? ['Latest failures:', ...failures] : [])] };
    }
  }
  const wait = promotionWait(m);
  if (!wait || wait.kind === 'TimedPause') return undefined;
  const why =
    wait.kind === 'Pause'
      ? `Migration ${name} is paused at step ${wait.step} and waits for you to promote it.`
      : `Migration ${name} is held at step ${wait.step}: ${wait.failed} customer move(s) failed (see status.latestFailures). Promoting goes on despite them.`;
  return {
    exitCode: 0,
    lines: [
      why,
      `  promote: kubectl cells migration promote ${name}`,
      `           (or kubectl patch migration ${name} --type merge -p '{"spec":{"promotedStep":${wait.step}}}', or commit spec.promotedStep: ${wait.step} in Git)`,
      `  abort:   kubectl cells migration abort ${name}   (moves the customers already moved back; cannot be undone)`,
    ],
  };
}
