// Where a cell's database is and how to log in: the in-cluster coordinator with the password the
// operator generated once (kept in the cell's Secret), or the external server with the credentials
// of the referenced Secret. Used by the Cell reconciler and by migrations, which copy rows there.
import { randomBytes, X509Certificate } from 'node:crypto';
import type { CaRefSpec, Cell } from '../crds/cell.js';
import type { Informer } from '../runtime/informer.js';
import { isNotFound, statusCode, type KubeClient } from '../runtime/kube-client.js';
import { builtin, resourcePath } from '../runtime/resource.js';
import { caViolation, secretViolation, type CellPolicy } from '../policy/cell-policy.js';
import type { DatabaseSettings } from '../store/connection.js';
import type { DatabaseCheck } from './cell-database-check.js';
import { readDatabaseTls, type DatabaseTls } from './cell-database-tls.js';
import { cellNamespace, databaseHost, databaseName, databasePort, databaseSecretName, databaseSslMode, databaseTlsSecretName, IN_CLUSTER_DATABASE_USER } from '../crds/cell-names.js';

/** The keys of the database Secret; workloads get DATABASE_URL from `uri`. */
export const DATABASE_SECRET_KEYS = {
  username: 'username',
  password: 'password',
  host: 'host',
  port: 'port',
  database: 'database',
  uri: 'uri',
  /** The CA (PEM) the server certificate is checked against, when there is one: mounted into the workloads. */
  ca: 'ca.crt',
} as const;

/**
 * The credentials the database Secret is built from. The builder never invents them: for an
 * in-cluster database the reconciler generates the password once (crypto-random) and afterwards
 * reads it back from the Secret; for an external one it reads the referenced Secret.
 */
export interface DatabaseCredentials {
  username: string;
  password: string;
  /** The CA bundle (PEM) that signs the server certificate (an external database's caRef, the in-cluster cell's CA); absent: none given. */
  ca?: string;
  /** In-cluster: the cell's CA and the servers' certificate, for the TLS Secret and the StatefulSets. */
  serverTls?: DatabaseTls;
}

export type CredentialsResult = { value: DatabaseCredentials; problem?: undefined } | { value?: undefined; problem: Extract<DatabaseCheck, { connected: false }> };

function decode(value: string | undefined): string | undefined {
  return value === undefined ? undefined : Buffer.from(value, 'base64').toString('utf8');
}

type SecretData = { data?: Record<string, string> };

/** A Secret from the cache when it is there, else from the server; undefined when it does not exist. */
async function readSecret(client: KubeClient, ref: { namespace: string; name: string }, cache?: Informer): Promise<SecretData | undefined> {
  const cached = cache?.get(`${ref.namespace}/${ref.name}`);
  if (cached) return cached as SecretData;
  try {
    return await client.request<SecretData>({ method: 'GET', path: resourcePath(builtin.secret, ref) });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/**
 * The credentials of the cell's database. In-cluster: read back from our Secret, or — only when
 * `generate` and the Secret does not exist — a new crypto-random password (never regenerated once
 * stored). External: the referenced Secret, when `policy` allows its namespace; a refused, missing
 * or incomplete one is a problem a person fixes.
 */
export async function readDatabaseCredentials(
  client: KubeClient,
  cell: Cell,
  options: { secrets?: Informer; generate?: boolean; policy?: CellPolicy; now?: Date; cellClient?: KubeClient } = {},
): Promise<CredentialsResult> {
  const external = cell.spec.database.external;
  if (!external) {
    // Our Secrets are in the cell namespace of the cell's cluster (`cellClient`, for spec.cluster);
    // a referenced one is always in the operator's cluster, where the policy allows its namespace.
    const inCell = options.cellClient ?? client;
    const ours = await readSecret(inCell, { namespace: cellNamespace(cell), name: databaseSecretName(cell) }, options.secrets);
    // The cell's CA and server certificate: issued (or renewed) only by the reconciler, which applies them.
    const serverTls = await readDatabaseTls(inCell, cell, { issue: options.generate ?? false, ...(options.now ? { now: options.now } : {}) });
    if (!serverTls) {
      return { problem: { connected: false, reason: 'SecretMissing', message: `the database TLS Secret ${cellNamespace(cell)}/${databaseTlsSecretName(cell)} does not exist yet`, stalled: false } };
    }
    const tls = { ca: serverTls.ca, serverTls };
    const password = decode(ours?.data?.[DATABASE_SECRET_KEYS.password]);
    if (password !== undefined) return { value: { username: IN_CLUSTER_DATABASE_USER, password, ...tls } };
    if (options.generate) return { value: { username: IN_CLUSTER_DATABASE_USER, password: randomBytes(24).toString('base64url'), ...tls } };
    return { problem: { connected: false, reason: 'SecretMissing', message: `the database Secret ${cellNamespace(cell)}/${databaseSecretName(cell)} does not exist yet`, stalled: false } };
  }
  const ref = external.secretRef;
  // Judged before any read: the operator never fetches a Secret or ConfigMap the policy does not allow.
  const refused = options.policy ? (secretViolation(cell, options.policy) ?? caViolation(cell, options.policy)) : undefined;
  if (refused) return { problem: { connected: false, reason: refused.reason, message: refused.message, stalled: true } };
  const where = `Secret ${ref.namespace}/${ref.name}`;
  let secret: SecretData | undefined;
  try {
    secret = await readSecret(client, ref);
  } catch (err) {
    if (statusCode(err) !== 403) throw err;
    return { problem: { connected: false, reason: 'SecretForbidden', message: `the operator may not read ${where}`, stalled: true } };
  }
  if (!secret) return { problem: { connected: false, reason: 'SecretMissing', message: `${where} does not exist (spec.database.external.secretRef)`, stalled: true } };
  const username = decode(secret.data?.[ref.usernameKey]);
  const password = decode(secret.data?.[ref.passwordKey]);
  if (username === undefined || password === undefined) {
    const missing = [username === undefined ? ref.usernameKey : undefined, password === undefined ? ref.passwordKey : undefined].filter(Boolean);
    return { problem: { connected: false, reason: 'SecretIncomplete', message: `${where} has no key ${missing.join(' or ')}`, stalled: true } };
  }
  if (!external.caRef) return { value: { username, password } };
  const ca = await readCa(client, external.caRef);
  return ca.problem ? { problem: ca.problem } : { value: { username, password, ca: ca.pem } };
}

/** The PEM of a caRef (a Secret's base64 value or a ConfigMap's text), checked to hold a certificate. */
async function readCa(client: KubeClient, ref: CaRefSpec): Promise<{ pem: string; problem?: undefined } | { pem?: undefined; problem: Extract<DatabaseCheck, { connected: false }> }> {
  const where = `${ref.kind} ${ref.namespace}/${ref.name}`;
  const stalled = (reason: string, message: string) => ({ problem: { connected: false as const, reason, message, stalled: true } });
  let object: { data?: Record<string, string> } | undefined;
  try {
    object = await client.request<{ data?: Record<string, string> }>({ method: 'GET', path: resourcePath(ref.kind === 'Secret' ? builtin.secret : builtin.configMap, ref) });
  } catch (err) {
    if (isNotFound(err)) return stalled('CaMissing', `${where} does not exist (spec.database.external.caRef): create it with the CA certificate that signed the server's certificate under key ${ref.key}`);
    if (statusCode(err) === 403) return stalled('CaForbidden', `the operator may not read ${where} (spec.database.external.caRef)`);
    throw err;
  }
  const raw = object?.data?.[ref.key];
  const pem = ref.kind === 'Secret' ? decode(raw) : raw;
  if (pem === undefined) return stalled('CaIncomplete', `${where} has no key ${ref.key} (spec.database.external.caRef.key)`);
  try {
    if (!pem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate');
    new X509Certificate(pem);
  } catch {
    return stalled('CaInvalid', `${where} key ${ref.key} holds no PEM certificate (-----BEGIN CERTIFICATE-----): put the CA certificate of the database server there`);
  }
  return { pem };
}

/** Connection settings of the cell's database for these credentials. */
export function cellDatabaseSettings(cell: Cell, credentials: DatabaseCredentials): DatabaseSettings {
  return {
    host: databaseHost(cell),
    port: databasePort(cell),
    database: databaseName(cell),
    user: credentials.username,
    password: credentials.password,
    sslmode: databaseSslMode(cell),
    // Always explicit, so that the operator's own PGSSLROOTCERT (its control-plane CA) never applies to a cell.
    ...(credentials.ca !== undefined ? { sslCa: credentials.ca } : { sslRootCert: 'system' }),
  };
}
