// The Cell reconciler: reads the Cell and its children from the caches, builds the desired
// children (pure builders), applies them in order with server-side apply, prunes what is no longer
// desired, checks the database, mirrors the cell into the control-plane database (leaving a drain's
// cordon alone: that belongs to the Migration controller), and writes the status with the customer
// count and the cordon read back from there. Deletion waits, behind a finalizer, until the cell holds no customer.
// A Cell with spec.cluster goes through the same steps against its own cluster (cell-clusters.ts):
// no owner references there, its children deleted by us, and nothing touched while it does not answer.
import { createHash } from 'node:crypto';
import type { Cell } from '../../crds/cell.js';
import type { CellRelease } from '../../crds/cell-release.js';
import { deploymentsCarry } from '../release/deployments-carry.js';
import { overlayReleases, runningRelease } from '../release/release-overlay.js';
import { LABEL_CELL, LABEL_MANAGED_BY, MANAGED_BY } from '../../crds/group.js';
import type { Kafka, KafkaNodePool, KafkaTopic, KafkaUser } from '../../crds/strimzi/index.js';
import type { Logger } from '../../log.js';
import type { Applier } from '../../runtime/apply.js';
import { addFinalizer, isBeingDeleted, removeFinalizer } from '../../runtime/finalizers.js';
import type { Informer } from '../../runtime/informer.js';
import { statusCode } from '../../runtime/kube-client.js';
import type { KubeObject } from '../../runtime/resource.js';
import { writeStatus } from '../../runtime/status.js';
import type { ReconcileResult } from '../../runtime/work-queue.js';
import { getCell, removeCell, syncCell } from '../../store/cells.js';
import { CHILD_KINDS, desiredChildren } from './cell-children.js';
import { CELL_RESOURCE } from '../../crds/resources.js';
import { childResource } from './child-resources.js';
import { cellStatus, refusedCellStatus, servesCustomers, type ObservedCellChildren } from './cell-status.js';
import { checkDatabase, type DatabaseCheck, type DatabaseCheckRequest } from '../../data/cell-database-check.js';
import { cellDatabaseSettings, readDatabaseCredentials, type DatabaseCredentials } from '../../data/cell-database-credentials.js';
import { kafkaBootstrapFromStatus } from './kafka-builder.js';
import { DATABASE_PORT, cellNamespace, databaseHost, databasePort, databaseWorkerHost } from '../../crds/cell-names.js';
import { CELL_CONDITIONS, IN_CLUSTER_DATABASE_DEFAULTS } from '../../crds/cell.js';
import { unreachableCellStatus, remoteDeletion, withoutOwnerReferences, type ClusterObservation } from './cell-cluster.js';
import { CellClusters, type ChildTarget } from './cell-clusters.js';
import { cellPolicyViolations, type CellPolicy, type PolicyViolation } from '../../policy/cell-policy.js';
import { dateClock } from '../../runtime/clock.js';
import type { ReconcilerDeps } from '../reconciler-deps.js';

/** Keeps a Cell (and so its data) until it holds no customer. */
export const CELL_FINALIZER = 'cells.platform.io/cell-protection';

/** A database check is repeated at most this often per cell (a reconcile runs on every child event). */
const DATABASE_CHECK_TTL_MS = 30_000;
/** While something is not ready, look again this soon even without an event (database checks). */
const NOT_READY_REQUEUE_MS = 15_000;
const DELETION_BLOCKED_REQUEUE_MS = 30_000;
/** A Ready cell looks again this often to refresh its customer count from the routing table. */
const CUSTOMER_COUNT_REFRESH_MS = 60_000;
/** A cell whose cluster does not answer is looked at again this soon. */
const CLUSTER_RETRY_MS = 10_000;

export interface CellReconcilerDeps extends ReconcilerDeps {
  applier: Applier;
  cells: Informer<Cell>;
  /** One informer per child kind (CHILD_KINDS), selecting the objects we manage. */
  children: ReadonlyMap<string, Informer>;
  /** The CellReleases, whose status names the cells they reached; none when absent. */
  releases?: Informer<CellRelease>;
  operatorNamespace: string;
  /** What a Cell may reach beyond itself; checked again here in case the admission policy is missing. */
  policy: CellPolicy;
  log: Logger;
  checkDatabase?: (request: DatabaseCheckRequest) => Promise<DatabaseCheck>;
  /** Where the children of a Cell with spec.cluster go; without it such a Cell reports ClusterUnsupported. */
  clusters?: CellClusters;
}

interface CachedCheck {
  fingerprint: string;
  atMs: number;
  result: DatabaseCheck;
}

/** Raised after the status was written, so that the queue retries with backoff. */
export class CellApplyError extends Error {}

export class CellReconciler {
  private readonly checks = new Map<string, CachedCheck>();
  private readonly now: () => Date;
  private readonly check: (request: DatabaseCheckRequest) => Promise<DatabaseCheck>;
  private readonly clusters: CellClusters;

  constructor(private readonly deps: CellReconcilerDeps) {
    this.now = dateClock(deps.clock);
    this.check = deps.checkDatabase ?? checkDatabase;
    this.clusters = deps.clusters ?? new CellClusters({ client: deps.client, applier: deps.applier, children: deps.children }, undefined, deps.operatorNamespace, deps.log);
  }

  async reconcile(key: string): Promise<ReconcileResult | void> {
    const cell = this.deps.cells.get(key);
    if (!cell) {
      this.checks.delete(key);
      await this.clusters.release(key);
      return;
    }
    const log = this.deps.log.child({ cell: key });
    if (isBeingDeleted(cell)) return this.reconcileDeletion(cell, log);
    // Before the finalizer and any read: a refused Cell gets a status and nothing else.
    const violations = cellPolicyViolations(cell, this.deps.policy);
    if (violations.length > 0) return this.refuse(cell, violations, log);
    if (await addFinalizer(this.deps.client, CELL_RESOURCE, cell, CELL_FINALIZER)) {
      // The finalizer patch produces a new event; the next reconcile works on the fresh object.
      return;
    }

    // Another cluster that does not answer: nothing is applied, pruned or deleted there meanwhile.
    const where = await this.clusters.targetFor(cell);
    if (!where.ok) return this.clusterUnreachable(cell, where.observation, log);
    const target = where.target;

    const credentials = await readDatabaseCredentials(this.deps.client, cell, { secrets: target.children.get('Secret'), generate: true, policy: this.deps.policy, cellClient: target.client });
    const bootstrap = kafkaBootstrapFromStatus(this.child<Kafka>(cell, 'Kafka', target)[0]).plain;
    // The releases that reached this cell overlay their versions on its spec (the spec stays as written).
    const overlay = overlayReleases(cell, this.deps.releases?.list() ?? []);
    const built = desiredChildren(overlay.cell, {
      operatorNamespace: this.deps.operatorNamespace,
      kafkaBootstrap: bootstrap,
      databaseCredentials: credentials.value,
      // The operator watches PodMonitors only when their API is served (operator.ts).
      podMonitors: target.children.has('PodMonitor'),
    });
    // No owner reference crosses clusters: the operator deletes remote children itself (reconcileDeletion).
    const desired = target.cluster ? withoutOwnerReferences(built) : built;

    const applyError = await this.applyChildren(cell, desired as KubeObject[], target, log);
    const database = credentials.problem ?? (await this.checkDatabaseCached(cell, credentials.value));
    const counts = await this.controlPlaneFacts(cell);
    const observed: ObservedCellChildren = {
      ...this.observeChildren(cell, target),
      database,
      customers: counts.customers,
      devices: counts.devices,
      cordonedBy: counts.cordonedBy,
      ...(applyError ? { applyError } : {}),
      ...(target.cluster ? { cluster: target.cluster } : {}),
    };
    const status = cellStatus(cell, observed, this.now());
    const release = runningRelease(cell.status?.release, overlay.release, deploymentsCarry(desired as KubeObject[], observed.deployments), this.now());
    if (release) status.release = release;
    await this.syncControlPlane(cell, servesCustomers(status.phase), status.endpoints, log);
    await this.writeStatusWithEvents(cell, status);

    if (applyError) throw new CellApplyError(applyError.message);
    if (status.phase !== 'Ready') return { requeueAfter: NOT_READY_REQUEUE_MS };
    return this.deps.store ? { requeueAfter: CUSTOMER_COUNT_REFRESH_MS } : undefined;
  }

  /**
   * The cell's cluster does not answer (or its kubeconfig is missing or wrong): Ready Unknown with
   * the reason, the rest of the status as last seen. The control-plane row is left alone, so that
   * placement and moves, which need only the databases, go on.
   */
  private async clusterUnreachable(cell: Cell, observation: Extract<ClusterObservation, { reachable: false }>, log: Logger): Promise<ReconcileResult> {
    log.warn({ cluster: observation.name, reason: observation.reason }, observation.message);
    const wasReachable = cell.status?.conditions?.find((c) => c.type === CELL_CONDITIONS.clusterReachable)?.status !== 'False';
    const status = unreachableCellStatus(cell, observation, this.now());
    await this.writeStatusWithEvents(cell, status);
    // The phase stays as it was: the moment the cluster is lost is told by an Event.
    if (wasReachable) await this.deps.events.warning(cell as KubeObject, observation.reason, status.message ?? observation.message);
    return { requeueAfter: CLUSTER_RETRY_MS };
  }

  /** A Cell past a missing admission policy: its status says why, and nothing is applied or read. */
  private async refuse(cell: Cell, violations: PolicyViolation[], log: Logger): Promise<void> {
    log.warn({ fields: violations.map((v) => v.field) }, 'cell refused by the operator policy: nothing is applied');
    await this.writeStatusWithEvents(cell, refusedCellStatus(cell, violations, this.now()));
  }

  private async reconcileDeletion(cell: Cell, log: Logger): Promise<ReconcileResult | void> {
    const name = cell.metadata.name ?? '';
    const counts = await this.controlPlaneFacts(cell);
    const removal = this.deps.store ? await removeCell(this.deps.store, name) : { removed: true as const, existed: false };
    if (!removal.removed || counts.customers > 0) {
      // The children are still there (and the last database check still holds): the status says so,
      // rather than that nothing exists.
      const customers = Math.max(counts.customers, removal.removed ? 0 : removal.customers + removal.reserved);
      const where = await this.clusters.targetFor(cell);
      if (!where.ok) return this.clusterUnreachable(cell, where.observation, log);
      const status = cellStatus(cell, { ...this.observeChildren(cell, where.target), database: this.checks.get(name)?.result, customers }, this.now());
      await this.writeStatusWithEvents(cell, status);
      log.info({ customers: status.customers }, 'deletion blocked: the cell still holds customers');
      return { requeueAfter: DELETION_BLOCKED_REQUEUE_MS };
    }
    if (cell.spec.cluster) {
      // No garbage collector there knows the Cell: the operator deletes what it would have.
      const where = await this.clusters.targetFor(cell);
      if (!where.ok) return this.clusterUnreachable(cell, where.observation, log);
      await this.deleteRemoteChildren(cell, where.target, log);
    }
    this.checks.delete(name);
    await this.clusters.release(name);
    await removeFinalizer(this.deps.client, CELL_RESOURCE, cell, CELL_FINALIZER);
    log.info({ deletionPolicy: cell.spec.deletionPolicy }, 'cell released: its children go with it (data volumes follow the deletion policy)');
  }

  /**
   * Applies in waves (see applyWaves): the objects of one wave at once, the waves in order, and
   * stops after the first wave with a failure (later children depend on earlier ones).
   */
  private async applyChildren(cell: Cell, desired: KubeObject[], target: ChildTarget, log: Logger): Promise<{ reason: string; message: string } | undefined> {
    let applied = 0;
    for (const wave of applyWaves(desired)) {
      const results = await Promise.allSettled(wave.map((obj) => target.applier.apply(childResource(obj.kind), obj)));
      applied += results.filter((r) => r.status === 'fulfilled' && r.value === 'applied').length;
      const failed = results.findIndex((r) => r.status === 'rejected');
      if (failed < 0) continue;
      const obj = wave[failed] as KubeObject;
      const err = (results[failed] as PromiseRejectedResult).reason as Error;
      const what = `${obj.kind} ${obj.metadata?.namespace ? `${obj.metadata.namespace}/` : ''}${obj.metadata?.name}`;
      const strimziMissing = statusCode(err) === 404 && obj.apiVersion?.startsWith('kafka.strimzi.io/');
      log.warn({ err: err.message, child: what }, 'cannot apply a child');
      return strimziMissing
        ? { reason: 'StrimziNotInstalled', message: `Cannot create ${what}: the kafka.strimzi.io/v1 API is not served. Install Strimzi (>= 0.49) in the cluster: within 30 s of its API being served the operator exits, for its Deployment to start it again watching Strimzi's kinds.` }
        : { reason: 'ApplyFailed', message: `Cannot apply ${what}: ${err.message}` };
    }
    if (applied > 0) log.info({ applied }, 'children applied');
    await this.pruneChildren(cell, desired, target, log);
    return undefined;
  }

  /** A remote Cell's children, deleted as the garbage collector would delete a local Cell's (remoteDeletion). */
  private async deleteRemoteChildren(cell: Cell, target: ChildTarget, log: Logger): Promise<void> {
    const namespace = cellNamespace(cell);
    const selector = { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_CELL]: cell.metadata.name ?? '' };
    const plan = remoteDeletion(cell, new Set(target.children.keys()));
    for (const kind of plan.selected) {
      const deleted = await target.applier.prune(childResource(kind), { namespace, selector, keep: [] });
      if (deleted.length > 0) log.info({ kind, deleted, cluster: target.cluster?.name }, 'deleted children in the cell cluster');
    }
    for (const ref of plan.named) {
      const outcome = await target.applier.delete(childResource(ref.kind), ref);
      if (outcome === 'deleted') log.info({ kind: ref.kind, name: ref.name, cluster: target.cluster?.name }, 'deleted a child in the cell cluster');
    }
  }

  /** Deletes children of this cell that the spec no longer asks for (a removed workload, topic, ...). */
  private async pruneChildren(cell: Cell, desired: KubeObject[], target: ChildTarget, log: Logger): Promise<void> {
    const namespace = cellNamespace(cell);
    const selector = { [LABEL_MANAGED_BY]: MANAGED_BY, [LABEL_CELL]: cell.metadata.name ?? '' };
    for (const { kind, pruned } of CHILD_KINDS) {
      if (!pruned) continue; // the Namespace, the database Secret, Kafka and its pools always stay
      if (kind === 'PodMonitor' && !target.children.has(kind)) continue; // no Prometheus Operator: none to prune
      const resource = childResource(kind);
      const keep = desired.filter((o) => o.kind === kind).map((o) => o.metadata?.name ?? '');
      const deleted = await target.applier.prune(resource, { namespace, selector, keep });
      if (deleted.length > 0) log.info({ kind, deleted }, 'pruned children no longer desired');
    }
  }

  private async checkDatabaseCached(cell: Cell, credentials: DatabaseCredentials | undefined): Promise<DatabaseCheck | undefined> {
    if (!credentials) return undefined;
    const name = cell.metadata.name ?? '';
    const request: DatabaseCheckRequest = { settings: cellDatabaseSettings(cell, credentials), external: cell.spec.database.external !== undefined, citus: citusDesired(cell) };
    // The fingerprint changes with anything that changes the answer, the password included (hashed).
    const fingerprint = createHash('sha256').update(JSON.stringify(request)).digest('hex');
    const cached = this.checks.get(name);
    const nowMs = this.now().getTime();
    if (cached && cached.fingerprint === fingerprint && nowMs - cached.atMs < DATABASE_CHECK_TTL_MS) return cached.result;
    const result = await this.check(request);
    this.checks.set(name, { fingerprint, atMs: nowMs, result });
    return result;
  }

  /** The cell's row in the control-plane database: its customers (placed + reserved) and a drain's cordon. */
  private async controlPlaneFacts(cell: Cell): Promise<{ customers: number; devices?: number; cordonedBy?: string | null }> {
    if (!this.deps.store) return { customers: 0 };
    const row = await getCell(this.deps.store, cell.metadata.name ?? '');
    return row ? { customers: row.customers + row.reserved, devices: row.devices, cordonedBy: row.cordonedBy } : { customers: 0 };
  }

  /** Mirrors the cell into the control-plane database, where placement reads it. */
  private async syncControlPlane(cell: Cell, ready: boolean, endpoints: Record<string, string | undefined> | undefined, log: Logger): Promise<void> {
    if (!this.deps.store) return;
    const result = await syncCell(this.deps.store, {
      name: cell.metadata.name ?? '',
      region: cell.spec.region,
      state: cell.spec.state,
      ready,
      weight: cell.spec.weight,
      maxCustomers: cell.spec.capacity.maxCustomers,
      maxDevices: cell.spec.capacity.maxDevices ?? null,
      endpoints: Object.fromEntries(Object.entries(endpoints ?? {}).filter((e): e is [string, string] => typeof e[1] === 'string')),
    });
    if (!result.ok) log.error({ reason: result.reason }, result.message);
  }

  private async writeStatusWithEvents(cell: Cell, status: NonNullable<Cell['status']>): Promise<void> {
    const before = cell.status?.phase;
    if ((await writeStatus(this.deps.client, CELL_RESOURCE, cell as KubeObject & { status?: unknown }, status)) !== 'written') return;
    if (before === status.phase) return;
    const ready = status.conditions?.find((c) => c.type === 'Ready');
    const note = ready?.message ?? `phase ${status.phase}`;
    if (status.phase === 'Ready') await this.deps.events.normal(cell as KubeObject, 'CellReady', note);
    else if (status.phase === 'Degraded') await this.deps.events.warning(cell as KubeObject, ready?.reason ?? 'CellDegraded', note);
    else if (status.phase === 'Deleting' && ready?.reason === 'DeletionBlocked') await this.deps.events.warning(cell as KubeObject, 'DeletionBlocked', note);
    else await this.deps.events.normal(cell as KubeObject, `Cell${status.phase}`, note);
  }

  /** The children the status is computed from, as the caches hold them. */
  private observeChildren(cell: Cell, target: Pick<ChildTarget, 'children'>): Pick<ObservedCellChildren, 'kafka' | 'nodePools' | 'topics' | 'users' | 'statefulSets' | 'deployments'> {
    return {
      kafka: this.child<Kafka>(cell, 'Kafka', target)[0],
      nodePools: this.child<KafkaNodePool>(cell, 'KafkaNodePool', target),
      topics: this.child<KafkaTopic>(cell, 'KafkaTopic', target),
      users: this.child<KafkaUser>(cell, 'KafkaUser', target),
      statefulSets: this.child(cell, 'StatefulSet', target),
      deployments: this.child(cell, 'Deployment', target),
    };
  }

  private child<T = KubeObject>(cell: Cell, kind: string, target: Pick<ChildTarget, 'children'>): T[] {
    const namespace = cellNamespace(cell);
    const name = cell.metadata.name;
    return (target.children.get(kind)?.list(namespace) ?? []).filter((o) => o.metadata?.labels?.[LABEL_CELL] === name) as T[];
  }
}

/**
 * The Citus shape of a cell: in-cluster, the worker StatefulSet's pods; external, the workers the
 * spec lists (none listed: the coordinator's workers are left alone). Tenant tables are distributed
 * by the tenant column with the spec's shard count (an external coordinator: its own default).
 */
export function citusDesired(cell: Cell): NonNullable<DatabaseCheckRequest['citus']> {
  const db = cell.spec.database;
  const external = db.external;
  const workers = external
    ? external.workers?.map((w) => ({ host: w.host, port: w.port }))
    : Array.from({ length: db.workers ?? IN_CLUSTER_DATABASE_DEFAULTS.workers }, (_, i) => ({ host: databaseWorkerHost(cell, i), port: DATABASE_PORT }));
  const shardCount = db.shardCount ?? (external ? undefined : IN_CLUSTER_DATABASE_DEFAULTS.shardCount);
  return {
    coordinator: { host: databaseHost(cell), port: databasePort(cell) },
    ...(workers ? { workers } : {}),
    tenantColumn: db.tenantColumn,
    ...(shardCount !== undefined ? { shardCount } : {}),
    ...(db.tables ? { tenantTables: db.tables.map((t) => t.name) } : {}),
    ...(db.isolatedCustomers?.length ? { isolatedCustomers: db.isolatedCustomers } : {}),
  };
}

/** The child kinds' informers read objects carrying these labels only. */
export const CHILD_LABEL_SELECTOR = `${LABEL_MANAGED_BY}=${MANAGED_BY},${LABEL_CELL}`;

/**
 * The desired children (in apply order) grouped into waves that may be applied at once: the
 * Namespace alone, then its NetworkPolicies and the database Secret, then the Kafka node pools,
 * then everything else (the Kafka, topics, users, database and workloads), keeping the order of
 * desiredChildren between waves.
 */
export function applyWaves(desired: readonly KubeObject[]): KubeObject[][] {
  const wave = (kind: string | undefined): number => {
    if (kind === 'Namespace') return 0;
    if (kind === 'NetworkPolicy' || kind === 'Secret') return 1;
    if (kind === 'KafkaNodePool') return 2;
    return 3;
  };
  const waves: KubeObject[][] = [[], [], [], []];
  for (const obj of desired) waves[wave(obj.kind)]?.push(obj);
  return waves.filter((w) => w.length > 0);
}
