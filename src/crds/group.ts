// The API group, version and names of the three kinds: the one place other modules (RBAC, clients,
// the CRD generator) read them from, so a rename cannot leave a stale copy behind.

export const GROUP = 'cells.platform.io';
export const VERSION = 'v1alpha1';
export const API_VERSION = `${GROUP}/${VERSION}` as const;

/** `kubectl get cells-platform` lists every kind of the operator at once. */
export const CATEGORY = 'cells-platform';

export interface KindNames {
  readonly kind: string;
  readonly listKind: string;
  readonly plural: string;
  readonly singular: string;
  readonly shortNames: readonly string[];
}

// Short names avoid the built-in ones (`cs` is componentstatuses, `cm` configmaps, `ep` endpoints),
// kubectl's commands (`cp`) and Cluster API's (`cl` is its Cluster, which cells may run on).
export const CELL = {
  kind: 'Cell',
  listKind: 'CellList',
  plural: 'cells',
  singular: 'cell',
  shortNames: ['cel'],
} as const satisfies KindNames;

export const CUSTOMER_PLACEMENT = {
  kind: 'CustomerPlacement',
  listKind: 'CustomerPlacementList',
  plural: 'customerplacements',
  singular: 'customerplacement',
  shortNames: ['cpl'],
} as const satisfies KindNames;

export const MIGRATION = {
  kind: 'Migration',
  listKind: 'MigrationList',
  plural: 'migrations',
  singular: 'migration',
  shortNames: ['mig'],
} as const satisfies KindNames;

export const CELL_REBALANCE_POLICY = {
  kind: 'CellRebalancePolicy',
  listKind: 'CellRebalancePolicyList',
  plural: 'cellrebalancepolicies',
  singular: 'cellrebalancepolicy',
  shortNames: ['crbp'],
} as const satisfies KindNames;

export const CELL_RELEASE = {
  kind: 'CellRelease',
  listKind: 'CellReleaseList',
  plural: 'cellreleases',
  singular: 'cellrelease',
  shortNames: ['crel'],
} as const satisfies KindNames;

/** The CRD object name of a kind: `<plural>.<group>`. */
export function crdName(names: KindNames): string {
  return `${names.plural}.${GROUP}`;
}

/** Labels every child object of a Cell carries (cost tracking, selection, ownership at a glance). */
export const LABEL_MANAGED_BY = 'app.kubernetes.io/managed-by';
export const MANAGED_BY = 'cell-operator';
export const LABEL_CELL = `${GROUP}/cell`;
