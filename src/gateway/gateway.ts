// The device gateway of the reference data path: POST /v1/telemetry/{customer} takes readings,
// asks the router where the customer lives, and produces them to that cell's telemetry topic with
// an idempotent producer; the device gets 202 only once Kafka has them. While the customer is
// fenced for a cut-over (the router's 503) the gateway holds its readings and asks again, up to a
// bound; past it the device gets 503 + Retry-After, never a silent drop. The route cache follows
// the router's change stream (kafka/route-follower.ts): a customer's cached route is dropped the
// moment it changes, so a moved customer's readings go to its new cell at once; while the stream
// is down, routes live for routeTtlMs.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { encodeMessage, parseReadings, type Reading } from '../kafka/telemetry-message.js';
import type { KafkaSettings } from '../kafka/kafka-settings.js';
import { ProducerPool } from '../kafka/producer-pool.js';
import { RouteClient, type RouteAnswer } from '../kafka/route-client.js';
import { followRouteChanges } from '../kafka/route-follower.js';
import { parseCustomerIdSegment } from '../store/customer-id.js';

export interface GatewayOptions {
  routerUrl: string;
  /** Credentials and TLS for every cell's brokers (the addresses come from the router). */
  kafka: KafkaSettings;
  topic: string;
  host?: string;
  port?: number;
  /** How long a fenced customer's readings are held before the device gets 503. Default 10 s. */
  holdMs?: number;
  /** How long a route is reused while the router's change stream is not followed. Default 1000 ms. */
  routeTtlMs?: number;
  /** Follow the router's change stream (GET /v1/routes/changes) to drop a route the moment it changes. Default true. */
  followRoutes?: boolean;
  /** How long a route is reused while the change stream is followed. Default 60 s. */
  followedRouteTtlMs?: number;
  /** How long Kafka gets to acknowledge before the device gets 503. Default 10 s. */
  produceTimeoutMs?: number;
  log: Logger;
  registry?: Registry;
  /** What produces to the cells' Kafka: by default a ProducerPool of options.kafka (tests pass their own). */
  producers?: Producers;
}

/** The part of ProducerPool the gateway uses. */
export type Producers = Pick<ProducerPool, 'send' | 'close' | 'stats'>;

export interface Gateway {
  url: string;
  port: number;
  registry: Registry;
  /** Produce requests sent to Kafka and the readings they carried (mean batch = messages / sends). */
  produced(): { sends: number; messages: number };
  close(): Promise<void>;
}

const MAX_BODY = 1024 * 1024;
const POLL_MS = 50;
const JSON_TYPE = 'application/json';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The device is answered in time; a send still running may land later (the device's retry is then a no-op downstream). */
function withTimeout<T>(p: Promise<T>, ms: number, message: string): Promise<T> {
  // One promise and one timer per request, no race and no finally: this runs for every request.
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(message)), ms);
    p.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (err: unknown) => {
        clearTimeout(timer);
        reject(err as Error);
      },
    );
  });
}

/** A JSON answer with its length (no chunked framing for a body that is already whole). */
function reply(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': JSON_TYPE, 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** The request body as text, or undefined past MAX_BODY (events, not an async iterator: it runs for every request). */
function readBody(req: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > MAX_BODY) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(tooLarge ? undefined : chunks.length === 1 ? (chunks[0] as Buffer).toString('utf8') : Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

export async function startGateway(options: GatewayOptions): Promise<Gateway> {
  const { log } = options;
  const holdMs = options.holdMs ?? 10_000;
  const produceTimeoutMs = options.produceTimeoutMs ?? 10_000;
  const registry = options.registry ?? new Registry();
  const routes = new RouteClient({ url: options.routerUrl, ttlMs: options.routeTtlMs ?? 1000, ...(options.followedRouteTtlMs !== undefined ? { followedTtlMs: options.followedRouteTtlMs } : {}) });
  const follower = options.followRoutes === false ? undefined : followRouteChanges({ url: options.routerUrl, client: routes, log });
  const producers: Producers = options.producers ?? new ProducerPool(options.kafka, options.topic, log);
  const accepted = new Counter({ name: 'cell_gateway_readings_accepted_total', help: 'Readings acknowledged to devices (on Kafka).', labelNames: ['cell'], registers: [registry] });
  const refused = new Counter({ name: 'cell_gateway_requests_refused_total', help: 'Device requests answered with an error, by reason.', labelNames: ['reason'], registers: [registry] });
  new Gauge({
    name: 'cell_gateway_kafka_produce_requests',
    help: 'Produce requests sent to Kafka so far; readings accepted / this is the mean batch.',
    registers: [registry],
    collect() {
      this.set(producers.stats.sends);
    },
  });
  new Gauge({
    name: 'cell_gateway_route_stream_live',
    help: 'Whether the gateway follows the router\'s change stream now (1); 0: cached routes live for their TTL.',
    registers: [registry],
    collect() {
      this.set(follower?.stats().live ? 1 : 0);
    },
  });
  new Gauge({
    name: 'cell_gateway_routes_dropped_by_changes',
    help: 'Cached routes dropped because the router\'s change stream said they changed (so far).',
    registers: [registry],
    collect() {
      this.set(routes.dropped);
    },
  });
  const acceptedByCell = new Map<string, ReturnType<typeof accepted.labels>>();
  const acceptedIn = (cell: string) => {
    let child = acceptedByCell.get(cell);
    if (!child) acceptedByCell.set(cell, (child = accepted.labels(cell)));
    return child;
  };
  const held = new Histogram({
    name: 'cell_gateway_fence_hold_seconds',
    help: 'How long requests of a fenced customer were held before being produced (or refused).',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers: [registry],
  });
  // One router question per customer at a time: the readings of a fenced customer wait together.
  const asking = new Map<string, Promise<RouteAnswer>>();
  const ask = (customer: string, fresh: boolean): Promise<RouteAnswer> => {
    const running = asking.get(customer);
    if (running) return running;
    const p = routes.route(customer, { fresh }).finally(() => asking.delete(customer));
    asking.set(customer, p);
    return p;
  };

  /** The route to produce to, waiting out a fence or an unavailable router up to holdMs. */
  function routeFor(customer: string): RouteAnswer | Promise<RouteAnswer> {
    // A fresh cached route is answered at once: no promise, no question in flight to join.
    return routes.cached(customer) ?? askUntilServed(customer);
  }

  async function askUntilServed(customer: string): Promise<RouteAnswer> {
    const started = Date.now();
    let answer = await ask(customer, false);
    while (answer.kind === 'Fenced' || answer.kind === 'Unavailable') {
      if (Date.now() - started >= holdMs) break;
      await sleep(POLL_MS);
      answer = await ask(customer, true);
    }
    if (Date.now() - started > POLL_MS) held.observe((Date.now() - started) / 1000);
    return answer;
  }

  async function telemetry(req: IncomingMessage, res: ServerResponse, segment: string): Promise<void> {
    const id = parseCustomerIdSegment(segment);
    if (!id.ok) {
      req.resume();
      refused.inc({ reason: 'InvalidCustomerId' });
      return reply(res, 400, { error: 'InvalidCustomerId', message: `customer id ${id.problem}` });
    }
    const text = await readBody(req);
    if (text === undefined) {
      refused.inc({ reason: 'TooLarge' });
      return reply(res, 413, { error: 'TooLarge', message: `the body is larger than ${MAX_BODY} bytes` });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      refused.inc({ reason: 'InvalidBody' });
      return reply(res, 400, { error: 'InvalidBody', message: 'the body must be JSON: a reading {id, device, value} or an array of them' });
    }
    const parsed = parseReadings(body);
    if (!parsed.ok) {
      refused.inc({ reason: 'InvalidReading' });
      return reply(res, 400, { error: 'InvalidReading', message: parsed.problem });
    }
    const routed = routeFor(id.id);
    const answer = routed instanceof Promise ? await routed : routed;
    if (answer.kind === 'NotFound') {
      refused.inc({ reason: 'UnknownCustomer' });
      return reply(res, 404, { error: 'UnknownCustomer', message: `customer ${id.id} is not placed in any cell` });
    }
    if (answer.kind === 'Fenced') {
      refused.inc({ reason: 'Fenced' });
      return reply(res, 503, { error: 'Fenced', message: `customer ${id.id} is moving between cells; send again shortly` }, { 'retry-after': String(Math.ceil(answer.retryAfterMs / 1000)) });
    }
    if (answer.kind === 'Unavailable') {
      refused.inc({ reason: 'RouterUnavailable' });
      return reply(res, 503, { error: 'RouterUnavailable', message: 'the routing service cannot answer; send again shortly' }, { 'retry-after': '1' });
    }
    if (!answer.kafkaBootstrap) {
      refused.inc({ reason: 'NoKafkaEndpoint' });
      return reply(res, 503, { error: 'NoKafkaEndpoint', message: `cell ${answer.cell} reports no Kafka bootstrap address yet` }, { 'retry-after': '5' });
    }
    const messages = parsed.readings.map((r: Reading) => ({ key: id.id, value: encodeMessage({ customer: id.id, ...r }) }));
    try {
      await withTimeout(producers.send(answer.kafkaBootstrap, messages), produceTimeoutMs, `cell ${answer.cell}'s Kafka did not acknowledge within ${produceTimeoutMs} ms`);
    } catch (err) {
      // The cell's Kafka may have moved (a new bootstrap address): the device's retry asks the router again.
      routes.forget(id.id);
      refused.inc({ reason: 'KafkaUnavailable' });
      log.warn({ customer: id.id, cell: answer.cell, err: (err as Error).message }, 'readings not produced; the device is told to retry');
      return reply(res, 503, { error: 'KafkaUnavailable', message: `cell ${answer.cell}'s Kafka did not take the readings; send them again` }, { 'retry-after': '1' });
    }
    acceptedIn(answer.cell).inc(messages.length);
    reply(res, 202, { accepted: messages.length, cell: answer.cell, epoch: answer.epoch });
  }

  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] ?? '/';
    if (req.method === 'POST' && path.startsWith('/v1/telemetry/')) {
      telemetry(req, res, path.slice('/v1/telemetry/'.length)).catch((err: unknown) => {
        log.error({ err: (err as Error).message }, 'telemetry request failed');
        if (!res.headersSent) reply(res, 500, { error: 'Internal', message: 'the gateway failed; send again' });
      });
      return;
    }
    if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) return reply(res, 200, { ok: true });
    if (req.method === 'GET' && path === '/metrics') {
      registry.metrics().then(
        (text) => {
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        () => reply(res, 500, { error: 'Metrics' }),
      );
      return;
    }
    req.resume();
    reply(res, 404, { error: 'NotFound', message: 'POST /v1/telemetry/{customer} takes readings' });
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 8080, options.host ?? '0.0.0.0', () => resolve());
  }).catch((err: unknown) => {
    follower?.stop();
    routes.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://${options.host ?? '127.0.0.1'}:${port}`,
    port,
    registry,
    produced: () => producers.stats,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      });
      follower?.stop();
      await producers.close();
      routes.close();
    },
  };
}
