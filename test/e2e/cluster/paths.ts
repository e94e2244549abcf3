// Where the local control plane keeps its state: under the project's git-ignored `.local/`.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';

/** The project root: the nearest directory above `from` whose package.json is cell-operator's. */
export function projectRoot(from: string = process.cwd()): string {
  let dir = path.resolve(from);
  for (;;) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'cell-operator') return dir;
      } catch {
        // not ours; keep walking up
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`cannot find the cell-operator project root above ${from}`);
    dir = parent;
  }
}

export interface ClusterPaths {
  root: string;
  /** `.local/`: everything generated for local runs. */
  local: string;
  /** The admin kubeconfig handed to people and tests. */
  kubeconfig: string;
  /** `.local/cluster/`: state of the running control plane (removed by cluster:down). */
  state: string;
  stateFile: string;
  lock: string;
  pki: string;
  logs: string;
  etcdData: string;
  config: string;
}

/** The management cluster's name; another (a cell's own cluster) keeps its state in `.local/<name>/`. */
export const DEFAULT_CLUSTER = 'cluster';

export function clusterPaths(root: string = projectRoot(), name: string = DEFAULT_CLUSTER): ClusterPaths {
  const local = path.join(root, '.local');
  const state = path.join(local, name);
  return {
    root,
    local,
    kubeconfig: name === DEFAULT_CLUSTER ? path.join(local, 'kubeconfig') : path.join(local, `${name}.kubeconfig`),
    state,
    stateFile: path.join(state, 'state.json'),
    lock: path.join(local, `${name}.lock`),
    pki: path.join(state, 'pki'),
    logs: path.join(state, 'logs'),
    etcdData: path.join(state, 'etcd'),
    config: path.join(state, 'config'),
  };
}
