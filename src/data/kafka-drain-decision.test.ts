import { kafkaDrainAction } from './kafka-drain-decision.js';
import { drained, messagesBehind, type KafkaDrain } from './kafka-drain-state.js';
import { nextAction } from './move-decision.js';
import { moveSettings } from './move-settings.js';
import type { MoveRecord } from './move-state.js';

const T0 = new Date('2026-01-01T00:00:00Z');
const at = (ms: number) => new Date(T0.getTime() + ms);
const settings = moveSettings({ drainWaitMs: 2_000, maxKafkaDrainMs: 5_000, maxFenceMs: 30_000 });

function drain(overrides: Partial<KafkaDrain> = {}): KafkaDrain {
  return {
    cell: 'eu-1a',
    bootstrap: '127.0.0.1:9092',
    topic: 'telemetry',
    group: 'cell-ingest',
    partitions: [{ partition: 2, end: '120', committed: '100' }],
    recordedAt: at(2_000).toISOString(),
    drainedAt: null,
    behindAtStart: 20,
    ...overrides,
  };
}

function fenced(kafkaDrain: KafkaDrain | null): MoveRecord {
  return {
    migration: 'm', customerId: 'acme', sourceCell: 'eu-1a', targetCell: 'eu-1b', state: 'Fenced', direction: 'Forward', step: 0, attempt: 0,
    sourceEpoch: 1, rowsCopied: 0, bytesCopied: 0, fencedAt: T0, cutOverAt: null, cleanupAfter: null, lastError: null, failureReason: null,
    abortRequestedAt: null, reservedCell: 'eu-1b', stateEnteredAt: T0, catchUpRound: 1, roundRows: 0, startedAt: T0, finishedAt: null,
    createdAt: T0, updatedAt: T0, kafkaDrain,
  };
}

describe('the Kafka drain under the fence', () => {
  it('records the end offsets once the drain wait is over, not before', () => {
    expect(nextAction(fenced(null), [], settings, at(1_999))).toMatchObject({ kind: 'Wait' });
    expect(nextAction(fenced(null), [], settings, at(2_000))).toEqual({ kind: 'KafkaDrainStart' });
  });

  it('checks the consumer group while it is behind, and goes on to the database drain once it caught up', () => {
    expect(nextAction(fenced(drain()), [], settings, at(3_000))).toEqual({ kind: 'KafkaDrainCheck' });
    expect(nextAction(fenced(drain({ drainedAt: at(3_000).toISOString() })), [], settings, at(3_100))).toEqual({ kind: 'Drain' });
  });

  it('goes on at once when there was nothing to drain (no Kafka endpoint, no consumer group, drain off)', () => {
    for (const skipped of ['Disabled', 'NoKafkaEndpoint', 'NoConsumerGroup'] as const) {
      expect(nextAction(fenced(drain({ skipped, drainedAt: at(2_000).toISOString() })), [], settings, at(2_001))).toEqual({ kind: 'Drain' });
    }
  });

  it('fails the move back when the group has not caught up within maxKafkaDrainMs, naming the group, the offsets and the fix', () => {
    expect(kafkaDrainAction(fenced(drain()), settings, at(6_999))).toEqual({ kind: 'KafkaDrainCheck' });
    const action = kafkaDrainAction(fenced(drain()), settings, at(7_000));
    expect(action).toMatchObject({ kind: 'Fail', reason: 'KafkaDrainTimeout' });
    expect(action && 'message' in action ? action.message : '').toBe(
      'consumer group cell-ingest of cell eu-1a did not consume the customer\'s messages on topic telemetry within 5.0s (maxKafkaDrainMs): 20 behind (partition 2: committed 100 of 120); is the cell\'s ingest workload running?',
    );
  });

  it('counts what the group still has to commit, with no commit counting from zero', () => {
    expect(messagesBehind([{ partition: 0, end: '10', committed: null }, { partition: 1, end: '5', committed: '7' }])).toBe(10);
    expect(drained([{ partition: 0, end: '10', committed: '10' }])).toBe(true);
    expect(drained([{ partition: 0, end: '9007199254740993', committed: '9007199254740992' }])).toBe(false);
    expect(drained([{ partition: 0, end: '0', committed: null }])).toBe(true);
  });
});
