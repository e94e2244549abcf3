// The labels every child of a cell carries, the selectors built from them, and the owner reference
// that hands the children to the garbage collector when the Cell goes.
import type { V1ObjectMeta, V1OwnerReference } from '@kubernetes/client-node';
import type { Cell } from '../../crds/cell.js';
import { API_VERSION, CELL, LABEL_CELL, LABEL_MANAGED_BY, MANAGED_BY } from '../../crds/group.js';
import { cellName, cellNamespace } from '../../crds/cell-names.js';

export const LABEL_PART_OF = 'app.kubernetes.io/part-of';
export const LABEL_COMPONENT = 'app.kubernetes.io/component';
export const LABEL_NAME = 'app.kubernetes.io/name';

/** Pod labels that open a door in the cell's NetworkPolicies: set only on workloads that need it. */
export const LABEL_KAFKA_CLIENT = 'cells.platform.io/kafka-client';
export const LABEL_DATABASE_CLIENT = 'cells.platform.io/database-client';

export type Component = 'namespace' | 'network' | 'kafka' | 'database-coordinator' | 'database-worker' | 'database' | 'workload' | 'monitoring';

/** The labels of every child: who manages it, which cell it belongs to (cost tracking). */
export function cellLabels(cell: Cell): Record<string, string> {
  return {
    [LABEL_MANAGED_BY]: MANAGED_BY,
    [LABEL_CELL]: cellName(cell),
    [LABEL_PART_OF]: `cell-${cellName(cell)}`,
  };
}

/**
 * The labels that select the pods of one component. Kept small and stable: a Deployment's or
 * StatefulSet's selector is immutable, so nothing that may change belongs here.
 */
export function selectorLabels(cell: Cell, component: Component, name: string): Record<string, string> {
  return { [LABEL_CELL]: cellName(cell), [LABEL_COMPONENT]: component, [LABEL_NAME]: name };
}

export function componentLabels(cell: Cell, component: Component, name: string): Record<string, string> {
  return { ...cellLabels(cell), ...selectorLabels(cell, component, name) };
}

/**
 * The owner reference to the Cell. The Cell is cluster-scoped and its children are namespaced: a
 * namespaced dependent of a cluster-scoped owner is valid for the garbage collector.
 * blockOwnerDeletion makes a foreground deletion of the Cell wait for its children.
 */
export function cellOwnerReference(cell: Cell): V1OwnerReference {
  const uid = cell.metadata.uid;
  if (!uid) throw new Error(`Cell ${cellName(cell)} has no metadata.uid: build children from the object read from the API server`);
  return { apiVersion: API_VERSION, kind: CELL.kind, name: cellName(cell), uid, controller: true, blockOwnerDeletion: true };
}

/** The metadata of a namespaced child: name, cell namespace, labels and the owner reference. */
export function childMetadata(
  cell: Cell,
  name: string,
  component: Component,
  componentName: string,
  extraLabels: Record<string, string> = {},
): V1ObjectMeta {
  return {
    name,
    namespace: cellNamespace(cell),
    labels: { ...extraLabels, ...componentLabels(cell, component, componentName) },
    ownerReferences: [cellOwnerReference(cell)],
  };
}
