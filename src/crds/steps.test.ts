import { countTarget, walkCountedSteps, type CountedStep } from './steps.js';

const t0 = new Date('2026-01-01T00:00:00Z');
const at = (seconds: number) => new Date(t0.getTime() + seconds * 1000);
const steps: CountedStep[] = [{ count: 1 }, { pause: { duration: '10m' } }, { count: '50%' }, { pause: {} }, { count: '100%' }];

describe('countTarget', () => {
  it('rounds percentages up and caps numbers at the total', () => {
    expect(countTarget('1%', 5)).toBe(1);
    expect(countTarget('50%', 5)).toBe(3);
    expect(countTarget('100%', 5)).toBe(5);
    expect(countTarget(7, 5)).toBe(5);
  });
});

describe('walkCountedSteps', () => {
  const done = (n: number) => (goal: number) => n >= goal;

  it('stops at the first count not reached, with its goal', () => {
    expect(walkCountedSteps(steps, { step: 0, stepStartedAt: t0 }, { now: t0, total: 5, complete: done(0) })).toEqual({ kind: 'count', step: 0, stepStartedAt: t0, count: 1, goal: 1 });
  });

  it('walks over a reached count into a timed pause that started now, and past it once it is over', () => {
    const stop = walkCountedSteps(steps, { step: 0, stepStartedAt: t0 }, { now: at(5), total: 5, complete: done(1) });
    expect(stop).toEqual({ kind: 'pause', step: 1, stepStartedAt: at(5), end: at(605) });
    const later = walkCountedSteps(steps, { step: 1, stepStartedAt: at(5) }, { now: at(605), total: 5, complete: done(1) });
    expect(later).toEqual({ kind: 'count', step: 2, stepStartedAt: at(605), count: '50%', goal: 3 });
  });

  it('waits at pause: {} until promoted, then goes on', () => {
    expect(walkCountedSteps(steps, { step: 3, stepStartedAt: t0 }, { now: at(9999), total: 5, complete: done(3) })).toEqual({ kind: 'pause', step: 3, stepStartedAt: t0 });
    expect(walkCountedSteps(steps, { step: 3, stepStartedAt: t0 }, { now: at(1), promotedStep: 3, total: 5, complete: done(3) })).toMatchObject({ kind: 'count', step: 4, goal: 5 });
  });

  it('ends past the last step when everything is reached', () => {
    expect(walkCountedSteps(steps, { step: 4, stepStartedAt: t0 }, { now: at(1), total: 5, complete: done(5) })).toEqual({ kind: 'end', step: 5, stepStartedAt: at(1) });
  });
});
