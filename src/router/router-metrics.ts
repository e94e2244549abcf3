// Prometheus metrics of the router, on a registry of its own (several routers can live in one
// test process). Children of labelled metrics are cached: the lookup path stays allocation-free.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { RouteIndex } from './route-index.js';
import type { IndexSync } from './index-sync.js';

export class RouterMetrics {
  readonly registry: Registry;
  private readonly requests: Counter<'route' | 'code'>;
  private readonly duration: Histogram<'route'>;
  readonly placements: Counter<'status' | 'via'>;
  readonly sseClients: Gauge;
  readonly sseDisconnects: Counter<'reason'>;
  readonly sseRefused: Counter;
  private readonly requestChildren = new Map<string, { inc(): void }>();
  private readonly durationChildren = new Map<string, { observe(v: number): void }>();

  constructor(index: RouteIndex, sync: () => IndexSync | undefined, options: { registry?: Registry; defaultMetrics?: boolean } = {}) {
    const registry = options.registry ?? new Registry();
    this.registry = registry;
    if (options.defaultMetrics) collectDefaultMetrics({ register: registry });
    this.requests = new Counter({ name: 'cell_router_http_requests_total', help: 'HTTP requests by route and status code', labelNames: ['route', 'code'], registers: [registry] });
    this.duration = new Histogram({
      name: 'cell_router_http_request_duration_seconds',
      help: 'Time to answer, by route',
      labelNames: ['route'],
      buckets: [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05, 0.25, 1, 5],
      registers: [registry],
    });
    this.placements = new Counter({ name: 'cell_router_placements_total', help: 'Placement results by status', labelNames: ['status', 'via'], registers: [registry] });
    this.sseClients = new Gauge({ name: 'cell_router_change_stream_clients', help: 'Open change streams', registers: [registry] });
    this.sseDisconnects = new Counter({
      name: 'cell_router_change_stream_disconnects_total',
      help: 'Change streams the router ended, by reason (SlowClient: the client did not read; ShuttingDown)',
      labelNames: ['reason'],
      registers: [registry],
    });
    this.sseRefused = new Counter({
      name: 'cell_router_change_stream_refused_total',
      help: 'Change streams refused because the router already serves its maximum',
      registers: [registry],
    });
    new Gauge({
      name: 'cell_router_index_customers',
      help: 'Customers in the in-memory index',
      registers: [registry],
      collect() {
        this.set(index.size);
      },
    });
    new Gauge({
      name: 'cell_router_index_version',
      help: 'Change-feed version the index has applied',
      registers: [registry],
      collect() {
        this.set(index.version);
      },
    });
    new Gauge({
      name: 'cell_router_database_up',
      help: '1 when the index is connected to the database and caught up',
      registers: [registry],
      collect() {
        this.set(sync()?.status().connected ? 1 : 0);
      },
    });
    new Gauge({
      name: 'cell_router_index_stale_seconds',
      help: 'Seconds since the database was last known reachable (0 when connected)',
      registers: [registry],
      collect() {
        const since = sync()?.status().staleSince;
        this.set(since ? (Date.now() - since.getTime()) / 1000 : 0);
      },
    });
  }

  request(route: string, code: number, seconds: number): void {
    const key = `${route} ${code}`;
    let counter = this.requestChildren.get(key);
    if (!counter) {
      counter = this.requests.labels(route, String(code));
      this.requestChildren.set(key, counter);
    }
    counter.inc();
    let histogram = this.durationChildren.get(route);
    if (!histogram) {
      histogram = this.duration.labels(route);
      this.durationChildren.set(route, histogram);
    }
    histogram.observe(seconds);
  }
}
