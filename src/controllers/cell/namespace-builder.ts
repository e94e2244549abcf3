// The cell namespace: labelled for the cell and enforcing the Pod Security Standard `restricted`.
import type { V1Namespace } from '@kubernetes/client-node';
import type { Cell } from '../../crds/cell.js';
import { cellLabels, cellOwnerReference, LABEL_COMPONENT } from './labels.js';
import { cellNamespace } from '../../crds/cell-names.js';

export const POD_SECURITY_LABELS = {
  'pod-security.kubernetes.io/enforce': 'restricted',
  'pod-security.kubernetes.io/enforce-version': 'latest',
  'pod-security.kubernetes.io/audit': 'restricted',
  'pod-security.kubernetes.io/audit-version': 'latest',
  'pod-security.kubernetes.io/warn': 'restricted',
  'pod-security.kubernetes.io/warn-version': 'latest',
} as const;

/**
 * Whether the Cell owns its namespace. Deleting a namespace deletes every PersistentVolumeClaim in
 * it, so the namespace is owned (and garbage-collected with the Cell) only when the data may go
 * (`deletionPolicy: Delete`) and the operator named it (`cell-<name>`): a namespace named in
 * `spec.namespace` may hold things that were there before the Cell.
 */
export function cellOwnsNamespace(cell: Cell): boolean {
  return cell.spec.deletionPolicy === 'Delete' && cell.spec.namespace === undefined;
}

export function buildNamespace(cell: Cell): V1Namespace {
  return {
    apiVersion: 'v1',
    kind: 'Namespace',
    metadata: {
      name: cellNamespace(cell),
      labels: { ...cellLabels(cell), [LABEL_COMPONENT]: 'namespace', ...POD_SECURITY_LABELS },
      ...(cellOwnsNamespace(cell) ? { ownerReferences: [cellOwnerReference(cell)] } : {}),
    },
  };
}
