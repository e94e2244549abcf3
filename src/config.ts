// Configuration of both entry points from flags and environment, validated with zod so that every
// bad value is refused at start with a message naming the flag and the environment variable.
import { hostname } from 'node:os';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { ALLOWLIST_ENTRY_PATTERN, parseAllowlist } from './policy/cell-policy.js';

/** One setting: its flag, its environment variable and its schema. Flags win over the environment. */
interface Setting {
  flag: string;
  env: string;
  schema: z.ZodType;
  help: string;
}

/** A bearer token shorter than this is refused, from the flag, the environment or a file. */
export const MIN_TOKEN_LENGTH = 16;

const port = z.coerce.number().int().min(1).max(65535);
const seconds = z.coerce.number().int().min(1).max(3600);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
const logLevel = z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']);
const postgresUrl = z
  .string()
  .regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL')
  .optional();

const common = {
  logLevel: { flag: 'log-level', env: 'LOG_LEVEL', schema: logLevel.default('info'), help: 'fatal|error|warn|info|debug|trace|silent' },
  kubeconfig: { flag: 'kubeconfig', env: 'KUBECONFIG', schema: z.string().min(1).optional(), help: 'path to a kubeconfig; in-cluster config when unset' },
  databaseUrl: {
    flag: 'database-url',
    env: 'CONTROL_PLANE_DATABASE_URL',
    schema: postgresUrl,
    help: 'the control-plane PostgreSQL database (postgres://user:password@host:port/db?sslmode=...)',
  },
} satisfies Record<string, Setting>;

const operatorSettings = {
  ...common,
  httpPort: { flag: 'http-port', env: 'HTTP_PORT', schema: port.default(8080), help: 'port of /healthz, /readyz and /metrics' },
  leaderElect: { flag: 'leader-elect', env: 'LEADER_ELECT', schema: bool.default(true), help: 'only the holder of the Lease reconciles' },
  leaseName: { flag: 'lease-name', env: 'LEASE_NAME', schema: z.string().regex(/^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$/, 'must be a DNS subdomain').default('cell-operator'), help: 'name of the leader-election Lease' },
  leaseNamespace: { flag: 'lease-namespace', env: 'POD_NAMESPACE', schema: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS label').default('default'), help: 'namespace of the Lease (the operator\'s own)' },
  leaseDurationSeconds: { flag: 'lease-duration', env: 'LEASE_DURATION_SECONDS', schema: seconds.default(15), help: 'seconds a Lease is valid without renewal' },
  identity: { flag: 'identity', env: 'POD_NAME', schema: z.string().min(1).max(128).default(`${hostname()}-${process.pid}`), help: 'this replica\'s name in the Lease' },
  concurrency: { flag: 'concurrency', env: 'RECONCILE_CONCURRENCY', schema: z.coerce.number().int().min(1).max(64).default(4), help: 'reconciles running at once per controller' },
  allowedNamespaces: {
    flag: 'allowed-namespaces',
    env: 'ALLOWED_NAMESPACES',
    schema: z
      .string()
      .optional()
      .transform((v) => parseAllowlist(v))
      .refine((list) => list.every((e) => ALLOWLIST_ENTRY_PATTERN.test(e)), 'every entry must be a namespace name, a prefix ending in "*" (tenant-*), or "*"'),
    help: 'namespaces a Cell may use besides cell-<name>, and its database Secret besides the operator\'s: names and prefixes (team-a,tenant-*), comma-separated',
  },
  resyncSeconds: { flag: 'resync', env: 'RESYNC_SECONDS', schema: seconds.default(300), help: 'every object is reconciled again this often' },
  kafkaDrain: { flag: 'kafka-drain', env: 'KAFKA_DRAIN', schema: bool.default(true), help: 'under a move\'s fence, wait for the source cell\'s ingestion group (docs/kafka.md)' },
  kafkaTopic: { flag: 'kafka-topic', env: 'KAFKA_TELEMETRY_TOPIC', schema: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name').default('telemetry'), help: 'the telemetry topic the drain watches' },
  kafkaGroup: { flag: 'kafka-group', env: 'KAFKA_CONSUMER_GROUP', schema: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a group id').default('cell-ingest'), help: 'the ingestion consumer group the drain waits for' },
  kafkaMaxDrainSeconds: { flag: 'kafka-max-drain', env: 'KAFKA_MAX_DRAIN_SECONDS', schema: seconds.default(15), help: 'seconds a move\'s Kafka drain may wait before the move fails back (within the Migration\'s maxFence)' },
} satisfies Record<string, Setting>;

const routerSettings = {
  ...common,
  port: { flag: 'port', env: 'ROUTER_PORT', schema: port.default(8090), help: 'port of the routing API' },
  host: { flag: 'host', env: 'ROUTER_HOST', schema: z.string().min(1).default('0.0.0.0'), help: 'address to listen on' },
  tokenFile: { flag: 'token-file', env: 'ROUTER_TOKEN_FILE', schema: z.string().min(1).optional(), help: 'file holding the bearer token for writes' },
  token: { flag: 'token', env: 'ROUTER_TOKEN', schema: z.string().min(MIN_TOKEN_LENGTH, `must be at least ${MIN_TOKEN_LENGTH} characters`).optional(), help: 'bearer token for writes (prefer --token-file)' },
  maxChangeStreams: { flag: 'max-change-streams', env: 'ROUTER_MAX_CHANGE_STREAMS', schema: z.coerce.number().int().min(1).max(100_000).default(2000), help: 'open change streams at once; more answer 503 TooManyStreams' },
  maxStaleSeconds: {
    flag: 'max-stale-seconds',
    env: 'ROUTER_MAX_STALE_SECONDS',
    schema: z.coerce.number().int().min(0).max(86_400 * 7).default(0),
    help: '/readyz fails after the index has been stale (database away) this long; 0: never, the last index is served marked stale',
  },
} satisfies Record<string, Setting>;

// The data path's two commands read what a cell's workload Deployment gets (workload-builder.ts);
// the Kafka connection itself (KAFKA_BOOTSTRAP_SERVERS, KAFKA_SECURITY_PROTOCOL, SASL) is read by
// src/kafka/kafka-settings.ts.
const routerUrl = z.string().regex(/^https?:\/\/[^\s]+$/, 'must be an http:// or https:// URL');
const topicName = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name (letters, digits, ".", "_", "-")');
const millis = z.coerce.number().int().min(0).max(600_000);

const gatewaySettings = {
  logLevel: common.logLevel,
  port: { flag: 'port', env: 'GATEWAY_PORT', schema: port.default(8080), help: 'port of POST /v1/telemetry/{customer}, /healthz and /metrics' },
  host: { flag: 'host', env: 'GATEWAY_HOST', schema: z.string().min(1).default('0.0.0.0'), help: 'address to listen on' },
  routerUrl: { flag: 'router-url', env: 'ROUTER_URL', schema: routerUrl, help: 'the router (GET /v1/routes/{customer})' },
  topic: { flag: 'topic', env: 'KAFKA_TELEMETRY_TOPIC', schema: topicName.default('telemetry'), help: 'the telemetry topic of every cell' },
  holdMs: { flag: 'hold-ms', env: 'GATEWAY_HOLD_MS', schema: millis.default(10_000), help: 'how long a fenced customer\'s readings are held before the device gets 503' },
  routeTtlMs: { flag: 'route-ttl-ms', env: 'ROUTE_TTL_MS', schema: millis.default(1000), help: 'how long a route is reused' },
} satisfies Record<string, Setting>;

const ingestSettings = {
  logLevel: common.logLevel,
  cell: { flag: 'cell', env: 'CELL_NAME', schema: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a cell name'), help: 'this worker\'s cell' },
  topic: { flag: 'topic', env: 'KAFKA_TELEMETRY_TOPIC', schema: topicName.default('telemetry'), help: 'the cell\'s telemetry topic' },
  group: { flag: 'group', env: 'KAFKA_CONSUMER_GROUP', schema: z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a group id').default('cell-ingest'), help: 'the consumer group (the move\'s Kafka drain waits on its offsets)' },
  databaseUrl: { flag: 'database-url', env: 'DATABASE_URL', schema: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL'), help: 'the cell database' },
  table: { flag: 'table', env: 'INGEST_TABLE', schema: z.string().regex(/^[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?$/, 'must be [schema.]table').default('readings'), help: 'table of (customer_id, id, device, value), key (customer_id, id)' },
  routerUrl: { flag: 'router-url', env: 'ROUTER_URL', schema: routerUrl, help: 'the router, to find customers that left this cell' },
  routeTtlMs: { flag: 'route-ttl-ms', env: 'ROUTE_TTL_MS', schema: millis.default(1000), help: 'how long a route is reused' },
  httpPort: { flag: 'http-port', env: 'HTTP_PORT', schema: z.coerce.number().int().min(0).max(65535).default(8081), help: 'port of /healthz, /readyz and /metrics (0: any)' },
} satisfies Record<string, Setting>;

type Settings = Record<string, Setting>;
type Parsed<S extends Settings> = { [K in keyof S]: z.output<S[K]['schema']> };

export type OperatorConfig = Parsed<typeof operatorSettings>;
export type RouterConfig = Parsed<typeof routerSettings>;
export type GatewayConfig = Parsed<typeof gatewaySettings>;
export type IngestConfig = Parsed<typeof ingestSettings>;

/** A configuration error: every bad value, each with the flag and variable that set it. */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  }
}

function parse<S extends Settings>(settings: S, argv: string[], env: NodeJS.ProcessEnv): Parsed<S> {
  let values: Record<string, string | boolean | undefined>;
  try {
    const options = Object.fromEntries(Object.values(settings).map((s) => [s.flag, { type: 'string' as const }]));
    values = parseArgs({ args: argv, options: { ...options, help: { type: 'boolean' } }, strict: true }).values;
  } catch (err) {
    throw new ConfigError([(err as Error).message]);
  }
  const problems: string[] = [];
  const out: Record<string, unknown> = {};
  for (const [key, s] of Object.entries(settings)) {
    const fromFlag = values[s.flag];
    const raw = typeof fromFlag === 'string' ? fromFlag : env[s.env] === '' ? undefined : env[s.env];
    const result = s.schema.safeParse(raw);
    if (result.success) out[key] = result.data;
    // The value itself is not echoed: it may be a password or a token.
    else problems.push(`--${s.flag} (or ${s.env}): ${result.error.issues.map((i) => i.message).join('; ')}`);
  }
  if (problems.length) throw new ConfigError(problems);
  return out as Parsed<S>;
}

export const parseOperatorConfig = (argv: string[], env: NodeJS.ProcessEnv = process.env): OperatorConfig =>
  parse(operatorSettings, argv, env);

export const parseRouterConfig = (argv: string[], env: NodeJS.ProcessEnv = process.env): RouterConfig =>
  parse(routerSettings, argv, env);

export const parseGatewayConfig = (argv: string[], env: NodeJS.ProcessEnv = process.env): GatewayConfig => parse(gatewaySettings, argv, env);

export const parseIngestConfig = (argv: string[], env: NodeJS.ProcessEnv = process.env): IngestConfig => parse(ingestSettings, argv, env);

const SETTINGS_OF: Record<'operator' | 'router' | 'gateway' | 'ingest', Settings> = {
  operator: operatorSettings,
  router: routerSettings,
  gateway: gatewaySettings,
  ingest: ingestSettings,
};

/** The flags of a subcommand, for `--help`. */
export function usage(command: 'operator' | 'router' | 'gateway' | 'ingest'): string {
  const settings: Settings = SETTINGS_OF[command];
  const lines = Object.values(settings).map((s) => `  --${s.flag.padEnd(18)} ${s.env.padEnd(28)} ${s.help}`);
  return `usage: cell-operator ${command} [flags]\n\n  flag                 environment                  meaning\n${lines.join('\n')}`;
}
