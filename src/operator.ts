// `cell-operator operator`: wires the controllers (Cell, CustomerPlacement, Migration) to the shared
// informers, the control-plane database and the manager (health, leader election, shutdown).
import type { OperatorConfig } from './config.js';
import { setupCellController } from './controllers/cell/cell-setup.js';
import { setupMigrationController } from './controllers/migration/migration-setup.js';
import { setupPlacementController } from './controllers/placement/placement-setup.js';
import { createLogger, type Logger } from './log.js';
import { apiServed, whenApiServed } from './runtime/api-discovery.js';
import { loadKubeConfig } from './runtime/kube-config.js';
import { Manager } from './runtime/manager.js';
import { openStore, type Store } from './store/store.js';
import { OPERATOR_NAME, PACKAGE_VERSION } from './version.js';

/** Strimzi's API; its kinds get informers only when it is served at start. */
const STRIMZI_API = 'kafka.strimzi.io/v1';
/** How often an operator started without Strimzi asks whether its CRDs were installed since. */
const STRIMZI_RECHECK_MS = 30_000;

async function openControlPlane(config: OperatorConfig, log: Logger): Promise<Store | undefined> {
  if (!config.databaseUrl) {
    log.warn('no control-plane database (--database-url / CONTROL_PLANE_DATABASE_URL): customer counts stay 0 and CustomerPlacements are not placed');
    return undefined;
  }
  return openStore({ url: config.databaseUrl, applicationName: 'cell-operator' }, { log });
}

export async function runOperator(config: OperatorConfig): Promise<number> {
  const log = createLogger({ level: config.logLevel });
  const kubeConfig = loadKubeConfig(config.kubeconfig ? { ...process.env, KUBECONFIG: config.kubeconfig } : process.env);
  const store = await openControlPlane(config, log);
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

  const withStrimzi = await apiServed(manager.client, STRIMZI_API);
  if (!withStrimzi) {
    log.error(`the ${STRIMZI_API} API is not served: install Strimzi (>= 0.49); Cells report StrimziNotInstalled until then, and the operator exits once it is served, for its Deployment to start it again`);
    // Informers are made at start: exit cleanly (SIGTERM's path: Lease released) and let the
    // Deployment start the operator again, this time watching Strimzi's kinds.
    whenApiServed(manager.client, STRIMZI_API, STRIMZI_RECHECK_MS, () => {
      log.warn(`the ${STRIMZI_API} API is served now: exiting, for the Deployment to start the operator again watching Strimzi's kinds`);
      process.kill(process.pid, 'SIGTERM');
    });
  }
  // Each controller declares its own informers and watches.
  const common = { store: store?.pool, concurrency: config.concurrency, log };
  const { children } = setupCellController(manager, { ...common, withStrimzi, operatorNamespace: config.leaseNamespace });
  setupPlacementController(manager, common);
  const secrets = children.get('Secret');
  const { cellPools } = setupMigrationController(manager, { ...common, ...(secrets ? { secrets } : {}) });
  await manager.runUntilSignal((code) => {
    void Promise.all([store?.close(), cellPools.close()]).finally(() => process.exit(code));
  });
  // Runs until a signal; runUntilSignal exits the process.
  return new Promise<number>(() => undefined);
}
