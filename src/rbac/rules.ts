// The operator's RBAC rules, the one list that config/rbac/*.yaml and the Helm chart's roles are
// generated from (`npm run gen:rbac`). Exact verbs and resources, no wildcard, each with its reason.
import { CHILD_KINDS, UNWATCHED_CHILD_KINDS } from '../controllers/cell/cell-children.js';
import { CELL, CELL_REBALANCE_POLICY, CELL_RELEASE, CUSTOMER_PLACEMENT, GROUP, MIGRATION } from '../crds/group.js';
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
  ConfigMap: 'configmaps',
  PodMonitor: 'podmonitors',
};

/**
 * What the Cell controller does to a child: watch it (informer: list + watch), server-side apply it
 * (a PATCH that needs `create` too when the object does not exist yet), and delete it when the spec
 * no longer asks for it (kinds marked `pruned` in CHILD_KINDS). No `update`: nothing is written with
 * PUT. Kinds in UNWATCHED_CHILD_KINDS (Secrets, ConfigMaps) have no informer: `get` by name instead
 * of list and watch, so the operator cannot enumerate the cluster's Secrets or ConfigMaps.
 */
export function childVerbs(child: { kind: string; pruned: boolean }): string[] {
  const read = UNWATCHED_CHILD_KINDS.has(child.kind) ? ['get'] : ['list', 'watch'];
  return [...read, 'create', 'patch', ...(child.pruned ? ['delete'] : [])];
}

const apiGroupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');

function childWhy(group: string, verbs: string[], kinds: string[]): string {
  const parts = [`Children of a Cell (${kinds.join(', ')} of CHILD_KINDS)`];
  parts.push(group === '' ? 'in the core group, cluster-wide since the cell-<name> namespaces come and go with Cells' : `in the ${group} group`);
  const does = [verbs.includes('get') ? 'read by name, never listed nor watched' : 'informers', 'server-side apply (create + patch)'];
  if (verbs.includes('delete')) does.push('deletion when the spec no longer asks for them');
  else does.push('never deleted by the operator (they live as long as the Cell)');
  let why = `${parts.join(' ')}: ${does.join(', ')}.`;
  if (verbs.includes('get')) {
    why +=
      " Secrets: the cell's database Secret is read back by name so that its generated password is never regenerated; an external database's secretRef, and its caRef when it is a Secret, are read by name only when the operator's policy allows their namespace (the operator's, the cell's, or --allowed-namespaces). ConfigMaps: the cell's Kafka metrics ConfigMap is read by name before it is applied, and an external database's caRef when it is a ConfigMap, under the same policy. No list or watch: the operator cannot enumerate Secrets or ConfigMaps. create and patch stay cluster-wide: the cell namespaces are created by the operator, and a Role in each would need the same rights (or escalate/bind) cluster-wide first (docs/security.md).";
  }
  return why;
}

/**
 * Rules for the children, one per API group and set of verbs (`verbsOf` a child), in a stable
 * order, each explained by `why` (its group, verbs and kinds).
 */
export function groupedChildRules(verbsOf: (child: (typeof CHILD_KINDS)[number]) => string[], why: (group: string, verbs: string[], kinds: string[]) => string): ExplainedRule[] {
  const byGrant = new Map<string, { group: string; verbs: string[]; resources: Set<string>; kinds: string[] }>();
  for (const child of CHILD_KINDS) {
    const group = apiGroupOf(child.apiVersion);
    const verbs = verbsOf(child);
    const key = `${group}|${verbs.join(',')}`;
    const entry = byGrant.get(key) ?? { group, verbs, resources: new Set<string>(), kinds: [] };
    entry.resources.add(CHILD_PLURALS[child.kind]);
    entry.kinds.push(child.kind);
    byGrant.set(key, entry);
  }
  return [...byGrant.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, { group, verbs, resources, kinds }]) => ({ apiGroups: [group], resources: [...resources].sort(), verbs, why: why(group, verbs, kinds) }));
}

/** The children in the operator's own cluster. */
function childRules(): ExplainedRule[] {
  return groupedChildRules(childVerbs, childWhy);
}

const OWN_KINDS = [CELL.plural, CUSTOMER_PLACEMENT.plural, MIGRATION.plural, CELL_REBALANCE_POLICY.plural, CELL_RELEASE.plural];

/** The ClusterRole of the operator. */
export const OPERATOR_RULES: readonly ExplainedRule[] = [
  {
    apiGroups: [GROUP],
    resources: [CELL.plural, MIGRATION.plural],
    verbs: ['list', 'watch', 'patch'],
    why: 'Cells and Migrations: informers, and their finalizers added and removed by a merge patch guarded by resourceVersion. The operator never writes spec, so Git stays the truth.',
  },
  {
    apiGroups: [GROUP],
    resources: [CUSTOMER_PLACEMENT.plural],
    verbs: ['list', 'watch'],
    why: 'CustomerPlacements: an informer only (no finalizer: deleting one leaves the customer in the routing table).',
  },
  {
    apiGroups: [GROUP],
    resources: [CELL_REBALANCE_POLICY.plural],
    verbs: ['list', 'watch'],
    why: 'CellRebalancePolicies: an informer only (their Migrations are not owned: deleting a policy never stops a move).',
  },
  {
    apiGroups: [GROUP],
    resources: [MIGRATION.plural],
    verbs: ['create'],
    why: 'A CellRebalancePolicy runs an approved proposal as Migrations, by server-side apply (a PATCH that needs create for a new object).',
  },
  {
    apiGroups: [GROUP],
    resources: [CELL_RELEASE.plural],
    verbs: ['list', 'watch', 'patch'],
    why: 'CellReleases: an informer for the release controller and for the Cell controller, which overlays the versions on the cells a release names as reached; a finalizer (merge patch guarded by resourceVersion) so that a deleted release withdraws its versions in waves, the last reached cell first. The operator never writes spec.',
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
    why: 'Children carry an owner reference to their Cell with blockOwnerDeletion: true, which the OwnerReferencesPermissionEnforcement admission plugin (OpenShift, hardened clusters; enabled on the e2e API server) allows only to who may update the owner\'s finalizers. No request of its own uses it.',
  },
  ...childRules(),
  {
    apiGroups: [builtin.event.group],
    resources: [builtin.event.plural],
    verbs: ['create', 'patch'],
    why: 'Kubernetes Events (events.k8s.io/v1, src/runtime/events.ts) about our objects: created, and patched to bump the series count of a repeat. Those of a cluster-scoped object go to the default namespace, hence cluster-wide.',
  },
];

/**
 * The ClusterRoles for people, aggregated into Kubernetes' user-facing roles: `cells-admin` into
 * `admin` and `edit` (write Cells, CustomerPlacements and Migrations, e.g. promote or abort a
 * migration), `cells-view` into `view` (read them and their status). Status stays the operator's.
 */
export const USER_ROLES = {
  admin: {
    aggregateTo: ['admin', 'edit'],
    rules: [
      {
        apiGroups: [GROUP],
        resources: OWN_KINDS,
        verbs: ['get', 'list', 'watch', 'create', 'update', 'patch', 'delete', 'deletecollection'],
        why: 'People who may edit: create cells, migrations and releases, promote, pause, abort or retry a migration or a release, pin customers.',
      },
      { apiGroups: [GROUP], resources: OWN_KINDS.map((plural) => `${plural}/status`), verbs: ['get'], why: 'Status is written by the operator only.' },
    ],
  },
  view: {
    aggregateTo: ['view'],
    rules: [
      { apiGroups: [GROUP], resources: [...OWN_KINDS, ...OWN_KINDS.map((plural) => `${plural}/status`)], verbs: ['get', 'list', 'watch'], why: 'Read-only: the cells, the pinned customers, the migrations and the releases, with their status.' },
    ],
  },
} as const satisfies Record<string, { aggregateTo: string[]; rules: ExplainedRule[] }>;

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
