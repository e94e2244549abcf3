// One way to build a Kafka client (kafkajs; see docs/kafka.md for why) from KafkaSettings, with
// kafkajs' log lines going to the process's pino logger.
import kafkajs from 'kafkajs';
import type { Logger } from '../log.js';
import type { KafkaSettings } from './kafka-settings.js';

export type Kafka = kafkajs.Kafka;
export type Producer = kafkajs.Producer;
export type Consumer = kafkajs.Consumer;
export type Admin = kafkajs.Admin;

const LEVEL: Record<number, 'error' | 'warn' | 'info' | 'debug'> = { 1: 'error', 2: 'warn', 4: 'info', 5: 'debug' };

export function kafkaClient(settings: KafkaSettings, log: Logger, options: { connectionTimeoutMs?: number; retries?: number } = {}): Kafka {
  return new kafkajs.Kafka({
    clientId: settings.clientId,
    brokers: settings.brokers,
    ssl: settings.ssl,
    ...(settings.sasl ? { sasl: settings.sasl as kafkajs.SASLOptions } : {}),
    connectionTimeout: options.connectionTimeoutMs ?? 3_000,
    retry: { retries: options.retries ?? 5, initialRetryTime: 100, maxRetryTime: 2_000 },
    logLevel: kafkajs.logLevel.WARN,
    logCreator: () => (entry) => {
      const level = LEVEL[entry.level] ?? 'info';
      // kafkajs logs broker addresses and errors, never credentials.
      const { message, ...rest } = entry.log;
      log[level]({ kafka: entry.namespace, ...rest }, message);
    },
  });
}

/** An idempotent producer (acks=all, retries deduplicated by the broker by producer id and sequence). */
export function idempotentProducer(kafka: Kafka): Producer {
  return kafka.producer({ idempotent: true, allowAutoTopicCreation: false });
}

export const CompressionTypes = kafkajs.CompressionTypes;
