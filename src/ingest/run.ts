// The `cell-operator ingest` command: the cell's ingestion worker, configured by the environment
// its Deployment gets (CELL_NAME, KAFKA_*, DATABASE_URL) plus ROUTER_URL, until SIGTERM/SIGINT.
import pg from 'pg';
import type { IngestConfig } from '../config.js';
import { KafkaSettingsError, kafkaSettingsFromEnv } from '../kafka/kafka-settings.js';
import { createLogger } from '../log.js';
import { startHealthServer } from '../runtime/health-server.js';
import { startIngestWorker } from './ingest-worker.js';

export async function runIngest(config: IngestConfig, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const log = createLogger({ name: 'cell-ingest', level: config.logLevel });
  let kafka;
  try {
    kafka = kafkaSettingsFromEnv(env, `cell-ingest-${config.cell}`);
  } catch (err) {
    if (!(err instanceof KafkaSettingsError)) throw err;
    process.stderr.write(`cell-operator ingest: ${err.message}\n`);
    return 2;
  }
  const pool = new pg.Pool({ connectionString: config.databaseUrl, max: 8 });
  pool.on('error', (err) => log.warn({ err: err.message }, 'an idle database connection failed'));
  const worker = await startIngestWorker({ cell: config.cell, kafka, topic: config.topic, group: config.group, pool, table: config.table, routerUrl: config.routerUrl, routeTtlMs: config.routeTtlMs, log });
  let joined = false;
  void worker.joined.then(() => (joined = true));
  const health = await startHealthServer({ port: config.httpPort, registry: worker.registry, ready: () => (joined ? [] : ['not yet a member of the consumer group']) });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('shutting down');
  await worker.stop();
  await Promise.all([health.close(), pool.end()]);
  return 0;
}
