// The structured JSON logger (pino). Secrets never reach it: connection strings and tokens are
// redacted by path, and callers log names of secrets, never their values.
import { pino, type Logger } from 'pino';

export type { Logger };

export const REDACTED_PATHS = [
  'password',
  '*.password',
  'token',
  '*.token',
  'connectionString',
  '*.connectionString',
  'databaseUrl',
  '*.databaseUrl',
  'headers.authorization',
  '*.headers.authorization',
];

export function createLogger(options: { level?: string; name?: string } = {}): Logger {
  return pino({
    name: options.name ?? 'cell-operator',
    level: options.level ?? process.env.LOG_LEVEL ?? 'info',
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    base: { pid: process.pid },
    timestamp: pino.stdTimeFunctions.isoTime,
  });
}

/** A logger that discards everything, for unit tests of code that takes a logger. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
