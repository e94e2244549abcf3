// The `cell-operator router` command: configuration from src/config.ts, then startRouter until
// SIGTERM/SIGINT, then a graceful stop. Returns the process exit code.
import { readFileSync } from 'node:fs';
import { MIN_TOKEN_LENGTH, type RouterConfig } from '../config.js';
import { createLogger } from '../log.js';
import { startRouter } from './router.js';

export async function runRouter(config: RouterConfig): Promise<number> {
  const log = createLogger({ name: 'cell-router', level: config.logLevel });
  if (!config.databaseUrl) {
    process.stderr.write('cell-operator router: --database-url (or CONTROL_PLANE_DATABASE_URL) is required\n');
    return 2;
  }
  let token = config.token;
  if (config.tokenFile) {
    try {
      token = readFileSync(config.tokenFile, 'utf8').trim();
    } catch (err) {
      process.stderr.write(`cell-operator router: cannot read --token-file: ${(err as NodeJS.ErrnoException).code ?? 'error'}\n`);
      return 2;
    }
    // The same floor as --token: a short or empty file must not become a guessable token.
    if (token.length < MIN_TOKEN_LENGTH) {
      process.stderr.write(`cell-operator router: --token-file (or ROUTER_TOKEN_FILE): the token must be at least ${MIN_TOKEN_LENGTH} characters\n`);
      return 2;
    }
  }
  const router = await startRouter({
    database: { url: config.databaseUrl },
    host: config.host,
    port: config.port,
    token,
    log,
    streamLimits: { maxClients: config.maxChangeStreams },
    maxStaleSeconds: config.maxStaleSeconds,
  });
  await new Promise<void>((resolve) => {
    process.once('SIGTERM', resolve);
    process.once('SIGINT', resolve);
  });
  log.info('shutting down');
  await router.close();
  return 0;
}
