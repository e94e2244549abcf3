// `cell-operator operator`: wires the controllers (Cell, CustomerPlacement, Migration) to the shared
// informers, the control-plane database and the manager (health, leader election, shutdown).
import type { OperatorConfig } from './config.js';
import type { Cell } from './crds/cell.js';
import type { CustomerPlacement } from './crds/customer-placement.js';
import { LABEL_CELL } from './crds/group.js';
import { CHILD_KINDS, UNWATCHED_CHILD_KINDS } from './controllers/cell/cell-children.js';
import { CHILD_LABEL_SELECTOR, CellReconciler } from './controllers/cell/cell-reconciler.js';
import { CELL_RESOURCE, childResource } from './controllers/cell/cell-resources.js';
import { CUSTOMER_PLACEMENT_RESOURCE, PlacementReconciler } from './controllers/placement/placement-reconciler.js';
import { CellPools } from './data/cell-pools.js';
import { MIGRATION_RESOURCE, MigrationReconciler } from './controllers/migration/migration-reconciler.js';
import { KafkaAdminOffsets } from './kafka/group-offsets.js';
import { kafkaSettingsFromEnv } from './kafka/kafka-settings.js';
import { registerFleetMetrics } from './controllers/fleet/fleet-metrics.js';
import type { Migration } from './crds/migration.js';
import { createLogger, type Logger } from './log.js';
import { Applier } from './runtime/apply.js';
import { Controller, labelKeysOf } from './runtime/controller.js';
import type { Informer } from './runtime/informer.js';
import type { KubeObject } from './runtime/resource.js';
import { apiServed, whenApiServed } from './runtime/api-discovery.js';
import { loadKubeConfig } from './runtime/kube-config.js';
import { Manager } from './runtime/manager.js';
import { ControlPlane, WAITING_REQUEUE_MS } from './control-plane.js';
import { retryUntilAvailable } from './runtime/start-retry.js';
import type { ReconcileResult } from './runtime/work-queue.js';
import type { CellPolicy } from './policy/cell-policy.js';
import { OPERATOR_NAME, PACKAGE_VERSION } from './version.js';

/** Strimzi's API; its kinds get informers only when it is served at start. */
const STRIMZI_API = 'kafka.strimzi.io/v1';
/** The Prometheus Operator's API; cells get PodMonitors only when it is served at start. */
const MONITORING_API = 'monitoring.coreos.com/v1';
/** How often an operator started without Strimzi asks whether its CRDs were installed since. */
const STRIMZI_RECHECK_MS = 30_000;

/**
 * A reconcile that needs the control-plane database: while it is configured but has not answered
 * yet (down at start), the key waits (ControlPlane reports it) instead of being judged without it.
 */
function whenDatabase(controlPlane: ControlPlane, reconcile: (key: string) => Promise<ReconcileResult | void>): (key: string) => Promise<ReconcileResult | void> {
  return async (key) => (controlPlane.configured && !controlPlane.pool ? { requeueAfter: WAITING_REQUEUE_MS } : reconcile(key));
}

export async function runOperator(config: OperatorConfig): Promise<number> {
  const log = createLogger({ level: config.logLevel });
  const kubeConfig = loadKubeConfig(config.kubeconfig ? { ...process.env, KUBECONFIG: config.kubeconfig } : process.env);
  const manager = new Manager({
    kubeConfig,
    logger: log,
    health: { port: config.httpPort },
    leaderElection: config.leaderElect
      ? { namespace: config.leaseNamespace, name: config.leaseName, leaseDurationMs: config.leaseDurationSeconds * 1000 }
      : false,
    identity: config.identity,
    userAgent: `${OPERATOR_NAME}/${PACKAGE_VERSION}`,
    resyncMs: config.resyncSeconds * 1000,
  });

  // Opened in the background: the Cell controller runs without it (ControlPlane reports the wait).
  const controlPlane = new ControlPlane(config.databaseUrl, log, manager.metrics.registry, ['customerplacement', 'migration']);
  // An API server that is not up yet (a control plane restarting) is waited for, not a crash.
  const withStrimzi = (await retryUntilAvailable(() => apiServed(manager.client, STRIMZI_API), { what: 'the Kubernetes API server', log })) ?? false;
  if (!withStrimzi) {
    log.error(`the ${STRIMZI_API} API is not served: install Strimzi (>= 0.49); Cells report StrimziNotInstalled until then, and the operator exits once it is served, for its Deployment to start it again`);
    // Informers are made at start: exit cleanly (SIGTERM's path: Lease released) and let the
    // Deployment start the operator again, this time watching Strimzi's kinds.
    whenApiServed(manager.client, STRIMZI_API, STRIMZI_RECHECK_MS, () => {
      log.warn(`the ${STRIMZI_API} API is served now: exiting, for the Deployment to start the operator again watching Strimzi's kinds`);
      process.kill(process.pid, 'SIGTERM');
    });
  }
  const withMonitoring = await apiServed(manager.client, MONITORING_API);
  if (!withMonitoring) {
    log.info(`the ${MONITORING_API} API (Prometheus Operator) is not served: cells get no PodMonitors; their Kafka still exports metrics on port tcp-prometheus. Restart the operator after installing the Prometheus Operator`);
  }
  const children = new Map<string, Informer>();
  for (const { kind, apiVersion } of CHILD_KINDS) {
    if (!withStrimzi && apiVersion.startsWith('kafka.strimzi.io/')) continue;
    if (UNWATCHED_CHILD_KINDS.has(kind)) continue; // read by name: no list/watch on Secrets (rules.ts)
    if (!withMonitoring && apiVersion === MONITORING_API) continue;
    children.set(kind, manager.informer(childResource(kind), { labelSelector: CHILD_LABEL_SELECTOR }));
  }

  manager.add(cellController(manager, children, controlPlane, config, log));
  const cells = manager.informer<Cell>(CELL_RESOURCE) as unknown as Informer<Cell>;
  manager.add(placementController(manager, controlPlane, cells, config, log));
  const cellPools = new CellPools(manager.client, cells, children.get('Secret'), cellPolicy(config));
  manager.add(migrationController(manager, controlPlane, cells, cellPools, config, log));
  const migrations = manager.informer<Migration>(MIGRATION_RESOURCE);
  registerFleetMetrics(manager.metrics.registry, () => ({ cells: cells.list(), migrations: migrations.list() }));
  await manager.runUntilSignal((code) => {
    void Promise.all([controlPlane.close(), cellPools.close()]).finally(() => process.exit(code));
  });
  // Runs until a signal; runUntilSignal exits the process.
  return new Promise<number>(() => undefined);
}

/** What Cells may reach: the same allowlist as the admission policy's ConfigMap (the chart sets both). */
function cellPolicy(config: OperatorConfig): CellPolicy {
  return { operatorNamespace: config.leaseNamespace, allowedNamespaces: config.allowedNamespaces };
}

function cellController(manager: Manager, children: Map<string, Informer>, controlPlane: ControlPlane, config: OperatorConfig, log: Logger): Controller {
  const cells = manager.informer<Cell & { metadata: { name?: string } }>(CELL_RESOURCE);
  const reconciler = new CellReconciler({
    client: manager.client,
    applier: new Applier({ client: manager.client, caches: children.values(), readBeforeApply: UNWATCHED_CHILD_KINDS, logger: log }),
    cells: cells as unknown as Informer<Cell>,
    children,
    events: manager.events,
    // Read on every reconcile: undefined until the database answers (customer counts 0 meanwhile).
    get store() {
      return controlPlane.pool;
    },
    operatorNamespace: config.leaseNamespace,
    policy: cellPolicy(config),
    log,
  });
  // A drain cordons its source, and lifts the cordon when aborted or deleted; each of those writes
  // the Migration (its status, its finalizer), so following drains shows the cordon on the Cell.
  const migrations = manager.informer<Migration & { metadata: { name?: string } }>(MIGRATION_RESOURCE);
  const drainedCell = (m: KubeObject) => {
    const spec = (m as unknown as Migration).spec;
    return spec?.customers?.all ? [spec.from] : [];
  };
  return new Controller({
    name: 'cell',
    informer: cells,
    watches: [
      ...[...children.values()].map((informer) => ({ informer, toKeys: labelKeysOf(LABEL_CELL) })),
      { informer: migrations as unknown as Informer, toKeys: drainedCell },
    ],
    reconcile: (key) => reconciler.reconcile(key),
    concurrency: config.concurrency,
    metrics: manager.metrics,
    logger: log,
  });
}

function placementController(manager: Manager, controlPlane: ControlPlane, cells: Informer<Cell>, config: OperatorConfig, log: Logger): Controller {
  const placements = manager.informer<CustomerPlacement & { metadata: { name?: string } }>(CUSTOMER_PLACEMENT_RESOURCE);
  // A cell that turns Ready or grows may take the customers that could not be placed yet.
  const unplaced = () =>
    (placements as unknown as Informer<CustomerPlacement>)
      .list()
      .filter((cp) => cp.status?.state !== 'Active' && cp.status?.state !== 'Fenced')
      .map((cp) => cp.metadata.name ?? '');
  const reconciler = new PlacementReconciler({
    client: manager.client,
    placements: placements as unknown as Informer<CustomerPlacement>,
    events: manager.events,
    get store() {
      return controlPlane.pool;
    },
  });
  return new Controller({
    name: 'customerplacement',
    informer: placements,
    watches: [{ informer: cells as unknown as Informer, toKeys: unplaced }],
    reconcile: whenDatabase(controlPlane, (key) => reconciler.reconcile(key)),
    concurrency: config.concurrency,
    metrics: manager.metrics,
    logger: log,
  });
}

function migrationController(
  manager: Manager,
  controlPlane: ControlPlane,
  cells: Informer<Cell>,
  cellPools: CellPools,
  config: OperatorConfig,
  log: Logger,
): Controller {
  const migrations = manager.informer<Migration & { metadata: { name?: string } }>(MIGRATION_RESOURCE);
  // A change to a cell (Ready, capacity) may open a gate of the migrations from or to it; waiting
  // for the cells' cache also keeps a move from looking for a cell before the cache knows it.
  const touching = (cell: KubeObject) =>
    (migrations as unknown as Informer<Migration>)
      .list()
      .filter((m) => m.spec.from === cell.metadata?.name || m.spec.to === cell.metadata?.name)
      .map((m) => m.metadata.name ?? '');
  // The drain reads each cell's brokers from the routing table's cells (their status.endpoints),
  // with the credentials of the operator's own environment (KAFKA_SECURITY_PROTOCOL, SASL).
  const kafka = config.kafkaDrain
    ? { offsets: new KafkaAdminOffsets(kafkaSettingsFromEnv(process.env, 'cell-operator', { brokers: 'none' }), log.child({ component: 'kafka-drain' })), topic: config.kafkaTopic, group: config.kafkaGroup }
    : undefined;
  const reconciler = new MigrationReconciler({
    client: manager.client,
    migrations: migrations as unknown as Informer<Migration>,
    events: manager.events,
    get store() {
      return controlPlane.pool;
    },
    cellPools,
    registry: manager.metrics.registry,
    log,
    ...(kafka ? { kafka } : {}),
  });
  return new Controller({
    name: 'migration',
    informer: migrations,
    watches: [{ informer: cells as unknown as Informer, toKeys: touching }],
    reconcile: whenDatabase(controlPlane, (key) => reconciler.reconcile(key)),
    concurrency: config.concurrency,
    metrics: manager.metrics,
    logger: log,
  });
}
