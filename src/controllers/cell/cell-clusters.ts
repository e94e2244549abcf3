// Where a Cell's children are: the operator's own cluster (no spec.cluster), or the cluster whose
// kubeconfig spec.cluster names, through the cluster registry (a client, the child informers and
// an Applier per cluster). The reconciler gets one ChildTarget either way and applies, prunes and
// observes through it with the same code.
import type { Cell } from '../../crds/cell.js';
import type { Logger } from '../../log.js';
import { Applier } from '../../runtime/apply.js';
import type { ClusterRegistry, RemoteCluster } from '../../runtime/cluster-registry.js';
import type { Informer } from '../../runtime/informer.js';
import type { KubeClient } from '../../runtime/kube-client.js';
import { kubeconfigSecretOf, type ClusterObservation } from './cell-cluster.js';
import { UNWATCHED_CHILD_KINDS } from './cell-children.js';

export interface ChildTarget {
  client: KubeClient;
  applier: Applier;
  /** One informer per watched child kind, in the cluster of the children. */
  children: ReadonlyMap<string, Informer>;
  /** Set for a Cell with spec.cluster: the cluster answered. */
  cluster?: Extract<ClusterObservation, { reachable: true }>;
}

export type TargetResult = { ok: true; target: ChildTarget } | { ok: false; observation: Extract<ClusterObservation, { reachable: false }> };

/** How long a reconcile waits for a cluster's fresh informers to list their kinds. */
const SYNC_WAIT_MS = 5_000;

export class CellClusters {
  private readonly appliers = new WeakMap<RemoteCluster, Applier>();
  /** Clusters whose informers were waited for once: a kind the cluster does not serve never syncs. */
  private readonly waited = new WeakSet<RemoteCluster>();

  constructor(
    private readonly local: ChildTarget,
    private readonly registry: ClusterRegistry | undefined,
    private readonly operatorNamespace: string,
    private readonly log: Logger,
  ) {}

  /** The target of `cell`'s children; for another cluster, only when its API server answers. */
  async targetFor(cell: Cell): Promise<TargetResult> {
    const spec = cell.spec.cluster;
    if (!spec) return { ok: true, target: this.local };
    const name = spec.name;
    if (!this.registry) {
      return { ok: false, observation: { reachable: false, name, reason: 'ClusterUnsupported', message: 'this operator was started without support for other clusters' } };
    }
    const connection = await this.registry.connect(cell.metadata.name ?? '', name, kubeconfigSecretOf(spec, this.operatorNamespace));
    if (!connection.ok) return { ok: false, observation: { reachable: false, name, reason: connection.reason, message: connection.message } };
    const { cluster, version } = connection;
    if (!this.waited.has(cluster)) {
      await waitForSync([...cluster.informers.values()], SYNC_WAIT_MS);
      this.waited.add(cluster);
    }
    return {
      ok: true,
      target: {
        client: cluster.client,
        applier: this.applierOf(cluster),
        children: cluster.informers,
        cluster: { reachable: true, name, server: cluster.server, version },
      },
    };
  }

  /** The Cell `name` is gone: its cluster loses a user. */
  async release(name: string): Promise<void> {
    await this.registry?.release(name);
  }

  private applierOf(cluster: RemoteCluster): Applier {
    let applier = this.appliers.get(cluster);
    if (!applier) {
      applier = new Applier({ client: cluster.client, caches: cluster.informers.values(), readBeforeApply: UNWATCHED_CHILD_KINDS, logger: this.log.child({ cluster: cluster.name }) });
      this.appliers.set(cluster, applier);
    }
    return applier;
  }
}

/** Resolves when every informer has synced or after `ms`: unsynced caches make the Applier read from the server instead. */
async function waitForSync(informers: Informer[], ms: number): Promise<void> {
  if (informers.every((i) => i.hasSynced())) return;
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
  await Promise.race([Promise.all(informers.map((i) => i.waitForSync().catch(() => undefined))), timeout]);
  clearTimeout(timer);
}
