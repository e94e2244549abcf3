// The REST coordinates of every kind the Cell controller writes, so that the informers, the
// applier and the pruning all name the same resources (the Cell's own are in crds/resources.ts).
import { builtin, type ResourceType } from '../../runtime/resource.js';
import type { CHILD_KINDS } from './cell-children.js';

const strimzi = (kind: string, plural: string): ResourceType => ({ group: 'kafka.strimzi.io', version: 'v1', plural, kind, namespaced: true });

/** Every child kind, keyed by kind; the order of CHILD_KINDS is the apply order. */
export const CHILD_RESOURCES: Record<(typeof CHILD_KINDS)[number]['kind'], ResourceType> = {
  Namespace: builtin.namespace,
  NetworkPolicy: { group: 'networking.k8s.io', version: 'v1', plural: 'networkpolicies', kind: 'NetworkPolicy', namespaced: true },
  Secret: builtin.secret,
  KafkaNodePool: strimzi('KafkaNodePool', 'kafkanodepools'),
  Kafka: strimzi('Kafka', 'kafkas'),
  KafkaTopic: strimzi('KafkaTopic', 'kafkatopics'),
  KafkaUser: strimzi('KafkaUser', 'kafkausers'),
  Service: builtin.service,
  StatefulSet: builtin.statefulSet,
  PodDisruptionBudget: builtin.podDisruptionBudget,
  Deployment: builtin.deployment,
  ConfigMap: builtin.configMap,
  PodMonitor: { group: 'monitoring.coreos.com', version: 'v1', plural: 'podmonitors', kind: 'PodMonitor', namespaced: true },
};

export function childResource(kind: string | undefined): ResourceType {
  const resource = CHILD_RESOURCES[kind as keyof typeof CHILD_RESOURCES];
  if (!resource) throw new Error(`the Cell controller does not manage kind ${kind}`);
  return resource;
}
