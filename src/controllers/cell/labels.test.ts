import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';
import { cellLabels, cellOwnerReference, childMetadata } from './labels.js';
import { cellNamespace, conventionalKafkaBootstrap, databaseWorkerHost } from '../../crds/cell-names.js';

describe('names, labels and ownership of a cell', () => {
  const cell = exampleCell();

  it('puts the children in cell-<name>, or in spec.namespace when given', () => {
    expect(cellNamespace(cell)).toBe('cell-eu-west-1a');
    expect(cellNamespace(exampleCell({ ...EXAMPLE_CELL_SPEC, namespace: 'legacy-telemetry' }))).toBe('legacy-telemetry');
  });

  it('knows the addresses Strimzi and the StatefulSets give before anything reports them', () => {
    expect(conventionalKafkaBootstrap(cell)).toBe('eu-west-1a-kafka-bootstrap.cell-eu-west-1a.svc:9092');
    expect(databaseWorkerHost(cell, 3)).toBe('eu-west-1a-db-worker-3.eu-west-1a-db-worker.cell-eu-west-1a.svc');
  });

  it('labels every child as managed by cell-operator and belonging to the cell', () => {
    expect(cellLabels(cell)).toEqual({
      'app.kubernetes.io/managed-by': 'cell-operator',
      'cells.platform.io/cell': 'eu-west-1a',
      'app.kubernetes.io/part-of': 'cell-eu-west-1a',
    });
  });

  it('owns children through a controller reference to the cluster-scoped Cell that blocks its foreground deletion', () => {
    expect(cellOwnerReference(cell)).toEqual({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'Cell',
      name: 'eu-west-1a',
      uid: '6f1c2d3e-4a5b-4c6d-8e9f-0a1b2c3d4e5f',
      controller: true,
      blockOwnerDeletion: true,
    });
  });

  it('refuses to build an owner reference without a uid (a Cell not read from the API server)', () => {
    const { uid: _uid, ...metadata } = cell.metadata;
    expect(() => cellOwnerReference({ ...cell, metadata })).toThrow(/no metadata.uid/);
  });

  it('does not let extra labels override the cell labels', () => {
    const meta = childMetadata(cell, 'x', 'workload', 'x', { 'cells.platform.io/cell': 'another', team: 'data' });
    expect(meta.labels).toMatchObject({ 'cells.platform.io/cell': 'eu-west-1a', team: 'data' });
  });
});
