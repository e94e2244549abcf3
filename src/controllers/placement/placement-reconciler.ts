// The CustomerPlacement reconciler: places the customer through the same code as the router
// (placeCustomer: sticky, capacity reserved in the same transaction) and mirrors the routing
// table's answer into status. It never moves data and never deletes the row: deleting the object
// leaves the customer where it is.
import type { CustomerPlacement } from '../../crds/customer-placement.js';
import type { Informer } from '../../runtime/informer.js';
import { writeStatus } from '../../runtime/status.js';
import type { ReconcileResult } from '../../runtime/work-queue.js';
import { CUSTOMER_PLACEMENT_RESOURCE } from '../../crds/resources.js';
import type { PlacementStrategy } from '../../store/placement-decision.js';
import { placeCustomer } from '../../store/placements.js';
import { placementStatus, type PlacementAnswer } from './placement-status.js';
import { dateClock } from '../../runtime/clock.js';
import type { ReconcilerDeps } from '../reconciler-deps.js';

/** Unplaced customers are tried again this often (a cell may have become Ready or grown). */
const RETRY_MS = 30_000;
/** Placed ones are mirrored again this often: a migration may have moved or fenced them. */
const MIRROR_MS = 60_000;

export interface PlacementReconcilerDeps extends ReconcilerDeps {
  placements: Informer<CustomerPlacement>;
  strategy?: PlacementStrategy;
}

/** Labels of the object that become the customer's labels in the routing table (selectors of Migrations). */
export function customerLabels(cp: CustomerPlacement): Record<string, string> {
  // Labels in Kubernetes' own namespaces (kubectl, Argo CD tracking) say nothing about the customer.
  return Object.fromEntries(Object.entries(cp.metadata.labels ?? {}).filter(([k]) => !/(^|\.)(kubernetes\.io|k8s\.io|argoproj\.io)\//.test(k)));
}

export class PlacementReconciler {
  private readonly now: () => Date;

  constructor(private readonly deps: PlacementReconcilerDeps) {
    this.now = dateClock(deps.clock);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cp = this.deps.placements.get(key);
    if (!cp || cp.metadata.deletionTimestamp) return; // deleting the object leaves the customer in place
    const answer: PlacementAnswer = this.deps.store
      ? await placeCustomer(
          this.deps.store,
          {
            customerId: cp.metadata.name ?? '',
            region: cp.spec.region ?? null,
            cell: cp.spec.cell ?? null,
            expectedDevices: cp.spec.expectedDevices,
            labels: customerLabels(cp),
          },
          { strategy: this.deps.strategy },
        )
      : { status: 'NoControlPlane' };
    const status = placementStatus(cp, answer, this.now());
    const written = await writeStatus(this.deps.client, CUSTOMER_PLACEMENT_RESOURCE, cp, status);
    if (written === 'written') await this.recordEvent(cp, answer, status.message);
    return { requeueAfter: answer.status === 'Created' || answer.status === 'Existing' ? MIRROR_MS : RETRY_MS };
  }

  private async recordEvent(cp: CustomerPlacement, answer: PlacementAnswer, message: string | undefined): Promise<void> {
    const obj = cp;
    if (answer.status === 'Created') await this.deps.events.normal(obj, 'Placed', `Placed in cell ${answer.placement.cell}.`);
    else if (answer.status === 'Unschedulable') await this.deps.events.warning(obj, 'Unschedulable', message ?? answer.reason);
    else if (answer.status === 'Existing' && message) await this.deps.events.warning(obj, 'Drifted', message);
  }
}
