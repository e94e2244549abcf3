// Wires the Migration controller: its informer, the pools to the cells' databases its moves use,
// and what wakes a Migration's reconcile (a change to a cell it moves from or to).
import { CELL_RESOURCE, CUSTOMER_PLACEMENT_RESOURCE, MIGRATION_RESOURCE } from '../../crds/resources.js';
import { whenDatabase, type ControlPlane } from '../../control-plane.js';
import { CellPools } from '../../data/cell-pools.js';
import type { KafkaDrainOptions } from '../../data/kafka-drain.js';
import type { CellPolicy } from '../../policy/cell-policy.js';
import type { Logger } from '../../log.js';
import { watch } from '../../runtime/controller.js';
import type { KubeClient } from '../../runtime/kube-client.js';
import type { Cell } from '../../crds/cell.js';
import type { Manager } from '../../runtime/manager.js';
import { MigrationReconciler } from './migration-reconciler.js';

export interface MigrationSetupDeps {
  controlPlane: ControlPlane;
  /** What a cell's external database Secret may be (read by name, never listed). */
  policy: CellPolicy;
  /** The Kafka drain under the fence, when the operator is configured for it. */
  kafka?: KafkaDrainOptions;
  concurrency: number;
  log: Logger;
  /** The client of a cell's own cluster (Cell.spec.cluster), for its generated database Secret. */
  cellClient?: (cell: Cell) => KubeClient | undefined;
}

/** Adds the Migration controller; returns the cells' database pools, for the caller to close at shutdown. */
export function setupMigrationController(manager: Manager, deps: MigrationSetupDeps): { cellPools: CellPools } {
  const cells = manager.informer(CELL_RESOURCE);
  const migrations = manager.informer(MIGRATION_RESOURCE);
  // A split (customers.preferTarget) leaves pinned customers where their pin says.
  const placements = manager.informer(CUSTOMER_PLACEMENT_RESOURCE);
  const pinnedCustomers = () => new Set(placements.list().flatMap((p) => (p.spec.cell ? [p.metadata.name ?? ''] : [])));
  const cellPools = new CellPools(manager.client, cells, undefined, deps.policy, deps.cellClient ? { cellClient: deps.cellClient } : {});
  // A change to a cell (Ready, capacity) may open a gate of the migrations from or to it; waiting
  // for the cells' cache also keeps a move from looking for a cell before the cache knows it.
  const touching = (cell: { metadata?: { name?: string } }) =>
    migrations
      .list()
      .filter((m) => m.spec.from === cell.metadata?.name || m.spec.to === cell.metadata?.name)
      .map((m) => m.metadata.name ?? '');
  const reconciler = new MigrationReconciler({
    client: manager.client,
    migrations,
    events: manager.events,
    get store() {
      return deps.controlPlane.pool;
    },
    cellPools,
    registry: manager.metrics.registry,
    log: deps.log,
    pinnedCustomers,
    ...(deps.kafka ? { kafka: deps.kafka } : {}),
  });
  const reconcile = whenDatabase(deps.controlPlane, (key) => reconciler.reconcile(key));
  manager.control({ name: 'migration', informer: migrations, watches: [watch(cells, touching)], reconcile }, deps);
  return { cellPools };
}
