import type pg from 'pg';
import { usePostgres } from '../../test/support/postgres.js';
import { createPool } from './connection.js';
import { migrate } from './migrate.js';
import { readStepRecord, sameStepRecord, saveStepRecord, type StepRecord } from './migration-steps.js';

const postgres = usePostgres();
let pool: pg.Pool;

beforeAll(async () => {
  pool = createPool({ url: await postgres().createDatabase(), poolMax: 2 });
  await migrate(pool);
}, 60_000);
afterAll(async () => {
  await pool?.end();
});

const paused: StepRecord = { step: 1, stepStartedAt: new Date('2026-12-01T10:00:00Z'), phase: 'Paused', startedAt: new Date('2026-12-01T09:59:00Z'), completedAt: null };

describe('the step record of a Migration', () => {
  it('is absent before the first reconcile, and reads back exactly what was saved', async () => {
    expect(await readStepRecord(pool, 'canary')).toBeUndefined();
    await saveStepRecord(pool, 'canary', paused);
    expect(await readStepRecord(pool, 'canary')).toEqual(paused);
  });

  it('is replaced by the next decision, not added to', async () => {
    const next: StepRecord = { ...paused, step: 2, stepStartedAt: new Date('2026-12-01T10:05:00Z'), phase: 'Progressing' };
    await saveStepRecord(pool, 'canary', next);
    expect(await readStepRecord(pool, 'canary')).toEqual(next);
    const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM migration_steps WHERE migration = 'canary'`);
    expect(rows[0]?.n).toBe(1);
  });

  it('counts as unchanged only when every field is the same', () => {
    expect(sameStepRecord(undefined, paused)).toBe(false);
    expect(sameStepRecord({ ...paused, stepStartedAt: new Date(paused.stepStartedAt) }, paused)).toBe(true);
    expect(sameStepRecord({ ...paused, completedAt: new Date() }, paused)).toBe(false);
    expect(sameStepRecord({ ...paused, phase: 'Progressing' }, paused)).toBe(false);
  });

  it('refuses a negative step', async () => {
    await expect(saveStepRecord(pool, 'broken', { ...paused, step: -1 })).rejects.toMatchObject({ code: '23514' });
  });
});
