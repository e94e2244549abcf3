// The Cell kind: one self-contained copy of the stack (Kafka, a sharded Postgres, the workloads) in
// its own namespace. The zod schemas are the source of the TypeScript types and of the CRD.
import { z } from 'zod';
import type { V1ObjectMeta } from '@kubernetes/client-node';
import { listMap, listSet, withCel } from './cel.js';
import { ConditionsSchema } from './condition.js';
import type { API_VERSION } from './group.js';
import {
  boundedRecord,
  EnvSchema,
  ResourceRequirementsSchema,
  StorageSchema,
  StorageSizeSchema,
} from './kube-types.js';
import { CustomerIdSchema, DNS_SUBDOMAIN_PATTERN, DnsLabelSchema, DnsSubdomainSchema, RegionSchema } from './names.js';
import { parseWith, type ParseResult } from './parse.js';

export const CELL_STATES = ['Active', 'Cordoned', 'Draining'] as const;
export const CELL_PHASES = ['Provisioning', 'Ready', 'Updating', 'Degraded', 'Draining', 'Deleting'] as const;
export const DELETION_POLICIES = ['Retain', 'Delete'] as const;
export const TABLE_MODES = ['Mutable', 'AppendOnly'] as const;
export const SSL_MODES = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
/** The sslModes that check the server certificate against a CA (require does with a caRef, as libpq's with sslrootcert). */
export const CA_SSL_MODES = ['require', 'verify-ca', 'verify-full'] as const;
export const CA_REF_KINDS = ['Secret', 'ConfigMap'] as const;
export const DATABASE_ENGINES = ['Citus', 'PostgreSQL'] as const;

/** Condition types a Cell reports (kstatus reads Reconciling and Stalled). */
export const CELL_CONDITIONS = {
  ready: 'Ready',
  kafkaReady: 'KafkaReady',
  databaseReady: 'DatabaseReady',
  workloadsReady: 'WorkloadsReady',
  /** True while the cell takes no new customers: its spec.state, or a drain's cordon. */
  cordoned: 'Cordoned',
  /** Only for a Cell with spec.cluster: whether that cluster's API server answers (with its version). */
  clusterReachable: 'ClusterReachable',
  reconciling: 'Reconciling',
  stalled: 'Stalled',
} as const;

/**
 * What the operator uses for an in-cluster database when the spec leaves a field out. These are
 * not CRD defaults because an external database must leave the same fields unset.
 */
export const IN_CLUSTER_DATABASE_DEFAULTS = { workers: 2, shardCount: 32, storageSize: '100Gi' } as const;

// --- Kafka ----------------------------------------------------------------------------------------

const KAFKA_TOPIC_PATTERN = DNS_SUBDOMAIN_PATTERN;
const KafkaTopicNameSchema = z
  .string()
  .min(1)
  .max(200)
  .regex(KAFKA_TOPIC_PATTERN, 'must be lowercase letters, digits, "-" and "." (it also names the KafkaTopic object)');

/** Kafka configuration values are integers or strings (quote booleans: "true"). */
const KafkaConfigSchema = boundedRecord(z.string().min(1).max(253), z.union([z.int(), z.string().max(4096)]), 200);

const KafkaTopicSchema = z
  .object({
    name: KafkaTopicNameSchema.describe('Topic name; also the name of the KafkaTopic object in the cell namespace.'),
    partitions: z
      .int()
      .min(1)
      .max(10000)
      .describe('Number of partitions. Records are keyed by customer id, so a customer stays in one partition.'),
    replicas: z
      .int()
      .min(1)
      .max(10)
      .optional()
      .describe('Replication factor; min(3, spec.kafka.brokers.replicas) when omitted. At most the number of brokers.'),
    retentionHours: z
      .int()
      .min(1)
      .optional()
      .describe("How long records are kept (retention.ms); the broker's default (168 hours) when omitted."),
    config: KafkaConfigSchema.optional().describe(
      'Further topic configuration (cleanup.policy, max.message.bytes, ...); values are integers or strings.',
    ),
  })
  .describe('A Kafka topic of the cell.');

const KafkaNodePoolSchema = (what: string, replicas: number, size: string) =>
  z
    .object({
      replicas: z.int().min(1).max(100).default(replicas).describe(`Number of ${what}.`),
      storage: z
        .object({
          size: StorageSizeSchema.default(size).describe(`Size of each ${what.replace(/s$/, '')}'s volume.`),
          class: DnsSubdomainSchema.optional().describe(
            'StorageClass of the volumes; the cluster default StorageClass when omitted.',
          ),
        })
        .prefault({})
        .describe(`Persistent volume of each of the ${what}.`),
      resources: ResourceRequirementsSchema.optional().describe(`Compute resources of each of the ${what}.`),
    })
    .prefault({});

const KafkaControllersSchema = withCel(KafkaNodePoolSchema('KRaft controllers', 3, '20Gi'), [
  {
    // Guarded with has(): the API server validates the raw `default: {}` of this object too.
    rule: '!has(self.replicas) || self.replicas % 2 == 1',
    message: 'spec.kafka.controllers.replicas must be odd (1, 3, 5) so that the KRaft quorum keeps a majority',
    fieldPath: '.replicas',
    check: (s) => s.replicas % 2 === 1,
  },
]).describe('The KRaft controller node pool (the metadata quorum); not used for data.');

const KafkaBrokersSchema = KafkaNodePoolSchema('brokers', 3, '100Gi').describe('The broker node pool that stores the topics.');

export const KafkaSpecSchema = withCel(
  z.object({
    version: z
      .string()
      .regex(/^[0-9]+\.[0-9]+\.[0-9]+$/)
      .max(32)
      .optional()
      .describe("Kafka version, for example 4.1.0; the Strimzi operator's default version when omitted."),
    controllers: KafkaControllersSchema,
    brokers: KafkaBrokersSchema,
    topics: listMap(z.array(KafkaTopicSchema).min(1).max(100), ['name']).describe(
      'Topics of the cell, merged by name. Must include the telemetry topic (spec.kafka.telemetryTopic).',
    ),
    telemetryTopic: KafkaTopicNameSchema.default('telemetry').describe(
      'The topic devices write telemetry to, injected into workloads as KAFKA_TELEMETRY_TOPIC; must be listed in topics.',
    ),
    config: KafkaConfigSchema.optional().describe(
      'Further broker configuration, merged over the operator\'s production defaults (default.replication.factor, min.insync.replicas, ...).',
    ),
  }),
  [
    {
      rule: 'self.topics.exists(t, t.name == self.telemetryTopic)',
      message: 'spec.kafka.telemetryTopic must name one of spec.kafka.topics',
      fieldPath: '.telemetryTopic',
      check: (s) => s.topics.some((t) => t.name === s.telemetryTopic),
    },
    {
      rule: 'self.topics.all(t, !has(t.replicas) || t.replicas <= self.brokers.replicas)',
      message: 'a topic cannot have more replicas than spec.kafka.brokers.replicas',
      fieldPath: '.topics',
      check: (s) => s.topics.every((t) => t.replicas === undefined || t.replicas <= s.brokers.replicas),
    },
  ],
).describe('The Kafka cluster of the cell: a Strimzi Kafka in KRaft mode with a controller and a broker node pool, and its topics.');

// --- Database ---------------------------------------------------------------------------------------

const SQL_IDENTIFIER = /^[a-z_][a-z0-9_]*$/;
const SqlIdentifierSchema = z.string().min(1).max(63).regex(SQL_IDENTIFIER, 'must be a lowercase SQL identifier');

const TenantTableSchema = withCel(
  z
    .object({
      name: z
        .string()
        .min(1)
        .max(127)
        .regex(/^([a-z_][a-z0-9_]*\.)?[a-z_][a-z0-9_]*$/, 'must be a table name, optionally schema-qualified (schema.table)')
        .describe('Table name, optionally schema-qualified (telemetry.readings); unqualified names are in public.'),
      mode: z
        .enum(TABLE_MODES)
        .default('Mutable')
        .describe(
          'AppendOnly: rows are only inserted, so a move catches up by primary key or watermarkColumn. Mutable: rows change in place, so the table is copied again under the write fence; keep such tables small.',
        ),
      watermarkColumn: SqlIdentifierSchema.optional().describe(
        'AppendOnly tables only: an ever-increasing column (an insert timestamp or sequence) to catch up by, instead of the primary key.',
      ),
    })
    .describe('A table holding rows of customers, moved with them.'),
  [
    {
      rule: "!has(self.watermarkColumn) || self.mode == 'AppendOnly'",
      message: 'watermarkColumn applies only to tables with mode AppendOnly',
      fieldPath: '.watermarkColumn',
      check: (s) => s.watermarkColumn === undefined || s.mode === 'AppendOnly',
    },
  ],
);

/** A host name or an IPv4 address, as libpq takes it. */
const HostSchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9.]*[A-Za-z0-9])?$/, 'must be a host name or an IPv4 address');
const PortSchema = z.int().min(1).max(65535).default(5432);

const CaRefSchema = z
  .object({
    kind: z.enum(CA_REF_KINDS).default('Secret').describe('Secret or ConfigMap.'),
    name: DnsSubdomainSchema.describe('Name of the Secret or ConfigMap.'),
    namespace: DnsLabelSchema.describe("Namespace of the Secret or ConfigMap: the operator's, the cell's, or one the operator allows (as for secretRef)."),
    key: z
      .string()
      .min(1)
      .max(253)
      .regex(/^[-._a-zA-Z0-9]+$/, 'must be a Secret or ConfigMap key')
      .default('ca.crt')
      .describe('Key holding the PEM bundle of the CA certificates.'),
  })
  .describe(
    "The CA (PEM) that signed the server's certificate: the operator and the workloads check the server against it. Omitted: the system's trusted roots (a public CA).",
  );

const ExternalDatabaseSchema = withCel(
  z.object({
    host: HostSchema
      .describe('Host name or IP address of the PostgreSQL (or Citus coordinator) server.'),
    port: PortSchema.describe('TCP port of the server.'),
    database: SqlIdentifierSchema.describe('Database holding the tenant tables.'),
    sslMode: z
      .enum(SSL_MODES)
      .default('verify-full')
      .describe(
        "libpq sslmode of the operator's and the workloads' connections, with libpq's meaning: verify-full (the default) checks the certificate chain against caRef and the host name; verify-ca the chain only; require encrypts without checking (checks the chain when caRef is set); prefer tries TLS first and falls back to plain text, allow the other way round; disable never encrypts. Anything below verify-full does not stop an attacker on the network.",
      ),
    caRef: CaRefSchema.optional(),
    secretRef: z
      .object({
        name: DnsSubdomainSchema.describe('Name of the Secret.'),
        namespace: DnsLabelSchema.describe('Namespace of the Secret.'),
        usernameKey: z.string().min(1).max(253).default('username').describe('Key of the user name in the Secret.'),
        passwordKey: z.string().min(1).max(253).default('password').describe('Key of the password in the Secret.'),
      })
      .describe('The Secret with the credentials the operator and the workloads connect with. The operator never logs them.'),
    workers: listMap(
      z
        .array(
          z
            .object({
              host: HostSchema.describe('Host name or IP address of the worker, as the coordinator reaches it.'),
              port: PortSchema.describe('TCP port of the worker.'),
            })
            .describe('A Citus worker of the external coordinator.'),
        )
        .max(100),
      ['host', 'port'],
    )
      .optional()
      .describe(
        'Citus only: the workers of the external coordinator, managed by the operator: each is registered (citus_add_node) and shards are rebalanced onto it; a worker removed from the list gets no new shards, has its shards moved off, then is removed from the coordinator. Omitted: the operator leaves the coordinator\'s workers alone.',
      ),
  }),
  [
    {
      rule: "!has(self.caRef) || self.sslMode in ['require', 'verify-ca', 'verify-full']",
      message: 'spec.database.external.caRef is used only with sslMode require, verify-ca or verify-full (disable, allow and prefer never check a certificate)',
      fieldPath: '.caRef',
      check: (s) => s.caRef === undefined || (CA_SSL_MODES as readonly string[]).includes(s.sslMode),
    },
  ],
).describe('An existing PostgreSQL or Citus server to use instead of running one (adopting a legacy stack, a managed database).');

export const DatabaseSpecSchema = withCel(
  z.object({
    external: ExternalDatabaseSchema.optional(),
    workers: z
      .int()
      .min(0)
      .max(100)
      .optional()
      .describe(
        `In-cluster only: number of Citus worker StatefulSets (the shards of the cell); ${IN_CLUSTER_DATABASE_DEFAULTS.workers} when omitted. 0 runs the coordinator alone.`,
      ),
    shardCount: z
      .int()
      .min(1)
      .max(4096)
      .optional()
      .describe(
        `Citus: shards of each tenant table the operator distributes (the first one's count, which the others co-locate with); ${IN_CLUSTER_DATABASE_DEFAULTS.shardCount} when omitted (an external coordinator: its citus.shard_count).`,
      ),
    storage: StorageSchema.optional().describe(
      `In-cluster only: the volume of the coordinator and of each worker; ${IN_CLUSTER_DATABASE_DEFAULTS.storageSize} of the default StorageClass when omitted.`,
    ),
    image: z
      .string()
      .min(1)
      .max(512)
      .optional()
      .describe("In-cluster only: the Citus image; the operator's pinned image when omitted."),
    resources: ResourceRequirementsSchema.optional().describe(
      'In-cluster only: compute resources of the coordinator and of each worker.',
    ),
    tenantColumn: SqlIdentifierSchema.default('customer_id').describe(
      'The column that holds the customer id in every tenant table: how a migration finds the rows of a customer.',
    ),
    isolatedCustomers: listSet(z.array(CustomerIdSchema).max(100))
      .optional()
      .describe(
        "Citus only: very large customers whose rows get shards of their own (isolate_tenant_to_new_shard, cascaded to every co-located tenant table), so that Citus can place them on a worker apart from the others; status.database.isolatedCustomers lists those done. Removing a customer from the list leaves its shards as they are.",
      ),
    tables: listMap(z.array(TenantTableSchema).max(200), ['name'])
      .optional()
      .describe(
        'The tenant tables moved by migrations, merged by name. When omitted, every table with the tenant column is moved, as Mutable. A table without a primary key is refused.',
      ),
  }),
  [
    {
      rule: '!has(self.external) || !(has(self.workers) || has(self.storage) || has(self.image) || has(self.resources))',
      message: 'spec.database.external cannot be combined with the in-cluster fields workers, storage, image or resources (list an external coordinator\'s workers in spec.database.external.workers)',
      fieldPath: '.external',
      check: (s) =>
        s.external === undefined ||
        [s.workers, s.storage, s.image, s.resources].every((v) => v === undefined),
    },
  ],
).describe(
  'The sharded PostgreSQL of the cell: a Citus coordinator and workers run by the operator, or an external server. Plain PostgreSQL without the citus extension works too.',
);

// --- Workloads --------------------------------------------------------------------------------------

const WorkloadKafkaSchema = withCel(
  z.object({
    read: listSet(z.array(KafkaTopicNameSchema).max(20))
      .optional()
      .describe('Topics the workload consumes from (Read and Describe ACLs).'),
    write: listSet(z.array(KafkaTopicNameSchema).max(20))
      .optional()
      .describe('Topics the workload produces to (Write and Describe ACLs).'),
    consumerGroup: z
      .string()
      .min(1)
      .max(249)
      .regex(/^[a-zA-Z0-9._-]+$/)
      .optional()
      .describe('Consumer group the workload may use; the workload name when omitted.'),
  }),
  [
    {
      rule: '(has(self.read) && size(self.read) > 0) || (has(self.write) && size(self.write) > 0)',
      message: 'a workload that uses Kafka must read or write at least one topic',
      check: (s) => (s.read?.length ?? 0) > 0 || (s.write?.length ?? 0) > 0,
    },
  ],
).describe(
  'Kafka access of the workload: the operator creates a KafkaUser with ACLs limited to these topics and mounts its credentials.',
);

const WorkloadSchema = z
  .object({
    name: z
      .string()
      .min(1)
      .max(50)
      .regex(/^[a-z]([-a-z0-9]*[a-z0-9])?$/, 'must be a lowercase DNS-1035 label (it names a Deployment and a Service)')
      .describe('Name of the Deployment (and Service) in the cell namespace.'),
    image: z.string().min(1).max(512).describe('Container image, preferably pinned by digest.'),
    replicas: z.int().min(0).max(1000).default(1).describe('Number of pods.'),
    port: z
      .int()
      .min(1)
      .max(65535)
      .optional()
      .describe('Container port to expose; a Service of the same name is created when given.'),
    command: z.array(z.string().max(4096)).max(64).optional().describe("Entrypoint; the image's when omitted."),
    args: z.array(z.string().max(4096)).max(64).optional().describe("Arguments; the image's when omitted."),
    env: EnvSchema.optional(),
    resources: ResourceRequirementsSchema.optional(),
    kafka: WorkloadKafkaSchema.optional(),
    database: z
      .boolean()
      .default(true)
      .describe('Inject DATABASE_URL (from the cell database Secret) and allow traffic to the database; false for workloads that never touch it.'),
  })
  .describe(
    'A workload of the cell: a Deployment with the cell injected as environment (CELL_NAME, CELL_REGION, KAFKA_BOOTSTRAP_SERVERS, KAFKA_TELEMETRY_TOPIC, DATABASE_URL), a restricted security context and readiness from the Deployment.',
  );

// --- Cluster ----------------------------------------------------------------------------------------

/** Cluster API's convention: the kubeconfig of cluster `<name>` is in Secret `<name>-kubeconfig`, key `value`. */
export const KUBECONFIG_SECRET_SUFFIX = '-kubeconfig';
export const KUBECONFIG_SECRET_KEY = 'value';

const SecretKeySchema = z
  .string()
  .min(1)
  .max(253)
  .regex(/^[-._a-zA-Z0-9]+$/, 'must be a Secret data key: letters, digits, "-", "_" and "."');

export const CellClusterSchema = z
  .object({
    name: DnsLabelSchema.describe(
      "Name of the cluster the cell's children live in (a Cluster API Cluster's name); its kubeconfig is read from Secret <name>-kubeconfig, key value, in the operator's namespace unless kubeconfigSecret says otherwise.",
    ),
    kubeconfigSecret: z
      .object({
        name: DnsSubdomainSchema.optional().describe("Secret in the operator's namespace holding the kubeconfig; <cluster name>-kubeconfig when omitted."),
        key: SecretKeySchema.default(KUBECONFIG_SECRET_KEY).describe('Key of the Secret holding the kubeconfig (value, as Cluster API writes it, when omitted).'),
      })
      .optional()
      .describe('Where the kubeconfig is, when not where Cluster API puts it.'),
  })
  .describe(
    "The Kubernetes cluster the cell's children are applied to and watched in (see docs/multi-cluster.md); the operator's own cluster when omitted. Immutable: it cannot be set, changed or removed after creation.",
  );

// --- Spec and status --------------------------------------------------------------------------------

export const CellSpecSchema = withCel(
  z.object({
    region: withCel(RegionSchema, [
      {
        rule: 'self == oldSelf',
        message: 'spec.region is immutable: a cell cannot leave its compliance region; create a Cell in the new region and migrate the customers to it',
      },
    ]).describe('Compliance region of the cell (eu-west-1): customers bound to a region are only placed in its cells. Immutable.'),
    namespace: DnsLabelSchema.optional().describe(
      'Namespace of every child object; cell-<name> when omitted. Immutable: it cannot be set, changed or removed after creation.',
    ),
    state: z
      .enum(CELL_STATES)
      .default('Active')
      .describe(
        'Active: receives new customers. Cordoned: keeps its customers, receives no new ones. Draining: receives none and is expected to be emptied by a Migration.',
      ),
    capacity: z
      .object({
        maxCustomers: z
          .int()
          .min(1)
          .describe('Customers the cell can hold, counting those reserved by migrations in flight; placement never exceeds it.'),
        maxDevices: z
          .int()
          .min(1)
          .optional()
          .describe("Devices the cell can hold, summed over the customers' expected devices; no device limit when omitted."),
      })
      .describe('Limits that placement and migrations respect.'),
    weight: z
      .int()
      .min(0)
      .max(1000)
      .default(100)
      .describe('Share of new placements among eligible cells of the region, relative to the other cells (0 to 1000). 0 receives none.'),
    kafka: KafkaSpecSchema,
    database: DatabaseSpecSchema.prefault({}),
    workloads: listMap(z.array(WorkloadSchema).max(50), ['name'])
      .optional()
      .describe('Workloads of the cell, merged by name, each a Deployment (and a Service when it has a port).'),
    cluster: CellClusterSchema.optional(),
    deletionPolicy: z
      .enum(DELETION_POLICIES)
      .default('Retain')
      .describe(
        'What happens to the data volumes (Kafka and database PersistentVolumeClaims) when the Cell is deleted: Retain keeps them, Delete removes them. A Cell that still holds customers is never deleted.',
      ),
  }),
  [
    {
      // `namespace` is a CEL reserved word: rules must spell the field __namespace__.
      rule: 'has(self.__namespace__) == has(oldSelf.__namespace__) && (!has(self.__namespace__) || self.__namespace__ == oldSelf.__namespace__)',
      message: 'spec.namespace is immutable: it cannot be set, changed or removed after the Cell is created',
      fieldPath: '.namespace',
    },
    {
      rule: 'has(self.cluster) == has(oldSelf.cluster) && (!has(self.cluster) || self.cluster == oldSelf.cluster)',
      message:
        'spec.cluster is immutable: a cell cannot move its children to another cluster; create a Cell in the new cluster and migrate the customers to it',
      fieldPath: '.cluster',
    },
  ],
).describe('Desired state of the cell.');

const CellEndpointsSchema = z
  .object({
    kafkaBootstrap: z.string().max(512).optional().describe('Plain-text bootstrap address of the Kafka cluster (host:port).'),
    kafkaBootstrapTls: z.string().max(512).optional().describe('TLS bootstrap address of the Kafka cluster (host:port).'),
    database: z.string().max(512).optional().describe('Address of the database coordinator (host:port).'),
    databaseSecret: z
      .string()
      .max(253)
      .optional()
      .describe('Secret in the cell namespace holding DATABASE_URL for the workloads.'),
  })
  .describe('Where clients reach the cell.');

export const CellStatusSchema = z
  .object({
    phase: z
      .enum(CELL_PHASES)
      .optional()
      .describe(
        'Summary of the cell: Provisioning, Ready, Updating (was Ready and is rolling out a change without losing service: every Deployment stays Available, Strimzi rolls a Kafka that was Ready; it keeps taking customers), Degraded, Draining (spec.state Draining, or cordoned by a drain: a Migration with customers.all, named by the Cordoned condition) or Deleting.',
      ),
    observedGeneration: z.int().min(0).optional().describe('metadata.generation this status describes.'),
    conditions: ConditionsSchema.optional(),
    message: z.string().max(32768).optional().describe('A sentence on what is not ready yet and why, for a person.'),
    namespace: z.string().max(63).optional().describe('Namespace that holds the children of the cell.'),
    customers: z
      .int()
      .min(0)
      .optional()
      .describe('Customers placed in the cell, plus those reserved by migrations in flight.'),
    devices: z.int().min(0).optional().describe('Expected devices of the customers placed in the cell.'),
    endpoints: CellEndpointsSchema.optional(),
    database: z
      .object({
        engine: z
          .enum(DATABASE_ENGINES)
          .optional()
          .describe('Citus when the citus extension is present, PostgreSQL otherwise.'),
        serverVersion: z.string().max(64).optional().describe('Server version reported by the database.'),
        citusVersion: z.string().max(64).optional().describe('Version of the citus extension (citus_version()).'),
        workers: z.int().min(0).optional().describe('Active Citus workers registered on the coordinator.'),
        shardCount: z.int().min(0).optional().describe('citus.shard_count in effect.'),
        distributedTables: z.int().min(0).optional().describe('Tenant tables distributed by the tenant column (co-located).'),
        referenceTables: z.int().min(0).optional().describe('Tables without the tenant column, copied to every worker.'),
        rebalancing: z.boolean().optional().describe('A background shard rebalance (or the drain of a leaving worker) is running.'),
        isolatedCustomers: z
          .array(z.string().max(63))
          .max(100)
          .optional()
          .describe('Customers of spec.database.isolatedCustomers whose rows are in shards of their own.'),
        drainingWorkers: z
          .array(z.string().max(300))
          .max(100)
          .optional()
          .describe('Workers (host:port) leaving the cell whose shards are being moved off before their removal.'),
      })
      .optional()
      .describe('Topology of the database as last observed.'),
    workloads: listMap(
      z.array(
        z
          .object({
            name: z.string().max(63).describe('Workload name.'),
            replicas: z.int().min(0).optional().describe('Desired pods.'),
            readyReplicas: z.int().min(0).optional().describe('Ready pods.'),
          })
          .describe('Readiness of one workload.'),
      ).max(50),
      ['name'],
    )
      .optional()
      .describe('Readiness of each workload, from its Deployment.'),
    release: z
      .object({
        name: z.string().max(253).describe('The CellRelease whose versions the workloads run.'),
        version: z.string().max(63).describe('The version it brings.'),
        since: z.iso.datetime().describe('When the Deployments first carried it.'),
      })
      .optional()
      .describe("The newest CellRelease whose versions the cell's Deployments carry; absent when they run the Cell's own spec."),
  })
  .describe('Observed state of the cell, rebuilt from the real world on every reconcile.');

export type CellSpec = z.output<typeof CellSpecSchema>;
export type CellSpecInput = z.input<typeof CellSpecSchema>;
export type CellStatus = z.output<typeof CellStatusSchema>;
export type CellState = (typeof CELL_STATES)[number];
export type CellPhase = (typeof CELL_PHASES)[number];
export type DeletionPolicy = (typeof DELETION_POLICIES)[number];
export type KafkaSpec = CellSpec['kafka'];
export type KafkaTopicSpec = KafkaSpec['topics'][number];
export type DatabaseSpec = CellSpec['database'];
export type ExternalDatabaseSpec = NonNullable<DatabaseSpec['external']>;
export type CaRefSpec = NonNullable<ExternalDatabaseSpec['caRef']>;
export type SslMode = (typeof SSL_MODES)[number];
export type TenantTableSpec = NonNullable<DatabaseSpec['tables']>[number];
export type WorkloadSpec = NonNullable<CellSpec['workloads']>[number];
export type CellClusterSpec = NonNullable<CellSpec['cluster']>;

export interface Cell {
  apiVersion: typeof API_VERSION;
  kind: 'Cell';
  metadata: V1ObjectMeta;
  spec: CellSpec;
  status?: CellStatus;
}

/** Validates and defaults a Cell spec; errors name the field (`spec.kafka.brokers.replicas`). */
export function parseCellSpec(input: unknown): ParseResult<CellSpec> {
  return parseWith(CellSpecSchema, input, 'spec');
}

export const CELL_DESCRIPTION =
  'A Cell is one self-contained copy of the stack: its own Kafka (Strimzi, KRaft), its own sharded PostgreSQL (Citus, or an external server) and its own workloads, in its own namespace. Customers are placed in cells and moved between them by Migrations.';
