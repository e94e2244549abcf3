// How the gateway, the ingestion worker and the move engine reach a cell's Kafka: bootstrap
// servers, topic, consumer group and credentials, read from the environment a cell's workload
// Deployment gets (src/controllers/cell/workload-builder.ts). Pure: the environment comes in.

export interface KafkaSasl {
  mechanism: 'scram-sha-512' | 'scram-sha-256' | 'plain';
  username: string;
  password: string;
}

export interface KafkaSettings {
  /** host:port list. */
  brokers: string[];
  clientId: string;
  /** TLS on the connection (SSL / SASL_SSL); verified against the system CAs. */
  ssl: boolean;
  sasl?: KafkaSasl;
}

/** The consumer group of a cell's ingestion workers: the move's Kafka drain waits on its offsets. */
export const DEFAULT_INGEST_GROUP = 'cell-ingest';
export const DEFAULT_TELEMETRY_TOPIC = 'telemetry';

export class KafkaSettingsError extends Error {}

/** `a:1,b:2` → brokers, refusing anything that is not host:port. */
export function parseBrokers(value: string | undefined, variable: string): string[] {
  const brokers = (value ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (brokers.length === 0) throw new KafkaSettingsError(`${variable} is empty: set it to the cell's Kafka bootstrap servers (host:port[,host:port])`);
  for (const b of brokers) {
    if (!/^[A-Za-z0-9.-]+:\d{1,5}$/.test(b) || Number(b.split(':')[1]) > 65535) {
      throw new KafkaSettingsError(`${variable}: "${b}" is not host:port`);
    }
  }
  return brokers;
}

/**
 * The connection settings from KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL (PLAINTEXT, SSL,
 * SASL_PLAINTEXT, SASL_SSL), KAFKA_SASL_MECHANISM, KAFKA_USERNAME and KAFKA_PASSWORD.
 */
export function kafkaSettingsFromEnv(env: NodeJS.ProcessEnv, clientId: string, options: { brokers?: 'required' | 'none' } = {}): KafkaSettings {
  // The gateway reaches every cell: its addresses come from the router, only the credentials from here.
  const brokers = options.brokers === 'none' ? [] : parseBrokers(env.KAFKA_BOOTSTRAP_SERVERS, 'KAFKA_BOOTSTRAP_SERVERS');
  const protocol = (env.KAFKA_SECURITY_PROTOCOL ?? 'PLAINTEXT').toUpperCase();
  if (!['PLAINTEXT', 'SSL', 'SASL_PLAINTEXT', 'SASL_SSL'].includes(protocol)) {
    throw new KafkaSettingsError(`KAFKA_SECURITY_PROTOCOL must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL, got "${protocol}"`);
  }
  const settings: KafkaSettings = { brokers, clientId, ssl: protocol === 'SSL' || protocol === 'SASL_SSL' };
  if (protocol.startsWith('SASL_')) {
    const mechanism = (env.KAFKA_SASL_MECHANISM ?? 'SCRAM-SHA-512').toLowerCase();
    if (mechanism !== 'scram-sha-512' && mechanism !== 'scram-sha-256' && mechanism !== 'plain') {
      throw new KafkaSettingsError(`KAFKA_SASL_MECHANISM must be SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN, got "${env.KAFKA_SASL_MECHANISM}"`);
    }
    if (!env.KAFKA_USERNAME || !env.KAFKA_PASSWORD) {
      throw new KafkaSettingsError(`KAFKA_SECURITY_PROTOCOL=${protocol} needs KAFKA_USERNAME and KAFKA_PASSWORD (from the KafkaUser's Secret)`);
    }
    settings.sasl = { mechanism, username: env.KAFKA_USERNAME, password: env.KAFKA_PASSWORD };
  }
  return settings;
}

/** Settings for another cell's brokers (forwarding), with this process's credentials and TLS choice. */
export function settingsFor(base: KafkaSettings, bootstrap: string): KafkaSettings {
  return { ...base, brokers: parseBrokers(bootstrap, 'the route\'s endpoints.kafkaBootstrap') };
}
