import { useControlPlaneDatabase } from '../../test/support/control-plane.js';
import { readStepRecord, sameStepRecord, saveStepRecord, type StepRecord } from './migration-steps.js';

const controlPlane = useControlPlaneDatabase();

const paused: StepRecord = { step: 1, stepStartedAt: new Date('2026-12-01T10:00:00Z'), phase: 'Paused', startedAt: new Date('2026-12-01T09:59:00Z'), completedAt: null, uid: 'uid-1' };

describe('the step record of a Migration', () => {
  it('is absent before the first reconcile, and reads back exactly what was saved', async () => {
    expect(await readStepRecord(controlPlane(), 'canary')).toBeUndefined();
    await saveStepRecord(controlPlane(), 'canary', paused);
    expect(await readStepRecord(controlPlane(), 'canary')).toEqual(paused);
  });

  it('is replaced by the next decision, not added to', async () => {
    const next: StepRecord = { ...paused, step: 2, stepStartedAt: new Date('2026-12-01T10:05:00Z'), phase: 'Progressing' };
    await saveStepRecord(controlPlane(), 'canary', next);
    expect(await readStepRecord(controlPlane(), 'canary')).toEqual(next);
    const { rows } = await controlPlane().query<{ n: number }>(`SELECT count(*)::int AS n FROM migration_steps WHERE migration = 'canary'`);
    expect(rows[0]?.n).toBe(1);
  });

  it('counts as unchanged only when every field is the same', () => {
    expect(sameStepRecord(undefined, paused)).toBe(false);
    expect(sameStepRecord({ ...paused, stepStartedAt: new Date(paused.stepStartedAt) }, paused)).toBe(true);
    expect(sameStepRecord({ ...paused, completedAt: new Date() }, paused)).toBe(false);
    expect(sameStepRecord({ ...paused, phase: 'Progressing' }, paused)).toBe(false);
    // A record kept before uids were gets its Migration's uid on the next save.
    expect(sameStepRecord({ ...paused, uid: null }, paused)).toBe(false);
  });

  it('says which Migration object wrote it, so that a later namesake does not take it as its own', async () => {
    await saveStepRecord(controlPlane(), 'renamed', { ...paused, uid: 'uid-old' });
    expect((await readStepRecord(controlPlane(), 'renamed'))?.uid).toBe('uid-old');
    const { uid: _uid, ...withoutUid } = paused;
    await saveStepRecord(controlPlane(), 'legacy', withoutUid);
    expect((await readStepRecord(controlPlane(), 'legacy'))?.uid).toBeNull();
  });

  it('refuses a negative step', async () => {
    await expect(saveStepRecord(controlPlane(), 'broken', { ...paused, step: -1 })).rejects.toMatchObject({ code: '23514' });
  });
});
