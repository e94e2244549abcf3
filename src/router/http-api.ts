// The router's HTTP API (node:http, no framework): route lookups from the in-memory index, the
// snapshot and change stream for gateways that keep their own copy, ext_authz/auth_request
// answers, placement writes through the store, and the health and metrics endpoints.
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Pool } from 'pg';
import type { Logger } from '../log.js';
import { customerIdProblem, parseCustomerIdSegment } from '../store/customer-id.js';
import type { PlacementStrategy } from '../store/placement-decision.js';
import { validatePlacementRequest } from '../store/placement-request.js';
import { isTransientDatabaseError } from '../store/database-errors.js';
import { type Placement, placeCustomer } from '../store/placements.js';
import { handleBatch } from './batch-placement.js';
import { bearerChecker } from './bearer-auth.js';
import { streamChanges } from './change-stream.js';
import { DEFAULT_STREAM_LIMITS, StreamSlots, type StreamLimits } from './stream-limits.js';
import type { SyncStatus } from './index-sync.js';
import type { RouteIndex } from './route-index.js';
import type { RouterMetrics } from './router-metrics.js';

export interface RouterApiOptions {
  index: RouteIndex;
  status: () => SyncStatus;
  /** Resolves once the index has applied `version` (read-your-writes after a PUT). */
  waitFor?: (version: number, timeoutMs: number) => Promise<boolean>;
  /** The store for writes; without it writes answer 503. */
  pool?: Pool;
  /** Bearer token for writes; without it writes answer 403. */
  token?: string;
  strategy?: PlacementStrategy;
  /** Retry-After while a customer is Fenced. Default 2 s. */
  retryAfterSeconds?: number;
  /** Header naming the customer on /v1/authz (ext_authz, auth_request). Default x-customer-id. */
  customerHeader?: string;
  batchChunkSize?: number;
  log: Logger;
  metrics: RouterMetrics;
  /** Serve GET /bench/noop and /bench/constant (baselines for benchmarks). */
  benchNoop?: boolean;
  /** Aborted when the server shuts down: open change streams end. */
  shutdownSignal?: AbortSignal;
  /** Bounds on change-stream clients (stream-limits.ts). */
  streamLimits?: Partial<StreamLimits>;
  /**
   * /readyz turns NotReady once the index has been stale (database away) this long; 0 (the
   * default): never, the replica keeps serving its last index, marked stale. ?maxStaleSeconds= overrides.
   */
  maxStaleSeconds?: number;
}

const JSON_TYPE = 'application/json';
/** A cell's name, as the Cell kind allows it (a DNS label). */
const CELL_NAME_PATTERN = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;
const MAX_BODY = 64 * 1024;
const SNAPSHOT_DEFAULT_LIMIT = 1000;
const SNAPSHOT_MAX_LIMIT = 10_000;
const BENCH_CONSTANT = JSON.stringify({
  customer: 'cust-0000000',
  cell: 'eu-west-1-cell-0',
  epoch: 1,
  state: 'Active',
  version: 1,
  region: 'eu-west-1',
  endpoints: { kafkaBootstrap: 'kafka-bootstrap.cell-eu-west-1-cell-0.svc:9092', api: 'http://copilot-api.cell-eu-west-1-cell-0.svc:8080' },
});

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

function queryOf(url: string, q: number): URLSearchParams {
  return new URLSearchParams(q < 0 ? '' : url.slice(q + 1));
}

function errorBody(error: string, message: string, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ error, message, ...extra });
}

async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > limit) return undefined;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

function placementJson(p: Placement, created: boolean, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    customer: p.customerId,
    cell: p.cell,
    boundRegion: p.region,
    epoch: p.epoch,
    state: p.state,
    expectedDevices: p.expectedDevices,
    labels: p.labels,
    version: p.version,
    created,
    ...extra,
  });
}

export function createRouterHandler(options: RouterApiOptions): Handler {
  const { index, metrics, log } = options;
  const retryAfter = String(options.retryAfterSeconds ?? 2);
  const customerHeader = (options.customerHeader ?? 'x-customer-id').toLowerCase();
  const strategy = options.strategy ?? 'Hash';
  const checkToken = bearerChecker(options.token);
  const streamLimits = { ...DEFAULT_STREAM_LIMITS, ...options.streamLimits };
  const streamSlots = new StreamSlots(streamLimits.maxClients);
  /** `x-routes-stale-seconds` while the index cannot reach the database: answers may be out of date. */
  const staleHeaders = (headers: Record<string, string>): Record<string, string> => {
    const since = options.status().staleSince;
    return since && index.loaded ? { ...headers, 'x-routes-stale-seconds': String(Math.round((Date.now() - since.getTime()) / 1000)) } : headers;
  };
  const applyOwn = (placements: readonly Placement[]): boolean =>
    index.loaded && index.applyIfNext(placements.map((p) => ({ customerId: p.customerId, cell: p.cell, state: p.state, epoch: p.epoch, version: p.version })));

  const finish = (res: ServerResponse, route: string, status: number, headers: Record<string, string>, body: string, t0: number): void => {
    res.writeHead(status, headers);
    res.end(body);
    metrics.request(route, status, (performance.now() - t0) / 1000);
  };

  const notReady = (res: ServerResponse, route: string, t0: number): void =>
    finish(res, route, 503, { 'content-type': JSON_TYPE, 'retry-after': '1' }, errorBody('NotReady', 'the routing index is still loading'), t0);

  function lookup(res: ServerResponse, segment: string, query: URLSearchParams, t0: number): void {
    const parsed = parseCustomerIdSegment(segment);
    if (!parsed.ok) {
      finish(res, 'lookup', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidCustomerId', `customer id ${parsed.problem}`), t0);
      return;
    }
    // ?cell=NAME: a cell's own ingestion worker asks whether a fenced customer still lives in it
    // (it must write the customer's messages already in its topic before the cut-over). The answer
    // names no cell: only a caller who names one learns yes or no.
    const askingCell = query.get('cell');
    if (askingCell !== null && !CELL_NAME_PATTERN.test(askingCell)) {
      finish(res, 'lookup', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidCell', 'cell must be a cell name (a DNS label of at most 63 characters)'), t0);
      return;
    }
    if (!index.loaded) return notReady(res, 'lookup', t0);
    const hit = index.lookupJson(parsed.id);
    if (!hit) {
      finish(res, 'lookup', 404, { 'content-type': JSON_TYPE }, errorBody('NotFound', `customer ${parsed.id} is not placed`), t0);
    } else if (hit.fenced) {
      // No cell, no epoch: nothing a lax gateway could keep writing with (the cell databases refuse it anyway).
      const inCell = askingCell === null ? {} : { inCell: hit.cell === askingCell };
      const body = errorBody('Fenced', `customer ${parsed.id} is being moved between cells; ask again after Retry-After`, { customer: parsed.id, state: 'Fenced', ...inCell });
      finish(res, 'lookup', 503, staleHeaders({ 'content-type': JSON_TYPE, 'retry-after': retryAfter }), body, t0);
    } else {
      finish(res, 'lookup', 200, staleHeaders({ 'content-type': JSON_TYPE, 'x-cell': hit.cell, 'x-cell-epoch': String(hit.epoch) }), hit.json, t0);
    }
  }

  // ext_authz (Envoy) and auth_request (nginx): 200 + x-cell headers, 403 unknown/invalid, 503
  // fenced — or 403 + x-cell-state: Fenced with ?fenced=403, because nginx's auth_request passes
  // only 401/403 (and their headers) through and turns a 503 into a 500.
  function authz(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, t0: number): void {
    const raw = req.headers[customerHeader];
    const id = Array.isArray(raw) ? raw[0] : raw;
    if (id === undefined || customerIdProblem(id) !== undefined) {
      finish(res, 'authz', 403, { 'content-type': JSON_TYPE }, errorBody('InvalidCustomerId', `header ${customerHeader} must hold a valid customer id`), t0);
      return;
    }
    if (!index.loaded) return notReady(res, 'authz', t0);
    const route = index.lookup(id);
    if (!route) {
      finish(res, 'authz', 403, { 'content-type': JSON_TYPE }, errorBody('UnknownCustomer', `customer ${id} is not placed`), t0);
      return;
    }
    if (route.state === 'Fenced') {
      const status = query.get('fenced') === '403' ? 403 : 503;
      // The state and when to ask again, never the cell: a fenced answer carries no route.
      const headers = staleHeaders({ 'x-cell-state': route.state, 'retry-after': retryAfter, 'content-type': JSON_TYPE });
      finish(res, 'authz', status, headers, errorBody('Fenced', `customer ${id} is moving; retry shortly`), t0);
    } else {
      const headers = staleHeaders({ 'x-cell': route.cell, 'x-cell-epoch': String(route.epoch), 'x-cell-region': route.region ?? '', 'x-cell-state': route.state });
      finish(res, 'authz', 200, headers, '', t0);
    }
  }

  function snapshot(res: ServerResponse, query: URLSearchParams, t0: number): void {
    const after = query.get('after') ?? undefined;
    const limitText = query.get('limit');
    const limit = limitText === null ? SNAPSHOT_DEFAULT_LIMIT : Number(limitText);
    if (after !== undefined && after.length > 253) {
      finish(res, 'snapshot', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidParameter', 'after must be a customer id (the next of the previous page)'), t0);
      return;
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > SNAPSHOT_MAX_LIMIT) {
      finish(res, 'snapshot', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidParameter', `limit must be an integer from 1 to ${SNAPSHOT_MAX_LIMIT}`), t0);
      return;
    }
    if (!index.loaded) return notReady(res, 'snapshot', t0);
    const page = index.snapshotPage(after || undefined, limit);
    const body = JSON.stringify({
      version: page.version,
      next: page.next,
      cells: index.cells(),
      items: page.items.map((c) => ({ customer: c.customerId, cell: c.cell, epoch: c.epoch, state: c.state, version: c.version })),
    });
    finish(res, 'snapshot', 200, { 'content-type': JSON_TYPE, 'cache-control': 'no-store' }, body, t0);
  }

  function changes(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, t0: number): void {
    const lastEventId = req.headers['last-event-id'];
    const raw = (typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : undefined) ?? query.get('since') ?? undefined;
    const since = raw === undefined ? undefined : Number(raw);
    if (since !== undefined && (!Number.isSafeInteger(since) || since < 0)) {
      finish(res, 'changes', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidParameter', 'since (or Last-Event-ID) must be a version: a non-negative integer'), t0);
      return;
    }
    if (!index.loaded) return notReady(res, 'changes', t0);
    const release = streamSlots.tryAcquire();
    if (!release) {
      metrics.sseRefused.inc();
      const message = `this router serves its maximum of ${streamLimits.maxClients} change streams; retry later or on another replica`;
      return finish(res, 'changes', 503, { 'content-type': JSON_TYPE, 'retry-after': '5' }, errorBody('TooManyStreams', message), t0);
    }
    metrics.request('changes', 200, (performance.now() - t0) / 1000);
    streamChanges(req, res, since, { index, metrics, signal: options.shutdownSignal, limits: streamLimits, onClose: release });
  }

  /** Checks the token; answers and returns false when the request may not write. */
  function authorised(req: IncomingMessage, res: ServerResponse, route: string, t0: number): boolean {
    const auth = checkToken(req);
    if (auth === 'ok') return true;
    if (auth === 'disabled') {
      finish(res, route, 403, { 'content-type': JSON_TYPE }, errorBody('WritesDisabled', 'this router has no write token configured'), t0);
    } else {
      finish(res, route, 401, { 'content-type': JSON_TYPE, 'www-authenticate': 'Bearer realm="cell-router"' }, errorBody('Unauthorized', 'a valid bearer token is required to write'), t0);
    }
    req.resume();
    return false;
  }

  async function place(req: IncomingMessage, res: ServerResponse, segment: string, t0: number): Promise<void> {
    if (!authorised(req, res, 'place', t0)) return;
    const parsed = parseCustomerIdSegment(segment);
    if (!parsed.ok) {
      req.resume();
      return finish(res, 'place', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidCustomerId', `customer id ${parsed.problem}`), t0);
    }
    if (!options.pool) return finish(res, 'place', 503, { 'content-type': JSON_TYPE, 'retry-after': '5' }, errorBody('NoDatabase', 'writes are unavailable'), t0);
    const text = await readBody(req, MAX_BODY);
    if (text === undefined) return finish(res, 'place', 413, { 'content-type': JSON_TYPE, connection: 'close' }, errorBody('TooLarge', `body over ${MAX_BODY} bytes`), t0);
    let body: unknown = {};
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        return finish(res, 'place', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidRequest', 'body is not JSON'), t0);
      }
    }
    const given = typeof body === 'object' && body !== null ? (body as { customer?: unknown }).customer : undefined;
    if (given !== undefined && given !== parsed.id) {
      return finish(res, 'place', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidRequest', 'body.customer differs from the id in the path'), t0);
    }
    const v = validatePlacementRequest(body, parsed.id);
    if (!v.ok) return finish(res, 'place', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidRequest', v.problems.join('; '), { problems: v.problems }), t0);
    let result;
    try {
      result = await placeCustomer(options.pool, v.request, { strategy });
    } catch (err) {
      if (isTransientDatabaseError(err)) {
        return finish(res, 'place', 503, { 'content-type': JSON_TYPE, 'retry-after': '2' }, errorBody('DatabaseUnavailable', 'the control-plane database is unreachable; retry'), t0);
      }
      throw err;
    }
    metrics.placements.labels(result.status, 'put').inc();
    switch (result.status) {
      case 'Created':
        // Read-your-writes on this replica: answer once the index shows the new row (bounded wait).
        if (!applyOwn([result.placement])) await options.waitFor?.(result.placement.version, 1000);
        return finish(res, 'place', 201, { 'content-type': JSON_TYPE, 'x-cell': result.placement.cell }, placementJson(result.placement, true), t0);
      case 'Existing':
        return finish(res, 'place', 200, { 'content-type': JSON_TYPE, 'x-cell': result.placement.cell }, placementJson(result.placement, false, { differences: result.differences }), t0);
      case 'Unschedulable':
        return finish(res, 'place', 422, { 'content-type': JSON_TYPE }, errorBody('Unschedulable', result.reason, { exclusions: result.exclusions }), t0);
      case 'Invalid':
        return finish(res, 'place', 400, { 'content-type': JSON_TYPE }, errorBody('InvalidRequest', result.problems.join('; '), { problems: result.problems }), t0);
    }
  }

  async function batch(req: IncomingMessage, res: ServerResponse, t0: number): Promise<void> {
    if (!authorised(req, res, 'batch', t0)) return;
    if (!options.pool) return finish(res, 'batch', 503, { 'content-type': JSON_TYPE, 'retry-after': '5' }, errorBody('NoDatabase', 'writes are unavailable'), t0);
    await handleBatch(req, res, { pool: options.pool, strategy, log, metrics, chunkSize: options.batchChunkSize, onCreated: applyOwn });
    metrics.request('batch', 200, (performance.now() - t0) / 1000);
  }

  function readyz(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, t0: number): void {
    const s = options.status();
    const staleSeconds = s.staleSince ? (Date.now() - s.staleSince.getTime()) / 1000 : 0;
    const given = query.get('maxStaleSeconds');
    const limit = given !== null ? Number(given) || 0 : (options.maxStaleSeconds ?? 0);
    // Stale is served, not hidden: a replica stays in its Service unless a limit is set and passed.
    const ready = s.loaded && (s.connected || limit <= 0 || staleSeconds <= limit);
    const body = JSON.stringify({
      ready,
      indexLoaded: s.loaded,
      customers: index.size,
      version: s.version,
      database: s.connected ? 'connected' : 'unreachable',
      staleSince: s.staleSince?.toISOString() ?? null,
      staleSeconds: Math.round(staleSeconds),
      // The database's own words (host names, users) only for a caller holding the write token.
      ...(s.lastError && checkToken(req) === 'ok' ? { lastError: s.lastError } : {}),
    });
    finish(res, 'readyz', ready ? 200 : 503, { 'content-type': JSON_TYPE, 'cache-control': 'no-store' }, body, t0);
  }

  function methodNotAllowed(res: ServerResponse, allow: string, t0: number): void {
    finish(res, 'other', 405, { 'content-type': JSON_TYPE, allow }, errorBody('MethodNotAllowed', `use ${allow}`), t0);
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (path.startsWith('/v1/routes/')) {
      const segment = path.slice('/v1/routes/'.length);
      if (method !== 'GET' && method !== 'HEAD') return methodNotAllowed(res, 'GET', t0);
      if (segment === 'changes') return changes(req, res, queryOf(url, q), t0);
      if (segment.includes('/')) return finish(res, 'other', 404, { 'content-type': JSON_TYPE }, errorBody('NotFound', 'no such path'), t0);
      return lookup(res, segment, queryOf(url, q), t0);
    }
    if (path === '/v1/routes') return method === 'GET' ? snapshot(res, queryOf(url, q), t0) : methodNotAllowed(res, 'GET', t0);
    if (path === '/v1/authz' || path.startsWith('/v1/authz/')) return authz(req, res, queryOf(url, q), t0);
    if (path === '/v1/customers:batch') return method === 'POST' ? batch(req, res, t0) : methodNotAllowed(res, 'POST', t0);
    if (path.startsWith('/v1/customers/')) {
      const segment = path.slice('/v1/customers/'.length);
      if (method !== 'PUT') return methodNotAllowed(res, 'PUT', t0);
      if (segment.includes('/')) return finish(res, 'other', 404, { 'content-type': JSON_TYPE }, errorBody('NotFound', 'no such path'), t0);
      return place(req, res, segment, t0);
    }
    if (path === '/healthz') return finish(res, 'healthz', 200, { 'content-type': 'text/plain' }, 'ok\n', t0);
    if (path === '/readyz') return readyz(req, res, queryOf(url, q), t0);
    if (path === '/metrics') {
      const text = await metrics.registry.metrics();
      return finish(res, 'metrics', 200, { 'content-type': metrics.registry.contentType }, text, t0);
    }
    if (options.benchNoop && path === '/bench/noop') return finish(res, 'noop', 200, { 'content-type': JSON_TYPE }, '{}', t0);
    if (options.benchNoop && path === '/bench/constant') {
      // The same answer as a lookup, without the lookup: isolates the index and serialisation.
      return finish(res, 'noop', 200, { 'content-type': JSON_TYPE, 'x-cell': 'eu-west-1-cell-0', 'x-cell-epoch': '1' }, BENCH_CONSTANT, t0);
    }
    finish(res, 'other', 404, { 'content-type': JSON_TYPE }, errorBody('NotFound', 'no such path'), t0);
  }

  return (req, res) => {
    handle(req, res).catch((err: Error) => {
      log.error({ err: err.message, path: req.url?.split('?')[0] }, 'request failed');
      if (!res.headersSent) {
        res.writeHead(500, { 'content-type': JSON_TYPE });
        res.end(errorBody('Internal', 'internal error'));
      } else {
        res.destroy();
      }
    });
  };
}
