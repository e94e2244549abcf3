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

/** A row of the route table (createRouterHandler). */
interface Route {
  path: string;
  /** `path` is a prefix; the rest of the path is the handler's `segment`. */
  prefix?: boolean;
  /** The segment may hold '/' (otherwise such a path is 404). */
  nested?: boolean;
  /** The methods served; absent: any. */
  methods?: readonly string[];
  serve: (req: IncomingMessage, res: ServerResponse, t0: number, segment: string, query: URLSearchParams) => void | Promise<void>;
}

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

  /** A JSON answer: `headers` beside the content type. */
  const json = (res: ServerResponse, route: string, status: number, t0: number, body: string, headers: Record<string, string> = {}): void =>
    finish(res, route, status, { 'content-type': JSON_TYPE, ...headers }, body, t0);
  /** The one error answer: `{ error, message, ...extra }`, a PascalCase error a client can branch on. */
  const fail = (res: ServerResponse, route: string, status: number, t0: number, error: string, message: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}): void =>
    json(res, route, status, t0, errorBody(error, message, extra), headers);

  const notReady = (res: ServerResponse, route: string, t0: number): void =>
    fail(res, route, 503, t0, 'NotReady', 'the routing index is still loading', {}, { 'retry-after': '1' });

  function lookup(res: ServerResponse, segment: string, query: URLSearchParams, t0: number): void {
    const parsed = parseCustomerIdSegment(segment);
    if (!parsed.ok) {
      fail(res, 'lookup', 400, t0, 'InvalidCustomerId', `customer id ${parsed.problem}`);
      return;
    }
    // ?cell=NAME: a cell's own ingestion worker asks whether a fenced customer still lives in it
    // (it must write the customer's messages already in its topic before the cut-over). The answer
    // names no cell: only a caller who names one learns yes or no.
    const askingCell = query.get('cell');
    if (askingCell !== null && !CELL_NAME_PATTERN.test(askingCell)) {
      fail(res, 'lookup', 400, t0, 'InvalidCell', 'cell must be a cell name (a DNS label of at most 63 characters)');
      return;
    }
    if (!index.loaded) return notReady(res, 'lookup', t0);
    const hit = index.lookupJson(parsed.id);
    if (!hit) {
      fail(res, 'lookup', 404, t0, 'NotFound', `customer ${parsed.id} is not placed`);
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
      fail(res, 'authz', 403, t0, 'InvalidCustomerId', `header ${customerHeader} must hold a valid customer id`);
      return;
    }
    if (!index.loaded) return notReady(res, 'authz', t0);
    const route = index.lookup(id);
    if (!route) {
      fail(res, 'authz', 403, t0, 'UnknownCustomer', `customer ${id} is not placed`);
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
      fail(res, 'snapshot', 400, t0, 'InvalidParameter', 'after must be a customer id (the next of the previous page)');
      return;
    }
    if (!Number.isInteger(limit) || limit < 1 || limit > SNAPSHOT_MAX_LIMIT) {
      fail(res, 'snapshot', 400, t0, 'InvalidParameter', `limit must be an integer from 1 to ${SNAPSHOT_MAX_LIMIT}`);
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
    json(res, 'snapshot', 200, t0, body, { 'cache-control': 'no-store' });
  }

  function changes(req: IncomingMessage, res: ServerResponse, query: URLSearchParams, t0: number): void {
    const lastEventId = req.headers['last-event-id'];
    const raw = (typeof lastEventId === 'string' && lastEventId !== '' ? lastEventId : undefined) ?? query.get('since') ?? undefined;
    const since = raw === undefined ? undefined : Number(raw);
    if (since !== undefined && (!Number.isSafeInteger(since) || since < 0)) {
      fail(res, 'changes', 400, t0, 'InvalidParameter', 'since (or Last-Event-ID) must be a version: a non-negative integer');
      return;
    }
    if (!index.loaded) return notReady(res, 'changes', t0);
    const release = streamSlots.tryAcquire();
    if (!release) {
      metrics.sseRefused.inc();
      const message = `this router serves its maximum of ${streamLimits.maxClients} change streams; retry later or on another replica`;
      return fail(res, 'changes', 503, t0, 'TooManyStreams', message, {}, { 'retry-after': '5' });
    }
    metrics.request('changes', 200, (performance.now() - t0) / 1000);
    streamChanges(req, res, since, { index, metrics, signal: options.shutdownSignal, limits: streamLimits, onClose: release });
  }

  /** Checks the token; answers and returns false when the request may not write. */
  function authorised(req: IncomingMessage, res: ServerResponse, route: string, t0: number): boolean {
    const auth = checkToken(req);
    if (auth === 'ok') return true;
    if (auth === 'disabled') {
      fail(res, route, 403, t0, 'WritesDisabled', 'this router has no write token configured');
    } else {
      fail(res, route, 401, t0, 'Unauthorized', 'a valid bearer token is required to write', {}, { 'www-authenticate': 'Bearer realm="cell-router"' });
    }
    req.resume();
    return false;
  }

  async function place(req: IncomingMessage, res: ServerResponse, segment: string, t0: number): Promise<void> {
    if (!authorised(req, res, 'place', t0)) return;
    const parsed = parseCustomerIdSegment(segment);
    if (!parsed.ok) {
      req.resume();
      return fail(res, 'place', 400, t0, 'InvalidCustomerId', `customer id ${parsed.problem}`);
    }
    if (!options.pool) return fail(res, 'place', 503, t0, 'NoDatabase', 'writes are unavailable', {}, { 'retry-after': '5' });
    const text = await readBody(req, MAX_BODY);
    if (text === undefined) return fail(res, 'place', 413, t0, 'TooLarge', `body over ${MAX_BODY} bytes`, {}, { connection: 'close' });
    let body: unknown = {};
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        return fail(res, 'place', 400, t0, 'InvalidRequest', 'body is not JSON');
      }
    }
    const given = typeof body === 'object' && body !== null ? (body as { customer?: unknown }).customer : undefined;
    if (given !== undefined && given !== parsed.id) {
      return fail(res, 'place', 400, t0, 'InvalidRequest', 'body.customer differs from the id in the path');
    }
    const v = validatePlacementRequest(body, parsed.id);
    if (!v.ok) return fail(res, 'place', 400, t0, 'InvalidRequest', v.problems.join('; '), { problems: v.problems });
    let result;
    try {
      result = await placeCustomer(options.pool, v.request, { strategy });
    } catch (err) {
      if (isTransientDatabaseError(err)) {
        return fail(res, 'place', 503, t0, 'DatabaseUnavailable', 'the control-plane database is unreachable; retry', {}, { 'retry-after': '2' });
      }
      throw err;
    }
    metrics.placements.labels(result.status, 'put').inc();
    switch (result.status) {
      case 'Created':
        // Read-your-writes on this replica: answer once the index shows the new row (bounded wait).
        if (!applyOwn([result.placement])) await options.waitFor?.(result.placement.version, 1000);
        return json(res, 'place', 201, t0, placementJson(result.placement, true), { 'x-cell': result.placement.cell });
      case 'Existing':
        return json(res, 'place', 200, t0, placementJson(result.placement, false, { differences: result.differences }), { 'x-cell': result.placement.cell });
      case 'Unschedulable':
        return fail(res, 'place', 422, t0, 'Unschedulable', result.reason, { exclusions: result.exclusions });
      case 'Invalid':
        return fail(res, 'place', 400, t0, 'InvalidRequest', result.problems.join('; '), { problems: result.problems });
    }
  }

  async function batch(req: IncomingMessage, res: ServerResponse, t0: number): Promise<void> {
    if (!authorised(req, res, 'batch', t0)) return;
    if (!options.pool) return fail(res, 'batch', 503, t0, 'NoDatabase', 'writes are unavailable', {}, { 'retry-after': '5' });
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
    json(res, 'readyz', ready ? 200 : 503, t0, body, { 'cache-control': 'no-store' });
  }

  function methodNotAllowed(res: ServerResponse, allow: string, t0: number): void {
    fail(res, 'other', 405, t0, 'MethodNotAllowed', `use ${allow}`, {}, { allow });
  }

  /**
   * The route table: an exact path, or a prefix whose rest is one path segment (any rest with
   * `nested`); `methods` (absent: any), the first named in Allow on a 405. First match wins.
   */
  const routes: Route[] = [
    { path: '/v1/routes/', prefix: true, methods: ['GET', 'HEAD'], serve: (req, res, t0, segment, query) => (segment === 'changes' ? changes(req, res, query, t0) : lookup(res, segment, query, t0)) },
    { path: '/v1/routes', methods: ['GET'], serve: (_req, res, t0, _segment, query) => snapshot(res, query, t0) },
    { path: '/v1/authz', serve: (req, res, t0, _segment, query) => authz(req, res, query, t0) },
    { path: '/v1/authz/', prefix: true, nested: true, serve: (req, res, t0, _segment, query) => authz(req, res, query, t0) },
    { path: '/v1/customers:batch', methods: ['POST'], serve: (req, res, t0) => batch(req, res, t0) },
    { path: '/v1/customers/', prefix: true, methods: ['PUT'], serve: (req, res, t0, segment) => place(req, res, segment, t0) },
    { path: '/healthz', serve: (_req, res, t0) => finish(res, 'healthz', 200, { 'content-type': 'text/plain' }, 'ok\n', t0) },
    { path: '/readyz', serve: (req, res, t0, _segment, query) => readyz(req, res, query, t0) },
    { path: '/metrics', serve: async (_req, res, t0) => finish(res, 'metrics', 200, { 'content-type': metrics.registry.contentType }, await metrics.registry.metrics(), t0) },
    ...(options.benchNoop
      ? [
          { path: '/bench/noop', serve: (_req, res, t0) => json(res, 'noop', 200, t0, '{}') },
          // The same answer as a lookup, without the lookup: isolates the index and serialisation.
          { path: '/bench/constant', serve: (_req, res, t0) => json(res, 'noop', 200, t0, BENCH_CONSTANT, { 'x-cell': 'eu-west-1-cell-0', 'x-cell-epoch': '1' }) },
        ] satisfies Route[]
      : []),
  ];

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const t0 = performance.now();
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    for (const route of routes) {
      if (route.prefix ? !path.startsWith(route.path) : path !== route.path) continue;
      if (route.methods && !route.methods.includes(method)) return methodNotAllowed(res, route.methods[0] ?? 'GET', t0);
      const segment = route.prefix ? path.slice(route.path.length) : '';
      if (route.prefix && !route.nested && segment.includes('/')) break;
      return route.serve(req, res, t0, segment, queryOf(url, q));
    }
    fail(res, 'other', 404, t0, 'NotFound', 'no such path');
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
