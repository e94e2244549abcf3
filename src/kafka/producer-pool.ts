// Idempotent producers by bootstrap address (the gateway produces to every cell, the ingestion
// worker forwards to the customer's current cell), each fed by a batcher: messages that arrive
// while a send is in flight go together in the next one, so throughput does not depend on how
// many messages one caller hands over.
import kafkajs from 'kafkajs';
import type { Logger } from '../log.js';
import { idempotentProducer, kafkaClient, type Producer } from './kafka-client.js';
import { settingsFor, type KafkaSettings } from './kafka-settings.js';

export interface OutgoingMessage {
  key: string;
  value: Buffer;
  headers?: Record<string, string>;
}

interface Pending {
  messages: OutgoingMessage[];
  resolve: () => void;
  reject: (err: Error) => void;
}

/**
 * A producer of one cluster and topic, sending what callers hand it in batches of up to
 * `maxBatch`, on one of its lanes: each lane an idempotent kafkajs producer with one send in
 * flight. Lanes, not sends in flight on one producer: kafkajs' idempotent producer holds a lock
 * per broker for each produce request (sequence numbers), so a second send on the same producer
 * only waits inside it, with messages that would have joined the next batch. Order: the messages
 * of one send stay in order (one lane, one request per broker); sends that are in flight at the
 * same time have no order between them, as the HTTP requests they answer have none (a device
 * that waits for its acknowledgement before sending again has its batches in order).
 */
class BatchingProducer {
  private readonly queue: Pending[] = [];
  private queued = 0;
  private readonly free: number[];
  private scheduled = false;
  private readonly connected: Promise<void>;
  /** Produce requests sent and the messages they carried (the mean batch is their quotient). */
  sends = 0;
  sent = 0;

  constructor(
    private readonly lanes: Producer[],
    private readonly topic: string,
    private readonly maxBatch: number,
    private readonly log: Logger,
  ) {
    this.free = lanes.map((_, i) => i).reverse();
    this.connected = Promise.all(lanes.map((p) => p.connect())).then(() => undefined);
    this.connected.catch(() => undefined);
  }

  /** Resolves once the broker acknowledged every message (acks=all), rejects if any was not. */
  send(messages: OutgoingMessage[]): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ messages, resolve, reject });
      this.queued += messages.length;
      this.schedule();
    });
  }

  /**
   * A free send slot starts after the current turn of the event loop (setImmediate), not at
   * once: every request whose bytes arrived in the same turn (an HTTP server's sockets are read
   * one callback each) joins the same produce request. No timer: an idle producer adds no latency
   * beyond that turn.
   */
  private schedule(): void {
    if (this.scheduled || this.free.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      const lane = this.queue.length > 0 ? this.free.pop() : undefined;
      if (lane !== undefined) void this.drain(lane);
    });
  }

  private async drain(lane: number): Promise<void> {
    const producer = this.lanes[lane] as Producer;
    try {
      await this.connected;
    } catch (err) {
      for (const p of this.queue.splice(0)) p.reject(err as Error);
      this.queued = 0;
      this.free.push(lane);
      return;
    }
    while (this.queue.length > 0) {
      const batch: Pending[] = [];
      let n = 0;
      while (this.queue.length > 0 && (n === 0 || n + (this.queue[0] as Pending).messages.length <= this.maxBatch)) {
        const p = this.queue.shift() as Pending;
        batch.push(p);
        n += p.messages.length;
      }
      this.queued -= n;
      this.sends++;
      this.sent += n;
      try {
        await producer.send({
          topic: this.topic,
          acks: -1,
          // OutgoingMessage is already what kafkajs takes (key, value, optional headers): no copies.
          messages: batch.length === 1 ? (batch[0] as Pending).messages : batch.flatMap((p) => p.messages),
        });
        for (const p of batch) p.resolve();
      } catch (err) {
        this.log.warn({ err: (err as Error).message, topic: this.topic, messages: n }, 'producing to Kafka failed; the senders are told');
        for (const p of batch) p.reject(err as Error);
      }
    }
    this.free.push(lane);
    // Messages queued while every lane was busy and this one was finishing its last send.
    if (this.queue.length > 0) this.schedule();
  }

  get backlog(): number {
    return this.queued;
  }

  async disconnect(): Promise<void> {
    await Promise.all(this.lanes.map((p) => p.disconnect()));
  }
}

export class ProducerPool {
  private readonly producers = new Map<string, BatchingProducer>();

  constructor(
    private readonly base: KafkaSettings,
    private readonly topic: string,
    private readonly log: Logger,
    private readonly maxBatch = 2000,
    /** Idempotent producers (connections) per cluster, each with one send in flight. */
    private readonly lanes = 3,
  ) {}

  /** Produces `messages` to the topic on the cluster at `bootstrap`; resolves on the broker's acknowledgement. */
  send(bootstrap: string, messages: OutgoingMessage[]): Promise<void> {
    let p = this.producers.get(bootstrap);
    if (!p) {
      const kafka = kafkaClient(settingsFor(this.base, bootstrap), this.log);
      p = new BatchingProducer(
        Array.from({ length: this.lanes }, () =>
          kafka.producer({
            idempotent: true,
            allowAutoTopicCreation: false,
            createPartitioner: kafkajs.Partitioners.DefaultPartitioner,
            // An idempotent producer that gives up leaves a gap in its sequence numbers: it retries
            // until the broker answers; callers that must answer in time bound their own wait.
            retry: { retries: Number.MAX_SAFE_INTEGER, initialRetryTime: 100, maxRetryTime: 2_000 },
          }),
        ),
        this.topic,
        this.maxBatch,
        this.log,
      );
      this.producers.set(bootstrap, p);
    }
    return p.send(messages);
  }

  /** Produce requests sent and messages they carried, over every cluster (mean batch = messages / sends). */
  get stats(): { sends: number; messages: number } {
    let sends = 0;
    let messages = 0;
    for (const p of this.producers.values()) {
      sends += p.sends;
      messages += p.sent;
    }
    return { sends, messages };
  }

  get backlog(): number {
    let n = 0;
    for (const p of this.producers.values()) n += p.backlog;
    return n;
  }

  async close(): Promise<void> {
    await Promise.allSettled([...this.producers.values()].map((p) => p.disconnect()));
    this.producers.clear();
  }
}

export { idempotentProducer };
