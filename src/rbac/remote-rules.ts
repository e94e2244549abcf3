// The operator's rules in a cell's own cluster (Cell.spec.cluster): the children only, and delete on
// every kind, since no owner reference crosses clusters and the operator deletes a remote Cell's
// children itself (cell-cluster.ts remoteDeletion). Rendered to config/remote-cluster/rbac.yaml.
import { CHILD_KINDS, UNWATCHED_CHILD_KINDS } from '../controllers/cell/cell-children.js';
import { CHILD_PLURALS, type ExplainedRule } from './rules.js';

const apiGroupOf = (apiVersion: string): string => (apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '');

/** Watch (or read by name), server-side apply, and delete: one rule per API group and verbs. */
export function remoteClusterRules(): ExplainedRule[] {
  const byGrant = new Map<string, { group: string; verbs: string[]; resources: string[]; kinds: string[] }>();
  for (const child of CHILD_KINDS) {
    const group = apiGroupOf(child.apiVersion);
    const verbs = [...(UNWATCHED_CHILD_KINDS.has(child.kind) ? ['get'] : ['list', 'watch']), 'create', 'patch', 'delete'];
    const key = `${group}|${verbs.join(',')}`;
    const entry = byGrant.get(key) ?? { group, verbs, resources: [], kinds: [] };
    entry.resources.push(CHILD_PLURALS[child.kind]);
    entry.kinds.push(child.kind);
    byGrant.set(key, entry);
  }
  return [...byGrant.entries()]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([, { group, verbs, resources, kinds }]) => ({
      apiGroups: [group],
      resources: [...resources].sort(),
      verbs,
      why:
        `Children of a Cell whose spec.cluster names this cluster (${kinds.join(', ')}): ` +
        (verbs.includes('get') ? 'read by name, never listed nor watched, ' : 'informers, ') +
        'server-side apply, and deletion by the operator when the Cell goes or no longer asks for them (no owner reference crosses clusters).',
    }));
}
