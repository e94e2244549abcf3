// What `kubectl cells status --timeout D` waits for, decided from the cells and migrations as read:
// every Cell Ready and no Migration Pending or Progressing (one Paused waits for a person, not for
// time). Pure; the command feeds it from the API server's watch.
import type { ObservedCell, ObservedMigration } from './observed.js';

/** What is still not settled, one phrase each; empty when everything is. */
export function notSettled(cells: readonly ObservedCell[], migrations: readonly ObservedMigration[]): string[] {
  const waiting: string[] = [];
  for (const c of cells) {
    const ready = c.status?.conditions?.find((k) => k.type === 'Ready');
    if (ready?.status !== 'True') waiting.push(`cell ${c.metadata.name ?? '?'} is not Ready${ready?.reason ? ` (${ready.reason})` : ''}`);
  }
  for (const m of migrations) {
    const phase = m.status?.phase ?? 'Pending';
    if (phase === 'Pending' || phase === 'Progressing') waiting.push(`migration ${m.metadata.name ?? '?'} is ${phase}${m.status?.progress ? ` (${m.status.progress})` : ''}`);
  }
  return waiting;
}

/** A duration of the command line (90, 90s, 5m, 1h) in seconds; undefined when it is none. */
export function parseTimeout(text: string): number | undefined {
  const m = /^(\d+(?:\.\d+)?)(s|m|h)?$/.exec(text.trim());
  if (!m) return undefined;
  const seconds = Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
  return seconds > 0 && seconds <= 86400 ? seconds : undefined;
}
