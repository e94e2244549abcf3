// The ingestion worker of a cell (`cell-operator ingest`): consumes the cell's telemetry topic in
// the cell's consumer group, writes each customer's readings to the cell database idempotently,
// forwards the messages of customers that live in another cell now (a stale producer, a message in
// flight at a cut-over, a database that refuses the customer) to that cell's topic, and commits
// the offsets only after the database commit and the forwards' acknowledgements. A crash anywhere
// redelivers the batch: the writes are no-ops the second time, a forward is deduplicated there.
import type pg from 'pg';
import { Counter, Histogram, Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { kafkaClient, type Consumer } from '../kafka/kafka-client.js';
import type { KafkaSettings } from '../kafka/kafka-settings.js';
import { ProducerPool } from '../kafka/producer-pool.js';
import { RouteClient, type RouteAnswer } from '../kafka/route-client.js';
import { decodeMessage, encodeMessage, type TelemetryMessage } from '../kafka/telemetry-message.js';
import { isTransientDatabaseError } from '../store/database-errors.js';
import { planBatch, type Decoded } from './ingest-plan.js';
import { RowWriter } from './row-writer.js';

export interface IngestOptions {
  cell: string;
  kafka: KafkaSettings;
  topic: string;
  group: string;
  pool: pg.Pool;
  table: string;
  routerUrl: string;
  routeTtlMs?: number;
  /** Messages written (and committed) at a time. Default 2000. */
  chunk?: number;
  log: Logger;
  registry?: Registry;
}

export interface IngestWorker {
  /** Resolves once the consumer has joined its group. */
  joined: Promise<void>;
  registry: Registry;
  stop(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Raised for a batch that must be retried (nothing committed). */
class RetryBatch extends Error {}

export async function startIngestWorker(options: IngestOptions): Promise<IngestWorker> {
  const { log, cell, topic } = options;
  const registry = options.registry ?? new Registry();
  const chunkSize = options.chunk ?? 2000;
  const deadLetterTopic = `${topic}.dead-letter`;
  const writer = new RowWriter(options.pool, options.table);
  // Naming its cell: a fenced customer that still lives here is written here (the move waits for it).
  const routes = new RouteClient({ url: options.routerUrl, ttlMs: options.routeTtlMs ?? 1000, cell });
  const forwards = new ProducerPool(options.kafka, topic, log);
  const deadLetters = new ProducerPool(options.kafka, deadLetterTopic, log);
  const ownBootstrap = options.kafka.brokers.join(',');
  const metrics = {
    rows: new Counter({ name: 'cell_ingest_rows_written_total', help: 'Rows written to the cell database.', registers: [registry] }),
    redelivered: new Counter({ name: 'cell_ingest_redelivered_total', help: 'Messages whose row was already there (a redelivery): written once.', registers: [registry] }),
    forwarded: new Counter({ name: 'cell_ingest_forwarded_total', help: 'Messages forwarded to the customer\'s current cell.', labelNames: ['cell'], registers: [registry] }),
    deadLettered: new Counter({ name: 'cell_ingest_dead_lettered_total', help: 'Messages that can never be written, sent to the dead-letter topic.', registers: [registry] }),
    retried: new Counter({ name: 'cell_ingest_batches_retried_total', help: 'Batches retried (router or database unavailable), nothing committed.', registers: [registry] }),
    seconds: new Histogram({ name: 'cell_ingest_chunk_seconds', help: 'Time to write and commit a chunk of messages.', buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5], registers: [registry] }),
  };

  const kafka = kafkaClient(options.kafka, log);
  const admin = kafka.admin();
  await admin.connect();
  try {
    await admin.createTopics({ topics: [{ topic: deadLetterTopic, numPartitions: 1 }], waitForLeaders: true });
  } catch (err) {
    log.warn({ err: (err as Error).message, topic: deadLetterTopic }, 'cannot create the dead-letter topic; malformed messages will wait until it exists');
  } finally {
    await admin.disconnect();
  }

  const consumer: Consumer = kafka.consumer({ groupId: options.group, sessionTimeout: 10_000, heartbeatInterval: 1_000, maxWaitTimeInMs: 100, retry: { retries: 1_000_000, initialRetryTime: 200, maxRetryTime: 2_000 } });
  let resolveJoined: () => void = () => undefined;
  const joined = new Promise<void>((r) => (resolveJoined = r));
  consumer.on(consumer.events.GROUP_JOIN, () => resolveJoined());

  async function routesOf(customers: Iterable<string>, fresh = false): Promise<Map<string, RouteAnswer>> {
    const list = [...new Set(customers)];
    const answers = await Promise.all(list.map((c) => routes.route(c, { fresh })));
    return new Map(list.map((c, i) => [c, answers[i] as RouteAnswer]));
  }

  async function forward(target: { cell: string; bootstrap: string }, messages: TelemetryMessage[]): Promise<void> {
    if (target.bootstrap === ownBootstrap) throw new RetryBatch(`cell ${target.cell} reports this cell's brokers; waiting for a consistent route`);
    await forwards.send(
      target.bootstrap,
      messages.map((m) => ({ key: m.customer, value: encodeMessage(m), headers: { 'x-forwarded-from': cell } })),
    );
    metrics.forwarded.inc({ cell: target.cell }, messages.length);
  }

  /** Writes what lives here; a customer the database refuses is asked about again and forwarded if it left. */
  async function write(messages: TelemetryMessage[]): Promise<void> {
    try {
      const n = await writer.write(messages);
      metrics.rows.inc(n);
      metrics.redelivered.inc(messages.length - n);
      return;
    } catch (err) {
      if (isTransientDatabaseError(err)) throw new RetryBatch(`the database is unavailable: ${(err as Error).message}`);
      log.info({ err: (err as Error).message }, 'the database refused a batch; writing customer by customer');
    }
    const byCustomer = new Map<string, TelemetryMessage[]>();
    for (const m of messages) byCustomer.set(m.customer, [...(byCustomer.get(m.customer) ?? []), m]);
    for (const [customer, list] of byCustomer) {
      try {
        const n = await writer.write(list);
        metrics.rows.inc(n);
        metrics.redelivered.inc(list.length - n);
      } catch (err) {
        if (isTransientDatabaseError(err)) throw new RetryBatch(`the database is unavailable: ${(err as Error).message}`);
        const route = await routes.route(customer, { fresh: true });
        if (route.kind === 'Route' && route.cell !== cell && route.kafkaBootstrap) {
          await forward({ cell: route.cell, bootstrap: route.kafkaBootstrap }, list);
          continue;
        }
        throw new RetryBatch(`the database refuses customer ${customer} (${(err as Error).message}) and the router names no other cell for it yet`);
      }
    }
  }

  async function handleChunk(raw: { key: Buffer | null; value: Buffer | null }[]): Promise<void> {
    const t0 = performance.now();
    const decoded: Decoded[] = raw.map((r) => {
      const d = decodeMessage(r.key, r.value);
      return d.ok ? d : { ok: false, problem: d.problem, raw: r.value };
    });
    const customers = decoded.flatMap((d) => (d.ok ? [d.message.customer] : []));
    let routeMap = await routesOf(customers);
    // Before sending anything away, make sure the route is not a cached, stale one.
    const leaving = [...routeMap].filter(([, r]) => r.kind !== 'Route' || r.cell !== cell).map(([c]) => c);
    if (leaving.length > 0) {
      const fresh = await routesOf(leaving, true);
      routeMap = new Map([...routeMap, ...fresh]);
    }
    const plan = planBatch(cell, decoded, routeMap);
    if (plan.undecided.length > 0) throw new RetryBatch(`the router cannot place ${plan.undecided.slice(0, 3).join(', ')} now`);
    await Promise.all([
      write(plan.write),
      ...plan.forward.map((f) => forward(f, f.messages)),
      plan.deadLetter.length > 0
        ? deadLetters
            .send(
              ownBootstrap,
              plan.deadLetter.map((d) => ({ key: d.message?.customer ?? '', value: d.message ? encodeMessage(d.message) : (d.raw ?? Buffer.alloc(0)), headers: { 'x-dead-letter-reason': d.reason } })),
            )
            .then(() => metrics.deadLettered.inc(plan.deadLetter.length))
        : undefined,
    ]);
    metrics.seconds.observe((performance.now() - t0) / 1000);
  }

  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, heartbeat, isRunning, isStale, resolveOffset }) => {
      const messages = batch.messages;
      for (let i = 0; i < messages.length && isRunning() && !isStale(); i += chunkSize) {
        const chunk = messages.slice(i, i + chunkSize);
        try {
          await handleChunk(chunk);
        } catch (err) {
          metrics.retried.inc();
          log.warn({ partition: batch.partition, err: (err as Error).message }, 'batch not written; retrying it (offsets not committed)');
          await sleep(250);
          throw err; // kafkajs seeks back to the last committed offset and fetches again
        }
        const last = chunk[chunk.length - 1] as { offset: string };
        // Committed only now: the rows are in the database, the forwards are on the other cells' topics.
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        resolveOffset(last.offset);
        await heartbeat();
      }
    },
  });
  log.info({ cell, topic, group: options.group }, 'ingesting');

  return {
    joined,
    registry,
    async stop() {
      await consumer.disconnect();
      await Promise.all([forwards.close(), deadLetters.close()]);
      routes.close();
    },
  };
}
