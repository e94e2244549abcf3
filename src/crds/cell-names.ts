// The names and addresses of a cell's children, in one place so that the builders, the reconciler
// and the status agree on them. Every child lives in the cell namespace.
import type { Cell, SslMode, WorkloadSpec } from './cell.js';

/** The namespace of every child: `spec.namespace`, or `cell-<name>`. */
export function cellNamespace(cell: Cell): string {
  return cell.spec.namespace ?? `cell-${cellName(cell)}`;
}

export function cellName(cell: Cell): string {
  const name = cell.metadata.name;
  if (!name) throw new Error('a Cell without metadata.name has no children');
  return name;
}

// --- Kafka (Strimzi names its Services and pods after the Kafka: `<kafka>-kafka-bootstrap`) -------

/** The Strimzi Kafka cluster is named after the cell, so its pods and metrics say which cell. */
export function kafkaName(cell: Cell): string {
  return cellName(cell);
}

export const CONTROLLER_POOL = 'controllers';
export const BROKER_POOL = 'brokers';

export const KAFKA_PLAIN_LISTENER = { name: 'plain', port: 9092 } as const;
export const KAFKA_TLS_LISTENER = { name: 'tls', port: 9093 } as const;

/** The bootstrap address Strimzi gives the plain listener: known before the Kafka reports it. */
export function conventionalKafkaBootstrap(cell: Cell): string {
  return `${kafkaName(cell)}-kafka-bootstrap.${cellNamespace(cell)}.svc:${KAFKA_PLAIN_LISTENER.port}`;
}

export function conventionalKafkaBootstrapTls(cell: Cell): string {
  return `${kafkaName(cell)}-kafka-bootstrap.${cellNamespace(cell)}.svc:${KAFKA_TLS_LISTENER.port}`;
}

/** The KafkaTopic object of a topic: topic names are already DNS-1123 subdomains (see cell.ts). */
export function kafkaTopicObjectName(topic: string): string {
  return topic;
}

/** The KafkaUser of a workload; it is also the SCRAM user name the workload logs in with. */
export function kafkaUserName(workload: Pick<WorkloadSpec, 'name'>): string {
  return workload.name;
}

/**
 * The User Operator writes each KafkaUser's credentials to a Secret named with this prefix, so
 * that they never collide with a Secret of the same name that a team keeps for its workload.
 */
export const KAFKA_USER_SECRET_PREFIX = 'kafka-user-';

export function kafkaUserSecretName(workload: Pick<WorkloadSpec, 'name'>): string {
  return `${KAFKA_USER_SECRET_PREFIX}${kafkaUserName(workload)}`;
}

// --- Database ---------------------------------------------------------------------------------------

export const DATABASE_PORT = 5432;

/**
 * The Citus coordinator StatefulSet, and its ClusterIP Service: the address clients use, so it is
 * simply `<cell>-db`. StatefulSet names stay within 52 characters (cell names have at most 40),
 * because each pod's controller-revision-hash label is the name plus an 11-character suffix.
 */
export function databaseCoordinatorName(cell: Cell): string {
  return `${cellName(cell)}-db`;
}

/** The Citus worker StatefulSet, and its headless Service (`<worker>-N.<service>` per pod). */
export function databaseWorkerName(cell: Cell): string {
  return `${cellName(cell)}-db-worker`;
}

/** The Secret in the cell namespace with the database credentials and DATABASE_URL. */
export function databaseSecretName(cell: Cell): string {
  return `${cellName(cell)}-db-credentials`;
}

/** The host of the cell database: the coordinator Service, or the external server. */
export function databaseHost(cell: Cell): string {
  const external = cell.spec.database.external;
  return external ? external.host : `${databaseCoordinatorName(cell)}.${cellNamespace(cell)}.svc`;
}

export function databasePort(cell: Cell): number {
  return cell.spec.database.external?.port ?? DATABASE_PORT;
}

/**
 * The libpq sslmode of every connection to the cell database: the external one's (verify-full by
 * default); the in-cluster one serves a certificate of the cell's own CA, checked with verify-full.
 */
export function databaseSslMode(cell: Cell): SslMode {
  return cell.spec.database.external?.sslMode ?? 'verify-full';
}

/** Whether the database Secret carries a CA (key ca.crt) for the workloads to check the server with. */
export function databaseHasCa(cell: Cell): boolean {
  const external = cell.spec.database.external;
  return external ? external.caRef !== undefined : true;
}

/** The in-cluster database's TLS Secret: the cell's CA (certificate and key) and the servers' certificate. */
export function databaseTlsSecretName(cell: Cell): string {
  return `${cellName(cell)}-db-tls`;
}

/** The names the in-cluster servers' certificate holds: the coordinator Service, every worker pod, and the pod itself. */
export function databaseServerHosts(cell: Cell): string[] {
  const ns = cellNamespace(cell);
  const coordinator = databaseCoordinatorName(cell);
  const worker = databaseWorkerName(cell);
  return [`${coordinator}.${ns}.svc`, `${coordinator}.${ns}.svc.cluster.local`, `*.${worker}.${ns}.svc`, `*.${worker}.${ns}.svc.cluster.local`, 'localhost', '127.0.0.1'];
}

/** Where the workloads find the database CA (the `sslrootcert` of their DATABASE_URL). */
export const DATABASE_CA_DIR = '/etc/cell-database';
export const DATABASE_CA_FILE = `${DATABASE_CA_DIR}/ca.crt`;

/** The in-cluster database's name: the citus image creates the extension in this database. */
export const IN_CLUSTER_DATABASE_NAME = 'telemetry';
/** The in-cluster database's superuser, created by the image's entrypoint. */
export const IN_CLUSTER_DATABASE_USER = 'postgres';

export function databaseName(cell: Cell): string {
  return cell.spec.database.external?.database ?? IN_CLUSTER_DATABASE_NAME;
}

/** The DNS name of worker `index`, as the coordinator registers it (`citus_add_node`). */
export function databaseWorkerHost(cell: Cell, index: number): string {
  const worker = databaseWorkerName(cell);
  return `${worker}-${index}.${worker}.${cellNamespace(cell)}.svc`;
}

// --- Network policies ------------------------------------------------------------------------------

export const NETWORK_POLICY_NAMES = {
  defaultDeny: 'default-deny',
  dnsEgress: 'allow-dns-egress',
  kafkaInternal: 'kafka-internal',
  entityOperatorToApiServer: 'kafka-entity-operator-to-api-server',
  kafkaFromClients: 'kafka-from-clients',
  clientsToKafka: 'clients-to-kafka',
  databaseInternal: 'database-internal',
  databaseFromClients: 'database-from-clients',
  databaseFromOperator: 'database-from-operator',
  clientsToDatabase: 'clients-to-database',
} as const;

/** The policy that opens a workload's port to the rest of the cluster (routers, gateways). */
export function workloadIngressPolicyName(workload: Pick<WorkloadSpec, 'name'>): string {
  return `workload-${workload.name}-ingress`;
}
