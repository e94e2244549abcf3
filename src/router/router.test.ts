import { request } from 'node:http';
import type pg from 'pg';
import { startPostgres, usePostgres } from '../../test/support/postgres.js';
import { silentLogger } from '../log.js';
import { type CellDescription, cordonCell, countCellPlacements, listCells, releaseCordons, syncCell } from '../store/cells.js';
import { createPool } from '../store/connection.js';
import { migrate } from '../store/migrate.js';
import { placeCustomer, placeCustomers, setPlacementState } from '../store/placements.js';
import { type RouterHandle, type RouterOptions, startRouter } from './router.js';
import { cellDescription } from '../../test/support/cell-description.js';

const TOKEN = 'test-token-0123456789abcdef';
const postgres = usePostgres();

const cell = (name: string, over: Partial<CellDescription> = {}): CellDescription =>
  cellDescription(name, { maxCustomers: 100_000, endpoints: { kafkaBootstrap: `kafka.cell-${name}.svc:9092` }, ...over });

interface Fixture {
  url: string;
  pool: pg.Pool;
  routers: RouterHandle[];
  start(over?: Partial<RouterOptions>): Promise<RouterHandle>;
  close(): Promise<void>;
}

async function fixture(cells: CellDescription[] = [cell('eu-a'), cell('eu-b'), cell('us-a')], dbUrl?: string): Promise<Fixture> {
  const url = dbUrl ?? (await postgres().createDatabase());
  const pool = createPool({ url, poolMax: 5 });
  await migrate(pool);
  for (const c of cells) await syncCell(pool, c);
  const routers: RouterHandle[] = [];
  return {
    url,
    pool,
    routers,
    async start(over = {}) {
      const r = await startRouter({
        database: { url },
        host: '127.0.0.1',
        port: 0,
        token: TOKEN,
        log: silentLogger(),
        pollIntervalMs: 300,
        closeGraceMs: 100,
        defaultMetrics: false,
        waitForIndex: true,
        ...over,
      });
      routers.push(r);
      return r;
    },
    async close() {
      await Promise.all(routers.map((r) => r.close()));
      await pool.end();
    },
  };
}

// Response bodies are checked field by field with toMatchObject: loosely typed on purpose.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Json = any;

async function get(base: string, path: string, headers: Record<string, string> = {}): Promise<{ status: number; headers: Headers; body: Json }> {
  const res = await fetch(`${base}${path}`, { headers });
  const text = await res.text();
  let body: unknown = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, headers: res.headers, body };
}

async function send(base: string, method: string, path: string, body: string, token: string | null = TOKEN): Promise<{ status: number; body: Json; text: string }> {
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (token) headers.authorization = `Bearer ${token}`;
  const res = await fetch(`${base}${path}`, { method, headers, body });
  const text = await res.text();
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    parsed = undefined;
  }
  return { status: res.status, body: parsed, text };
}

/** Raw GET that does not normalise the path (fetch would resolve or re-encode some of these). */
function rawGet(base: string, path: string): Promise<number> {
  const u = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: u.hostname, port: u.port, path, method: 'GET' }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

async function eventually(check: () => Promise<boolean> | boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('route lookups', () => {
  let f: Fixture;
  let router: RouterHandle;
  beforeAll(async () => {
    f = await fixture();
    await placeCustomer(f.pool, { customerId: 'acme', region: 'eu-west-1' });
    await placeCustomer(f.pool, { customerId: 'moving' });
    await setPlacementState(f.pool, 'moving', 'Fenced');
    router = await f.start();
  });
  afterAll(() => f.close());

  it('answers the cell, its region and endpoints, and the epoch, with x-cell headers', async () => {
    const r = await get(router.url, '/v1/routes/acme');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ customer: 'acme', region: 'eu-west-1', epoch: 1, state: 'Active' });
    expect(r.body.cell).toMatch(/^eu-[ab]$/);
    expect(r.body.endpoints).toEqual({ kafkaBootstrap: `kafka.cell-${r.body.cell}.svc:9092` });
    expect(r.headers.get('x-cell')).toBe(r.body.cell);
    expect(r.headers.get('x-cell-epoch')).toBe('1');
  });

  it('answers 404 for an unknown customer', async () => {
    const r = await get(router.url, '/v1/routes/nobody');
    expect(r).toMatchObject({ status: 404, body: { error: 'NotFound' } });
  });

  it('answers 503 with Retry-After and the reason while a customer is fenced, and no route to write with', async () => {
    const r = await get(router.url, '/v1/routes/moving');
    expect(r.status).toBe(503);
    expect(r.headers.get('retry-after')).toBe('2');
    expect(r.headers.get('x-cell')).toBeNull();
    expect(r.headers.get('x-cell-epoch')).toBeNull();
    expect(r.body).toEqual({ error: 'Fenced', message: expect.stringMatching(/customer moving is being moved/), customer: 'moving', state: 'Fenced' });
    expect(JSON.stringify(r.body)).not.toMatch(/eu-west|endpoints|epoch/);
  });

  it("tells a cell's ingestion worker that names its cell whether a fenced customer still lives there, and nobody else", async () => {
    const active = await get(router.url, '/v1/routes/acme');
    const { rows } = await f.pool.query<{ cell: string }>(`SELECT cell FROM placements WHERE customer_id = 'moving'`);
    const home = rows[0]!.cell;
    const other = home === 'eu-a' ? 'eu-b' : 'eu-a';
    expect((await get(router.url, `/v1/routes/moving?cell=${home}`)).body).toMatchObject({ error: 'Fenced', inCell: true });
    const elsewhere = await get(router.url, `/v1/routes/moving?cell=${other}`);
    expect(elsewhere).toMatchObject({ status: 503, body: { error: 'Fenced', inCell: false } });
    expect(JSON.stringify(elsewhere.body)).not.toContain(home);
    // On an active customer the question changes nothing; a name that is no cell name is refused.
    expect((await get(router.url, `/v1/routes/acme?cell=${other}`)).body).toEqual(active.body);
    expect(await get(router.url, '/v1/routes/moving?cell=Not_A_Cell')).toMatchObject({ status: 400, body: { error: 'InvalidCell' } });
  });

  it.each([
    ['empty', '/v1/routes/'],
    ['too long', `/v1/routes/${'a'.repeat(64)}`],
    ['SQL metacharacters', "/v1/routes/acme'%3B%20DROP%20TABLE%20placements%3B--"],
    ['not UTF-8', '/v1/routes/acme%ff%fe'],
    ['a broken escape', '/v1/routes/acme%2'],
    ['upper case', '/v1/routes/ACME'],
  ])('answers 400 for an invalid id (%s)', async (_name, path) => {
    expect(await rawGet(router.url, path)).toBe(400);
  });

  it('answers ext_authz / auth_request checks with headers, 403 for unknown and 503 while fenced', async () => {
    const ok = await get(router.url, '/v1/authz/api/devices', { 'x-customer-id': 'acme' });
    expect(ok.status).toBe(200);
    expect(ok.headers.get('x-cell')).toMatch(/^eu-/);
    expect(ok.headers.get('x-cell-region')).toBe('eu-west-1');
    expect((await get(router.url, '/v1/authz', { 'x-customer-id': 'nobody' })).status).toBe(403);
    expect((await get(router.url, '/v1/authz', {})).status).toBe(403);
    const fenced = await get(router.url, '/v1/authz', { 'x-customer-id': 'moving' });
    expect(fenced.status).toBe(503);
    expect(fenced.headers.get('retry-after')).toBe('2');
    expect(fenced.headers.get('x-cell')).toBeNull();
    const forNginx = await get(router.url, '/v1/authz?fenced=403', { 'x-customer-id': 'moving' });
    expect(forNginx.status).toBe(403);
    expect(forNginx.headers.get('x-cell-state')).toBe('Fenced');
    expect(forNginx.headers.get('retry-after')).toBe('2');
  });

  it('exposes health, readiness and metrics', async () => {
    expect((await get(router.url, '/healthz')).status).toBe(200);
    const ready = await get(router.url, '/readyz');
    expect(ready).toMatchObject({ status: 200, body: { ready: true, indexLoaded: true, database: 'connected', customers: 2 } });
    const metrics = await get(router.url, '/metrics');
    expect(metrics.body).toContain('cell_router_http_requests_total{route="lookup",code="200"}');
    expect(metrics.body).toContain('cell_router_index_customers 2');
  });
});

describe('placing customers through the API', () => {
  let f: Fixture;
  let router: RouterHandle;
  beforeAll(async () => {
    f = await fixture();
    router = await f.start();
  });
  afterAll(() => f.close());

  it('needs the bearer token to write', async () => {
    expect((await send(router.url, 'PUT', '/v1/customers/acme', '{}', null)).status).toBe(401);
    expect((await send(router.url, 'PUT', '/v1/customers/acme', '{}', 'wrong-token-wrong-token')).status).toBe(401);
    expect((await send(router.url, 'POST', '/v1/customers:batch', '{"customer":"acme"}\n', 'nope')).status).toBe(401);
    expect((await get(router.url, '/v1/routes/acme')).status).toBe(404);
  });

  it('refuses every write when no token is configured', async () => {
    const readOnly = await f.start({ token: undefined });
    const r = await send(readOnly.url, 'PUT', '/v1/customers/acme', '{}');
    expect(r).toMatchObject({ status: 403, body: { error: 'WritesDisabled' } });
  });

  it('gives many clients placing the same customer at once one placement and one answer', async () => {
    const answers = await Promise.all(Array.from({ length: 30 }, () => send(router.url, 'PUT', '/v1/customers/contended', '{}')));
    expect(answers.filter((a) => a.status === 201)).toHaveLength(1);
    expect(answers.filter((a) => a.status === 200)).toHaveLength(29);
    expect(new Set(answers.map((a) => a.body.cell)).size).toBe(1);
  });

  it('places one customer, answers the same again, and serves it at once', async () => {
    const created = await send(router.url, 'PUT', '/v1/customers/globex', JSON.stringify({ region: 'us-east-1', expectedDevices: 40, labels: { tier: 'gold' } }));
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ customer: 'globex', cell: 'us-a', boundRegion: 'us-east-1', epoch: 1, created: true });
    expect((await get(router.url, '/v1/routes/globex')).body).toMatchObject({ cell: 'us-a', region: 'us-east-1' });
    const again = await send(router.url, 'PUT', '/v1/customers/globex', JSON.stringify({ region: 'us-east-1', cell: 'eu-a' }));
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({ cell: 'us-a', created: false, differences: [{ field: 'cell', requested: 'eu-a', actual: 'us-a' }] });
  });

  it('explains why a customer cannot be placed', async () => {
    const r = await send(router.url, 'PUT', '/v1/customers/tokyo', JSON.stringify({ region: 'ap-northeast-1' }));
    expect(r).toMatchObject({ status: 422, body: { error: 'Unschedulable', message: 'no cell in region ap-northeast-1 (cells exist in eu-west-1, us-east-1)' } });
    const pin = await send(router.url, 'PUT', '/v1/customers/pinned', JSON.stringify({ region: 'eu-west-1', cell: 'us-a' }));
    expect(pin).toMatchObject({ status: 422, body: { message: 'pinned cell us-a is in region us-east-1, not eu-west-1' } });
  });

  it('refuses bad requests with the field at fault', async () => {
    expect((await send(router.url, 'PUT', '/v1/customers/Bad_Id', '{}')).status).toBe(400);
    expect((await send(router.url, 'PUT', '/v1/customers/ok', 'not json')).status).toBe(400);
    const bad = await send(router.url, 'PUT', '/v1/customers/ok', JSON.stringify({ expectedDevices: 'many' }));
    expect(bad).toMatchObject({ status: 400, body: { problems: [expect.stringContaining('expectedDevices')] } });
    expect((await send(router.url, 'PUT', '/v1/customers/ok', JSON.stringify({ customer: 'other' }))).status).toBe(400);
  });

  it('places a streamed batch, reporting every line and placing the good ones', async () => {
    const lines = [
      JSON.stringify({ customer: 'b1', region: 'eu-west-1' }),
      'this is not json',
      JSON.stringify({ customer: 'B2' }),
      '',
      JSON.stringify({ customer: 'b3', region: 'mars-1' }),
      JSON.stringify({ customer: 'globex' }),
      JSON.stringify({ customer: 'b4', labels: { tier: 'standard' }, expectedDevices: 3 }),
    ];
    const r = await send(router.url, 'POST', '/v1/customers:batch', `${lines.join('\n')}\n`);
    expect(r.status).toBe(200);
    const out = r.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(out.slice(0, -1).map((o) => [o.line, o.status])).toEqual([
      [1, 'Created'],
      [2, 'Invalid'],
      [3, 'Invalid'],
      [5, 'Unschedulable'],
      [6, 'Existing'],
      [7, 'Created'],
    ]);
    expect(out.at(-1)).toEqual({ summary: { lines: 7, Created: 2, Existing: 1, Invalid: 2, Unschedulable: 1, Failed: 0 }, complete: true });
    await eventually(async () => (await get(router.url, '/v1/routes/b4')).status === 200);
  });
});

describe("onboarding while a drain cordons a cell", () => {
  let f: Fixture;
  let router: RouterHandle;
  beforeAll(async () => {
    f = await fixture([cell('eu-a'), cell('eu-b')]);
    router = await f.start();
    await cordonCell(f.pool, 'eu-a', 'drain-eu-a');
  });
  afterAll(() => f.close());

  it('places nobody in the cordoned cell, one by one or by batch, and refuses a pin to it with the reason', async () => {
    const one = await Promise.all(Array.from({ length: 20 }, (_, i) => send(router.url, 'PUT', `/v1/customers/put-${i}`, JSON.stringify({ region: 'eu-west-1' }))));
    expect(one.map((r) => r.status)).toEqual(Array(20).fill(201));
    const lines = Array.from({ length: 100 }, (_, i) => JSON.stringify({ customer: `batch-${i}` }));
    const batch = await send(router.url, 'POST', '/v1/customers:batch', `${lines.join('\n')}\n`);
    const out = batch.text.trim().split('\n').map((l) => JSON.parse(l));
    expect(out.at(-1)).toMatchObject({ summary: { lines: 100, Created: 100 }, complete: true });
    expect(new Set([...one.map((r) => r.body.cell), ...out.slice(0, -1).map((o) => o.cell)])).toEqual(new Set(['eu-b']));

    const pin = await send(router.url, 'PUT', '/v1/customers/pinned', JSON.stringify({ cell: 'eu-a' }));
    expect(pin).toMatchObject({
      status: 422,
      body: { error: 'Unschedulable', message: 'pinned cell eu-a is cordoned by Migration drain-eu-a (drain), takes no new customers' },
    });
    await releaseCordons(f.pool, 'drain-eu-a');
    expect(await send(router.url, 'PUT', '/v1/customers/pinned', JSON.stringify({ cell: 'eu-a' }))).toMatchObject({ status: 201, body: { cell: 'eu-a' } });
  });
});

describe('snapshot and change stream', () => {
  let f: Fixture;
  let router: RouterHandle;
  beforeAll(async () => {
    f = await fixture();
    await placeCustomers(f.pool, Array.from({ length: 250 }, (_, i) => ({ customerId: `s${String(i).padStart(3, '0')}` })));
    router = await f.start();
  });
  afterAll(() => f.close());

  it('pages through a consistent snapshot in id order', async () => {
    const ids: string[] = [];
    let after = '';
    let firstVersion: number | undefined;
    for (;;) {
      const page = await get(router.url, `/v1/routes?limit=100&after=${after}`);
      expect(page.status).toBe(200);
      firstVersion ??= page.body.version;
      ids.push(...page.body.items.map((i: { customer: string }) => i.customer));
      if (!page.body.next) break;
      after = page.body.next;
    }
    expect(firstVersion).toBe(router.index.version);
    expect(ids).toHaveLength(250);
    expect(ids).toEqual([...ids].sort());
    expect((await get(router.url, '/v1/routes?limit=0')).status).toBe(400);
  });

  it('streams every change after a version, then live changes, and resumes from Last-Event-ID', async () => {
    const since = router.index.version - 10;
    const stream = openStream(router.url, `/v1/routes/changes?since=${since}`);
    await eventually(() => stream.events.filter((e) => e.event === 'route').length === 10);
    expect(stream.events[0]?.event).toBe('cells');
    await placeCustomer(f.pool, { customerId: 'live-one' });
    await setPlacementState(f.pool, 's000', 'Fenced');
    await eventually(() => stream.events.some((e) => e.data.includes('"s000"')));
    const routes = stream.events.filter((e) => e.event === 'route');
    const versions = routes.map((e) => Number(e.id));
    expect(versions).toEqual([...versions].sort((a, b) => a - b));
    expect(routes.at(-2)?.data).toContain('"customer":"live-one"');
    expect(JSON.parse(routes.at(-1)!.data)).toMatchObject({ customer: 's000', state: 'Fenced' });
    stream.close();

    const resumed = openStream(router.url, '/v1/routes/changes', { 'last-event-id': String(versions.at(-2)) });
    await eventually(() => resumed.events.some((e) => e.event === 'route'));
    await new Promise((r) => setTimeout(r, 100));
    expect(resumed.events.filter((e) => e.event === 'route').map((e) => JSON.parse(e.data).customer)).toEqual(['s000']);
    resumed.close();
  });
});

interface SseEvent {
  id?: string;
  event?: string;
  data: string;
}

function openStream(base: string, path: string, headers: Record<string, string> = {}): { events: SseEvent[]; close(): void } {
  const u = new URL(base);
  const events: SseEvent[] = [];
  let buffer = '';
  const req = request({ host: u.hostname, port: u.port, path, headers: { accept: 'text/event-stream', ...headers } }, (res) => {
    res.setEncoding('utf8');
    res.on('data', (chunk: string) => {
      buffer += chunk;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const e: SseEvent = { data: '' };
        for (const line of block.split('\n')) {
          if (line.startsWith('id: ')) e.id = line.slice(4);
          else if (line.startsWith('event: ')) e.event = line.slice(7);
          else if (line.startsWith('data: ')) e.data += line.slice(6);
        }
        if (e.event) events.push(e);
      }
    });
  });
  req.on('error', () => undefined);
  req.end();
  return { events, close: () => req.destroy() };
}

describe('faults', () => {
  it('rebuilds the index after a router restart without missing any change made meanwhile', async () => {
    const f = await fixture();
    try {
      await placeCustomers(f.pool, [{ customerId: 'r1' }, { customerId: 'r2' }]);
      const first = await f.start();
      expect(first.index.size).toBe(2);
      await first.close();
      await placeCustomer(f.pool, { customerId: 'r3' });
      await setPlacementState(f.pool, 'r1', 'Fenced');
      await f.pool.query("DELETE FROM placements WHERE customer_id = 'r2'");
      const second = await f.start();
      expect((await get(second.url, '/v1/routes/r1')).status).toBe(503);
      expect((await get(second.url, '/v1/routes/r2')).status).toBe(404);
      expect((await get(second.url, '/v1/routes/r3')).status).toBe(200);
    } finally {
      await f.close();
    }
  });

  it('misses no change when its database listener is cut while placements continue', async () => {
    const f = await fixture();
    try {
      const router = await f.start({ pollIntervalMs: 60_000 }); // only LISTEN/NOTIFY and reconnects
      let stop = false;
      let n = 0;
      const writer = (async () => {
        while (!stop) await placeCustomer(f.pool, { customerId: `w${n++}` });
      })();
      for (let i = 0; i < 3; i++) {
        await new Promise((r) => setTimeout(r, 150));
        await f.pool.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'cell-router-listen'");
      }
      await new Promise((r) => setTimeout(r, 150));
      stop = true;
      await writer;
      const { rows } = await f.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM placements');
      expect(rows[0]!.n).toBe(n);
      await eventually(() => router.index.size === n);
      for (let i = 0; i < n; i++) expect(router.index.lookup(`w${i}`)).toBeDefined();
    } finally {
      await f.close();
    }
  });

  it('keeps serving its last index while the database is down, marked stale, stays ready, and catches up after', async () => {
    const local = await startPostgres();
    const f = await fixture([cell('eu-a')], local.url);
    try {
      await placeCustomer(f.pool, { customerId: 'steady' });
      const router = await f.start();
      const strict = await f.start({ maxStaleSeconds: 1 });
      await local.halt('fast');
      await eventually(async () => (await get(router.url, '/readyz')).body.database === 'unreachable');
      const ready = await get(router.url, '/readyz');
      expect(ready.status).toBe(200);
      expect(ready.body).toMatchObject({ ready: true, indexLoaded: true, database: 'unreachable', customers: 1 });
      expect(Date.parse(ready.body.staleSince)).toBeLessThanOrEqual(Date.now());
      // The database's own error text is for the token holder only.
      expect(ready.body.lastError).toBeUndefined();
      const withToken = await get(router.url, '/readyz', { authorization: `Bearer ${TOKEN}` });
      expect(typeof withToken.body.lastError).toBe('string');
      const lookup = await get(router.url, '/v1/routes/steady');
      expect(lookup.status).toBe(200);
      expect(Number(lookup.headers.get('x-routes-stale-seconds'))).toBeGreaterThanOrEqual(0);
      const metrics = await get(router.url, '/metrics');
      expect(metrics.body).toMatch(/^cell_router_database_up 0$/m);
      // A replica configured with a limit leaves its Service once the limit has passed.
      await eventually(async () => (await get(strict.url, '/readyz')).status === 503, 10_000);
      const write = await send(router.url, 'PUT', '/v1/customers/during-outage', '{}');
      expect(write.status).toBe(503);

      await local.resume();
      await eventually(async () => (await get(router.url, '/readyz')).body.database === 'connected', 20_000);
      expect((await get(router.url, '/v1/routes/steady')).headers.get('x-routes-stale-seconds')).toBeNull();
      await eventually(async () => (await get(strict.url, '/readyz')).status === 200, 20_000);
      await placeCustomer(f.pool, { customerId: 'after-outage' });
      await eventually(async () => (await get(router.url, '/v1/routes/after-outage')).status === 200);
    } finally {
      await f.close();
      await local.stop();
    }
  }, 60_000);

  it('leaves no half-done rows when the database restarts in the middle of a batch upload', async () => {
    const local = await startPostgres();
    const f = await fixture([cell('eu-a', { maxCustomers: 1_000_000 }), cell('eu-b', { maxCustomers: 1_000_000 })], local.url);
    try {
      const router = await f.start({ batchChunkSize: 2000 });
      const total = 40_000;
      const body = Array.from({ length: total }, (_, i) => JSON.stringify({ customer: `bulk-${i}` })).join('\n');
      const upload = send(router.url, 'POST', '/v1/customers:batch', body);
      await eventually(async () => ((await f.pool.query('SELECT count(*)::int AS n FROM placements')).rows[0].n as number) > 0);
      await local.restart('immediate');
      const r = await upload;
      expect(r.status).toBe(200);
      const out = r.text.trim().split('\n').map((l) => JSON.parse(l));
      const summary = out.pop();
      const placedLines = out.filter((o) => o.status === 'Created' || o.status === 'Existing').map((o) => o.customer as string);
      // Retries ride out the restart: every line is placed, and only once.
      expect(summary).toMatchObject({ complete: true, summary: { lines: total, Failed: 0 } });
      expect(new Set(placedLines).size).toBe(total);
      const { rows } = await f.pool.query<{ n: number }>("SELECT count(*)::int AS n FROM placements WHERE customer_id LIKE 'bulk-%'");
      expect(rows[0]!.n).toBe(total);
      const recount = await countCellPlacements(f.pool);
      for (const c of await listCells(f.pool)) expect(c.customers).toBe(recount.get(c.name)?.customers ?? 0);
    } finally {
      await f.close();
      await local.stop();
    }
  }, 120_000);
});
