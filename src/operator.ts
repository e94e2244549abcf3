// `cell-operator operator`: wires the controllers (Cell, CustomerPlacement, Migration) to the shared
// informers, the control-plane database and the manager (health, leader election, shutdown).
import type { OperatorConfig } from './config.js';
import { setupCellController } from './controllers/cell/cell-setup.js';
import { setupMigrationController } from './controllers/migration/migration-setup.js';
import { setupPlacementController } from './controllers/placement/placement-setup.js';
import { setupRebalanceController } from './controllers/rebalance/rebalance-setup.js';
import { setupReleaseController } from './controllers/release/release-setup.js';
import { registerFleetMetrics } from './controllers/fleet/fleet-metrics.js';
import { ControlPlane } from './control-plane.js';
import { API_VERSION, CELL_RELEASE, GROUP } from './crds/group.js';
import { CELL_RESOURCE, MIGRATION_RESOURCE } from './crds/resources.js';
import { KafkaAdminOffsets } from './kafka/group-offsets.js';
import { kafkaSettingsFromEnv } from './kafka/kafka-settings.js';
import { createLogger } from './log.js';
import type { CellPolicy } from './policy/cell-policy.js';
import { apiServed, resourceServed, whenApiServed } from './runtime/api-discovery.js';
import { loadKubeConfig } from './runtime/kube-config.js';
import { Manager } from './runtime/manager.js';
import { retryUntilAvailable } from './runtime/start-retry.js';
import { OPERATOR_NAME, PACKAGE_VERSION } from './version.js';

/** Strimzi's API; its kinds get informers only when it is served at start. */
const STRIMZI_API = 'kafka.strimzi.io/v1';
/** The Prometheus Operator's API; cells get PodMonitors only when it is served at start. */
const MONITORING_API = 'monitoring.coreos.com/v1';
/** How often an operator started without Strimzi asks whether its CRDs were installed since. */
const STRIMZI_RECHECK_MS = 30_000;

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
  const controlPlane = new ControlPlane(config.databaseUrl, log, manager.metrics.registry, ['customerplacement', 'migration', 'rebalance']);
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
  // What Cells may reach: the same allowlist as the admission policy (the chart sets both).
  const policy: CellPolicy = { operatorNamespace: config.leaseNamespace, allowedNamespaces: config.allowedNamespaces };
  // The Kafka drain reads each cell's brokers from the routing table's cells (their status.endpoints),
  // with the credentials of the operator's own environment (KAFKA_SECURITY_PROTOCOL, SASL).
  const kafka = config.kafkaDrain
    ? { offsets: new KafkaAdminOffsets(kafkaSettingsFromEnv(process.env, 'cell-operator', { brokers: 'none' }), log.child({ component: 'kafka-drain' })), topic: config.kafkaTopic, group: config.kafkaGroup, maxDrainMs: config.kafkaMaxDrainSeconds * 1000 }
    : undefined;

  // Each controller declares its own informers and watches.
  const common = { controlPlane, concurrency: config.concurrency, log };
  // Helm does not upgrade CRDs: after an upgrade the CellRelease CRD may be missing until applied.
  const withReleases = await resourceServed(manager.client, API_VERSION, CELL_RELEASE.plural);
  if (!withReleases) log.warn(`the ${CELL_RELEASE.plural}.${GROUP} CRD is not installed: CellReleases are off. Apply config/crd/ (or the chart's crds/) and restart the operator`);
  const { clusters } = setupCellController(manager, { ...common, withStrimzi, withMonitoring, withReleases, operatorNamespace: config.leaseNamespace, policy });
  setupPlacementController(manager, common);
  if (withReleases) setupReleaseController(manager, { concurrency: config.concurrency, log });
  const cellClient = (cell: { spec: { cluster?: { name: string } } }) => (cell.spec.cluster ? clusters.get(cell.spec.cluster.name)?.client : undefined);
  const { cellPools } = setupMigrationController(manager, { ...common, policy, cellClient, ...(kafka ? { kafka } : {}) });
  setupRebalanceController(manager, { ...common, cells: (cell) => cellPools.database(cell) });
  registerFleetMetrics(manager.metrics.registry, () => ({ cells: manager.informer(CELL_RESOURCE).list(), migrations: manager.informer(MIGRATION_RESOURCE).list() }));
  await manager.runUntilSignal((code) => {
    void Promise.all([controlPlane.close(), cellPools.close(), clusters.stop()]).finally(() => process.exit(code));
  });
  // Runs until a signal; runUntilSignal exits the process.
  return new Promise<number>(() => undefined);
}
