// The operator's rules in a cell's own cluster (Cell.spec.cluster): the children only, and delete on
// every kind, since no owner reference crosses clusters and the operator deletes a remote Cell's
// children itself (cell-cluster.ts remoteDeletion). Rendered to config/remote-cluster/rbac.yaml.
import { UNWATCHED_CHILD_KINDS } from '../controllers/cell/cell-children.js';
import { groupedChildRules, type ExplainedRule } from './rules.js';

/** Watch (or read by name), server-side apply, and delete: one rule per API group and verbs. */
export function remoteClusterRules(): ExplainedRule[] {
  return groupedChildRules(
    (child) => [...(UNWATCHED_CHILD_KINDS.has(child.kind) ? ['get'] : ['list', 'watch']), 'create', 'patch', 'delete'],
    (_group, verbs, kinds) =>
      `Children of a Cell whose spec.cluster names this cluster (${kinds.join(', ')}): ` +
      (verbs.includes('get') ? 'read by name, never listed nor watched, ' : 'informers, ') +
      'server-side apply, and deletion by the operator when the Cell goes or no longer asks for them (no owner reference crosses clusters).',
  );
}
