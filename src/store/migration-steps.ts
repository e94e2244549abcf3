// The owner of `migration_steps`: where each Migration stands in its steps (current step, when it
// started, the phase last decided, first start and completion). The Migration decider reads its
// step from here, never from the Migration's status, which mirrors it.
import type { Queryable } from './transactions.js';

export interface StepRecord {
  step: number;
  stepStartedAt: Date;
  /** The phase the last reconcile decided (Succeeded is not judged again). */
  phase: string | null;
  /** When the first customer move started. */
  startedAt: Date | null;
  /** When the migration ended (Succeeded, Failed or Aborted). */
  completedAt: Date | null;
  /** metadata.uid of the Migration that wrote it; null for a record kept before the uid was. */
  uid?: string | null;
}

interface StepRow {
  current_step: number;
  step_started_at: Date;
  phase: string | null;
  started_at: Date | null;
  completed_at: Date | null;
  uid: string | null;
}

export async function readStepRecord(db: Queryable, migration: string): Promise<StepRecord | undefined> {
  const { rows } = await db.query<StepRow>(
    'SELECT current_step, step_started_at, phase, started_at, completed_at, uid FROM migration_steps WHERE migration = $1',
    [migration],
  );
  const r = rows[0];
  return r ? { step: r.current_step, stepStartedAt: r.step_started_at, phase: r.phase, startedAt: r.started_at, completedAt: r.completed_at, uid: r.uid } : undefined;
}

/** Writes the record as decided (an upsert: the first reconcile creates it). */
export async function saveStepRecord(db: Queryable, migration: string, record: StepRecord): Promise<void> {
  await db.query(
    `INSERT INTO migration_steps (migration, current_step, step_started_at, phase, started_at, completed_at, uid)
     VALUES ($1, $2, $3, $4, $5, $6, $7)
     ON CONFLICT (migration) DO UPDATE SET current_step = $2, step_started_at = $3, phase = $4, started_at = $5, completed_at = $6, uid = $7, updated_at = now()`,
    [migration, record.step, record.stepStartedAt, record.phase, record.startedAt, record.completedAt, record.uid ?? null],
  );
}

/** True when two records say the same (so that a reconcile that changed nothing writes nothing). */
export function sameStepRecord(a: StepRecord | undefined, b: StepRecord): boolean {
  const t = (d: Date | null): number | null => (d === null ? null : d.getTime());
  return (
    a !== undefined &&
    a.step === b.step &&
    t(a.stepStartedAt) === t(b.stepStartedAt) &&
    a.phase === b.phase &&
    t(a.startedAt) === t(b.startedAt) &&
    t(a.completedAt) === t(b.completedAt) &&
    (a.uid ?? null) === (b.uid ?? null)
  );
}

/** Keeps a deleted Migration's record under its archived name (see migration-archive.ts). */
export async function archiveStepRecord(db: Queryable, migration: string, archived: string): Promise<void> {
  await db.query('UPDATE migration_steps SET migration = $2 WHERE migration = $1', [migration, archived]);
}
