// Asks the router where a customer lives (GET /v1/routes/{id}), for the gateway and the ingestion
// worker, with a short per-customer cache. A stale answer is harmless: a message that reaches the
// wrong cell is forwarded from there (src/ingest/); `fresh` skips the cache when it matters.
// While a route follower (route-follower.ts) keeps the cache in step with the router's change
// stream, a route is reused up to `followedTtlMs` and dropped the moment it changes; when the
// stream is down, every route falls back to `ttlMs`.
import http from 'node:http';
import https from 'node:https';

export type RouteAnswer =
  | { kind: 'Route'; cell: string; epoch: number; state: 'Active'; kafkaBootstrap: string | undefined }
  /**
   * The customer is fenced for its cut-over: retry after `retryAfterMs`. The router names no cell;
   * `inCell` answers a client that named its own (RouteClientOptions.cell): whether the customer
   * lives there until the cut-over.
   */
  | { kind: 'Fenced'; retryAfterMs: number; inCell: boolean | undefined }
  | { kind: 'NotFound' }
  /** The router could not answer (not ready, unreachable, 5xx): retry. */
  | { kind: 'Unavailable'; reason: string };

export interface RouteClientOptions {
  /** The router's base URL, e.g. http://cell-router.cell-operator-system.svc:8090 */
  url: string;
  /** How long an Active answer is reused. Default 1000 ms. */
  ttlMs?: number;
  timeoutMs?: number;
  /** The asking cell (an ingestion worker's own): a fenced answer then says whether the customer lives there. */
  cell?: string;
  /** How long a route is reused while the change stream is followed (a change drops it at once). Default 60 s. */
  followedTtlMs?: number;
  /** Routes kept at most; the oldest goes first. Default 100,000. */
  maxEntries?: number;
}

/** A change of a customer's route as the router's change stream says it (GET /v1/routes/changes). */
export interface RouteChangeEvent {
  customer: string;
  cell: string | null;
  epoch: number;
  state: string;
  version: number;
}

interface CacheEntry {
  answer: RouteAnswer & { kind: 'Route' };
  at: number;
  /** Asked while the change stream was followed, and no change of the customer came while asking. */
  followed: boolean;
}

interface RouteJson {
  error?: unknown;
  inCell?: unknown;
  cell?: unknown;
  epoch?: unknown;
  endpoints?: Record<string, unknown>;
}

export class RouteClient {
  private readonly base: URL;
  private readonly ttlMs: number;
  private readonly timeoutMs: number;
  private readonly cell: string | undefined;
  private readonly followedTtlMs: number;
  private readonly maxEntries: number;
  private readonly cache = new Map<string, CacheEntry>();
  /** Lookups in flight per customer, and whether a change of the customer arrived meanwhile. */
  private readonly asking = new Map<string, { n: number; changed: boolean }>();
  private readonly agent: http.Agent;
  /** True while a follower has the change stream live (set by route-follower.ts). */
  private following = false;
  lookups = 0;
  /** Routes dropped because the change stream said they changed. */
  dropped = 0;

  constructor(options: RouteClientOptions) {
    this.base = new URL(options.url);
    if (this.base.protocol !== 'http:' && this.base.protocol !== 'https:') throw new Error(`ROUTER_URL must be an http(s) URL, got ${options.url}`);
    this.ttlMs = options.ttlMs ?? 1000;
    this.timeoutMs = options.timeoutMs ?? 2000;
    this.cell = options.cell;
    this.followedTtlMs = options.followedTtlMs ?? 60_000;
    this.maxEntries = options.maxEntries ?? 100_000;
    this.agent = this.base.protocol === 'https:' ? new https.Agent({ keepAlive: true, maxSockets: 32 }) : new http.Agent({ keepAlive: true, maxSockets: 32 });
  }

  async route(customer: string, options: { fresh?: boolean } = {}): Promise<RouteAnswer> {
    const hit = options.fresh ? undefined : this.cached(customer);
    if (hit) return hit;
    const followedAtStart = this.following;
    const mark = this.asking.get(customer) ?? { n: 0, changed: false };
    mark.n++;
    this.asking.set(customer, mark);
    let answer: RouteAnswer;
    try {
      answer = await this.ask(customer);
    } finally {
      if (--mark.n === 0) this.asking.delete(customer);
    }
    if (answer.kind === 'Route') {
      // An answer that a change may have overtaken (one arrived while asking) lives for ttlMs only.
      this.cache.delete(customer); // re-inserted last: the map's order is the eviction order
      this.cache.set(customer, { answer, at: Date.now(), followed: followedAtStart && this.following && !mark.changed });
      if (this.cache.size > this.maxEntries) this.cache.delete(this.cache.keys().next().value as string);
    } else this.cache.delete(customer);
    return answer;
  }

  /** The cached Active answer while it is fresh, without asking (no promise: the gateway's hot path). */
  cached(customer: string): RouteAnswer | undefined {
    const hit = this.cache.get(customer);
    if (!hit) return undefined;
    return Date.now() - hit.at < (hit.followed && this.following ? this.followedTtlMs : this.ttlMs) ? hit.answer : undefined;
  }

  forget(customer: string): void {
    this.cache.delete(customer);
  }

  /** Whether the change stream is followed now; when it is not, every route lives for ttlMs. */
  setFollowing(following: boolean): void {
    this.following = following;
  }

  get isFollowing(): boolean {
    return this.following;
  }

  /** A change from the router's change stream: the customer's cached route (if any) is dropped; the next message asks again. */
  changed(change: RouteChangeEvent): void {
    const mark = this.asking.get(change.customer);
    if (mark) mark.changed = true;
    const hit = this.cache.get(change.customer);
    if (!hit) return;
    // The cached answer already is this change (asked after it): keep it.
    if (change.state === 'Active' && hit.answer.cell === change.cell && hit.answer.epoch === change.epoch) return;
    this.cache.delete(change.customer);
    this.dropped++;
  }

  /** The cells as the change stream describes them: routes to a cell gone, or whose Kafka moved, are dropped. */
  cellsChanged(cells: readonly { name: string; endpoints?: Record<string, string> }[]): void {
    const bootstrap = new Map(cells.map((c) => [c.name, c.endpoints?.kafkaBootstrap]));
    for (const [customer, hit] of this.cache) {
      if (!bootstrap.has(hit.answer.cell) || bootstrap.get(hit.answer.cell) !== hit.answer.kafkaBootstrap) {
        this.cache.delete(customer);
        this.dropped++;
      }
    }
  }

  close(): void {
    this.agent.destroy();
  }

  private ask(customer: string): Promise<RouteAnswer> {
    this.lookups++;
    const url = new URL(`v1/routes/${encodeURIComponent(customer)}`, this.base.href.endsWith('/') ? this.base : `${this.base.href}/`);
    if (this.cell !== undefined) url.searchParams.set('cell', this.cell);
    const get = url.protocol === 'https:' ? https.get : http.get;
    return new Promise((resolve) => {
      const req = get(url, { agent: this.agent, timeout: this.timeoutMs, headers: { accept: 'application/json' } }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', (err) => resolve({ kind: 'Unavailable', reason: err.message }));
        res.on('end', () => resolve(interpret(res.statusCode ?? 0, res.headers['retry-after'], Buffer.concat(chunks).toString('utf8'))));
      });
      req.on('timeout', () => req.destroy(new Error(`the router did not answer within ${this.timeoutMs} ms`)));
      req.on('error', (err) => resolve({ kind: 'Unavailable', reason: err.message }));
    });
  }
}

/** The answer of the router's HTTP status and body. Exported for tests. */
export function interpret(status: number, retryAfter: string | string[] | undefined, body: string): RouteAnswer {
  if (status === 404) return { kind: 'NotFound' };
  if (status !== 200 && status !== 503) return { kind: 'Unavailable', reason: `the router answered ${status}` };
  let json: RouteJson;
  try {
    json = JSON.parse(body) as RouteJson;
  } catch {
    return { kind: 'Unavailable', reason: `the router answered ${status} with a body that is not JSON` };
  }
  const seconds = Number(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter);
  if (status === 503 && json.error === 'Fenced') {
    return { kind: 'Fenced', retryAfterMs: Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000, inCell: typeof json.inCell === 'boolean' ? json.inCell : undefined };
  }
  if (status !== 200 || typeof json.cell !== 'string' || typeof json.epoch !== 'number') {
    // A 503 that is not a fence is the router itself not ready.
    return { kind: 'Unavailable', reason: `the router answered ${status} without a route` };
  }
  const bootstrap = typeof json.endpoints?.kafkaBootstrap === 'string' ? json.endpoints.kafkaBootstrap : undefined;
  return { kind: 'Route', cell: json.cell, epoch: json.epoch, state: 'Active', kafkaBootstrap: bootstrap };
}
