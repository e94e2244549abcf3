// The cell database: a Citus coordinator and workers (StatefulSets, Services, a PodDisruptionBudget)
// unless `spec.database.external`, and in both cases the Secret the workloads connect with; the
// in-cluster servers serve TLS with a certificate of the cell's own CA (data/cell-database-tls.ts).
import { createHash } from 'node:crypto';
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
  databaseTlsSecretName,
  databaseWorkerName,
  IN_CLUSTER_DATABASE_USER,
} from '../../crds/cell-names.js';
import { restrictedContainerSecurityContext, restrictedPodSecurityContext } from './pod-security.js';
import { containerResources } from './container-resources.js';
import { DATABASE_SECRET_KEYS, type DatabaseCredentials } from '../../data/cell-database-credentials.js';
import { DATABASE_TLS_KEYS, type DatabaseTls } from '../../data/cell-database-tls.js';

/** Citus 13.0.2 on PostgreSQL 17 (citusdata/docker); pin a digest in production via spec.database.image. */
export const DEFAULT_CITUS_IMAGE = 'citusdata/citus:13.0.2';

/** The `postgres` user of the official image (and so of citusdata/citus). */
export const POSTGRES_UID = 999;

export const DEFAULT_DATABASE_RESOURCES: V1ResourceRequirements = {
  requests: { cpu: '500m', memory: '1Gi' },
  limits: { memory: '1Gi' },
};

const DATA_DIR = '/var/lib/postgresql/data';
/** Where the servers find their certificate, key and the cell's CA (from the TLS Secret). */
const TLS_DIR = '/etc/postgresql-tls';
/** On the pod template: a new server certificate rolls the pods, since PostgreSQL reads it at start. */
export const TLS_CERT_HASH_ANNOTATION = 'cells.platform.io/tls-cert-hash';

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
  return databaseSecret(cell, databaseSecretName(cell), 'Opaque', {
    [DATABASE_SECRET_KEYS.username]: credentials.username,
    [DATABASE_SECRET_KEYS.password]: credentials.password,
    [DATABASE_SECRET_KEYS.host]: databaseHost(cell),
    [DATABASE_SECRET_KEYS.port]: String(databasePort(cell)),
    [DATABASE_SECRET_KEYS.database]: databaseName(cell),
    [DATABASE_SECRET_KEYS.uri]: databaseUri(cell, credentials),
    ...(credentials.ca !== undefined ? { [DATABASE_SECRET_KEYS.ca]: credentials.ca } : {}),
  });
}

/** A Secret of the cell's database, named `name`, holding `values` (base64-encoded here). */
function databaseSecret(cell: Cell, name: string, type: string, values: Record<string, string>): V1Secret {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: childMetadata(cell, name, 'database', name),
    type,
    data: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, base64(v)])),
  };
}

function pgIsReady(cell: Cell): string[] {
  return ['pg_isready', '-U', IN_CLUSTER_DATABASE_USER, '-d', databaseName(cell), '-h', '127.0.0.1', '-p', String(DATABASE_PORT)];
}

function probe(cell: Cell, settings: Omit<V1Probe, 'exec'>): V1Probe {
  return { exec: { command: pgIsReady(cell) }, timeoutSeconds: 5, ...settings };
}

/**
 * The TLS Secret: the cell's CA (its key stays in this Secret: the pods mount the certificate, its
 * key and ca.crt only) and the servers' certificate for the coordinator and every worker.
 */
export function buildDatabaseTlsSecret(cell: Cell, tls: DatabaseTls): V1Secret {
  return databaseSecret(cell, databaseTlsSecretName(cell), 'kubernetes.io/tls', {
    [DATABASE_TLS_KEYS.cert]: tls.cert,
    [DATABASE_TLS_KEYS.key]: tls.key,
    [DATABASE_TLS_KEYS.ca]: tls.ca,
    [DATABASE_TLS_KEYS.caKey]: tls.caKey,
  });
}

/**
 * PostgreSQL serves TLS with the cell's certificate; Citus connects between coordinator and workers
 * with verify-full against the cell's CA (the certificate names every worker pod).
 */
function tlsArgs(): string[] {
  return [
    '-c', 'ssl=on',
    '-c', `ssl_cert_file=${TLS_DIR}/${DATABASE_TLS_KEYS.cert}`,
    '-c', `ssl_key_file=${TLS_DIR}/${DATABASE_TLS_KEYS.key}`,
    '-c', 'ssl_min_protocol_version=TLSv1.2',
    '-c', `citus.node_conninfo=sslmode=verify-full sslrootcert=${TLS_DIR}/${DATABASE_TLS_KEYS.ca}`,
  ];
}

function postgresContainer(cell: Cell): V1Container {
  const db = cell.spec.database;
  const shardCount = db.shardCount ?? IN_CLUSTER_DATABASE_DEFAULTS.shardCount;
  return {
    name: 'postgres',
    image: db.image ?? DEFAULT_CITUS_IMAGE,
    // The image entrypoint runs initdb on first start and creates the citus extension in POSTGRES_DB.
    args: ['postgres', '-c', `citus.shard_count=${shardCount}`, ...tlsArgs()],
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
      { name: 'tls', mountPath: TLS_DIR, readOnly: true },
    ],
    // initdb and the first start may take minutes on slow volumes: liveness waits for startup.
    startupProbe: probe(cell, { periodSeconds: 5, failureThreshold: 120 }),
    readinessProbe: probe(cell, { periodSeconds: 10, failureThreshold: 3 }),
    livenessProbe: probe(cell, { periodSeconds: 10, failureThreshold: 6 }),
  };
}

/** The Prometheus community's PostgreSQL exporter, beside every database pod (its metrics on :9187). */
export const DEFAULT_POSTGRES_EXPORTER_IMAGE = 'quay.io/prometheuscommunity/postgres-exporter:v0.17.1';
/** The exporter's port, which the database PodMonitor scrapes (monitoring-builder.ts). */
export const DATABASE_METRICS_PORT = { name: 'metrics', port: 9187 } as const;

/**
 * postgres_exporter as a sidecar: it reads the server over localhost (TLS required, the server's
 * own certificate is for the Service names) with the cell's database user, and exports connections,
 * locks, replication, database sizes and pg_stat_* for the PodMonitor of the cell's database.
 */
function exporterContainer(cell: Cell): V1Container {
  return {
    name: 'postgres-exporter',
    image: DEFAULT_POSTGRES_EXPORTER_IMAGE,
    ports: [{ name: DATABASE_METRICS_PORT.name, containerPort: DATABASE_METRICS_PORT.port, protocol: 'TCP' }],
    env: [
      { name: 'DATA_SOURCE_URI', value: `localhost:${DATABASE_PORT}/${databaseName(cell)}?sslmode=require` },
      { name: 'DATA_SOURCE_USER', value: IN_CLUSTER_DATABASE_USER },
      { name: 'DATA_SOURCE_PASS', valueFrom: { secretKeyRef: { name: databaseSecretName(cell), key: DATABASE_SECRET_KEYS.password } } },
    ],
    resources: { requests: { cpu: '10m', memory: '32Mi' }, limits: { memory: '64Mi' } },
    securityContext: restrictedContainerSecurityContext({ readOnlyRootFilesystem: true }),
    readinessProbe: { httpGet: { path: '/', port: DATABASE_METRICS_PORT.name }, periodSeconds: 10, timeoutSeconds: 5 },
  };
}

function citusStatefulSet(cell: Cell, component: Component, name: string, replicas: number, tlsCertHash: string | undefined): V1StatefulSet {
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
        metadata: {
          labels: componentLabels(cell, component, name),
          ...(tlsCertHash ? { annotations: { [TLS_CERT_HASH_ANNOTATION]: tlsCertHash } } : {}),
        },
        spec: {
          securityContext: restrictedPodSecurityContext({ runAsUser: POSTGRES_UID, fsGroup: POSTGRES_UID }),
          automountServiceAccountToken: false,
          enableServiceLinks: false,
          terminationGracePeriodSeconds: 60,
          containers: [postgresContainer(cell), exporterContainer(cell)],
          volumes: [
            { name: 'run', emptyDir: {} },
            { name: 'tmp', emptyDir: {} },
            { name: 'shm', emptyDir: { medium: 'Memory', sizeLimit: '1Gi' } },
            {
              name: 'tls',
              secret: {
                secretName: databaseTlsSecretName(cell),
                // Not the CA's key. 0640 with the fsGroup: PostgreSQL takes a root-owned key readable by its group.
                items: [DATABASE_TLS_KEYS.cert, DATABASE_TLS_KEYS.key, DATABASE_TLS_KEYS.ca].map((key) => ({ key, path: key })),
                defaultMode: 0o640,
              },
            },
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
export function buildDatabaseStatefulSets(cell: Cell, tls?: Pick<DatabaseTls, 'cert'>): V1StatefulSet[] {
  const workers = cell.spec.database.workers ?? IN_CLUSTER_DATABASE_DEFAULTS.workers;
  const hash = tls ? createHash('sha256').update(tls.cert).digest('hex').slice(0, 16) : undefined;
  return [
    citusStatefulSet(cell, 'database-coordinator', databaseCoordinatorName(cell), 1, hash),
    citusStatefulSet(cell, 'database-worker', databaseWorkerName(cell), workers, hash),
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
 * Every database object of the cell, in apply order: the Secrets (when the credentials are known;
 * in-cluster, the TLS Secret too), then, for an in-cluster database, the Services, the StatefulSets
 * and the budget.
 */
export function buildDatabase(
  cell: Cell,
  credentials: DatabaseCredentials | undefined,
): (V1Secret | V1Service | V1StatefulSet | V1PodDisruptionBudget)[] {
  const out: (V1Secret | V1Service | V1StatefulSet | V1PodDisruptionBudget)[] = [];
  if (credentials) out.push(buildDatabaseSecret(cell, credentials));
  if (!cell.spec.database.external) {
    if (credentials?.serverTls) out.push(buildDatabaseTlsSecret(cell, credentials.serverTls));
    out.push(...buildDatabaseServices(cell), ...buildDatabaseStatefulSets(cell, credentials?.serverTls), buildDatabasePodDisruptionBudget(cell));
  }
  return out;
}
