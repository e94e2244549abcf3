// The cell database: a Citus coordinator and workers (StatefulSets, Services, a PodDisruptionBudget)
// unless `spec.database.external`, and in both cases the Secret the workloads connect with.
import type {
  V1Container,
  V1PodDisruptionBudget,
  V1Probe,
  V1ResourceRequirements,
  V1Secret,
  V1Service,
  V1StatefulSet,
} from '@kubernetes/client-node';
import { IN_CLUSTER_DATABASE_DEFAULTS, type Cell } from '../../crds/cell.js';
import { cellLabels, childMetadata, componentLabels, selectorLabels, type Component } from './labels.js';
import {
  DATABASE_CA_FILE,
  DATABASE_PORT,
  databaseHasCa,
  databaseSslMode,
  databaseCoordinatorName,
  databaseHost,
  databaseName,
  databasePort,
  databaseSecretName,
  databaseWorkerName,
  IN_CLUSTER_DATABASE_USER,
} from '../../crds/cell-names.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './pod-security.js';
import { containerResources } from './container-resources.js';
import { DATABASE_SECRET_KEYS, type DatabaseCredentials } from '../../data/cell-database-credentials.js';

/** Citus 13.0.2 on PostgreSQL 17 (citusdata/docker); pin a digest in production via spec.database.image. */
export const DEFAULT_CITUS_IMAGE = 'citusdata/citus:13.0.2';

/** The `postgres` user of the official image (and so of citusdata/citus). */
export const POSTGRES_UID = 999;

export const DEFAULT_DATABASE_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '500m', memory: '1Gi' },
  limits: { memory: '1Gi' },
};

const DATA_DIR = '/var/lib/postgresql/data';

function base64(text: string): string {
  return Buffer.from(text, 'utf8').toString('base64');
}

/**
 * postgresql://user:password@host:port/db?sslmode=...&sslrootcert=... with user and password
 * percent-encoded: the CA mounted from the Secret when there is one, else (for the verifying modes)
 * libpq's `system`, the system's trusted roots (libpq >= 16).
 */
export function databaseUri(cell: Cell, credentials: DatabaseCredentials): string {
  const auth = `${encodeURIComponent(credentials.username)}:${encodeURIComponent(credentials.password)}`;
  const sslmode = databaseSslMode(cell);
  const params: string[] = [];
  if (cell.spec.database.external || sslmode !== 'disable') params.push(`sslmode=${sslmode}`);
  if (databaseHasCa(cell)) params.push(`sslrootcert=${encodeURIComponent(DATABASE_CA_FILE)}`);
  else if (sslmode === 'verify-ca' || sslmode === 'verify-full') params.push('sslrootcert=system');
  const query = params.length > 0 ? `?${params.join('&')}` : '';
  return `postgresql://${auth}@${databaseHost(cell)}:${databasePort(cell)}/${databaseName(cell)}${query}`;
}

/** The Secret in the cell namespace holding the credentials and DATABASE_URL (`uri`). */
export function buildDatabaseSecret(cell: Cell, credentials: DatabaseCredentials): V1Secret {
  const name = databaseSecretName(cell);
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMetadata(cell, name, 'database', name),
    type: 'Opaque',
    data: {
      [DATABASE_SECRET_KEYS.username]: base64(credentials.username),
      [DATABASE_SECRET_KEYS.password]: base64(credentials.password),
      [DATABASE_SECRET_KEYS.host]: base64(databaseHost(cell)),
      [DATABASE_SECRET_KEYS.port]: base64(String(databasePort(cell))),
      [DATABASE_SECRET_KEYS.database]: base64(databaseName(cell)),
      [DATABASE_SECRET_KEYS.uri]: base64(databaseUri(cell, credentials)),
      ...(credentials.ca !== undefined ? { [DATABASE_SECRET_KEYS.ca]: base64(credentials.ca) } : {}),
    },
  };
}

function pgIsReady(cell: Cell): string[] {
  return ['pg_isready', '-U', IN_CLUSTER_DATABASE_USER, '-d', databaseName(cell), '-h', '127.0.0.1', '-p', String(DATABASE_PORT)];
}

function probe(cell: Cell, settings: Omit<V1Probe, 'exec'>): V1Probe {
  return { exec: { command: pgIsReady(cell) }, timeoutSeconds: 5, ...settings };
}

function postgresContainer(cell: Cell): V1Container {
  const db = cell.spec.database;
  const shardCount = db.shardCount ?? IN_CLUSTER_DATABASE_DEFAULTS.shardCount;
  return {
    name: 'postgres',
    image: db.image ?? DEFAULT_CITUS_IMAGE,
    // The image entrypoint runs initdb on first start and creates the citus extension in POSTGRES_DB.
    args: ['postgres', '-c', `citus.shard_count=${shardCount}`],
    ports: [{ name: 'postgres', containerPort: DATABASE_PORT, protocol: 'TCP' }],
    env: [
      { name: 'POSTGRES_USER', value: IN_CLUSTER_DATABASE_USER },
      { name: 'POSTGRES_DB', value: databaseName(cell) },
      { name: 'POSTGRES_PASSWORD', valueFrom: { secretKeyRef: { name: databaseSecretName(cell), key: DATABASE_SECRET_KEYS.password } } },
      // A subdirectory: the volume's root may hold lost+found, which initdb refuses.
      { name: 'PGDATA', value: `${DATA_DIR}/pgdata` },
    ],
    resources: containerResources(db.resources, DEFAULT_DATABASE_RESOURCES),
    securityContext: restrictedContainerSecurityContext({ readOnlyRootFilesystem: true }),
    volumeMounts: [
      { name: 'data', mountPath: DATA_DIR },
      { name: 'run', mountPath: '/var/run/postgresql' },
      { name: 'tmp', mountPath: '/tmp' },
      { name: 'shm', mountPath: '/dev/shm' },
    ],
    // initdb and the first start may take minutes on slow volumes: liveness waits for startup.
    startupProbe: probe(cell, { periodSeconds: 5, failureThreshold: 120 }),
    readinessProbe: probe(cell, { periodSeconds: 10, failureThreshold: 3 }),
    livenessProbe: probe(cell, { periodSeconds: 10, failureThreshold: 6 }),
  };
}

function citusStatefulSet(cell: Cell, component: Component, name: string, replicas: number): V1StatefulSet {
  const db = cell.spec.database;
  const storage = db.storage ?? { size: IN_CLUSTER_DATABASE_DEFAULTS.storageSize };
  const deleteVolumes = cell.spec.deletionPolicy === 'Delete';
  return {
    apiVersion: 'apps/v1',
    kind: 'StatefulSet',
    metadata: childMetadata(cell, name, component, name),
    spec: {
      replicas,
      serviceName: name,
      // Workers are independent shards: start them together rather than one after another.
      podManagementPolicy: 'Parallel',
      selector: { matchLabels: selectorLabels(cell, component, name) },
      persistentVolumeClaimRetentionPolicy: {
        whenDeleted: deleteVolumes ? 'Delete' : 'Retain',
        // Scaling workers down keeps their volumes: the shards may still be needed.
        whenScaled: 'Retain',
      },
      updateStrategy: { type: 'RollingUpdate' },
      template: {
        metadata: { labels: componentLabels(cell, component, name) },
        spec: {
          securityContext: restrictedPodSecurityContext({ runAsUser: POSTGRES_UID, fsGroup: POSTGRES_UID }),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 60,
          containers: [postgresContainer(cell)],
          volumes: [
            { name: 'run', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
            { name: 'shm', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } },
          ],
        },
      },
      volumeClaimTemplates: [
        {
          // Immutable once the StatefulSet exists: only labels that never change.
          metadata: { name: 'data', labels: cellLabels(cell) },
          spec: {
            accessModes: ['ReadWriteOnce'],
            ...(storage.class !== undefined ? { storageClassName: storage.class } : {}),
            resources: { requests: { storage: storage.size } },
          },
        },
      ],
    },
  };
}

function service(cell: Cell, component: Component, name: string, headless: boolean): V1Service {
  return {
    apiVersion: 'v1',
    kind: 'Service',
    metadata: childMetadata(cell, name, component, name),
    spec: {
      selector: selectorLabels(cell, component, name),
      ports: [{ name: 'postgres', port: DATABASE_PORT, targetPort: 'postgres', protocol: 'TCP' }],
      ...(headless
        ? // Per-pod DNS for citus_add_node, also while a worker is starting.
          { clusterIP: 'None', publishNotReadyAddresses: true }
        : { type: 'ClusterIP' }),
    },
  };
}

/** The coordinator StatefulSet (one replica) and the worker StatefulSet (`spec.database.workers`). */
export function buildDatabaseStatefulSets(cell: Cell): V1StatefulSet[] {
  const workers = cell.spec.database.workers ?? IN_CLUSTER_DATABASE_DEFAULTS.workers;
  return [
    citusStatefulSet(cell, 'database-coordinator', databaseCoordinatorName(cell), 1),
    citusStatefulSet(cell, 'database-worker', databaseWorkerName(cell), workers),
  ];
}

/** The coordinator's ClusterIP Service (what clients use) and the workers' headless Service. */
export function buildDatabaseServices(cell: Cell): V1Service[] {
  return [
    service(cell, 'database-coordinator', databaseCoordinatorName(cell), false),
    service(cell, 'database-worker', databaseWorkerName(cell), true),
  ];
}

/**
 * At most one worker voluntarily down at a time. The single coordinator gets no budget: a
 * minAvailable of 1 on one replica would block every node drain until a person steps in.
 */
export function buildDatabasePodDisruptionBudget(cell: Cell): V1PodDisruptionBudget {
  const name = databaseWorkerName(cell);
  return {
    apiVersion: 'policy/v1',
    kind: 'PodDisruptionBudget',
    metadata: childMetadata(cell, name, 'database-worker', name),
    spec: {
      maxUnavailable: 1,
      selector: { matchLabels: selectorLabels(cell, 'database-worker', name) },
      // A worker that is not ready anyway may be evicted, so a broken pod cannot block a drain.
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
}

/**
 * Every database object of the cell, in apply order: the Secret (when the credentials are known),
 * then, for an in-cluster database, the Services, the StatefulSets and the budget.
 */
export function buildDatabase(
  cell: Cell,
  credentials: DatabaseCredentials | undefined,
): (V1Secret | V1Service | V1StatefulSet | V1PodDisruptionBudget)[] {
  const out: (V1Secret | V1Service | V1StatefulSet | V1PodDisruptionBudget)[] = [];
  if (credentials) out.push(buildDatabaseSecret(cell, credentials));
  if (!cell.spec.database.external) {
    out.push(...buildDatabaseServices(cell), ...buildDatabaseStatefulSets(cell), buildDatabasePodDisruptionBudget(cell));
  }
  return out;
}
