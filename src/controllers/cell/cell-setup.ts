// Wires the Cell controller: its informer, the informers of its children (one per child kind), and
// what wakes a Cell's reconcile (a child's change, a drain of the cell).
import { LABEL_CELL } from '../../crds/group.js';
import { CELL_RELEASE_RESOURCE, CELL_RESOURCE, MIGRATION_RESOURCE } from '../../crds/resources.js';
import type { Logger } from '../../log.js';
import { Applier } from '../../runtime/apply.js';
import { labelKeysOf, watch, type Controller } from '../../runtime/controller.js';
import { ClusterRegistry } from '../../runtime/cluster-registry.js';
import type { Informer } from '../../runtime/informer.js';
import type { Manager } from '../../runtime/manager.js';
import type { ControlPlane } from '../../control-plane.js';
import type { CellPolicy } from '../../policy/cell-policy.js';
import { CHILD_KINDS, UNWATCHED_CHILD_KINDS } from './cell-children.js';
import { CHILD_LABEL_SELECTOR, CellReconciler } from './cell-reconciler.js';
import { childResource } from './child-resources.js';
import { CellClusters } from './cell-clusters.js';

export interface CellSetupDeps {
  controlPlane: ControlPlane;
  /** Strimzi's kinds get informers only when its API is served at start. */
  withStrimzi: boolean;
  /** CellReleases are overlaid only when their CRD is served at start. */
  withReleases?: boolean;
  /** PodMonitors only when the Prometheus Operator's API is served at start. */
  withMonitoring: boolean;
  /** What Cells may reach (namespaces, Secrets). */
  policy: CellPolicy;
  operatorNamespace: string;
  concurrency: number;
  log: Logger;
}

/** Adds the Cell controller to the manager; returns the children's informers. */
export function setupCellController(manager: Manager, deps: CellSetupDeps): { children: Map<string, Informer>; clusters: ClusterRegistry } {
  const children = new Map<string, Informer>();
  const watchedKinds: string[] = [];
  for (const { kind, apiVersion } of CHILD_KINDS) {
    if (!deps.withStrimzi && apiVersion.startsWith('kafka.strimzi.io/')) continue;
    if (UNWATCHED_CHILD_KINDS.has(kind)) continue; // read by name: no list/watch on Secrets and ConfigMaps (rules.ts)
    if (!deps.withMonitoring && apiVersion === 'monitoring.coreos.com/v1') continue;
    watchedKinds.push(kind);
    children.set(kind, manager.informer(childResource(kind), { labelSelector: CHILD_LABEL_SELECTOR }));
  }
  const cells = manager.informer(CELL_RESOURCE);
  const applier = new Applier({ client: manager.client, caches: children.values(), readBeforeApply: UNWATCHED_CHILD_KINDS, logger: deps.log });
  // Cells with spec.cluster: the same child informers in each cell cluster, started with its first Cell.
  const wake: { controller?: Controller } = {};
  const registry = new ClusterRegistry({
    client: manager.client,
    informers: watchedKinds.map((kind) => ({ key: kind, resource: childResource(kind), labelSelector: CHILD_LABEL_SELECTOR })),
    onEvent: (obj) => labelKeysOf(LABEL_CELL)(obj).forEach((key) => wake.controller?.enqueue(key)),
    userAgent: `cell-operator (${manager.identity})`,
    logger: deps.log,
    onWatchRestart: (resource, reason) => manager.metrics.watchRestarts.inc({ resource, reason }),
  });
  // A release reaching or leaving a cell changes what the cell runs: its status names the cells.
  const releases = deps.withReleases === false ? undefined : manager.informer(CELL_RELEASE_RESOURCE);
  const reconciler = new CellReconciler({
    client: manager.client,
    applier,
    clusters: new CellClusters({ client: manager.client, applier, children }, registry, deps.operatorNamespace, deps.log),
    cells,
    children,
    ...(releases ? { releases } : {}),
    events: manager.events,
    // Read on every reconcile: undefined until the database answers (customer counts 0 meanwhile).
    get store() {
      return deps.controlPlane.pool;
    },
    operatorNamespace: deps.operatorNamespace,
    policy: deps.policy,
    log: deps.log,
  });
  // A drain cordons its source, and lifts the cordon when aborted or deleted; each of those writes
  // the Migration (its status, its finalizer), so following drains shows the cordon on the Cell.
  const migrations = manager.informer(MIGRATION_RESOURCE);
  const watches = [
    ...[...children.values()].map((informer) => ({ informer, toKeys: labelKeysOf(LABEL_CELL) })),
    watch(migrations, (m) => (m.spec?.customers?.all ? [m.spec.from] : [])),
    ...(releases ? [watch(releases, (r) => (r.status?.cells ?? []).map((e) => e.name))] : []),
  ];
  wake.controller = manager.control({ name: 'cell', informer: cells, watches, reconcile: (key) => reconciler.reconcile(key) }, deps);
  return { children, clusters: registry };
}
