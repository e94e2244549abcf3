import { classifyDatabaseError, errorMessage, isTransientDatabaseError } from './database-errors.js';

const pgError = (code: string, message = 'boom'): Error & { code: string } => Object.assign(new Error(message), { code });

describe('classifyDatabaseError', () => {
  // The whole table: every caller (router, stores, move engine, the Cell's database check) agrees on it.
  test.each([
    ['08000', 'ConnectionLost', true],
    ['08001', 'ConnectionLost', true],
    ['08003', 'ConnectionLost', true],
    ['08006', 'ConnectionLost', true],
    ['57P01', 'ServerUnavailable', true], // admin_shutdown
    ['57P02', 'ServerUnavailable', true], // crash_shutdown
    ['57P03', 'ServerUnavailable', true], // cannot_connect_now: starting up
    ['57014', 'ServerUnavailable', true], // query_canceled (statement_timeout)
    ['53300', 'ServerUnavailable', true], // too_many_connections
    ['53100', 'ServerUnavailable', true], // disk_full
    ['40001', 'Contention', true], // serialization_failure
    ['40P01', 'Contention', true], // deadlock_detected
    ['55P03', 'Contention', true], // lock_not_available
    ['55006', 'Contention', true], // object_in_use
    ['25006', 'ReadOnly', true], // read_only_sql_transaction: a standby being promoted
    ['28P01', 'AuthenticationFailed', false],
    ['28000', 'AuthenticationFailed', false],
    ['3D000', 'DatabaseMissing', false],
    ['23505', 'KeyConflict', false],
    ['23503', 'ConstraintViolation', false],
    ['23514', 'ConstraintViolation', false],
    ['22P02', 'DataError', false],
    ['42P01', 'SchemaChanged', false],
    ['42703', 'SchemaChanged', false],
    ['42601', 'SqlError', false],
    ['42501', 'SqlError', false],
    ['25P02', 'UnexpectedError', false], // in_failed_sql_transaction: a bug, not the weather
    ['P0001', 'UnexpectedError', false], // raise_exception from a trigger
    ['XX000', 'UnexpectedError', false],
  ])('SQLSTATE %s is %s (transient: %s)', (code, reason, transient) => {
    expect(classifyDatabaseError(pgError(code))).toEqual({ reason, transient, code });
  });

  test.each([
    ['ECONNREFUSED', 'Unreachable', true],
    ['ENOTFOUND', 'Unreachable', true],
    ['EAI_AGAIN', 'Unreachable', true],
    ['ETIMEDOUT', 'Unreachable', true],
    ['EHOSTUNREACH', 'Unreachable', true],
    ['ECONNRESET', 'ConnectionLost', true],
    ['EPIPE', 'ConnectionLost', true],
    ['ERR_SOMETHING_ELSE', 'UnexpectedError', false],
    ['DEPTH_ZERO_SELF_SIGNED_CERT', 'TLSVerificationFailed', false],
    ['SELF_SIGNED_CERT_IN_CHAIN', 'TLSVerificationFailed', false],
    ['UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'TLSVerificationFailed', false],
    ['ERR_TLS_CERT_ALTNAME_INVALID', 'TLSVerificationFailed', false],
    ['CERT_HAS_EXPIRED', 'TLSVerificationFailed', false],
  ])('Node error code %s is %s (transient: %s)', (code, reason, transient) => {
    expect(classifyDatabaseError(pgError(code))).toEqual({ reason, transient, code });
  });

  it('tells a server without TLS, or one refusing the encryption asked for, from a wrong password', () => {
    expect(classifyDatabaseError(new Error('The server does not support SSL connections'))).toEqual({ reason: 'TLSUnavailable', transient: false });
    const hba = pgError('28000', 'no pg_hba.conf entry for host "127.0.0.1", user "postgres", database "postgres", no encryption');
    expect(classifyDatabaseError(hba)).toEqual({ reason: 'TLSUnavailable', transient: false, code: '28000' });
    expect(classifyDatabaseError(pgError('28000', 'no pg_hba.conf entry for host "127.0.0.1", user "x", database "y", SSL encryption')).reason).toBe('TLSUnavailable');
    expect(classifyDatabaseError(pgError('28P01', 'password authentication failed for user "x"')).reason).toBe('AuthenticationFailed');
  });

  test.each([
    ['the database system is starting up', 'ServerUnavailable', true],
    ['the database system is shutting down', 'ServerUnavailable', true],
    ['the database system is in recovery mode', 'ServerUnavailable', true],
    ['timeout exceeded when trying to connect', 'Unreachable', true],
    ['Connection terminated due to connection timeout', 'Unreachable', true],
    ['Connection terminated unexpectedly', 'ConnectionLost', true],
    ['Client has encountered a connection error and is not queryable', 'ConnectionLost', true],
    ['server closed the connection unexpectedly', 'ConnectionLost', true],
    ['Client was closed and is not queryable', 'ConnectionLost', true],
    ['relation "x" does not exist', 'UnexpectedError', false],
  ])('a message without a code, "%s", is %s (transient: %s)', (message, reason, transient) => {
    expect(classifyDatabaseError(new Error(message))).toEqual({ reason, transient });
  });

  test('anything that is not an error object is unexpected and permanent', () => {
    expect(classifyDatabaseError(undefined)).toEqual({ reason: 'UnexpectedError', transient: false });
    expect(classifyDatabaseError('ECONNREFUSED')).toEqual({ reason: 'UnexpectedError', transient: false });
    expect(isTransientDatabaseError(null)).toBe(false);
  });

  test('the message for people carries the SQLSTATE, and nothing for a Node error code', () => {
    expect(errorMessage(pgError('23505', 'duplicate key'))).toBe('duplicate key (SQLSTATE 23505)');
    expect(errorMessage(pgError('ECONNREFUSED', 'connect ECONNREFUSED 127.0.0.1:5432'))).toBe('connect ECONNREFUSED 127.0.0.1:5432');
    expect(errorMessage('plain')).toBe('plain');
  });
});
