// The Kafka step of a move's fence, as a pure function for move-decision.ts: after the drain wait,
// record the end offsets of the source partitions carrying the customer, then wait (bounded) until
// the source cell's ingestion group has committed up to them, so that every message of the
// customer produced before the fence is in the source database before the final sync copies it.
import type { MoveAction } from './move-decision.js';
import { messagesBehind } from './kafka-drain-state.js';
import type { MoveSettings } from './move-settings.js';
import type { MoveRecord } from './move-state.js';

function seconds(ms: number): string {
  return ms < 10_000 ? `${(ms / 1000).toFixed(1)}s` : `${Math.round(ms / 1000)}s`;
}

/** The Kafka action due in state Fenced after the drain wait, or undefined when the Kafka side is done. */
export function kafkaDrainAction(move: Pick<MoveRecord, 'kafkaDrain'>, s: Pick<MoveSettings, 'maxKafkaDrainMs'>, now: Date): MoveAction | undefined {
  const d = move.kafkaDrain;
  if (!d) return { kind: 'KafkaDrainStart' };
  if (d.skipped || d.drainedAt) return undefined;
  const waited = now.getTime() - new Date(d.recordedAt).getTime();
  if (waited >= s.maxKafkaDrainMs) {
    const where = d.partitions.map((p) => `partition ${p.partition}: committed ${p.committed ?? 'none'} of ${p.end}`).join(', ');
    return {
      kind: 'Fail',
      reason: 'KafkaDrainTimeout',
      message: `consumer group ${d.group} of cell ${d.cell} did not consume the customer's messages on topic ${d.topic} within ${seconds(s.maxKafkaDrainMs)} (maxKafkaDrainMs): ${messagesBehind(d.partitions)} behind (${where}); is the cell's ingest workload running?`,
    };
  }
  return { kind: 'KafkaDrainCheck' };
}
