// DEMO_OWN_CLUSTER=<cell>: the demo puts that cell in a Kubernetes cluster of its own (Cell.spec.cluster,
// docs/multi-cluster.md): a second local control plane (`.local/demo-cells/`, one kwok node for the
// cell's pods, the Strimzi stand-in), the operator's remote RBAC there, and a kubeconfig with its
// ServiceAccount's token in Secret <cluster>-kubeconfig of the operator's namespace, as Cluster API names it.
import path from 'node:path';
import { stringify } from 'yaml';
import { installMonitoringCrds, type Kubectl } from '../../test/e2e/cluster/crds.js';
import { runKubectl } from '../../test/e2e/cluster/kubectl.js';
import { ensureCluster } from '../../test/e2e/cluster/local-cluster.js';
import type { Manifest } from '../../test/e2e/support/examples.js';
import { PLAIN } from '../../src/rbac/render.js';

/** The local cluster's name (its state in .local/demo-cells/) and the spec.cluster.name of the cell. */
export const OWN_CLUSTER = 'demo-cells';

/** The cell named by DEMO_OWN_CLUSTER, if any. */
export function ownClusterCell(env: NodeJS.ProcessEnv = process.env): string | undefined {
  return env.DEMO_OWN_CLUSTER?.trim() || undefined;
}

/** Starts (or reuses) the cell's cluster and stores its kubeconfig Secret in `operatorNamespace` of the management cluster. */
export async function prepareOwnCluster(root: string, management: Kubectl, operatorNamespace: string, log: (m: string) => void): Promise<{ server: string }> {
  const cluster = await ensureCluster({ root, name: OWN_CLUSTER, nodes: 1, log: (m) => log(`[${OWN_CLUSTER}] ${m}`) });
  const inCluster: Kubectl = (args, options) => runKubectl(cluster.kubectl, cluster.kubeconfigPath, args, options);
  await installMonitoringCrds(inCluster, root, () => undefined);
  await inCluster(['apply', '--server-side', '--field-manager=cell-operator-demo', '-f', path.join(root, 'config/remote-cluster/rbac.yaml')]);
  const token = (await inCluster(['create', 'token', PLAIN.serviceAccount, '-n', PLAIN.namespace, '--duration=12h'])).stdout.trim();
  const admin = JSON.parse((await inCluster(['config', 'view', '--raw', '--minify', '--flatten', '-o', 'json'])).stdout) as { clusters: { cluster: Record<string, unknown> }[] };
  const kubeconfig = stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: OWN_CLUSTER, cluster: admin.clusters[0]!.cluster }],
    users: [{ name: PLAIN.serviceAccount, user: { token } }],
    contexts: [{ name: OWN_CLUSTER, context: { cluster: OWN_CLUSTER, user: PLAIN.serviceAccount } }],
    'current-context': OWN_CLUSTER,
  });
  const secret = { apiVersion: 'v1', kind: 'Secret', metadata: { name: `${OWN_CLUSTER}-kubeconfig`, namespace: operatorNamespace }, stringData: { value: kubeconfig } };
  await management(['apply', '--server-side', '--force-conflicts', '--field-manager=cell-operator-demo', '-f', '-'], { input: stringify(secret) });
  return { server: cluster.server };
}

/** The manifests with `cell` moved to the own cluster (spec.cluster). */
export function inOwnCluster(manifests: Manifest[], cell: string): Manifest[] {
  return manifests.map((m) => (m.kind === 'Cell' && m.metadata.name === cell ? { ...m, spec: { ...(m.spec as object), cluster: { name: OWN_CLUSTER } } } : m));
}
