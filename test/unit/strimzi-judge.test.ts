// The Strimzi stand-in judges the spec as the Strimzi operators do, for what the product relies on.
import { brokerCount, judgeAll, judgeKafka, judgePool, judgeTopic, judgeUser, STRIMZI_ANNOTATIONS, type StrimziObject } from '../e2e/cluster/strimzi-judge.js';

const ns = 'cell-eu';
const kafka = (annotations: Record<string, string> = {}): StrimziObject => ({
  kind: 'Kafka',
  metadata: { name: 'eu', namespace: ns, generation: 2, annotations },
  spec: { kafka: { version: '4.1.0', listeners: [{ name: 'plain', port: 9092 }, { name: 'tls', port: 9093 }] } },
});
const pool = (name: string, roles: string[], replicas: number, cluster = 'eu'): StrimziObject => ({
  kind: 'KafkaNodePool',
  metadata: { name, namespace: ns, generation: 1, labels: { 'strimzi.io/cluster': cluster } },
  spec: { roles, replicas },
});
const topic = (replicas: number, cluster = 'eu'): StrimziObject => ({
  kind: 'KafkaTopic',
  metadata: { name: 'telemetry', namespace: ns, generation: 1, uid: 'a1b2c3d4-e5f6-0000-1111-222233334444', labels: { 'strimzi.io/cluster': cluster } },
  spec: { partitions: 3, replicas },
});
const both = [pool('controllers', ['controller'], 3), pool('brokers', ['broker'], 2)];

describe('the Strimzi stand-in', () => {
  it('refuses a Kafka without a node pool labelled for it, with InvalidResourceException and Strimzi message', () => {
    const strangers = [pool('brokers', ['broker'], 3, 'another'), { ...pool('unlabelled', ['broker', 'controller'], 3), metadata: { name: 'unlabelled', namespace: ns } }];
    const status = judgeKafka(kafka(), strangers);
    expect(status.conditions).toEqual([
      {
        type: 'NotReady',
        status: 'True',
        reason: 'InvalidResourceException',
        message:
          "KafkaNodePools are enabled, but KafkaNodePools for Kafka cluster eu either don't exist or have 0 replicas. Please make sure at least one KafkaNodePool resource exists, is in the same namespace as the Kafka resource, has at least one replica, and has the strimzi.io/cluster label set to the name of the Kafka resource.",
      },
    ]);
    expect(status.listeners).toBeUndefined();
  });

  it('refuses a Kafka without a controller pool, or with a pool that has no role', () => {
    expect(judgeKafka(kafka(), [pool('brokers', ['broker'], 3)]).conditions[0]).toEqual({
      type: 'NotReady',
      status: 'True',
      reason: 'InvalidResourceException',
      message: 'The Kafka cluster eu is invalid: [At least one KafkaNodePool with the controller role and at least one replica is required when KRaft mode is enabled]',
    });
    expect(judgeKafka(kafka(), [...both, pool('spare', [], 1)]).conditions[0]?.message).toBe(
      'The Kafka cluster eu is invalid: [KafkaNodePool spare has no role defined in .spec.roles]',
    );
    // A broker pool scaled to zero does not count.
    expect(judgeKafka(kafka(), [pool('controllers', ['controller'], 3), pool('brokers', ['broker'], 0)]).conditions[0]?.message).toContain(
      'At least one KafkaNodePool with the broker role and at least one replica is required',
    );
  });

  it('reports a valid Kafka Ready with its pools and in-cluster bootstrap servers, or the address the harness gives', () => {
    const ready = judgeKafka(kafka(), both);
    expect(ready).toMatchObject({
      observedGeneration: 2,
      kafkaVersion: '4.1.0',
      kafkaNodePools: [{ name: 'brokers' }, { name: 'controllers' }],
      conditions: [{ type: 'Ready', status: 'True' }],
    });
    expect(ready.listeners).toEqual([
      { name: 'plain', addresses: [{ host: `eu-kafka-bootstrap.${ns}.svc`, port: 9092 }], bootstrapServers: `eu-kafka-bootstrap.${ns}.svc:9092` },
      { name: 'tls', addresses: [{ host: `eu-kafka-bootstrap.${ns}.svc`, port: 9093 }], bootstrapServers: `eu-kafka-bootstrap.${ns}.svc:9093` },
    ]);
    const real = judgeKafka(kafka({ [STRIMZI_ANNOTATIONS.bootstrapServers]: '127.0.0.1:39092' }), both);
    expect((real.listeners as { bootstrapServers: string }[]).map((l) => l.bootstrapServers)).toEqual(['127.0.0.1:39092', '127.0.0.1:39092']);
  });

  it('still lets a test ask for NotReady, but never reports an invalid Kafka Ready', () => {
    const asked = kafka({ [STRIMZI_ANNOTATIONS.ready]: 'False', [STRIMZI_ANNOTATIONS.reason]: 'Outage' });
    expect(judgeKafka(asked, both).conditions).toEqual([{ type: 'NotReady', status: 'True', reason: 'Outage', message: 'Kafka cluster is being deployed' }]);
    expect(judgeKafka(kafka({ [STRIMZI_ANNOTATIONS.ready]: 'True' }), []).conditions[0]?.reason).toBe('InvalidResourceException');
  });

  it('gives node pools the nodes that exist, numbered across the cluster, and no status while their Kafka is missing or invalid', () => {
    const pools = [...both, pool('extra', ['broker'], 1)];
    expect(judgePool(pools[0]!, [kafka()], pools)).toMatchObject({ replicas: 3, nodeIds: [2, 3, 4], roles: ['controller'] });
    expect(judgePool(pools[1]!, [kafka()], pools)).toMatchObject({ replicas: 2, nodeIds: [0, 1] });
    expect(judgePool(pools[2]!, [kafka()], pools)).toMatchObject({ replicas: 1, nodeIds: [5] });
    expect(judgePool(pools[1]!, [], pools)).toBeUndefined();
    const brokersOnly = [pool('brokers', ['broker'], 3)];
    expect(judgePool(brokersOnly[0]!, [kafka()], brokersOnly)).toBeUndefined();
  });

  it('refuses a topic with more replicas than the cluster has brokers, with Kafka error', () => {
    expect(brokerCount(kafka(), both)).toBe(2);
    expect(judgeTopic(topic(3), [kafka()], both)?.conditions).toEqual([
      {
        type: 'Ready',
        status: 'False',
        reason: 'KafkaError',
        message:
          'org.apache.kafka.common.errors.InvalidReplicationFactorException: Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 2 broker(s) are registered.',
      },
    ]);
    expect(judgeTopic(topic(2), [kafka()], both)).toMatchObject({ topicName: 'telemetry', topicId: 'a1b2c3d4e5f60000111122', conditions: [{ type: 'Ready', status: 'True' }] });
    // No brokers at all while the Kafka is invalid.
    expect(judgeTopic(topic(1), [kafka()], [])?.conditions[0]?.message).toContain('only 0 broker(s) are registered');
    expect(judgeTopic(topic(1, 'nobody'), [kafka()], both)).toBeUndefined();
  });

  it('names TLS users after their certificate subject, and leaves users of a missing cluster alone', () => {
    const user = (cluster: string, type: string): StrimziObject => ({
      kind: 'KafkaUser',
      metadata: { name: 'ingest', namespace: ns, labels: { 'strimzi.io/cluster': cluster } },
      spec: { authentication: { type }, authorization: { type: 'simple', acls: [{ resource: { type: 'topic', name: 'no-such-topic' }, operations: ['Write'] }] } },
    });
    // Kafka accepts ACLs on topics that do not exist (yet), and so does the User Operator.
    expect(judgeUser(user('eu', 'tls'), [kafka()])).toMatchObject({ username: 'CN=ingest', secret: 'ingest', conditions: [{ type: 'Ready', status: 'True' }] });
    expect(judgeUser(user('eu', 'scram-sha-512'), [kafka()])?.username).toBe('ingest');
    expect(judgeUser(user('gone', 'tls'), [kafka()])).toBeUndefined();
  });

  it('judges a whole cluster at once, keyed by kind, namespace and name', () => {
    const judged = judgeAll([kafka(), ...both, topic(3)]);
    expect([...judged.keys()].sort()).toEqual([`Kafka/${ns}/eu`, `KafkaNodePool/${ns}/brokers`, `KafkaNodePool/${ns}/controllers`, `KafkaTopic/${ns}/telemetry`]);
    expect(judged.get(`KafkaTopic/${ns}/telemetry`)?.conditions[0]?.reason).toBe('KafkaError');
  });
});
