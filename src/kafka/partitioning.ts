// Which partition of a cell's telemetry topic carries a customer: the Java client's default
// partitioner (murmur2 of the key), so that every producer of the project, the Java tools and the
// move's Kafka drain agree on it.
import kafkajs from 'kafkajs';

const partitioner = kafkajs.Partitioners.DefaultPartitioner();

/** The partition of `customerId` in a topic of `partitions` partitions. */
export function customerPartition(customerId: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`a topic has at least one partition, got ${partitions}`);
  const partitionMetadata = Array.from({ length: partitions }, (_, i) => ({ partitionId: i, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
  return partitioner({ topic: '', partitionMetadata, message: { key: customerId, value: null } });
}
