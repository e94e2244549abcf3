import { kafkaSettingsFromEnv, parseBrokers, settingsFor } from './kafka-settings.js';

describe('Kafka settings from a workload\'s environment', () => {
  it('reads the plain listener a cell injects', () => {
    expect(kafkaSettingsFromEnv({ KAFKA_BOOTSTRAP_SERVERS: 'eu-1a-kafka-bootstrap.cell-eu-1a.svc:9092' }, 'ingest')).toEqual({
      brokers: ['eu-1a-kafka-bootstrap.cell-eu-1a.svc:9092'],
      clientId: 'ingest',
      ssl: false,
    });
  });

  it('reads SCRAM credentials of a KafkaUser, with TLS for SASL_SSL', () => {
    const env = { KAFKA_BOOTSTRAP_SERVERS: 'a:9093,b:9093', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'SCRAM-SHA-512', KAFKA_USERNAME: 'ingest', KAFKA_PASSWORD: 's3cret' };
    expect(kafkaSettingsFromEnv(env, 'x')).toEqual({ brokers: ['a:9093', 'b:9093'], clientId: 'x', ssl: true, sasl: { mechanism: 'scram-sha-512', username: 'ingest', password: 's3cret' } });
  });

  it('refuses what cannot work, naming the variable', () => {
    expect(() => kafkaSettingsFromEnv({}, 'x')).toThrow('KAFKA_BOOTSTRAP_SERVERS is empty');
    expect(() => parseBrokers('kafka', 'KAFKA_BOOTSTRAP_SERVERS')).toThrow('KAFKA_BOOTSTRAP_SERVERS: "kafka" is not host:port');
    expect(() => kafkaSettingsFromEnv({ KAFKA_BOOTSTRAP_SERVERS: 'a:1', KAFKA_SECURITY_PROTOCOL: 'SASL_PLAINTEXT' }, 'x')).toThrow('needs KAFKA_USERNAME and KAFKA_PASSWORD');
    expect(() => kafkaSettingsFromEnv({ KAFKA_BOOTSTRAP_SERVERS: 'a:1', KAFKA_SECURITY_PROTOCOL: 'TLS' }, 'x')).toThrow('KAFKA_SECURITY_PROTOCOL must be');
    expect(() => kafkaSettingsFromEnv({ KAFKA_BOOTSTRAP_SERVERS: 'a:1', KAFKA_SECURITY_PROTOCOL: 'SASL_SSL', KAFKA_SASL_MECHANISM: 'GSSAPI', KAFKA_USERNAME: 'u', KAFKA_PASSWORD: 'p' }, 'x')).toThrow('KAFKA_SASL_MECHANISM must be');
  });

  it('lets the gateway take its brokers from the router, and keeps the credentials for another cell', () => {
    const base = kafkaSettingsFromEnv({ KAFKA_SECURITY_PROTOCOL: 'SSL' }, 'gw', { brokers: 'none' });
    expect(base.brokers).toEqual([]);
    expect(settingsFor(base, 'other:9093')).toEqual({ brokers: ['other:9093'], clientId: 'gw', ssl: true });
  });
});
