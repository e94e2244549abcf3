// The one classifier of PostgreSQL and connection errors: which failures are worth a retry with
// backoff (the server restarting, a lost connection, lock contention, a standby being promoted) and
// the PascalCase reason of the others. The router, the stores, the move engine and the Cell's
// database check all ask it, so one SQLSTATE means the same everywhere.
import { fenceRefusal } from '../data/cell-fence-sql.js';

/** Why a database call failed, as a PascalCase reason for conditions, events and the journal. */
export type DatabaseErrorReason =
  // Transient: retrying the same call later may succeed.
  | 'Unreachable' // no answer: refused, unknown host, connect timeout
  | 'ConnectionLost' // the connection broke (SQLSTATE class 08, a terminated socket)
  | 'ServerUnavailable' // the server refuses work for now: class 57 (shutdown, starting up), class 53 (resources)
  | 'Contention' // serialization failures, deadlocks, lock timeouts, an object in use
  | 'ReadOnly' // 25006: a standby that is being promoted still refuses writes
  // Permanent: retrying will not help; a person (or a rollback) must.
  | 'AuthenticationFailed'
  | 'TLSVerificationFailed' // the server's certificate is not signed by the CA given, or does not name the host
  | 'TLSUnavailable' // the server offers no TLS, or refuses the TLS (or plain-text) session the sslmode asks for
  | 'DatabaseMissing'
  | 'KeyConflict'
  | 'CustomerFenced' // ZF001 (or Citus's XX000 relaying it): a cell database's fence refused the customer's write (data/cell-fence-sql.ts)
  | 'ConstraintViolation'
  | 'DataError'
  | 'SchemaChanged'
  | 'SqlError'
  | 'UnexpectedError';

export interface DatabaseErrorClass {
  reason: DatabaseErrorReason;
  transient: boolean;
  /** The SQLSTATE or Node error code, when the error has one. */
  code?: string;
}

const TRANSIENT_REASONS: ReadonlySet<DatabaseErrorReason> = new Set(['Unreachable', 'ConnectionLost', 'ServerUnavailable', 'Contention', 'ReadOnly']);

const NETWORK_CODES = new Set(['ECONNREFUSED', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);
const BROKEN_SOCKET_CODES = new Set(['ECONNRESET', 'EPIPE']);
const CONTENTION_STATES = new Set([
  '40001', // serialization_failure
  '40P01', // deadlock_detected
  '55P03', // lock_not_available (lock_timeout, NOWAIT)
  '55006', // object_in_use
]);

const SQLSTATE = /^[0-9A-Z]{5}$/;
// Node's certificate verification errors (tls.connect with rejectUnauthorized).
const CERTIFICATE_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'CERT_HAS_EXPIRED',
  'CERT_NOT_YET_VALID',
  'CERT_SIGNATURE_FAILURE',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'INVALID_CA',
  'ERR_TLS_CERT_ALTNAME_INVALID',
]);
// node-postgres's words when the server answers N to the SSLRequest; pg_hba's when it refuses the session's encryption.
const TLS_UNAVAILABLE = /does not support SSL connections|error establishing an SSL connection|no pg_hba\.conf entry for .*(no encryption|SSL encryption|GSS encryption)/i;
// node-postgres reports these without a code (the socket, not the server, failed).
const CONNECT_TIMEOUT = /connection timeout|timeout exceeded when trying to connect/i;
const CONNECTION_LOST =
  /Connection terminated|Connection ended|Client has encountered a connection error|terminating connection|server closed the connection|write after end|Client was closed/i;
const SERVER_UNAVAILABLE = /the database system is (starting up|shutting down|in recovery)/i;

function reasonOfSqlstate(code: string): DatabaseErrorReason {
  if (code.startsWith('08')) return 'ConnectionLost';
  if (code.startsWith('57') || code.startsWith('53')) return 'ServerUnavailable';
  if (CONTENTION_STATES.has(code)) return 'Contention';
  if (code === '25006') return 'ReadOnly';
  if (code.startsWith('28')) return 'AuthenticationFailed';
  if (code === '3D000') return 'DatabaseMissing';
  if (code === '23505') return 'KeyConflict';
  if (code === 'ZF001') return 'CustomerFenced';
  if (code.startsWith('23')) return 'ConstraintViolation';
  if (code.startsWith('22')) return 'DataError';
  if (code === '42P01' || code === '42703') return 'SchemaChanged';
  if (code.startsWith('42')) return 'SqlError';
  return 'UnexpectedError';
}

function reasonOfMessage(message: string): DatabaseErrorReason {
  if (CONNECT_TIMEOUT.test(message)) return 'Unreachable';
  if (SERVER_UNAVAILABLE.test(message)) return 'ServerUnavailable';
  if (CONNECTION_LOST.test(message)) return 'ConnectionLost';
  return 'UnexpectedError';
}

/** Classifies any thrown value. Pure; duck-typed, since errors from node internals may come from another realm. */
export function classifyDatabaseError(err: unknown): DatabaseErrorClass {
  const e = typeof err === 'object' && err !== null ? (err as { code?: unknown; message?: unknown }) : {};
  const code = typeof e.code === 'string' ? e.code : undefined;
  let reason: DatabaseErrorReason;
  const message = typeof e.message === 'string' ? e.message : '';
  if (code !== undefined && CERTIFICATE_CODES.has(code)) reason = 'TLSVerificationFailed';
  else if (TLS_UNAVAILABLE.test(message)) reason = 'TLSUnavailable';
  else if (code !== undefined && NETWORK_CODES.has(code)) reason = 'Unreachable';
  else if (code !== undefined && BROKEN_SOCKET_CODES.has(code)) reason = 'ConnectionLost';
  else if (fenceRefusal(err)) reason = 'CustomerFenced'; // before the code: Citus relays the refusal as XX000
  else if (code !== undefined && SQLSTATE.test(code)) reason = reasonOfSqlstate(code);
  else reason = reasonOfMessage(message);
  return { reason, transient: TRANSIENT_REASONS.has(reason), ...(code !== undefined ? { code } : {}) };
}

/** True when retrying the same call later may succeed. */
export function isTransientDatabaseError(err: unknown): boolean {
  return classifyDatabaseError(err).transient;
}

/** The error's message with its SQLSTATE, for people (never includes connection settings). */
export function errorMessage(err: unknown): string {
  if (typeof err === 'object' && err !== null && typeof (err as { message?: unknown }).message === 'string') {
    const { message, code } = err as { message: string; code?: unknown };
    return typeof code === 'string' && SQLSTATE.test(code) ? `${message} (SQLSTATE ${code})` : message;
  }
  return String(err);
}
