// The CustomerPlacement status from the routing table's answer: where the customer lives, its
// state and epoch, and the conditions Placed, Drifted (spec.cell or spec.region disagree with the
// table) and Ready. Pure: the answer and the time come in as arguments.
import type { CustomerPlacement, CustomerPlacementStatus } from '../../crds/customer-placement.js';
import { PLACEMENT_CONDITIONS } from '../../crds/customer-placement.js';
import { kstatusConditions, replaceConditions, type Condition, type ConditionInput } from '../../runtime/conditions.js';
import { kubeTime } from '../../runtime/kube-time.js';
import type { PlaceResult, PlacementDifference } from '../../store/placements.js';

/** What the reconciler learnt: the result of placing, or that there is no routing table to ask. */
export type PlacementAnswer = PlaceResult | { status: 'NoControlPlane' };

/**
 * Region, cell and label differences are drift: the routing table keeps what the first placement
 * wrote (only a Migration changes the cell; labels, which Migration selectors read, never change).
 * expectedDevices, and labels on an object that has none, are informational.
 */
function drift(differences: readonly PlacementDifference[]): PlacementDifference[] {
  // A CustomerPlacement without labels (a customer onboarded through the API, pinned in Git later) asks for none.
  const asksForLabels = (d: PlacementDifference) => Object.keys((d.requested ?? {}) as Record<string, string>).length > 0;
  return differences.filter((d) => d.field === 'cell' || d.field === 'region' || (d.field === 'labels' && asksForLabels(d)));
}

/** One sentence per difference, with what a person can do about it. */
function describe(d: PlacementDifference, cell: string): string {
  if (d.field === 'labels') {
    return `metadata.labels are ${JSON.stringify(d.requested)} but the routing table, which Migration selectors read, keeps the labels of the first placement: ${JSON.stringify(d.actual)}. Select this customer by name (spec.customers.names) instead.`;
  }
  if (d.field === 'region' && d.actual === null) {
    return `spec.region asks for ${JSON.stringify(d.requested)} but the customer was placed bound to no region, and a placed customer is never bound later (a Migration moves it, it does not bind it). Delete this CustomerPlacement and apply it again without spec.region: the customer stays where it lives.`;
  }
  return `spec.${d.field} asks for ${JSON.stringify(d.requested)} but the customer lives in ${d.field} ${JSON.stringify(d.actual)}. Placement is sticky: create a Migration from ${cell} to move the customer with its data.`;
}

export function placementStatus(cp: CustomerPlacement, answer: PlacementAnswer, now: Date): CustomerPlacementStatus {
  const generation = cp.metadata.generation;
  const inputs: ConditionInput[] = [];
  let status: CustomerPlacementStatus = {};
  let message: string | undefined;

  switch (answer.status) {
    case 'Created':
    case 'Existing': {
      const p = answer.placement;
      const drifted = answer.status === 'Existing' ? drift(answer.differences) : [];
      status = { cell: p.cell, ...(p.region ? { region: p.region } : {}), state: p.state, epoch: p.epoch, placedAt: kubeTime(p.createdAt) };
      inputs.push({ type: PLACEMENT_CONDITIONS.placed, status: 'True', reason: 'Placed', message: `The customer lives in cell ${p.cell}.` });
      if (drifted.length > 0) {
        message = drifted.map((d) => describe(d, p.cell)).join(' ');
        inputs.push({ type: PLACEMENT_CONDITIONS.drifted, status: 'True', reason: 'SpecDiffersFromRoutingTable', message });
      } else {
        inputs.push({ type: PLACEMENT_CONDITIONS.drifted, status: 'False', reason: 'InSync', message: 'The routing table agrees with spec.' });
      }
      inputs.push(
        p.state === 'Active'
          ? { type: PLACEMENT_CONDITIONS.ready, status: 'True', reason: 'Active', message: `Requests for the customer are routed to cell ${p.cell}.` }
          : {
              type: PLACEMENT_CONDITIONS.ready,
              status: 'False',
              reason: 'Fenced',
              message: `A migration is cutting the customer over from cell ${p.cell}; the router answers 503 with Retry-After until it ends.`,
            },
      );
      break;
    }
    case 'Unschedulable':
      status = { state: 'Unschedulable' };
      message = `No cell can take the customer: ${answer.reason}`;
      inputs.push({ type: PLACEMENT_CONDITIONS.placed, status: 'False', reason: 'Unschedulable', message });
      inputs.push({ type: PLACEMENT_CONDITIONS.ready, status: 'False', reason: 'Unschedulable', message });
      break;
    case 'Invalid':
      status = { state: 'Pending' };
      message = `The placement request is invalid: ${answer.problems.join('; ')}`;
      inputs.push({ type: PLACEMENT_CONDITIONS.placed, status: 'False', reason: 'InvalidRequest', message });
      inputs.push({ type: PLACEMENT_CONDITIONS.ready, status: 'False', reason: 'InvalidRequest', message });
      break;
    case 'NoControlPlane':
      status = { state: 'Pending' };
      message = 'The operator runs without a control-plane database (--database-url), so nothing is placed.';
      inputs.push({ type: PLACEMENT_CONDITIONS.placed, status: 'False', reason: 'NoControlPlane', message });
      inputs.push({ type: PLACEMENT_CONDITIONS.ready, status: 'False', reason: 'NoControlPlane', message });
      break;
  }

  // kstatus, as Argo CD's health check reads it: a person must act when the customer cannot be
  // placed (no eligible cell, an invalid request, no control plane) or drifted from its spec; a
  // customer fenced by a migration is work in progress.
  const placed = inputs.find((i) => i.type === PLACEMENT_CONDITIONS.placed);
  const drifted = inputs.find((i) => i.type === PLACEMENT_CONDITIONS.drifted && i.status === 'True');
  const stalled = drifted ?? (placed?.status === 'False' ? placed : undefined);
  const moving = status.state === 'Fenced' ? inputs.find((i) => i.type === PLACEMENT_CONDITIONS.ready) : undefined;
  // Drifted only means something while the customer is placed: it is in `inputs` only then.
  const conditions = replaceConditions(cp.status?.conditions as Condition[] | undefined, [...inputs, ...kstatusConditions(stalled, moving)], now, generation);
  return {
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    ...status,
    conditions,
    ...(message ? { message } : {}),
  };
}
