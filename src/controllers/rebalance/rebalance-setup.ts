// Wires the CellRebalancePolicy controller: its informer, the Migrations it creates and follows
// (a change to one wakes the policy that made it, or every policy when someone else's Migration
// changes: it may free or hold their cells), the pins, and the cells' databases for sampling.
import { whenDatabase, type ControlPlane } from '../../control-plane.js';
import { CELL_REBALANCE_POLICY_RESOURCE, CUSTOMER_PLACEMENT_RESOURCE, MIGRATION_RESOURCE } from '../../crds/resources.js';
import type { CellDatabases } from '../../data/table-plans.js';
import type { Logger } from '../../log.js';
import { Applier } from '../../runtime/apply.js';
import { watch } from '../../runtime/controller.js';
import type { Manager } from '../../runtime/manager.js';
import { LABEL_REBALANCE_POLICY } from './rebalance-decision.js';
import { RebalanceReconciler } from './rebalance-reconciler.js';

export interface RebalanceSetupDeps {
  controlPlane: ControlPlane;
  /** The cells' databases (the Migration controller's pools), for sampling sizes. */
  cells: CellDatabases;
  concurrency: number;
  log: Logger;
}

export function setupRebalanceController(manager: Manager, deps: RebalanceSetupDeps): void {
  const policies = manager.informer(CELL_REBALANCE_POLICY_RESOURCE);
  const migrations = manager.informer(MIGRATION_RESOURCE);
  const placements = manager.informer(CUSTOMER_PLACEMENT_RESOURCE);
  const reconciler = new RebalanceReconciler({
    client: manager.client,
    policies,
    migrations,
    placements,
    applier: new Applier({ client: manager.client, caches: [migrations], logger: deps.log }),
    events: manager.events,
    get store() {
      return deps.controlPlane.pool;
    },
    cells: deps.cells,
    log: deps.log.child({ controller: 'rebalance' }),
  });
  const policiesOf = (m: { metadata?: { labels?: Record<string, string> } }) => {
    const own = m.metadata?.labels?.[LABEL_REBALANCE_POLICY];
    return own ? [own] : policies.list().map((p) => p.metadata.name ?? '');
  };
  const reconcile = whenDatabase(deps.controlPlane, (key) => reconciler.reconcile(key));
  manager.control({ name: 'rebalance', informer: policies, watches: [watch(migrations, policiesOf)], reconcile }, deps);
}
