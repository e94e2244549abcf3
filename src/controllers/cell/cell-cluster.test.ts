import { parseCellSpec } from '../../crds/cell.js';
import { desiredChildren } from './cell-children.js';
import { clusterReachableCondition, kubeconfigSecretOf, remoteDeletion, unreachableCellStatus, withoutOwnerReferences } from './cell-cluster.js';
import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';

const NOW = new Date('2026-03-01T12:00:00.000Z');
const LATER = new Date('2026-03-01T12:05:00.000Z');
const CREDENTIALS = { username: 'u', password: 'p' };
// The kinds the remote informers watch on a cluster without the Prometheus Operator (no PodMonitors).
const ALL_KINDS = new Set(['NetworkPolicy', 'KafkaNodePool', 'Kafka', 'KafkaTopic', 'KafkaUser', 'Service', 'StatefulSet', 'PodDisruptionBudget', 'Deployment']);

describe('spec.cluster', () => {
  it("reads the kubeconfig where Cluster API writes it unless the spec names another Secret or key", () => {
    expect(kubeconfigSecretOf({ name: 'cells-b' }, 'ops')).toEqual({ namespace: 'ops', name: 'cells-b-kubeconfig', key: 'value' });
    expect(kubeconfigSecretOf({ name: 'cells-b', kubeconfigSecret: { name: 'argo-cells-b', key: 'config' } }, 'ops')).toEqual({ namespace: 'ops', name: 'argo-cells-b', key: 'config' });
  });

  it('defaults the key to value and refuses a cluster name that is not a DNS label', () => {
    const parsed = parseCellSpec({ ...EXAMPLE_CELL_SPEC, cluster: { name: 'cells-b', kubeconfigSecret: { name: 'kc' } } });
    expect(parsed.ok && parsed.value.cluster).toEqual({ name: 'cells-b', kubeconfigSecret: { name: 'kc', key: 'value' } });
    const refused = parseCellSpec({ ...EXAMPLE_CELL_SPEC, cluster: { name: 'Cells_B' } });
    expect(refused.ok).toBe(false);
    expect(JSON.stringify(refused)).toContain('cluster');
  });
});

describe('children in another cluster', () => {
  it('carry no owner reference, and nothing else changes', () => {
    const cell = exampleCell();
    const local = desiredChildren(cell, { operatorNamespace: 'ops', kafkaBootstrap: undefined, databaseCredentials: CREDENTIALS });
    const remote = withoutOwnerReferences(local);
    expect(local.some((c) => c.metadata?.ownerReferences)).toBe(true);
    expect(remote.filter((c) => c.metadata?.ownerReferences)).toEqual([]);
    expect(remote.map((c) => ({ ...c, metadata: { ...c.metadata, ownerReferences: undefined } }))).toEqual(
      local.map((c) => ({ ...c, metadata: { ...c.metadata, ownerReferences: undefined } })),
    );
  });

  it('are deleted by the operator as the garbage collector would: the namespace only when the Cell owns it', () => {
    const retain = remoteDeletion(exampleCell(), ALL_KINDS);
    // Secrets and ConfigMaps are never listed (the operator may not): deleted by name.
    expect(retain.selected).toEqual(['NetworkPolicy', 'KafkaNodePool', 'Kafka', 'KafkaTopic', 'KafkaUser', 'Service', 'StatefulSet', 'PodDisruptionBudget', 'Deployment']);
    expect(retain.named).toEqual([
      { kind: 'Secret', namespace: 'cell-eu-west-1a', name: 'eu-west-1a-db-credentials' },
      { kind: 'Secret', namespace: 'cell-eu-west-1a', name: 'eu-west-1a-db-tls' },
      { kind: 'ConfigMap', namespace: 'cell-eu-west-1a', name: 'eu-west-1a-metrics' },
    ]);
    // Every child kind the builders make is deleted one way or the other.
    const children = desiredChildren(exampleCell(), { operatorNamespace: 'ops', kafkaBootstrap: undefined, databaseCredentials: { username: 'u', password: 'p' }, podMonitors: false });
    const covered = (o: { kind?: string; metadata?: { name?: string } }) =>
      o.kind === 'Namespace' || retain.selected.includes(o.kind ?? '') || retain.named.some((n) => n.kind === o.kind && n.name === o.metadata?.name);
    expect(children.filter((o) => !covered(o)).map((o) => `${o.kind}/${o.metadata?.name}`)).toEqual([]);
    const del = remoteDeletion(exampleCell({ ...EXAMPLE_CELL_SPEC, deletionPolicy: 'Delete' }), ALL_KINDS);
    expect(del.named).toContainEqual({ kind: 'Namespace', name: 'cell-eu-west-1a' });
    const named = remoteDeletion(exampleCell({ ...EXAMPLE_CELL_SPEC, deletionPolicy: 'Delete', namespace: 'team-a' }), ALL_KINDS);
    expect(named.named.map((n) => n.kind)).toEqual(['Secret', 'Secret', 'ConfigMap']);
    expect(remoteDeletion(exampleCell(), new Set(['Deployment'])).selected).toEqual(['Deployment']);
  });
});

describe('ClusterReachable', () => {
  it("names the cluster and its API server's version", () => {
    expect(clusterReachableCondition({ reachable: true, name: 'cells-b', server: 'https://10.0.0.1:6443', version: 'v1.34.1' })).toEqual({
      type: 'ClusterReachable',
      status: 'True',
      reason: 'ClusterReachable',
      message: 'The API server of cluster cells-b at https://10.0.0.1:6443 answers (Kubernetes v1.34.1).',
    });
  });

  it('turns Ready Unknown with the reason and keeps the rest of the status as last seen', () => {
    const cell = exampleCell();
    cell.status = {
      phase: 'Ready',
      observedGeneration: 1,
      customers: 7,
      endpoints: { database: 'db:5432' },
      conditions: [
        { type: 'Ready', status: 'True', reason: 'Ready', message: 'ready', lastTransitionTime: '2026-03-01T11:00:00Z', observedGeneration: 1 },
        { type: 'KafkaReady', status: 'True', reason: 'KafkaReady', message: 'ok', lastTransitionTime: '2026-03-01T11:00:00Z', observedGeneration: 1 },
      ],
    };
    const status = unreachableCellStatus(cell, { reachable: false, name: 'cells-b', reason: 'ClusterUnreachable', message: 'the API server of cluster cells-b does not answer' }, NOW);
    expect(status.phase).toBe('Ready');
    expect(status.customers).toBe(7);
    expect(status.endpoints).toEqual({ database: 'db:5432' });
    const byType = Object.fromEntries((status.conditions ?? []).map((c) => [c.type, c]));
    expect(byType.Ready).toMatchObject({ status: 'Unknown', reason: 'ClusterUnreachable', lastTransitionTime: '2026-03-01T12:00:00Z' });
    expect(byType.ClusterReachable).toMatchObject({ status: 'False', reason: 'ClusterUnreachable', message: 'The API server of cluster cells-b does not answer.' });
    expect(byType.KafkaReady).toMatchObject({ status: 'True', lastTransitionTime: '2026-03-01T11:00:00Z' });
    expect(byType.Reconciling).toMatchObject({ status: 'True' });
    // Written again later: nothing moves (the status is unchanged, so nothing is written).
    const again = unreachableCellStatus({ ...cell, status }, { reachable: false, name: 'cells-b', reason: 'ClusterUnreachable', message: 'the API server of cluster cells-b does not answer' }, LATER);
    expect(again).toEqual(status);
  });
});
