import { getCondition, isConditionTrue, kstatusConditions, removeCondition, replaceConditions, setCondition } from './conditions.js';
import { kubeTime } from './kube-time.js';

const t0 = new Date('2025-01-01T10:00:00.123Z');
const t1 = new Date('2025-01-01T10:05:00Z');

describe('conditions', () => {
  it('stamps a new condition with the time and the observed generation', () => {
    const conds = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'KafkaNotReady', message: 'Kafka has 1 of 3 brokers ready.' }, t0, 3);
    expect(conds).toEqual([
      { type: 'Ready', status: 'False', reason: 'KafkaNotReady', message: 'Kafka has 1 of 3 brokers ready.', lastTransitionTime: '2025-01-01T10:00:00Z', observedGeneration: 3 },
    ]);
  });

  it('keeps lastTransitionTime when the status stays, even if reason, message and generation move', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'KafkaNotReady', message: 'a' }, t0, 1);
    const second = setCondition(first, { type: 'Ready', status: 'False', reason: 'DatabaseNotReady', message: 'b' }, t1, 2);
    expect(second[0]).toMatchObject({ reason: 'DatabaseNotReady', message: 'b', lastTransitionTime: '2025-01-01T10:00:00Z', observedGeneration: 2 });
  });

  it('moves lastTransitionTime when the status changes', () => {
    const first = setCondition(undefined, { type: 'Ready', status: 'False', reason: 'KafkaNotReady', message: 'a' }, t0);
    const second = setCondition(first, { type: 'Ready', status: 'True', reason: 'AllReady', message: 'ok' }, t1);
    expect(second[0]?.lastTransitionTime).toBe('2025-01-01T10:05:00Z');
  });

  it('replaces a condition in place and leaves the others and the input list alone', () => {
    const base = setCondition(setCondition(undefined, { type: 'KafkaReady', status: 'True', reason: 'Ready', message: '' }, t0), { type: 'Ready', status: 'False', reason: 'Waiting', message: '' }, t0);
    const next = setCondition(base, { type: 'KafkaReady', status: 'False', reason: 'BrokersDown', message: '' }, t1);
    expect(next.map((c) => c.type)).toEqual(['KafkaReady', 'Ready']);
    expect(base[0]?.status).toBe('True');
    expect(getCondition(next, 'KafkaReady')?.reason).toBe('BrokersDown');
    expect(isConditionTrue(next, 'KafkaReady')).toBe(false);
  });

  it('refuses a reason that is not PascalCase', () => {
    expect(() => setCondition(undefined, { type: 'Ready', status: 'True', reason: 'all_ready', message: '' }, t0)).toThrow(/PascalCase/);
  });

  it('removes nothing from no conditions', () => {
    expect(removeCondition(undefined, 'Ready')).toEqual([]);
  });

  it('writes times as metav1.Time does, without fractions of a second', () => {
    expect(kubeTime(new Date('2025-03-04T05:06:07.890Z'))).toBe('2025-03-04T05:06:07Z');
  });

  it('replaces the list with exactly the inputs, keeping the transition time of a status that held', () => {
    const before = setCondition(setCondition(undefined, { type: 'Ready', status: 'False', reason: 'Waiting', message: '' }, t0), { type: 'Stalled', status: 'True', reason: 'BadSpec', message: '' }, t0);
    const after = replaceConditions(before, [{ type: 'Reconciling', status: 'True', reason: 'Progressing', message: '' }, { type: 'Ready', status: 'False', reason: 'StillWaiting', message: '' }], t1, 4);
    expect(after.map((c) => [c.type, c.reason, c.lastTransitionTime, c.observedGeneration])).toEqual([
      ['Reconciling', 'Progressing', '2025-01-01T10:05:00Z', 4],
      ['Ready', 'StillWaiting', '2025-01-01T10:00:00Z', 4],
    ]);
  });

  it('gives kstatus Stalled over Reconciling, and neither once settled', () => {
    const why = { reason: 'MovesFailed', message: 'retry it' };
    expect(kstatusConditions(why, { reason: 'Progressing', message: '' })).toEqual([{ type: 'Stalled', status: 'True', ...why }]);
    expect(kstatusConditions(undefined, why)).toEqual([{ type: 'Reconciling', status: 'True', ...why }]);
    expect(kstatusConditions(undefined, undefined)).toEqual([]);
  });
});
