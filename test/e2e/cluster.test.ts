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
  (strimziByKwok ? it : it.skip)('reports Kafka Ready with its bootstrap servers as Strimzi does, and NotReady when a test asks', async () => {
    await apply({
      apiVersion: 'kafka.strimzi.io/v1',
      kind: 'Kafka',
      metadata: { name: 'events', namespace },
      spec: { kafka: { version: '4.1.0', listeners: [{ name: 'plain', port: 9092, type: 'internal', tls: false }] } },
    });
    const kafka = await waitFor(
      async () => {
        const k = await kubectlJson<Conditioned>(['get', 'kafka', 'events', '-n', namespace]);
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

    await kubectl(['annotate', 'kafka', 'events', '-n', namespace, 'strimzi.kwok.x-k8s.io/ready=False']);
    await waitFor(async () => !ready(await kubectlJson<Conditioned>(['get', 'kafka', 'events', '-n', namespace])), {
      timeoutMs: 30_000,
      description: 'Kafka events to report NotReady',
    });
  }, TIMEOUT_MS);

  (local ? it : it.skip)('keeps its data across a kube-apiserver restart', async () => {
    await kubectl(['create', 'configmap', 'survivor', '-n', namespace, '--from-literal=k=v']);
    await restartApiServer({ signal: 'SIGKILL' });
    const cm = await kubectlJson<{ data: Record<string, string> }>(['get', 'configmap', 'survivor', '-n', namespace]);
    expect(cm.data).toEqual({ k: 'v' });
  }, TIMEOUT_MS);
});
