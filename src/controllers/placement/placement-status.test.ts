import type { CustomerPlacement } from '../../crds/customer-placement.js';
import type { Placement } from '../../store/placements.js';
import { placementStatus } from './placement-status.js';

const now = new Date('2026-11-28T10:00:00Z');
const later = new Date('2026-11-28T11:00:00Z');

function cp(spec: CustomerPlacement['spec'], status?: CustomerPlacement['status']): CustomerPlacement {
  return { apiVersion: 'cells.platform.io/v1alpha1', kind: 'CustomerPlacement', metadata: { name: 'acme', generation: 2 }, spec, ...(status ? { status } : {}) };
}

const placement: Placement = {
  customerId: 'acme',
  region: 'eu-west-1',
  cell: 'eu-west-1a',
  state: 'Active',
  epoch: 3,
  expectedDevices: 10,
  labels: {},
  version: 7,
  createdAt: new Date('2026-11-01T00:00:00Z'),
  updatedAt: new Date('2026-11-01T00:00:00Z'),
};

const condition = (s: CustomerPlacement['status'], type: string) => s?.conditions?.find((c) => c.type === type);

describe('placementStatus', () => {
  it('mirrors the routing table: cell, region, state, epoch, and Placed/Ready true', () => {
    const status = placementStatus(cp({ expectedDevices: 10 }), { status: 'Created', placement }, now);
    expect(status).toMatchObject({ cell: 'eu-west-1a', region: 'eu-west-1', state: 'Active', epoch: 3, observedGeneration: 2, placedAt: '2026-11-01T00:00:00Z' });
    expect(condition(status, 'Placed')).toMatchObject({ status: 'True', reason: 'Placed' });
    expect(condition(status, 'Ready')).toMatchObject({ status: 'True', reason: 'Active' });
    expect(condition(status, 'Drifted')).toMatchObject({ status: 'False', reason: 'InSync' });
  });

  it('says Drifted, with what to do, when spec.cell differs from where the customer lives', () => {
    const status = placementStatus(
      cp({ cell: 'eu-west-1b', expectedDevices: 10 }),
      { status: 'Existing', placement, differences: [{ field: 'cell', requested: 'eu-west-1b', actual: 'eu-west-1a' }] },
      now,
    );
    expect(status.cell).toBe('eu-west-1a');
    expect(condition(status, 'Drifted')).toMatchObject({ status: 'True', reason: 'SpecDiffersFromRoutingTable' });
    expect(status.message).toContain('create a Migration from eu-west-1a');
  });

  it('does not call a different expectedDevices drift: only a Migration changes cell or region', () => {
    const status = placementStatus(cp({ expectedDevices: 99 }), { status: 'Existing', placement, differences: [{ field: 'expectedDevices', requested: 99, actual: 10 }] }, now);
    expect(condition(status, 'Drifted')?.status).toBe('False');
  });

  it('says Drifted when metadata.labels differ from the labels Migration selectors read in the routing table', () => {
    // A person relabels the CustomerPlacement to have a Migration's selector pick the customer:
    // the routing table keeps the labels of the first placement, so the selector would miss it.
    const status = placementStatus(
      cp({ expectedDevices: 10 }),
      { status: 'Existing', placement: { ...placement, labels: { tier: 'standard' } }, differences: [{ field: 'labels', requested: { tier: 'premium' }, actual: { tier: 'standard' } }] },
      now,
    );
    expect(condition(status, 'Drifted')).toMatchObject({ status: 'True', reason: 'SpecDiffersFromRoutingTable' });
    expect(status.message).toBe(
      'metadata.labels are {"tier":"premium"} but the routing table, which Migration selectors read, keeps the labels of the first placement: {"tier":"standard"}. Select this customer by name (spec.customers.names) instead.',
    );    // An object without labels asks for none: a customer onboarded through the API keeps its own.
    const unlabelled = placementStatus(cp({ expectedDevices: 10 }), { status: 'Existing', placement, differences: [{ field: 'labels', requested: {}, actual: { tier: 'standard' } }] }, now);
    expect(condition(unlabelled, 'Drifted')?.status).toBe('False');
  });

  it('says plainly that a region is not bound to a customer placed without one, and that a Migration does not bind it', () => {
    const status = placementStatus(
      cp({ region: 'eu-west-1', expectedDevices: 10 }),
      { status: 'Existing', placement: { ...placement, region: null }, differences: [{ field: 'region', requested: 'eu-west-1', actual: null }] },
      now,
    );
    expect(condition(status, 'Drifted')).toMatchObject({ status: 'True', reason: 'SpecDiffersFromRoutingTable' });
    expect(status.message).not.toContain('region null');
    expect(status.message).toBe(
      'spec.region asks for "eu-west-1" but the customer was placed bound to no region, and a placed customer is never bound later (a Migration moves it, it does not bind it). Delete this CustomerPlacement and apply it again without spec.region: the customer stays where it lives.',
    );
  });

  it('reports a fenced customer as not Ready while it is cut over', () => {
    const status = placementStatus(cp({ expectedDevices: 10 }), { status: 'Existing', placement: { ...placement, state: 'Fenced' }, differences: [] }, now);
    expect(status.state).toBe('Fenced');
    expect(condition(status, 'Ready')).toMatchObject({ status: 'False', reason: 'Fenced' });
  });

  it('explains an unschedulable customer with the reason of every excluded cell', () => {
    const reason = 'eu-west-1a is full (100/100 customers); us-east-1a is in region us-east-1';
    const status = placementStatus(cp({ region: 'eu-west-1', expectedDevices: 0 }), { status: 'Unschedulable', customerId: 'acme', reason, exclusions: [] }, now);
    expect(status.state).toBe('Unschedulable');
    expect(condition(status, 'Placed')).toMatchObject({ status: 'False', reason: 'Unschedulable' });
    expect(status.message).toContain('eu-west-1a is full');
    expect(condition(status, 'Drifted')).toBeUndefined();
  });

  it('keeps lastTransitionTime when nothing changed and moves it when the status flips', () => {
    const first = placementStatus(cp({ expectedDevices: 10 }), { status: 'Created', placement }, now);
    const same = placementStatus(cp({ expectedDevices: 10 }, first), { status: 'Existing', placement, differences: [] }, later);
    expect(condition(same, 'Ready')?.lastTransitionTime).toBe(condition(first, 'Ready')?.lastTransitionTime);
    const fenced = placementStatus(cp({ expectedDevices: 10 }, first), { status: 'Existing', placement: { ...placement, state: 'Fenced' }, differences: [] }, later);
    expect(condition(fenced, 'Ready')?.lastTransitionTime).toBe('2026-11-28T11:00:00Z');
  });

  it('says plainly that nothing is placed without a control-plane database', () => {
    const status = placementStatus(cp({ expectedDevices: 0 }), { status: 'NoControlPlane' }, now);
    expect(status.state).toBe('Pending');
    expect(condition(status, 'Placed')).toMatchObject({ status: 'False', reason: 'NoControlPlane' });
  });

  it('gives kstatus what Argo CD shows: Stalled when a person must act, Reconciling while fenced, neither when placed', () => {
    const kstatus = (s: CustomerPlacement['status']) => (s?.conditions ?? []).filter((c) => c.type === 'Stalled' || c.type === 'Reconciling').map((c) => `${c.type}/${c.reason}`);
    expect(kstatus(placementStatus(cp({ expectedDevices: 10 }), { status: 'Created', placement }, now))).toEqual([]);
    expect(kstatus(placementStatus(cp({ expectedDevices: 10 }), { status: 'Existing', placement: { ...placement, state: 'Fenced' }, differences: [] }, now))).toEqual(['Reconciling/Fenced']);
    expect(kstatus(placementStatus(cp({ expectedDevices: 0 }), { status: 'Unschedulable', customerId: 'acme', reason: 'no cell in eu-west-1', exclusions: [] }, now))).toEqual(['Stalled/Unschedulable']);
    expect(kstatus(placementStatus(cp({ expectedDevices: 0 }), { status: 'NoControlPlane' }, now))).toEqual(['Stalled/NoControlPlane']);
    const drifted = placementStatus(cp({ cell: 'eu-west-1b', expectedDevices: 10 }), { status: 'Existing', placement, differences: [{ field: 'cell', requested: 'eu-west-1b', actual: 'eu-west-1a' }] }, now);
    expect(kstatus(drifted)).toEqual(['Stalled/SpecDiffersFromRoutingTable']);
    // Placed again once the Migration is done: the Stalled condition goes.
    expect(kstatus(placementStatus(cp({ expectedDevices: 10 }, drifted), { status: 'Existing', placement, differences: [] }, later))).toEqual([]);
  });
});
