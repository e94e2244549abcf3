import { notSettled, parseTimeout } from './status-wait.js';
import type { ObservedCell, ObservedMigration } from './observed.js';

const cell = (name: string, ready: 'True' | 'False', reason = 'Ready'): ObservedCell => ({
  metadata: { name },
  status: { conditions: [{ type: 'Ready', status: ready, reason, message: 'm', lastTransitionTime: '2026-01-01T00:00:00Z' }] },
});
const migration = (name: string, phase?: 'Pending' | 'Progressing' | 'Paused' | 'Succeeded'): ObservedMigration => ({ metadata: { name }, ...(phase ? { status: { phase, progress: '1/4' } } : {}) });

describe('status --timeout', () => {
  it('is settled when every cell is Ready and no migration is Pending or Progressing', () => {
    expect(notSettled([cell('a', 'True')], [migration('m', 'Paused'), migration('n', 'Succeeded')])).toEqual([]);
  });

  it('names what it still waits for: cells not Ready with their reason, migrations moving or not started', () => {
    expect(notSettled([cell('a', 'False', 'KafkaNotReady'), { metadata: { name: 'b' } }], [migration('m', 'Progressing'), migration('n')])).toEqual([
      'cell a is not Ready (KafkaNotReady)',
      'cell b is not Ready',
      'migration m is Progressing (1/4)',
      'migration n is Pending',
    ]);
  });

  it('reads 90, 90s, 5m and 1h, and refuses anything else', () => {
    expect([parseTimeout('90'), parseTimeout('90s'), parseTimeout('5m'), parseTimeout('1h')]).toEqual([90, 90, 300, 3600]);
    expect([parseTimeout('soon'), parseTimeout('0s'), parseTimeout('-5m'), parseTimeout('2d')]).toEqual([undefined, undefined, undefined, undefined]);
  });
});
