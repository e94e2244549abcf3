// Wires the CustomerPlacement controller: its informer, and what wakes a placement's reconcile (a
// cell that turns Ready or grows may take the customers that could not be placed yet).
import { whenDatabase, type ControlPlane } from '../../control-plane.js';
import { CELL_RESOURCE, CUSTOMER_PLACEMENT_RESOURCE } from '../../crds/resources.js';
import type { Logger } from '../../log.js';
import { watch } from '../../runtime/controller.js';
import type { Manager } from '../../runtime/manager.js';
import { PlacementReconciler } from './placement-reconciler.js';

export interface PlacementSetupDeps {
  controlPlane: ControlPlane;
  concurrency: number;
  log: Logger;
}

export function setupPlacementController(manager: Manager, deps: PlacementSetupDeps): void {
  const placements = manager.informer(CUSTOMER_PLACEMENT_RESOURCE);
  const unplaced = () =>
    placements
      .list()
      .filter((cp) => cp.status?.state !== 'Active' && cp.status?.state !== 'Fenced')
      .map((cp) => cp.metadata.name ?? '');
  const reconciler = new PlacementReconciler({
    client: manager.client,
    placements,
    events: manager.events,
    get store() {
      return deps.controlPlane.pool;
    },
  });
  const reconcile = whenDatabase(deps.controlPlane, (key) => reconciler.reconcile(key));
  manager.control({ name: 'customerplacement', informer: placements, watches: [watch(manager.informer(CELL_RESOURCE), unplaced)], reconcile }, deps);
}
