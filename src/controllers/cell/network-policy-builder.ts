// The cell's NetworkPolicies: deny everything, then allow exactly the flows a cell needs (DNS,
// Kafka among itself, clients to Kafka and to the database, the operator to the database, the
// cluster to the workloads' ports).
import type {
  V1LabelSelector,
  V1NetworkPolicy,
  V1NetworkPolicyIngressRule,
  V1NetworkPolicyPeer,
  V1NetworkPolicyPort,
  V1NetworkPolicySpec,
} from '@kubernetes/client-node';
import { isIPv4 } from 'node:net';
import type { Cell, WorkloadSpec } from '../../crds/cell.js';
import { LABEL_CELL } from '../../crds/group.js';
import { childMetadata, LABEL_COMPONENT, LABEL_DATABASE_CLIENT, LABEL_KAFKA_CLIENT, selectorLabels } from './labels.js';
import {
  cellName,
  DATABASE_PORT,
  databaseCoordinatorName,
  KAFKA_PLAIN_LISTENER,
  KAFKA_TLS_LISTENER,
  kafkaName,
  NETWORK_POLICY_NAMES as NAMES,
  workloadIngressPolicyName,
} from '../../crds/cell-names.js';

// client-node's model calls `from` `_from` (its serializer renames it); the objects built here are
// the JSON sent to the API server as they are, so they use the wire name.
export type NetworkPolicyIngressRule = Omit<V1NetworkPolicyIngressRule, '_from'> & { from?: V1NetworkPolicyPeer[] };
export type NetworkPolicySpec = Omit<V1NetworkPolicySpec, 'ingress'> & { ingress?: NetworkPolicyIngressRule[] };
export type NetworkPolicy = Omit<V1NetworkPolicy, 'spec'> & { spec: NetworkPolicySpec };

export interface NetworkPolicyInputs {
  /** The namespace the operator runs in: it alone may reach the database from outside the cell. */
  operatorNamespace: string;
}

const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';
/** The API server's ports: 443 on the `kubernetes` Service, 6443 on kind and kubeadm endpoints. */
export const API_SERVER_PORTS = [443, 6443] as const;
/** Strimzi labels every pod of a Kafka cluster (brokers, controllers, entity operator) with this. */
export const STRIMZI_CLUSTER_LABEL = 'strimzi.io/cluster';
const STRIMZI_NAME_LABEL = 'strimzi.io/name';

function tcp(port: number): V1NetworkPolicyPort {
  return { protocol: 'TCP', port };
}

function namespaceNamed(name: string): V1NetworkPolicyPeer {
  return { namespaceSelector: { matchLabels: { [NAMESPACE_NAME_LABEL]: name } } };
}

function policy(cell: Cell, name: string, spec: NetworkPolicySpec): NetworkPolicy {
  return {
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: childMetadata(cell, name, 'network', 'network-policy'),
    spec,
  };
}

function kafkaPods(cell: Cell): V1LabelSelector {
  return { matchLabels: { [STRIMZI_CLUSTER_LABEL]: kafkaName(cell) } };
}

function coordinatorPods(cell: Cell): V1LabelSelector {
  return { matchLabels: selectorLabels(cell, 'database-coordinator', databaseCoordinatorName(cell)) };
}

function databasePods(cell: Cell): V1LabelSelector {
  return {
    matchLabels: { [LABEL_CELL]: cellName(cell) },
    matchExpressions: [{ key: LABEL_COMPONENT, operator: 'In', values: ['database-coordinator', 'database-worker'] }],
  };
}

const kafkaClients: V1LabelSelector = { matchLabels: { [LABEL_KAFKA_CLIENT]: 'true' } };
const databaseClients: V1LabelSelector = { matchLabels: { [LABEL_DATABASE_CLIENT]: 'true' } };
const KAFKA_CLIENT_PORTS = [tcp(KAFKA_PLAIN_LISTENER.port), tcp(KAFKA_TLS_LISTENER.port)];

export function buildNetworkPolicies(cell: Cell, inputs: NetworkPolicyInputs): NetworkPolicy[] {
  const external = cell.spec.database.external;
  const policies: NetworkPolicy[] = [
    // Selects every pod and allows nothing: every other policy adds one flow to this.
    policy(cell, NAMES.defaultDeny, { podSelector: {}, policyTypes: ['Ingress', 'Egress'] }),
    policy(cell, NAMES.dnsEgress, {
      podSelector: {},
      policyTypes: ['Egress'],
      egress: [{ to: [namespaceNamed('kube-system')], ports: [{ protocol: 'UDP', port: 53 }, tcp(53)] }],
    }),
    // Brokers, controllers and the entity operator talk to each other on Strimzi's own ports.
    policy(cell, NAMES.kafkaInternal, {
      podSelector: kafkaPods(cell),
      policyTypes: ['Ingress', 'Egress'],
      ingress: [{ from: [{ podSelector: kafkaPods(cell) }] }],
      egress: [{ to: [{ podSelector: kafkaPods(cell) }] }],
    }),
    // The Topic and User Operators watch KafkaTopics and KafkaUsers; the API server is not a pod,
    // so only its ports can be named.
    policy(cell, NAMES.entityOperatorToApiServer, {
      podSelector: { matchLabels: { [STRIMZI_CLUSTER_LABEL]: kafkaName(cell), [STRIMZI_NAME_LABEL]: `${kafkaName(cell)}-entity-operator` } },
      policyTypes: ['Egress'],
      egress: [{ ports: API_SERVER_PORTS.map(tcp) }],
    }),
    policy(cell, NAMES.kafkaFromClients, {
      podSelector: kafkaPods(cell),
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: kafkaClients }], ports: KAFKA_CLIENT_PORTS }],
    }),
    policy(cell, NAMES.clientsToKafka, {
      podSelector: kafkaClients,
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: kafkaPods(cell) }], ports: KAFKA_CLIENT_PORTS }],
    }),
  ];

  if (external) {
    // An external server is outside the cluster: an IPv4 address can be named, a host name cannot.
    policies.push(
      policy(cell, NAMES.clientsToDatabase, {
        podSelector: databaseClients,
        policyTypes: ['Egress'],
        egress: [{
          ...(isIPv4(external.host) ? { to: [{ ipBlock: { cidr: `${external.host}/32` } }] } : {}),
          ports: [tcp(external.port)],
        }],
      }),
    );
  } else {
    policies.push(
      // Coordinator and workers reach each other: queries, metadata sync, shard moves.
      policy(cell, NAMES.databaseInternal, {
        podSelector: databasePods(cell),
        policyTypes: ['Ingress', 'Egress'],
        ingress: [{ from: [{ podSelector: databasePods(cell) }], ports: [tcp(DATABASE_PORT)] }],
        egress: [{ to: [{ podSelector: databasePods(cell) }], ports: [tcp(DATABASE_PORT)] }],
      }),
      policy(cell, NAMES.databaseFromClients, {
        podSelector: coordinatorPods(cell),
        policyTypes: ['Ingress'],
        ingress: [{ from: [{ podSelector: databaseClients }], ports: [tcp(DATABASE_PORT)] }],
      }),
      // The operator registers workers, checks health and moves customers' rows.
      policy(cell, NAMES.databaseFromOperator, {
        podSelector: coordinatorPods(cell),
        policyTypes: ['Ingress'],
        ingress: [{ from: [namespaceNamed(inputs.operatorNamespace)], ports: [tcp(DATABASE_PORT)] }],
      }),
      policy(cell, NAMES.clientsToDatabase, {
        podSelector: databaseClients,
        policyTypes: ['Egress'],
        egress: [{ to: [{ podSelector: coordinatorPods(cell) }], ports: [tcp(DATABASE_PORT)] }],
      }),
    );
  }

  for (const workload of cell.spec.workloads ?? []) {
    if (workload.port !== undefined) policies.push(workloadIngressPolicy(cell, workload, workload.port));
  }
  return policies;
}

/** Any pod of the cluster (routers, gateways, ingress controllers) may reach a workload's port. */
function workloadIngressPolicy(cell: Cell, workload: WorkloadSpec, port: number): NetworkPolicy {
  return policy(cell, workloadIngressPolicyName(workload), {
    podSelector: { matchLabels: selectorLabels(cell, 'workload', workload.name) },
    policyTypes: ['Ingress'],
    ingress: [{ from: [{ namespaceSelector: {} }], ports: [tcp(port)] }],
  });
}
