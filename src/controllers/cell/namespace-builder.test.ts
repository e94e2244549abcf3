import { EXAMPLE_CELL_SPEC, exampleCell } from './example-cell.js';
import { buildNamespace, cellOwnsNamespace } from './namespace-builder.js';

describe('the cell namespace', () => {
  it('enforces, audits and warns on the Pod Security Standard restricted, latest version', () => {
    const ns = buildNamespace(exampleCell());
    expect(ns.metadata?.name).toBe('cell-eu-west-1a');
    expect(ns.metadata?.labels).toEqual({
      'app.kubernetes.io/managed-by': 'cell-operator',
      'cells.platform.io/cell': 'eu-west-1a',
      'app.kubernetes.io/part-of': 'cell-eu-west-1a',
      'app.kubernetes.io/component': 'namespace',
      // Each mode of Pod Security admission: the restricted level, at the latest version.
      ...Object.fromEntries(['enforce', 'audit', 'warn'].flatMap((mode) => [[`pod-security.kubernetes.io/${mode}`, 'restricted'], [`pod-security.kubernetes.io/${mode}-version`, 'latest']])),
    });
  });

  // Deleting a namespace deletes its PersistentVolumeClaims, whatever the retention policies say.
  it('is not owned by the Cell under deletionPolicy Retain, so that the retained volumes survive the Cell', () => {
    const ns = buildNamespace(exampleCell({ ...EXAMPLE_CELL_SPEC, deletionPolicy: 'Retain' }));
    expect(ns.metadata).not.toHaveProperty('ownerReferences');
  });

  it('is owned by the Cell under deletionPolicy Delete, and garbage-collected with it', () => {
    const ns = buildNamespace(exampleCell({ ...EXAMPLE_CELL_SPEC, deletionPolicy: 'Delete' }));
    expect(ns.metadata?.ownerReferences).toEqual([expect.objectContaining({ kind: 'Cell', name: 'eu-west-1a', controller: true })]);
  });

  it('is never owned when spec.namespace names it: it may hold what was there before the Cell', () => {
    const cell = exampleCell({ ...EXAMPLE_CELL_SPEC, deletionPolicy: 'Delete', namespace: 'legacy' });
    expect(cellOwnsNamespace(cell)).toBe(false);
    expect(buildNamespace(cell).metadata).toMatchObject({ name: 'legacy' });
    expect(buildNamespace(cell).metadata).not.toHaveProperty('ownerReferences');
  });
});
