// The operator's RBAC rules, the one list that config/rbac/*.yaml and the Helm chart's roles are
// generated from (`npm run gen:rbac`). Exact verbs and resources, no wildcard, each with its reason.
import { CHILD_KINDS } from '../controllers/cell/cell-children.js';
import { CELL, CUSTOMER_PLACEMENT, GROUP, MIGRATION } from '../crds/group.js';
import { builtin } from '../runtime/resource.js';

/** A rbac.authorization.k8s.io/v1 PolicyRule, with why the operator needs it. */
export interface ExplainedRule {
  apiGroups: string[];
  resources: string[];
  verbs: string[];
  resourceNames?: string[];
  why: string;
}

/** The plural (the RBAC resource name) of every kind the Cell controller creates. */
export const CHILD_PLURALS: Readonly<Record<(typeof CHILD_KINDS)[number]['kind'], string>> = {
  Namespace: 'namespaces',
  NetworkPolicy: 'networkpolicies',
  Secret: 'secrets',
  KafkaNodePool: 'kafkanodepools',
  Kafka: 'kafkas',
  KafkaTopic: 'kafkatopics',
  KafkaUser: 'kafkausers',
  Service: 'services',
  StatefulSet: 'statefulsets',
  PodDisruptionBudget: 'poddisruptionbudgets',
  Deployment: 'deployments',
};

/**
 * What the Cell controller does to a child: watch it (informer: list + watch, get for a fresh
 * read), server-side apply it (a PATCH that needs `create` too when the object does not exist yet)
 * and delete it when no longer desired. No `update`: nothing is written with PUT.
 */
export const CHILD_VERBS = ['get', 'list', 'watch', 'create', 'patch', 'delete'] as const;

const apiGroupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');

/** The children, one rule per API group, groups and resources in a stable order. */
function childRules(): ExplainedRule[] {
  const byGroup = new Map<string, Set<string>>();
  for (const { apiVersion, kind } of CHILD_KINDS) {
    const group = apiGroupOf(apiVersion);
    byGroup.set(group, (byGroup.get(group) ?? new Set()).add(CHILD_PLURALS[kind]));
  }
  return [...byGroup.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([group, resources]) => ({
      apiGroups: [group],
      resources: [...resources].sort(),
      verbs: [...CHILD_VERBS],
      why:
        group === ''
          ? 'Children of a Cell (CHILD_KINDS), applied and pruned in cell-<name> namespaces that exist only once a Cell does, hence cluster-wide. Secrets: the generated database password is read back so it is never regenerated, and spec.database.external.secretRef may name any namespace.'
          : `Children of a Cell (CHILD_KINDS) in the ${group} group: informers, server-side apply (create + patch), deletion when no longer desired.`,
    }));
}

const OWN_KINDS = [CELL.plural, CUSTOMER_PLACEMENT.plural, MIGRATION.plural];

/** The ClusterRole of the operator. */
export const OPERATOR_RULES: readonly ExplainedRule[] = [
  {
    apiGroups: [GROUP],
    resources: [...OWN_KINDS],
    verbs: ['get', 'list', 'watch', 'patch'],
    why: 'The three kinds: informers, and finalizers added and removed by a merge patch guarded by resourceVersion. The operator never writes spec, so Git stays the truth.',
  },
  {
    apiGroups: [GROUP],
    resources: OWN_KINDS.map((plural) => `${plural}/status`),
    verbs: ['patch'],
    why: 'Status written through the status subresource (a JSON patch replacing status whole).',
  },
  {
    apiGroups: [GROUP],
    resources: [`${CELL.plural}/finalizers`],
    verbs: ['update'],
    why: 'Children carry an owner reference to their Cell with blockOwnerDeletion: true, which the OwnerReferencesPermissionEnforcement admission plugin (OpenShift, hardened clusters) allows only to who may update the owner\'s finalizers. No API call uses it.',
  },
  ...childRules(),
  {
    apiGroups: [builtin.event.group],
    resources: [builtin.event.plural],
    verbs: ['create', 'patch'],
    why: 'Kubernetes Events (events.k8s.io/v1, src/runtime/events.ts) about our objects: created, and patched to bump the series count of a repeat. Those of a cluster-scoped object go to the default namespace, hence cluster-wide.',
  },
];

/** Name of the leader-election Lease when the operator's --lease-name is left at its default. */
export const DEFAULT_LEASE_NAME = 'cell-operator';

/**
 * The Role in the operator's own namespace for leader election. `create` cannot be limited by name
 * (the name is not known to the authorizer before the object exists); get and update can.
 */
export function leaderElectionRules(leaseName: string = DEFAULT_LEASE_NAME): ExplainedRule[] {
  return [
    {
      apiGroups: [builtin.lease.group],
      resources: [builtin.lease.plural],
      verbs: ['create'],
      why: 'The first replica to start creates the leader-election Lease.',
    },
    {
      apiGroups: [builtin.lease.group],
      resources: [builtin.lease.plural],
      resourceNames: [leaseName],
      verbs: ['get', 'update'],
      why: 'Replicas read the Lease; the leader renews it and releases it on shutdown, the others take it over when it expires (an update guarded by resourceVersion).',
    },
  ];
}

/** Every apiGroup, resource, verb and resource name of `rules` that is a wildcard. */
export function wildcards(rules: readonly { apiGroups?: string[]; resources?: string[]; verbs?: string[]; resourceNames?: string[]; nonResourceURLs?: string[] }[]): string[] {
  const found: string[] = [];
  rules.forEach((rule, i) => {
    for (const field of ['apiGroups', 'resources', 'verbs', 'resourceNames', 'nonResourceURLs'] as const) {
      for (const value of rule[field] ?? []) if (value.includes('*')) found.push(`rules[${i}].${field}: ${JSON.stringify(value)}`);
    }
  });
  return found;
}
