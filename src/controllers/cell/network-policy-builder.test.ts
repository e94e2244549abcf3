import type { V1LabelSelector, V1NetworkPolicyEgressRule, V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';
import { buildDatabaseStatefulSets } from './database-builder.js';
import { buildNetworkPolicies, type NetworkPolicy } from './network-policy-builder.js';
import { buildWorkloadDeployment } from './workload-builder.js';
import type { Cell } from '../../crds/cell.js';

// A small evaluator of NetworkPolicy semantics, to assert flows rather than object shapes: a
// connection is allowed when the source's egress and the destination's ingress both allow it. Pods
// outside the cell namespace are not isolated by these policies.

interface Pod {
  /** Undefined for endpoints that are not pods (the API server on the host, the internet). */
  namespace?: string;
  labels: Record<string, string>;
  ip: string;
}

/** The labels of a namespace: only the one the API server sets on every namespace. */
function ns(name: string): Record<string, string> {
  return { 'kubernetes.io/metadata.name': name };
}

function matches(selector: V1LabelSelector | undefined, labels: Record<string, string>): boolean {
  if (!selector) return true;
  for (const [k, v] of Object.entries(selector.matchLabels ?? {})) if (labels[k] !== v) return false;
  for (const e of selector.matchExpressions ?? []) {
    const value = labels[e.key];
    if (e.operator === 'In' && !(value !== undefined && (e.values ?? []).includes(value))) return false;
    if (e.operator === 'NotIn' && value !== undefined && (e.values ?? []).includes(value)) return false;
    if (e.operator === 'Exists' && value === undefined) return false;
    if (e.operator === 'DoesNotExist' && value !== undefined) return false;
  }
  return true;
}

function peerMatches(peer: V1NetworkPolicyPeer, pod: Pod, policyNamespace: string): boolean {
  if (peer.ipBlock) return pod.ip === peer.ipBlock.cidr.replace(/\/32$/, '');
  if (pod.namespace === undefined) return false;
  const nsOk = peer.namespaceSelector ? matches(peer.namespaceSelector, ns(pod.namespace)) : pod.namespace === policyNamespace;
  return nsOk && matches(peer.podSelector, pod.labels);
}

function portMatches(ports: V1NetworkPolicyPort[] | undefined, port: number, protocol: string): boolean {
  return !ports || ports.some((p) => (p.protocol ?? 'TCP') === protocol && (p.port === undefined || p.port === port));
}

function ruleAllows(rule: { ports?: V1NetworkPolicyPort[] }, peers: V1NetworkPolicyPeer[] | undefined, other: Pod, port: number, protocol: string, policyNs: string) {
  return portMatches(rule.ports, port, protocol) && (!peers || peers.some((p) => peerMatches(p, other, policyNs)));
}

function allowed(policies: NetworkPolicy[], cellNs: string, from: Pod, to: Pod, port: number, protocol = 'TCP'): boolean {
  const side = (pod: Pod, type: 'Ingress' | 'Egress', other: Pod) => {
    if (pod.namespace !== cellNs) return true;
    const selecting = policies.filter((p) => matches(p.spec.podSelector, pod.labels) && (p.spec.policyTypes ?? []).includes(type));
    if (selecting.length === 0) return true;
    return selecting.some((p) =>
      type === 'Ingress'
        ? (p.spec.ingress ?? []).some((r) => ruleAllows(r, r.from, other, port, protocol, cellNs))
        : (p.spec.egress ?? []).some((r: V1NetworkPolicyEgressRule) => ruleAllows(r, r.to, other, port, protocol, cellNs)),
    );
  };
  return side(from, 'Egress', to) && side(to, 'Ingress', from);
}

function podsOf(cell: Cell) {
  const cellNs = 'cell-eu-west-1a';
  const templateLabels = (name: string) => {
    const workload = (cell.spec.workloads ?? []).find((w) => w.name === name);
    if (!workload) throw new Error(name);
    return buildWorkloadDeployment(cell, workload, { kafkaBootstrap: 'x:9092' }).spec?.template.metadata?.labels ?? {};
  };
  const [coordinator, worker] = buildDatabaseStatefulSets(cell).map((s) => s.spec?.template.metadata?.labels ?? {});
  const strimzi = { 'strimzi.io/cluster': 'eu-west-1a', 'strimzi.io/kind': 'Kafka' };
  return {
    api: { namespace: cellNs, labels: templateLabels('copilot-api'), ip: '10.0.0.1' },
    ingest: { namespace: cellNs, labels: templateLabels('ingest'), ip: '10.0.0.2' },
    static: { namespace: cellNs, labels: templateLabels('static'), ip: '10.0.0.3' },
    broker: { namespace: cellNs, labels: { ...strimzi, 'strimzi.io/name': 'eu-west-1a-kafka', 'strimzi.io/pool-name': 'brokers' }, ip: '10.0.1.1' },
    controller: { namespace: cellNs, labels: { ...strimzi, 'strimzi.io/name': 'eu-west-1a-kafka', 'strimzi.io/pool-name': 'controllers' }, ip: '10.0.1.2' },
    entityOperator: { namespace: cellNs, labels: { ...strimzi, 'strimzi.io/name': 'eu-west-1a-entity-operator' }, ip: '10.0.1.3' },
    coordinator: { namespace: cellNs, labels: coordinator ?? {}, ip: '10.0.2.1' },
    worker: { namespace: cellNs, labels: worker ?? {}, ip: '10.0.2.2' },
    operator: { namespace: 'cell-operator-system', labels: { app: 'cell-operator' }, ip: '10.0.3.1' },
    router: { namespace: 'gateways', labels: { app: 'envoy' }, ip: '10.0.4.1' },
    kubeDns: { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' }, ip: '10.0.5.1' },
    apiServer: { labels: {}, ip: '172.18.0.2' },
    internet: { labels: {}, ip: '93.184.216.34' },
  } satisfies Record<string, Pod>;
}

const spec = {
  ...EXAMPLE_CELL_SPEC,
  workloads: [
    ...EXAMPLE_CELL_SPEC.workloads,
    // Neither Kafka nor the database: a static web front.
    { name: 'static', image: 'registry.example.com/static:1', port: 8081, database: false },
  ],
};

describe('the NetworkPolicies of a cell', () => {
  const cell = exampleCell(spec);
  const policies = buildNetworkPolicies(cell, { operatorNamespace: 'cell-operator-system' });
  const pods = podsOf(cell);
  const can = (from: keyof typeof pods, to: keyof typeof pods, port: number, protocol = 'TCP') =>
    allowed(policies, 'cell-eu-west-1a', pods[from], pods[to], port, protocol);

  it('starts from a default deny of ingress and egress for every pod of the namespace', () => {
    expect(policies[0]?.metadata?.name).toBe('default-deny');
    expect(policies[0]?.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
    expect(policies.every((p) => p.metadata?.namespace === 'cell-eu-west-1a')).toBe(true);
  });

  it('lets every pod resolve names in kube-system over UDP and TCP 53, and nowhere else', () => {
    for (const pod of ['api', 'ingest', 'static', 'broker', 'coordinator', 'entityOperator'] as const) {
      expect(can(pod, 'kubeDns', 53, 'UDP')).toBe(true);
      expect(can(pod, 'kubeDns', 53, 'TCP')).toBe(true);
      expect(can(pod, 'router', 53, 'UDP')).toBe(false);
    }
  });

  it('lets only the workloads that use Kafka reach the listeners on 9092 and 9093', () => {
    for (const port of [9092, 9093]) {
      expect(can('api', 'broker', port)).toBe(true);
      expect(can('ingest', 'broker', port)).toBe(true);
      expect(can('static', 'broker', port)).toBe(false);
      expect(can('coordinator', 'broker', port)).toBe(false);
      expect(can('router', 'broker', port)).toBe(false);
    }
    // Not the replication or control-plane ports.
    expect(can('api', 'broker', 9091)).toBe(false);
    expect(can('api', 'controller', 9090)).toBe(false);
  });

  it('lets Kafka pods talk among themselves on any port, and the entity operator reach the API server', () => {
    expect(can('broker', 'controller', 9090)).toBe(true);
    expect(can('controller', 'broker', 9091)).toBe(true);
    expect(can('entityOperator', 'broker', 9091)).toBe(true);
    expect(can('entityOperator', 'apiServer', 6443)).toBe(true);
    expect(can('entityOperator', 'apiServer', 443)).toBe(true);
    expect(can('broker', 'apiServer', 6443)).toBe(false);
    expect(can('api', 'apiServer', 443)).toBe(false);
  });

  it('lets database clients, the database pods and the operator namespace reach the coordinator on 5432 only', () => {
    expect(can('api', 'coordinator', 5432)).toBe(true);
    expect(can('ingest', 'coordinator', 5432)).toBe(true);
    expect(can('static', 'coordinator', 5432)).toBe(false);
    expect(can('operator', 'coordinator', 5432)).toBe(true);
    expect(can('operator', 'coordinator', 22)).toBe(false);
    expect(can('router', 'coordinator', 5432)).toBe(false);
    expect(can('broker', 'coordinator', 5432)).toBe(false);
    // Workers are reached by the coordinator (and each other), not by clients.
    expect(can('coordinator', 'worker', 5432)).toBe(true);
    expect(can('worker', 'coordinator', 5432)).toBe(true);
    expect(can('worker', 'worker', 5432)).toBe(true);
    expect(can('api', 'worker', 5432)).toBe(false);
    expect(can('operator', 'worker', 5432)).toBe(false);
  });

  it("lets any pod of the cluster reach a workload's declared port, and nothing else of it", () => {
    expect(can('router', 'api', 8080)).toBe(true);
    expect(can('router', 'static', 8081)).toBe(true);
    expect(can('router', 'api', 8081)).toBe(false);
    expect(can('router', 'ingest', 8080)).toBe(false);
    expect(can('internet', 'api', 8080)).toBe(false);
  });

  it('lets no cell pod reach the outside world or other namespaces', () => {
    for (const pod of ['api', 'ingest', 'static', 'broker', 'coordinator', 'worker'] as const) {
      expect(can(pod, 'internet', 443)).toBe(false);
      expect(can(pod, 'router', 8080)).toBe(false);
    }
  });
});

describe('the NetworkPolicies of a cell with an external database', () => {
  const external = (host: string) =>
    exampleCell({
      ...spec,
      database: { external: { host, port: 6432, database: 'telemetry', secretRef: { name: 'legacy-db', namespace: 'legacy' } } },
    });

  it('has no policies for in-cluster database pods', () => {
    const names = buildNetworkPolicies(external('db.example.com'), { operatorNamespace: 'ops' }).map((p) => p.metadata?.name);
    expect(names).not.toContain('database-internal');
    expect(names).not.toContain('database-from-operator');
    expect(names).toContain('clients-to-database');
  });

  it('lets database clients reach an IPv4 server on its port and nothing else', () => {
    const cell = external('10.20.30.40');
    const policies = buildNetworkPolicies(cell, { operatorNamespace: 'ops' });
    const pods = podsOf(cell);
    const db: Pod = { labels: {}, ip: '10.20.30.40' };
    expect(allowed(policies, 'cell-eu-west-1a', pods.api, db, 6432)).toBe(true);
    expect(allowed(policies, 'cell-eu-west-1a', pods.api, db, 5432)).toBe(false);
    expect(allowed(policies, 'cell-eu-west-1a', pods.api, pods.internet, 6432)).toBe(false);
  });

  it('can only name the port of a server given by host name', () => {
    const policy = buildNetworkPolicies(external('db.example.com'), { operatorNamespace: 'ops' }).find((p) => p.metadata?.name === 'clients-to-database');
    expect(policy?.spec.egress).toEqual([{ ports: [{ protocol: 'TCP', port: 6432 }] }]);
  });
});
