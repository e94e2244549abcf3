// The `cell-operator gateway` command: configuration from src/config.ts and the Kafka environment,
// then the gateway until SIGTERM/SIGINT. Returns the process exit code.
import type { GatewayConfig } from '../config.js';
import { KafkaSettingsError, kafkaSettingsFromEnv } from '../kafka/kafka-settings.js';
import { createLogger } from '../log.js';
import { startGateway } from './gateway.js';

export async function runGateway(config: GatewayConfig, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const log = createLogger({ name: 'cell-gateway', level: config.logLevel });
  let kafka;
  try {
    kafka = kafkaSettingsFromEnv(env, 'cell-gateway', { brokers: 'none' });
  } catch (err) {
    if (!(err instanceof KafkaSettingsError)) throw err;
    process.stderr.write(`cell-operator gateway: ${err.message}\n`);
    return 2;
  }
  // GATEWAY_HTTP_FAST_PATH=false leaves every request to node:http (fast-http.ts takes the simple ones by hand).
  const fastPath = env.GATEWAY_HTTP_FAST_PATH !== 'false';
  const gateway = await startGateway({ routerUrl: config.routerUrl, kafka, topic: config.topic, host: config.host, port: config.port, holdMs: config.holdMs, routeTtlMs: config.routeTtlMs, log, fastPath });
  log.info({ port: gateway.port }, 'gateway serving');
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('shutting down');
  await gateway.close();
  return 0;
}
