// The device gateway of the reference data path: POST /v1/telemetry/{customer} takes readings,
// asks the router where the customer lives, and produces them to that cell's telemetry topic with
// an idempotent producer; the device gets 202 only once Kafka has them. While the customer is
// fenced for a cut-over (the router's 503) the gateway holds its readings and asks again, up to a
// bound; past it the device gets 503 + Retry-After, never a silent drop. The route cache follows
// the router's change stream (kafka/route-follower.ts): a customer's cached route is dropped the
// moment it changes, so a moved customer's readings go to its new cell at once; while the stream
// is down, routes live for routeTtlMs.
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Logger } from '../log.js';
import { encodeMessage, parseReadings, type Reading } from '../kafka/telemetry-message.js';
import type { KafkaSettings } from '../kafka/kafka-settings.js';
import { ProducerPool } from '../kafka/producer-pool.js';
import { RouteClient, type RouteAnswer } from '../kafka/route-client.js';
import { followRouteChanges } from '../kafka/route-follower.js';
import { parseCustomerIdSegment } from '../store/customer-id.js';
import { installFastPath, type RawRespond } from './fast-http.js';

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
  /**
   * Take `POST /v1/telemetry/{customer}` requests off the socket by hand when they are simple
   * (fast-http.ts), node:http serving the rest. Default true.
   */
  fastPath?: boolean;
  /** How long an idle kept-alive connection is kept (announced in Keep-Alive; node:http adds 1 s). Default 30 s. */
  keepAliveTimeoutMs?: number;
  /** How long a connection may take to send a request's headers before it is answered 408. Default node:http's (60 s). */
  headersTimeoutMs?: number;
  /** How often node:http looks for connections past the headers timeout. Default node:http's (30 s). */
  connectionsCheckingIntervalMs?: number;
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
const TELEMETRY = '/v1/telemetry/';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How a device is answered: the status, the JSON body and, when it should send again, Retry-After in seconds. */
type Respond = (status: number, body: unknown, retryAfter?: string) => void;

/** A JSON answer with its length (no chunked framing for a body that is already whole). */
function reply(res: ServerResponse, status: number, body: unknown, retryAfter?: string): void {
  const text = JSON.stringify(body);
  const length = String(Buffer.byteLength(text));
  res.writeHead(status, retryAfter === undefined ? { 'content-type': JSON_TYPE, 'content-length': length } : { 'content-type': JSON_TYPE, 'content-length': length, 'retry-after': retryAfter });
  res.end(text);
}

/**
 * Calls `done` with the request body as text, or undefined past MAX_BODY; `failed` if the request
 * breaks off. Events and callbacks, no promise: this runs for every request.
 */
function readBody(req: IncomingMessage, done: (text: string | undefined) => void, failed: (err: Error) => void): void {
  let first: Buffer | undefined;
  let more: Buffer[] | undefined;
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    if (size > MAX_BODY) return;
    size += chunk.length;
    if (size > MAX_BODY) first = more = undefined;
    else if (first === undefined) first = chunk;
    else (more ??= [first]).push(chunk);
  });
  req.on('end', () => done(size > MAX_BODY ? undefined : more ? Buffer.concat(more).toString('utf8') : (first?.toString('utf8') ?? '')));
  req.on('error', failed);
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

  /**
   * The readings of one request, from its body to the device's answer: validated, routed (a
   * fenced customer's are held), produced, answered once Kafka acknowledged them or refused with
   * the reason. Callbacks, not async/await: one closure per stage instead of a promise per await.
   */
  function take(customer: string, text: string | undefined, respond: Respond): void {
    if (text === undefined) {
      refused.inc({ reason: 'TooLarge' });
      return respond(413, { error: 'TooLarge', message: `the body is larger than ${MAX_BODY} bytes` });
    }
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      refused.inc({ reason: 'InvalidBody' });
      return respond(400, { error: 'InvalidBody', message: 'the body must be JSON: a reading {id, device, value} or an array of them' });
    }
    const parsed = parseReadings(body);
    if (!parsed.ok) {
      refused.inc({ reason: 'InvalidReading' });
      return respond(400, { error: 'InvalidReading', message: parsed.problem });
    }
    const routed = routeFor(customer);
    if (!(routed instanceof Promise)) return produce(customer, parsed.readings, routed, respond);
    routed.then(
      (answer) => produce(customer, parsed.readings, answer, respond),
      (err: unknown) => failed(err as Error, respond),
    );
  }

  function produce(customer: string, readings: Reading[], answer: RouteAnswer, respond: Respond): void {
    if (answer.kind === 'NotFound') {
      refused.inc({ reason: 'UnknownCustomer' });
      return respond(404, { error: 'UnknownCustomer', message: `customer ${customer} is not placed in any cell` });
    }
    if (answer.kind === 'Fenced') {
      refused.inc({ reason: 'Fenced' });
      return respond(503, { error: 'Fenced', message: `customer ${customer} is moving between cells; send again shortly` }, String(Math.ceil(answer.retryAfterMs / 1000)));
    }
    if (answer.kind === 'Unavailable') {
      refused.inc({ reason: 'RouterUnavailable' });
      return respond(503, { error: 'RouterUnavailable', message: 'the routing service cannot answer; send again shortly' }, '1');
    }
    if (!answer.kafkaBootstrap) {
      refused.inc({ reason: 'NoKafkaEndpoint' });
      return respond(503, { error: 'NoKafkaEndpoint', message: `cell ${answer.cell} reports no Kafka bootstrap address yet` }, '5');
    }
    // An object literal, not a spread ({customer, ...r} costs ~2 µs more a request of 20 readings).
    const messages = readings.map((r: Reading) => ({ key: customer, value: encodeMessage({ customer, id: r.id, device: r.device, value: r.value }) }));
    const { cell } = answer;
    // The device is answered in time; a send still running may land later (the device's retry is
    // then a no-op downstream). Whichever comes first answers, once.
    let answered = false;
    const notProduced = (err: Error) => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      // The cell's Kafka may have moved (a new bootstrap address): the device's retry asks the router again.
      routes.forget(customer);
      refused.inc({ reason: 'KafkaUnavailable' });
      log.warn({ customer, cell, err: err.message }, 'readings not produced; the device is told to retry');
      respond(503, { error: 'KafkaUnavailable', message: `cell ${cell}'s Kafka did not take the readings; send them again` }, '1');
    };
    const timer = setTimeout(() => notProduced(new Error(`cell ${cell}'s Kafka did not acknowledge within ${produceTimeoutMs} ms`)), produceTimeoutMs);
    producers.send(answer.kafkaBootstrap, messages).then(() => {
      if (answered) return;
      answered = true;
      clearTimeout(timer);
      acceptedIn(cell).inc(messages.length);
      respond(202, { accepted: messages.length, cell, epoch: answer.epoch });
    }, notProduced);
  }

  function failed(err: Error, respond: Respond): void {
    log.error({ err: err.message }, 'telemetry request failed');
    respond(500, { error: 'Internal', message: 'the gateway failed; send again' });
  }

  /** The customer id of the request's path segment, or undefined once the device was told why not. */
  function customerOf(segment: string, respond: Respond): string | undefined {
    const id = parseCustomerIdSegment(segment);
    if (id.ok) return id.id;
    refused.inc({ reason: 'InvalidCustomerId' });
    respond(400, { error: 'InvalidCustomerId', message: `customer id ${id.problem}` });
    return undefined;
  }

  /**
   * Set by close(): from then on every answer says `Connection: close` and ends its connection, on
   * both HTTP paths (node:http alone keeps a busy connection for the keep-alive timeout, 31 s).
   */
  let closing = false;
  /** node:http's answer, the last on its connection once the gateway is closing. */
  function answer(res: ServerResponse, status: number, body: unknown, retryAfter?: string): void {
    if (closing) res.shouldKeepAlive = false;
    reply(res, status, body, retryAfter);
  }

  /** A telemetry request that node:http parsed (every one the fast path does not take). */
  function telemetry(req: IncomingMessage, res: ServerResponse, segment: string): void {
    const respond: Respond = (status, body, retryAfter) => {
      if (!res.headersSent) answer(res, status, body, retryAfter);
    };
    const customer = customerOf(segment, respond);
    if (customer === undefined) return void req.resume();
    readBody(
      req,
      (text) => {
        try {
          take(customer, text, respond);
        } catch (err) {
          failed(err as Error, respond);
        }
      },
      (err) => failed(err, respond),
    );
  }

  /** A telemetry request that the fast path (fast-http.ts) read whole off the socket. */
  function fastTelemetry(segment: string, body: Buffer, raw: RawRespond): void {
    const respond: Respond = (status, answer, retryAfter) => raw(status, JSON.stringify(answer), retryAfter);
    const customer = customerOf(segment, respond);
    if (customer === undefined) return;
    try {
      take(customer, body.toString('utf8'), respond);
    } catch (err) {
      failed(err as Error, respond);
    }
  }

  const timeouts: ServerOptions = {};
  if (options.headersTimeoutMs !== undefined) timeouts.headersTimeout = options.headersTimeoutMs;
  if (options.connectionsCheckingIntervalMs !== undefined) timeouts.connectionsCheckingInterval = options.connectionsCheckingIntervalMs;
  const server: Server = createServer(timeouts, (req, res) => {
    const url = req.url ?? '/';
    const query = url.indexOf('?');
    const path = query < 0 ? url : url.slice(0, query);
    if (req.method === 'POST' && path.startsWith(TELEMETRY)) return telemetry(req, res, path.slice(TELEMETRY.length));
    if (req.method === 'GET' && (path === '/healthz' || path === '/readyz')) return answer(res, 200, { ok: true });
    if (req.method === 'GET' && path === '/metrics') {
      registry.metrics().then(
        (text) => {
          if (closing) res.shouldKeepAlive = false;
          res.writeHead(200, { 'content-type': registry.contentType });
          res.end(text);
        },
        () => answer(res, 500, { error: 'Metrics' }),
      );
      return;
    }
    req.resume();
    answer(res, 404, { error: 'NotFound', message: 'POST /v1/telemetry/{customer} takes readings' });
  });
  server.keepAliveTimeout = options.keepAliveTimeoutMs ?? 30_000;
  const fast = options.fastPath === false ? undefined : installFastPath(server, { prefix: TELEMETRY, maxBody: MAX_BODY, serve: fastTelemetry });
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
      closing = true;
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        fast?.closeIdle();
        server.closeIdleConnections();
      });
      follower?.stop();
      await producers.close();
      routes.close();
    },
  };
}
