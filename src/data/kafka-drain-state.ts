// The Kafka drain of a customer move as the journal keeps it (migration_journal.kafka_drain): the
// end offsets of the source cell's telemetry partition(s) carrying the customer, recorded after
// the fence, and the ingestion group's committed offsets as last seen. Offsets are decimal strings
// (Kafka's int64 does not fit a JSON number).

export interface KafkaDrainPartition {
  partition: number;
  /** The end offset (high watermark) recorded after the fence: every earlier message is below it. */
  end: string;
  /** The group's committed offset when last checked; null: it never committed on this partition. */
  committed: string | null;
}

export interface KafkaDrain {
  /** The cell drained (the source of the move in its current direction). */
  cell: string;
  bootstrap?: string;
  topic: string;
  group: string;
  partitions: KafkaDrainPartition[];
  /** When the end offsets were recorded (after the fence). */
  recordedAt: string;
  /** When the group's committed offsets reached them; null while waiting. */
  drainedAt: string | null;
  /** Messages of those partitions not yet consumed when the ends were recorded. */
  behindAtStart: number;
  /** Set when there is nothing to drain, with why (no Kafka endpoint, no consumer group, drain off). */
  skipped?: 'Disabled' | 'NoKafkaEndpoint' | 'NoConsumerGroup';
}

/** How many messages the group still has to commit to reach the recorded ends. */
export function messagesBehind(partitions: readonly KafkaDrainPartition[]): number {
  let behind = 0n;
  for (const p of partitions) {
    const end = BigInt(p.end);
    const committed = p.committed === null ? 0n : BigInt(p.committed);
    if (committed < end) behind += end - committed;
  }
  return Number(behind);
}

export function drained(partitions: readonly KafkaDrainPartition[]): boolean {
  return messagesBehind(partitions) === 0;
}
