// Performs the Kafka drain actions of a move (kafka-drain-decision.ts decides them): record the
// end offsets of the source cell's partition carrying the customer, then watch the cell's
// ingestion group commit up to them. The cell's brokers are found where the Cell controller puts
// its status.endpoints.kafkaBootstrap: the control-plane `cells` table.
import { customerPartition } from '../kafka/partitioning.js';
import type { KafkaOffsets } from '../kafka/group-offsets.js';
import { getCell } from '../store/cells.js';
import { drained, messagesBehind, type KafkaDrain, type KafkaDrainPartition } from './kafka-drain-state.js';
import type { ExecutorContext } from './move-executor.js';
import { updateJournal, type LoadedMove } from '../store/migration-journal.js';
import { movingCells } from './move-state.js';
import { sleep } from './token-bucket.js';

/** What the engine needs to drain a cell's topic; without it the drain is recorded as Disabled. */
export interface KafkaDrainOptions {
  offsets: KafkaOffsets;
  /** The telemetry topic of every cell. Default `telemetry`. */
  topic: string;
  /** The ingestion workers' consumer group. Default `cell-ingest`. */
  group: string;
  /** How long the drain may wait before the move fails back (MoveSettings.maxKafkaDrainMs). Default 15 s. */
  maxDrainMs?: number;
  /** How long one check watches the committed offsets before recording them. Default 1000 ms. */
  checkMs?: number;
}

/** A cell's Kafka did not answer: retried (the code makes isTransientError say so), bounded by the fence's limit. */
class KafkaUnavailable extends Error {
  readonly code = 'CELL_UNAVAILABLE';
}

async function kafkaCall<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw new KafkaUnavailable(`${what}: ${(err as Error).message}`);
  }
}

function skipped(cell: string, reason: NonNullable<KafkaDrain['skipped']>, at: Date, k?: KafkaDrainOptions): KafkaDrain {
  return { cell, topic: k?.topic ?? '', group: k?.group ?? '', partitions: [], recordedAt: at.toISOString(), drainedAt: at.toISOString(), behindAtStart: 0, skipped: reason };
}

/**
 * The drain of an engine without Kafka, recorded by the fence itself (move-executor.ts): nothing to
 * read or wait for, so no step of its own.
 */
export function kafkaDrainDisabled(cell: string, at: Date): KafkaDrain {
  return skipped(cell, 'Disabled', at);
}

function withCommitted(partitions: readonly KafkaDrainPartition[], committed: Map<number, string | null>): KafkaDrainPartition[] {
  return partitions.map((p) => ({ ...p, committed: committed.get(p.partition) ?? null }));
}

/** What the Kafka drain of one move or a batch needs of its engine. */
export type DrainContext = Pick<ExecutorContext, 'cp' | 'kafka' | 'now' | 'log' | 'metrics' | 'signal'>;

/**
 * The drains of `customers` (moves out of cell `from`), read at once: the topic's end offsets and
 * the group's committed offsets, once for all of them (asked together, after the fence: the ends
 * bound what must be drained, the group's offsets are only the first look at its progress); each
 * customer's drain is its own partition's. In `customers`' order.
 */
export async function startDrains(ctx: DrainContext, from: string, customers: readonly string[]): Promise<KafkaDrain[]> {
  const k = ctx.kafka;
  const at = ctx.now();
  if (!k) return customers.map(() => skipped(from, 'Disabled', at));
  const bootstrap = (await getCell(ctx.cp, from))?.endpoints.kafkaBootstrap;
  if (!bootstrap) return customers.map(() => skipped(from, 'NoKafkaEndpoint', at, k));
  const [ends, group] = await Promise.all([
    kafkaCall(`reading the end offsets of topic ${k.topic} in cell ${from}`, () => k.offsets.topicEnds(bootstrap, k.topic)),
    kafkaCall(`reading group ${k.group}'s offsets in cell ${from}`, () => k.offsets.committed(bootstrap, k.group, k.topic)),
  ]);
  if (ends.length === 0) throw new KafkaUnavailable(`topic ${k.topic} of cell ${from} has no partitions`);
  const recordedAt = ctx.now().toISOString();
  // A group the broker does not know has never consumed here: nobody would ever drain the topic.
  const noGroup = !group.known && [...group.offsets.values()].every((o) => o === null);
  if (noGroup) ctx.log.warn({ customers, cell: from, group: k.group }, 'no ingestion consumer group in the source cell: nothing to drain');
  return customers.map((customer) => {
    const partition = customerPartition(customer, ends.length);
    const end = ends.find((e) => e.partition === partition);
    if (!end) throw new KafkaUnavailable(`topic ${k.topic} of cell ${from} has no partition ${partition}`);
    const partitions = withCommitted([{ partition, end: end.end, committed: null }], group.offsets);
    const drain: KafkaDrain = { cell: from, bootstrap, topic: k.topic, group: k.group, partitions, recordedAt, drainedAt: null, behindAtStart: messagesBehind(partitions) };
    if (noGroup) drain.skipped = 'NoConsumerGroup';
    if (drain.skipped || drained(partitions)) {
      drain.drainedAt = recordedAt;
      ctx.metrics?.kafkaDrainSeconds?.observe(0);
    }
    return drain;
  });
}

/**
 * Watches the group's committed offsets for up to checkMs, one read for all `drains` (recorded in
 * one cell, by startDrains), until every one reached its ends; returns them with the offsets seen
 * and, for each that reached its ends, the time it did.
 */
export async function checkDrains(ctx: DrainContext, drains: readonly KafkaDrain[]): Promise<KafkaDrain[]> {
  const k = ctx.kafka;
  const d = drains[0];
  if (!d || !d.bootstrap || !k) throw new Error('a Kafka drain check without a recorded drain');
  if (drains.some((x) => x.bootstrap !== d.bootstrap || x.group !== d.group || x.topic !== d.topic)) throw new Error('the drains checked together are of different cells');
  const bootstrap = d.bootstrap;
  const deadline = Date.now() + (k.checkMs ?? 1000);
  let seen = drains.map((x) => x.partitions);
  for (;;) {
    const group = await kafkaCall(`reading group ${d.group}'s offsets in cell ${d.cell}`, () => k.offsets.committed(bootstrap, d.group, d.topic));
    seen = drains.map((x) => withCommitted(x.partitions, group.offsets));
    if (seen.every(drained) || Date.now() >= deadline) break;
    await sleep(50, ctx.signal);
  }
  const at = ctx.now();
  return drains.map((x, i) => {
    const partitions = seen[i]!;
    if (x.drainedAt || !drained(partitions)) return { ...x, partitions };
    ctx.metrics?.kafkaDrainSeconds?.observe(Math.max(0, at.getTime() - new Date(x.recordedAt).getTime()) / 1000);
    ctx.metrics?.kafkaDrainMessages?.inc(x.behindAtStart);
    return { ...x, partitions, drainedAt: at.toISOString() };
  });
}

export async function kafkaDrainStart(ctx: ExecutorContext, loaded: LoadedMove): Promise<LoadedMove | undefined> {
  const { move } = loaded;
  const [drain] = await startDrains(ctx, movingCells(move).from, [move.customerId]);
  return updateJournal(ctx.cp, move, { kafkaDrain: drain! });
}

/** Watches the group's committed offsets for up to checkMs; records them, and the time they reached the ends. */
export async function kafkaDrainCheck(ctx: ExecutorContext, loaded: LoadedMove): Promise<LoadedMove | undefined> {
  const { move } = loaded;
  if (!move.kafkaDrain) throw new Error('a Kafka drain check without a recorded drain');
  const [drain] = await checkDrains(ctx, [move.kafkaDrain]);
  return updateJournal(ctx.cp, move, { kafkaDrain: drain! });
}
