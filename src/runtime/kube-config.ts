// Loads the KubeConfig: $KUBECONFIG, else ~/.kube/config, else the in-cluster service account.
// Unlike client-node's loadFromDefault it refuses to fall back silently to http://localhost:8080.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(env: NodeJS.ProcessEnv = process.env): KubeConfig {
  const kc = new KubeConfig();
  // Not loadFromDefault(): it reads process.env, not `env` (so --kubeconfig was ignored).
  const files = (env.KUBECONFIG ?? '').split(delimiter).filter(Boolean);
  const home = join(homedir(), '.kube', 'config');
  if (files.length > 0) {
    kc.loadFromFile(files[0]!);
    // Several files merge as kubectl merges them; the first one's current context wins.
    for (const file of files.slice(1)) {
      const next = new KubeConfig();
      next.loadFromFile(file);
      kc.mergeConfig(next, true);
    }
  } else if (existsSync(home)) {
    kc.loadFromFile(home);
  } else if (env.KUBERNETES_SERVICE_HOST) {
    kc.loadFromCluster();
  } else {
    throw new Error('no Kubernetes cluster configured: set KUBECONFIG, create ~/.kube/config, or run in a cluster');
  }
  if (!kc.getCurrentCluster()) throw new Error('the kubeconfig has no current context with a cluster');
  return kc;
}
