// Clients and informers for other Kubernetes clusters, one set per cluster, built from a kubeconfig
// kept in a Secret of the operator's namespace (Cluster API's `<cluster>-kubeconfig`, key `value`).
// The Secret is read by name on every connect (no list/watch on Secrets), so rotated credentials are
// picked up without a restart; a cluster's informers start with its first user and stop with its last.
import { createHash } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { ClusterUsage } from './cluster-usage.js';
import { createInformer, type Informer } from './informer.js';
import { createKubeClient, isNotFound, statusCode, type KubeClient } from './kube-client.js';
import { builtin, resourcePath, type KubeObject, type ResourceType } from './resource.js';

/** Where a cluster's kubeconfig is: a key of a Secret in the operator's namespace. */
export interface KubeconfigSecretRef {
  namespace: string;
  name: string;
  key: string;
}

/** An informer every cluster gets (say one per child kind), keyed for the caller. */
export interface RemoteInformerSpec {
  key: string;
  resource: ResourceType;
  labelSelector?: string;
}

export interface RemoteCluster {
  name: string;
  /** The API server's address, from the kubeconfig's current context. */
  server: string;
  client: KubeClient;
  /** By RemoteInformerSpec.key; started while the cluster has users. */
  informers: ReadonlyMap<string, Informer>;
}

export type ClusterProblemReason = 'KubeconfigSecretMissing' | 'KubeconfigInvalid' | 'ClusterUnreachable' | 'ClusterAccessDenied';

export type ClusterConnection =
  | { ok: true; cluster: RemoteCluster; version: string }
  | { ok: false; reason: ClusterProblemReason; message: string; cluster?: RemoteCluster };

export interface ClusterRegistryOptions {
  /** The management cluster's client: it reads the kubeconfig Secrets. */
  client: KubeClient;
  informers: readonly RemoteInformerSpec[];
  /** Every event of every remote informer (a child changed somewhere). */
  onEvent?: (obj: KubeObject, cluster: string) => void;
  userAgent?: string;
  resyncMs?: number;
  /** Deadline of the /version probe that tells reachable from not (default 5 s). */
  probeTimeoutMs?: number;
  logger?: Logger;
  onWatchRestart?: (resource: string, reason: 'gone' | 'error') => void;
  /** For tests: the client and informers of a cluster from its KubeConfig. */
  createClient?: (kc: KubeConfig) => KubeClient;
  createInformer?: (kc: KubeConfig, client: KubeClient, spec: RemoteInformerSpec) => Informer;
}

interface Entry {
  cluster: RemoteCluster;
  kc: KubeConfig;
  fingerprint: string;
  running: boolean;
}

/** The kubeconfig text parsed, or why it cannot be used. Pure apart from client-node's parser. */
export function parseKubeconfig(text: string, where: string): { ok: true; kc: KubeConfig; server: string } | { ok: false; message: string } {
  const kc = new KubeConfig();
  try {
    kc.loadFromString(text);
  } catch (err) {
    return { ok: false, message: `${where} does not hold a kubeconfig (${(err as Error).message.split('\n')[0]}): store the cluster's kubeconfig YAML there` };
  }
  const server = kc.getCurrentCluster()?.server;
  if (!server) return { ok: false, message: `the kubeconfig in ${where} has no current context with a cluster server: set current-context` };
  return { ok: true, kc, server };
}

export class ClusterRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly usage = new ClusterUsage();
  private readonly log: Logger;

  constructor(private readonly options: ClusterRegistryOptions) {
    this.log = (options.logger ?? silentLogger()).child({ component: 'cluster-registry' });
  }

  /**
   * Records that `user` uses cluster `name`, (re)reads its kubeconfig Secret, and probes the API
   * server. A changed kubeconfig replaces the credentials in place and restarts the watches on them.
   * Transient errors reading the Secret from the management cluster are thrown (the queue retries).
   */
  async connect(user: string, name: string, ref: KubeconfigSecretRef): Promise<ClusterConnection> {
    const where = `Secret ${ref.namespace}/${ref.name}`;
    let secret: { data?: Record<string, string> };
    try {
      secret = await this.options.client.request({ method: 'GET', path: resourcePath(builtin.secret, ref) });
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return this.problem(user, name, 'KubeconfigSecretMissing', `${where} does not exist: create it with the kubeconfig of cluster ${name} under key ${ref.key} (Cluster API writes it there)`);
    }
    const encoded = secret.data?.[ref.key];
    if (!encoded) return this.problem(user, name, 'KubeconfigInvalid', `${where} has no key ${ref.key}: put the kubeconfig of cluster ${name} there, or name the key in spec.cluster.kubeconfigSecret.key`);
    const text = Buffer.from(encoded, 'base64').toString('utf8');
    const fingerprint = createHash('sha256').update(text).digest('hex');
    let entry = this.entries.get(name);
    if (entry?.fingerprint !== fingerprint) {
      const parsed = parseKubeconfig(text, where);
      if (!parsed.ok) return this.problem(user, name, 'KubeconfigInvalid', parsed.message);
      if (entry) await this.rotate(entry, text, fingerprint, parsed.server);
      else entry = this.create(name, parsed.kc, fingerprint, parsed.server);
    }
    await this.apply(this.usage.use(user, name));
    return this.probe(entry);
  }

  /** `user` no longer uses any cluster; the last user of a cluster stops its informers. */
  async release(user: string): Promise<void> {
    await this.apply(this.usage.release(user));
  }

  get(name: string): RemoteCluster | undefined {
    return this.entries.get(name)?.cluster;
  }

  /** The clusters in use and their users (for logs, metrics and the benchmark). */
  clusters(): Array<{ name: string; users: string[]; informers: number }> {
    return this.usage.clusters().map((name) => ({ name, users: this.usage.usersOf(name), informers: this.entries.get(name)?.cluster.informers.size ?? 0 }));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.entries.values()].map((e) => this.halt(e)));
    this.entries.clear();
  }

  private create(name: string, kc: KubeConfig, fingerprint: string, server: string): Entry {
    const client = this.options.createClient?.(kc) ?? createKubeClient(kc, { userAgent: this.options.userAgent });
    const informers = new Map<string, Informer>();
    for (const spec of this.options.informers) {
      const informer =
        this.options.createInformer?.(kc, client, spec) ??
        createInformer(kc, client, spec.resource, {
          labelSelector: spec.labelSelector,
          resyncMs: this.options.resyncMs,
          logger: this.log.child({ cluster: name }),
          onRestart: (reason) => this.options.onWatchRestart?.(spec.resource.plural, reason),
        });
      const onEvent = this.options.onEvent;
      if (onEvent) informer.on({ add: (o) => onEvent(o, name), update: (o) => onEvent(o, name), delete: (o) => onEvent(o, name) });
      informers.set(spec.key, informer);
    }
    const entry: Entry = { cluster: { name, server, client, informers }, kc, fingerprint, running: false };
    this.entries.set(name, entry);
    return entry;
  }

  /** New credentials: the KubeConfig the client and watches read is updated in place, the watches restarted on it. */
  private async rotate(entry: Entry, text: string, fingerprint: string, server: string): Promise<void> {
    entry.kc.loadFromString(text);
    entry.fingerprint = fingerprint;
    entry.cluster.server = server;
    this.log.info({ cluster: entry.cluster.name }, 'kubeconfig changed: using the new credentials');
    if (!entry.running) return;
    await this.halt(entry);
    this.run(entry);
  }

  private apply(change: { start?: string; stop?: string }): Promise<void> {
    const stopped = change.stop ? this.entries.get(change.stop) : undefined;
    if (change.start) {
      const entry = this.entries.get(change.start);
      if (entry) this.run(entry);
    }
    if (!stopped) return Promise.resolve();
    this.entries.delete(stopped.cluster.name);
    this.log.info({ cluster: stopped.cluster.name }, 'cluster has no Cell any more: its watches stop');
    return this.halt(stopped);
  }

  private run(entry: Entry): void {
    entry.running = true;
    for (const informer of entry.cluster.informers.values()) informer.start();
    this.log.info({ cluster: entry.cluster.name, server: entry.cluster.server, informers: entry.cluster.informers.size }, 'watching cluster');
  }

  private async halt(entry: Entry): Promise<void> {
    entry.running = false;
    await Promise.all([...entry.cluster.informers.values()].map((i) => i.stop()));
  }

  private async probe(entry: Entry): Promise<ClusterConnection> {
    const { cluster } = entry;
    try {
      const version = await cluster.client.request<{ gitVersion?: string }>({ method: 'GET', path: '/version', timeoutMs: this.options.probeTimeoutMs ?? 5000 });
      return { ok: true, cluster, version: version?.gitVersion ?? 'unknown' };
    } catch (err) {
      const code = statusCode(err);
      const detail = (err as Error).message ?? String(err);
      if (code === 401 || code === 403) {
        return { ok: false, cluster, reason: 'ClusterAccessDenied', message: `the API server of cluster ${cluster.name} at ${cluster.server} refused the kubeconfig's credentials (${code}): rotate the kubeconfig Secret` };
      }
      return { ok: false, cluster, reason: 'ClusterUnreachable', message: `the API server of cluster ${cluster.name} at ${cluster.server} does not answer (${detail}); nothing in it is changed until it does` };
    }
  }

  private async problem(user: string, name: string, reason: ClusterProblemReason, message: string): Promise<ClusterConnection> {
    // A Cell whose kubeconfig is missing still counts as a user: its cluster's watches keep running.
    const entry = this.entries.get(name);
    if (entry) await this.apply(this.usage.use(user, name));
    return { ok: false, reason, message, ...(entry ? { cluster: entry.cluster } : {}) };
  }
}
