// `cell-operator router`: opens the control-plane database (applying the schema if needed),
// starts the index sync and serves the HTTP API. Lookups never touch the database.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';
import { createLogger, type Logger } from '../log.js';
import type { DatabaseSettings } from '../store/connection.js';
import type { PlacementStrategy } from '../store/placement-decision.js';
import { retryWithBackoff } from '../runtime/backoff.js';
import { isTransientDatabaseError } from '../store/database-errors.js';
import { openStore, type Store } from '../store/store.js';
import { createRouterHandler } from './http-api.js';
import { IndexSync } from './index-sync.js';
import { RouteIndex } from './route-index.js';
import { RouterMetrics } from './router-metrics.js';
import { DEFAULT_SERVER_TIMEOUTS, type ServerTimeouts, type StreamLimits } from './stream-limits.js';

export interface RouterOptions {
  database: DatabaseSettings;
  /** Listen address. Default 0.0.0.0:8090; port 0 picks a free port. */
  host?: string;
  port?: number;
  /** Bearer token for PUT /v1/customers/{id} and POST /v1/customers:batch; none disables writes. */
  token?: string;
  strategy?: PlacementStrategy;
  retryAfterSeconds?: number;
  customerHeader?: string;
  pollIntervalMs?: number;
  batchChunkSize?: number;
  /** Apply schema migrations at start (under their advisory lock). Default true. */
  migrate?: boolean;
  /** How long to keep retrying the database at start before giving up. Default 60 s. */
  startTimeoutMs?: number;
  /** Resolve only after the index is loaded. Default false (/readyz says when). */
  waitForIndex?: boolean;
  log?: Logger;
  registry?: Registry;
  /** Node's default process metrics on /metrics. Default true. */
  defaultMetrics?: boolean;
  benchNoop?: boolean;
  /** On close, how long requests in flight may finish. Default 5 s. */
  closeGraceMs?: number;
  /** Bounds on change-stream clients (stream-limits.ts). */
  streamLimits?: Partial<StreamLimits>;
  /** Header, request, idle and keep-alive timeouts of the HTTP server. */
  timeouts?: Partial<ServerTimeouts>;
  /** /readyz fails once the index has been stale this long; 0 (default): never (stale is served, marked). */
  maxStaleSeconds?: number;
}

export interface RouterHandle {
  /** http://host:port */
  url: string;
  port: number;
  index: RouteIndex;
  sync: IndexSync;
  store: Store;
  server: Server;
  metrics: RouterMetrics;
  close(): Promise<void>;
}

async function openWithRetry(options: RouterOptions, log: Logger): Promise<Store> {
  return retryWithBackoff(() => openStore({ applicationName: 'cell-router', ...options.database }, { log, migrate: options.migrate ?? true }), {
    policy: { baseMs: 250, maxMs: 5000 },
    retryable: isTransientDatabaseError,
    deadline: Date.now() + (options.startTimeoutMs ?? 60_000),
    onRetry: (err, _attempt, retryInMs) => log.warn({ err: (err as Error).message, retryInMs }, 'control-plane database unreachable at start; retrying'),
  });
}

export async function startRouter(options: RouterOptions): Promise<RouterHandle> {
  const log = options.log ?? createLogger({ name: 'cell-router' });
  const store = await openWithRetry(options, log);
  const index = new RouteIndex();
  const sync = new IndexSync({ database: { applicationName: 'cell-router-listen', ...options.database }, pool: store.pool, index, log, pollIntervalMs: options.pollIntervalMs });
  const metrics = new RouterMetrics(index, () => sync, { registry: options.registry, defaultMetrics: options.defaultMetrics ?? true });
  const shutdown = new AbortController();
  if (!options.token) log.warn('no write token configured: PUT /v1/customers and the batch API answer 403');
  const handler = createRouterHandler({
    index,
    status: () => sync.status(),
    waitFor: (v, ms) => sync.waitFor(v, ms),
    pool: store.pool,
    token: options.token,
    strategy: options.strategy,
    retryAfterSeconds: options.retryAfterSeconds,
    customerHeader: options.customerHeader,
    batchChunkSize: options.batchChunkSize,
    log,
    metrics,
    benchNoop: options.benchNoop,
    shutdownSignal: shutdown.signal,
    streamLimits: options.streamLimits,
    maxStaleSeconds: options.maxStaleSeconds,
  });
  const timeouts = { ...DEFAULT_SERVER_TIMEOUTS, ...options.timeouts };
  const server = createServer({ keepAliveTimeout: timeouts.keepAliveTimeoutMs, headersTimeout: timeouts.headersTimeoutMs, requestTimeout: timeouts.requestTimeoutMs,
    // Node enforces the two timeouts above on this timer (30 s by default): check every second.
    connectionsCheckingInterval: 1000 }, handler);
  // A socket silent both ways this long is closed (change streams send a heartbeat every 15 s).
  server.timeout = timeouts.idleTimeoutMs;
  sync.start();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8090, options.host ?? '0.0.0.0', () => resolve());
  });
  if (options.waitForIndex) await sync.loaded();
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  log.info({ address: `${host}:${address.port}`, database: store.description, strategy: options.strategy ?? 'Hash' }, 'router listening');
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${address.port}`,
    port: address.port,
    index,
    sync,
    store,
    server,
    metrics,
    close() {
      closing ??= (async () => {
        shutdown.abort(); // ends the change streams
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
          // Requests in flight (a batch chunk, a PUT) get a grace period, then are cut.
          setTimeout(() => server.closeAllConnections(), options.closeGraceMs ?? 5000).unref();
        });
        await sync.stop();
        await store.close();
      })();
      return closing;
    },
  };
}
