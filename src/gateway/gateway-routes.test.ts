// The gateway's route cache follows the real router's change stream: a moved customer's readings go
// to its new cell at once although routes are otherwise reused for a minute; while the stream is
// down, routes live for their short TTL, and the follower resumes after the last change it saw.
import type pg from 'pg';
import { usePostgres } from '../../test/support/postgres.js';
import { cellDescription } from '../../test/support/cell-description.js';
import { silentLogger } from '../log.js';
import type { OutgoingMessage } from '../kafka/producer-pool.js';
import { RouteClient } from '../kafka/route-client.js';
import { followRouteChanges } from '../kafka/route-follower.js';
import { syncCell } from '../store/cells.js';
import { createPool } from '../store/connection.js';
import { migrate } from '../store/migrate.js';
import { cutOverPlacement, getPlacement, lockRoutingWrites, placeCustomer, setPlacementState } from '../store/placements.js';
import { startRouter, type RouterHandle } from '../router/router.js';
import { startGateway, type Gateway, type Producers } from './gateway.js';

const postgres = usePostgres();
let pool: pg.Pool;
let url: string;
const closers: (() => Promise<void> | void)[] = [];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
async function eventually<T>(fn: () => T | Promise<T>, timeoutMs = 10_000): Promise<NonNullable<T>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v as NonNullable<T>;
    if (Date.now() > deadline) throw new Error(`not within ${timeoutMs} ms`);
    await sleep(20);
  }
}

beforeAll(async () => {
  url = await postgres().createDatabase();
  pool = createPool({ url, poolMax: 5 });
  await migrate(pool);
  for (const name of ['cell-a', 'cell-b']) await syncCell(pool, cellDescription(name));
}, 120_000);

afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

afterAll(async () => {
  await pool?.end();
});

async function router(port = 0): Promise<RouterHandle> {
  const r = await startRouter({ database: { url }, host: '127.0.0.1', port, log: silentLogger(), pollIntervalMs: 100, closeGraceMs: 50, defaultMetrics: false, waitForIndex: true, migrate: false });
  closers.push(() => r.close());
  return r;
}

/** Moves a customer as a migration's cut-over does: fenced, then placed in `to` with the next epoch. */
async function fence(customer: string): Promise<void> {
  await setPlacementState(pool, customer, 'Fenced');
}
async function cutOver(customer: string, from: string, to: string): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    await lockRoutingWrites(client);
    const p = await getPlacement(client, customer);
    expect(await cutOverPlacement(client, customer, from, to, p!.epoch)).toBeDefined();
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

function recorder(): Producers & { sent: { bootstrap: string; messages: OutgoingMessage[] }[] } {
  const sent: { bootstrap: string; messages: OutgoingMessage[] }[] = [];
  return { sent, send: async (bootstrap, messages) => void sent.push({ bootstrap, messages }), close: async () => undefined, stats: { sends: 0, messages: 0 } };
}

async function gateway(routerUrl: string, producers: Producers, followRoutes: boolean): Promise<Gateway> {
  const g = await startGateway({ routerUrl, kafka: { brokers: [], clientId: 'test', ssl: false }, topic: 'telemetry', host: '127.0.0.1', port: 0, holdMs: 10_000, routeTtlMs: 60_000, followRoutes, log: silentLogger(), producers });
  closers.push(() => g.close());
  return g;
}

const post = async (g: Gateway, customer: string, id: number) => {
  const res = await fetch(`${g.url}/v1/telemetry/${customer}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ id, device: 'd', value: id }]) });
  return { status: res.status, body: (await res.json()) as { cell?: string } };
};

async function metric(g: Gateway, name: string): Promise<number> {
  const text = await (await fetch(`${g.url}/metrics`)).text();
  const line = text.split('\n').find((l) => l.startsWith(`${name} `));
  return Number(line?.split(' ')[1]);
}

describe('the gateway\'s routes follow the router\'s change stream', () => {
  it('sends a moved customer\'s readings to its new cell at once, routes being otherwise reused for a minute', async () => {
    await placeCustomer(pool, { customerId: 'moving-1', cell: 'cell-a' });
    const r = await router();
    const producers = recorder();
    const g = await gateway(r.url, producers, true);
    await eventually(async () => (await metric(g, 'cell_gateway_route_stream_live')) === 1);
    expect(await post(g, 'moving-1', 1)).toEqual({ status: 202, body: expect.objectContaining({ cell: 'cell-a' }) });

    // The fence drops the cached route: the next readings are held (the router answers 503)…
    await fence('moving-1');
    await eventually(async () => (await metric(g, 'cell_gateway_routes_dropped_by_changes')) >= 1);
    const held = post(g, 'moving-1', 2);
    await sleep(300);
    expect(producers.sent.map((s) => s.bootstrap)).toEqual(['kafka.cell-a:9092']);
    // …and go to the new cell once it is cut over.
    await cutOver('moving-1', 'cell-a', 'cell-b');
    expect(await held).toEqual({ status: 202, body: expect.objectContaining({ cell: 'cell-b' }) });
    expect(await post(g, 'moving-1', 3)).toEqual({ status: 202, body: expect.objectContaining({ cell: 'cell-b' }) });
    expect(producers.sent.map((s) => s.bootstrap)).toEqual(['kafka.cell-a:9092', 'kafka.cell-b:9092', 'kafka.cell-b:9092']);
  });

  it('without the stream, keeps a moved customer\'s old route for its TTL (what following the stream removes)', async () => {
    await placeCustomer(pool, { customerId: 'moving-2', cell: 'cell-a' });
    const r = await router();
    const g = await gateway(r.url, recorder(), false);
    expect(await post(g, 'moving-2', 1)).toEqual({ status: 202, body: expect.objectContaining({ cell: 'cell-a' }) });
    await fence('moving-2');
    await cutOver('moving-2', 'cell-a', 'cell-b');
    await sleep(500);
    expect(await post(g, 'moving-2', 2)).toEqual({ status: 202, body: expect.objectContaining({ cell: 'cell-a' }) });
  });

  it('falls back to the short TTL while the stream is down, and resumes after the last change it saw', async () => {
    await placeCustomer(pool, { customerId: 'steady', cell: 'cell-a' });
    await placeCustomer(pool, { customerId: 'moving-3', cell: 'cell-a' });
    const first = await router();
    const port = Number(new URL(first.url).port);
    const client = new RouteClient({ url: first.url, ttlMs: 300, followedTtlMs: 60_000 });
    const follower = followRouteChanges({ url: first.url, client, log: silentLogger(), reconnectMinMs: 50, reconnectMaxMs: 200 });
    closers.push(() => client.close());
    closers.push(() => follower.stop());
    await eventually(() => follower.stats().live);

    // Live: a route is reused past the short TTL.
    expect(await client.route('steady')).toMatchObject({ kind: 'Route', cell: 'cell-a' });
    await sleep(500);
    expect(client.cached('steady')).toMatchObject({ kind: 'Route', cell: 'cell-a' });
    expect(client.lookups).toBe(1);

    // The router goes away: the stream is down and the route expires with the short TTL.
    await first.close();
    await eventually(() => !follower.stats().live);
    expect(client.cached('steady')).toBeUndefined();
    const eventsBefore = follower.stats().events;
    // A change while the follower is away…
    await fence('moving-3');
    // …reaches it once the router is back: it resumes after the last change it saw.
    const again = await router(port);
    expect(again.url).toBe(first.url);
    await eventually(() => follower.stats().live && follower.stats().events > eventsBefore);
    expect(follower.stats().connects).toBeGreaterThan(1);
    expect(await client.route('steady')).toMatchObject({ kind: 'Route', cell: 'cell-a' });
    await sleep(500);
    expect(client.cached('steady')).toMatchObject({ kind: 'Route', cell: 'cell-a' });
  });
});
