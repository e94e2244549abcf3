// The e2e cluster itself does what the other tests rely on: nodes that run pods, volumes that bind,
// garbage collection, Strimzi statuses (kwok's Stages locally) and an API server that comes back.
import { randomBytes } from 'node:crypto';
import { restartApiServer } from './cluster/local-cluster.js';
import { apply, kubectl, kubectlJson, waitFor } from './support/kube.js';

const TIMEOUT_MS = 90_000;
const namespace = `e2e-cluster-${randomBytes(3).toString('hex')}`;

interface Conditioned {
  status?: { conditions?: { type: string; status: string }[]; observedGeneration?: number; [key: string]: unknown };
  metadata: { generation?: number };
}

const ready = (o: Conditioned) => o.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True') ?? false;

describe('the e2e cluster', () => {
  beforeAll(async () => {
    await kubectl(['create', 'namespace', namespace]);
  }, TIMEOUT_MS);

  afterAll(async () => {
    await kubectl(['delete', 'namespace', namespace, '--wait=false'], { allowFailure: true });
  }, TIMEOUT_MS);

  it('has Ready nodes', async () => {
    const nodes = await kubectlJson<{ items: Conditioned[] }>(['get', 'nodes']);
    expect(nodes.items.filter(ready).length).toBeGreaterThan(0);
  });

  const local = process.env.E2E_CLUSTER === 'local';
  (local ? it : it.skip)('renews a Lease for every kwok node, so that the node lifecycle controller never marks their pods unready', async () => {
    // Without node Leases the nodes go silent after the controller-manager's grace period (50 s)
    // and every pod on them turns Ready=False for good: no Deployment is ever Available.
    const nodes = await kubectlJson<{ items: { metadata: { name: string; annotations?: Record<string, string> } }[] }>(['get', 'nodes']);
    const kwokNodes = nodes.items.filter((n) => n.metadata.annotations?.['kwok.x-k8s.io/node'] === 'fake').map((n) => n.metadata.name);
    expect(kwokNodes.length).toBeGreaterThan(0);
    const leases = await kubectlJson<{ items: { metadata: { name: string }; spec: { renewTime?: string; leaseDurationSeconds?: number } }[] }>([
      'get', 'leases', '-n', 'kube-node-lease',
    ]);
    for (const node of kwokNodes) {
      const lease = leases.items.find((l) => l.metadata.name === node);
      expect({ node, lease: lease !== undefined }).toEqual({ node, lease: true });
      const age = Date.now() - Date.parse(lease?.spec.renewTime ?? '1970-01-01T00:00:00Z');
      expect(age).toBeLessThan((lease?.spec.leaseDurationSeconds ?? 0) * 1000);
    }
  });

  it('runs the pods of a StatefulSet with bound volumes, and collects them when it goes', async () => {
    await apply(
      {
        apiVersion: 'apps/v1',
        kind: 'StatefulSet',
        metadata: { name: 'db', namespace },
        spec: {
          replicas: 2,
          serviceName: 'db',
          selector: { matchLabels: { app: 'db' } },
          template: { metadata: { labels: { app: 'db' } }, spec: { containers: [{ name: 'pg', image: 'postgres:17' }] } },
          volumeClaimTemplates: [
            { metadata: { name: 'data' }, spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } } },
          ],
        },
      },
    );
    await waitFor(
      async () => {
        const sts = await kubectlJson<{ status?: { readyReplicas?: number } }>(['get', 'statefulset', 'db', '-n', namespace]);
        return sts.status?.readyReplicas === 2;
      },
      { timeoutMs: 60_000, description: 'StatefulSet db to have 2 ready replicas' },
    );
    const claims = await kubectlJson<{ items: { status?: { phase?: string } }[] }>(['get', 'pvc', '-n', namespace]);
    expect(claims.items.map((c) => c.status?.phase)).toEqual(['Bound', 'Bound']);

    await kubectl(['delete', 'statefulset', 'db', '-n', namespace, '--wait=false']);
    await waitFor(
      async () => (await kubectlJson<{ items: unknown[] }>(['get', 'pods', '-n', namespace, '-l', 'app=db'])).items.length === 0,
      { timeoutMs: 60_000, description: 'the garbage collector to delete the pods of StatefulSet db' },
    );
  }, TIMEOUT_MS);

  const strimziByKwok = process.env.E2E_STRIMZI === 'kwok';
  type Strimzi = Conditioned & { status?: Conditioned['status'] & { listeners?: unknown[]; replicas?: number; nodeIds?: number[] } };
  const strimzi = (kind: string, name: string) => kubectlJson<Strimzi>(['get', kind, name, '-n', namespace]);
  const condition = (o: Strimzi) => o.status?.conditions?.[0] as { type: string; status: string; reason?: string; message?: string } | undefined;
  const nodePool = (name: string, roles: string[], replicas: number) => ({
    apiVersion: 'kafka.strimzi.io/v1',
    kind: 'KafkaNodePool',
    metadata: { name, namespace, labels: { 'strimzi.io/cluster': 'events' } },
    spec: { roles, replicas, storage: { type: 'ephemeral' } },
  });

  (strimziByKwok ? it : it.skip)('refuses a Kafka without broker and controller node pools as Strimzi does, and reports it Ready with its bootstrap servers once they exist', async () => {
    await apply({
      apiVersion: 'kafka.strimzi.io/v1',
      kind: 'Kafka',
      metadata: { name: 'events', namespace },
      spec: { kafka: { version: '4.1.0', listeners: [{ name: 'plain', port: 9092, type: 'internal', tls: false }] } },
    });
    const refused = await waitFor(async () => {
      const k = await strimzi('kafka', 'events');
      return condition(k)?.type === 'NotReady' ? k : undefined;
    }, { timeoutMs: 30_000, description: 'Kafka events without node pools to be refused' });
    expect(condition(refused)).toMatchObject({ status: 'True', reason: 'InvalidResourceException' });
    expect(condition(refused)?.message).toContain("KafkaNodePools for Kafka cluster events either don't exist or have 0 replicas");

    await apply(nodePool('brokers', ['broker'], 1));
    await waitFor(async () => /controller role/.test(condition(await strimzi('kafka', 'events'))?.message ?? ''), { timeoutMs: 30_000, description: 'Kafka events to want a controller pool' });
    await apply(nodePool('controllers', ['controller'], 1));
    const kafka = await waitFor(
      async () => {
        const k = await strimzi('kafka', 'events');
        return ready(k) && k.status?.observedGeneration === k.metadata.generation ? k : undefined;
      },
      { timeoutMs: 30_000, description: 'Kafka events to be Ready' },
    );
    expect(kafka.status?.listeners).toEqual([
      {
        name: 'plain',
        addresses: [{ host: `events-kafka-bootstrap.${namespace}.svc`, port: 9092 }],
        bootstrapServers: `events-kafka-bootstrap.${namespace}.svc:9092`,
      },
    ]);
    // The pools report the nodes they run, numbered across the cluster.
    // (written by the stand-in right after the Kafka's status: wait for them, do not race them)
    const pool = (name: string) =>
      waitFor(async () => (await strimzi('kafkanodepool', name)).status ?? undefined, { timeoutMs: 30_000, description: `node pool ${name} to report its nodes` });
    expect(await pool('brokers')).toMatchObject({ replicas: 1, nodeIds: [0] });
    expect(await pool('controllers')).toMatchObject({ replicas: 1, nodeIds: [1] });

    // The harness's hook: the address of a real broker, as the listeners report it.
    await kubectl(['annotate', 'kafka', 'events', '-n', namespace, 'strimzi.kwok.x-k8s.io/bootstrap-servers=127.0.0.1:39092']);
    await waitFor(async () => JSON.stringify((await strimzi('kafka', 'events')).status?.listeners).includes('"bootstrapServers":"127.0.0.1:39092"'), {
      timeoutMs: 30_000,
      description: 'the listeners to report the real broker',
    });

    await kubectl(['annotate', 'kafka', 'events', '-n', namespace, 'strimzi.kwok.x-k8s.io/ready=False']);
    await waitFor(async () => !ready(await strimzi('kafka', 'events')), { timeoutMs: 30_000, description: 'Kafka events to report NotReady' });
  }, TIMEOUT_MS);

  (strimziByKwok ? it : it.skip)('refuses a KafkaTopic with more replicas than the cluster has brokers', async () => {
    const topic = (name: string, replicas: number) => ({
      apiVersion: 'kafka.strimzi.io/v1',
      kind: 'KafkaTopic',
      metadata: { name, namespace, labels: { 'strimzi.io/cluster': 'events' } },
      spec: { partitions: 3, replicas },
    });
    await apply([topic('too-many', 3), topic('fits', 1)]);
    const refused = await waitFor(async () => {
      const t = await strimzi('kafkatopic', 'too-many');
      return condition(t) ? t : undefined;
    }, { timeoutMs: 30_000, description: 'KafkaTopic too-many to get a status' });
    expect(condition(refused)).toEqual(
      expect.objectContaining({
        type: 'Ready',
        status: 'False',
        reason: 'KafkaError',
        message:
          'org.apache.kafka.common.errors.InvalidReplicationFactorException: Unable to replicate the partition 3 time(s): The target replication factor of 3 cannot be reached because only 1 broker(s) are registered.',
      }),
    );
    await waitFor(async () => ready(await strimzi('kafkatopic', 'fits')), { timeoutMs: 30_000, description: 'KafkaTopic fits to be Ready' });
  }, TIMEOUT_MS);

  (local ? it : it.skip)('keeps its data across a kube-apiserver restart', async () => {
    await kubectl(['create', 'configmap', 'survivor', '-n', namespace, '--from-literal=k=v']);
    await restartApiServer({ signal: 'SIGKILL' });
    const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'survivor', '-n', namespace]);
    expect(cm.data).toEqual({ k: 'v' });
  }, TIMEOUT_MS);
});
