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

export function clusterPaths(root: string = projectRoot()): ClusterPaths {
  const local = path.join(root, '.local');
  const state = path.join(local, 'cluster');
  return {
    root,
    local,
    kubeconfig: path.join(local, 'kubeconfig'),
    state,
    stateFile: path.join(state, 'state.json'),
    lock: path.join(local, 'cluster.lock'),
    pki: path.join(state, 'pki'),
    logs: path.join(state, 'logs'),
    etcdData: path.join(state, 'etcd'),
    config: path.join(state, 'config'),
  };
}
