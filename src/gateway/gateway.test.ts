// The gateway against a stand-in router (plain HTTP) and a recording producer: what a device sees
// while its customer is fenced, and that no reading is dropped on the way.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { silentLogger } from '../log.js';
import type { OutgoingMessage } from '../kafka/producer-pool.js';
import { startGateway, type Gateway, type Producers } from './gateway.js';

const route = JSON.stringify({ customer: 'acme', cell: 'cell-b', epoch: 2, state: 'Active', endpoints: { kafkaBootstrap: 'kafka-b:9092' } });

let router: Server;
let fenced = false;
let unknown = false;
let lookups = 0;
let gateway: Gateway | undefined;
/** Whether the gateway takes simple requests by hand (fast-http.ts) or leaves every one to node:http. */
let fastPath = true;

beforeEach(async () => {
  fenced = false;
  unknown = false;
  lookups = 0;
  router = createServer((req, res) => {
    if (req.url?.startsWith('/v1/routes/changes')) {
      // No change stream here: the gateway keeps its routes for their TTL.
      res.writeHead(404).end();
      return;
    }
    lookups++;
    if (unknown) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: 'NotFound' }));
      return;
    }
    if (fenced) {
      res.writeHead(503, { 'content-type': 'application/json', 'retry-after': '1' });
      res.end(JSON.stringify({ error: 'Fenced', customer: 'acme', state: 'Fenced' }));
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(route);
  });
  await new Promise<void>((r) => router.listen(0, '127.0.0.1', () => r()));
});

afterEach(async () => {
  await gateway?.close();
  gateway = undefined;
  await new Promise((r) => router.close(r));
});

function recorder(fail = false): Producers & { sent: { bootstrap: string; messages: OutgoingMessage[] }[] } {
  const sent: { bootstrap: string; messages: OutgoingMessage[] }[] = [];
  return {
    sent,
    send: async (bootstrap, messages) => {
      if (fail) throw new Error('broker down');
      sent.push({ bootstrap, messages });
    },
    close: async () => undefined,
    stats: { sends: 0, messages: 0 },
  };
}

async function start(producers: Producers, holdMs = 5_000, produceTimeoutMs?: number): Promise<Gateway> {
  gateway = await startGateway({
    routerUrl: `http://127.0.0.1:${(router.address() as AddressInfo).port}`,
    kafka: { brokers: [], clientId: 'test', ssl: false },
    topic: 'telemetry',
    host: '127.0.0.1',
    port: 0,
    holdMs,
    routeTtlMs: 60_000,
    log: silentLogger(),
    producers,
    fastPath,
    ...(produceTimeoutMs !== undefined ? { produceTimeoutMs } : {}),
  });
  return gateway;
}

const post = (g: Gateway, ids: number[]) =>
  fetch(`${g.url}/v1/telemetry/acme`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(ids.map((id) => ({ id, device: 'd', value: id }))) });

describe.each([
  ['taking simple requests off the socket', true],
  ['with node:http alone', false],
])('the gateway %s', (_, fast) => {
  beforeEach(() => {
    fastPath = fast;
  });

  it('holds a fenced customer\'s readings and produces them to its cell once the fence lifts', async () => {
    const producers = recorder();
    const g = await start(producers);
    fenced = true;
    const answer = post(g, [1, 2]);
    await new Promise((r) => setTimeout(r, 300));
    expect(producers.sent).toEqual([]);
    fenced = false;
    const res = await answer;
    expect(res.status).toBe(202);
    expect(await res.json()).toEqual({ accepted: 2, cell: 'cell-b', epoch: 2 });
    expect(producers.sent.map((s) => [s.bootstrap, s.messages.map((m) => m.key)])).toEqual([['kafka-b:9092', ['acme', 'acme']]]);
  });

  it('answers 503 with Retry-After past its hold, having produced nothing', async () => {
    const producers = recorder();
    const g = await start(producers, 300);
    fenced = true;
    const res = await post(g, [1]);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toMatchObject({ error: 'Fenced' });
    expect(producers.sent).toEqual([]);
  });

  it('serves a cached route without asking again, and asks again after Kafka refused the readings', async () => {
    const g = await start(recorder(true));
    expect((await post(g, [1])).status).toBe(503);
    expect((await post(g, [2])).status).toBe(503);
    // Each refusal forgot the route: the retry did not reuse a route to a Kafka that failed.
    expect(lookups).toBe(2);
    await g.close();
    gateway = undefined;
    lookups = 0;
    const ok = await start(recorder());
    expect((await post(ok, [3])).status).toBe(202);
    expect((await post(ok, [4])).status).toBe(202);
    expect(lookups).toBe(1);
  });

  it('refuses what it cannot take with a 4xx naming the reason, producing nothing', async () => {
    const producers = recorder();
    const g = await start(producers);
    const send = async (path: string, body: string, method = 'POST') => {
      const res = await fetch(`${g.url}${path}`, { method, headers: { 'content-type': 'application/json' }, body: method === 'POST' ? body : null });
      return { status: res.status, body: (await res.json()) as { error: string; message: string } };
    };
    expect(await send('/v1/telemetry/Not_An_Id', '[]')).toEqual({ status: 400, body: { error: 'InvalidCustomerId', message: expect.stringContaining('customer id must be lowercase') } });
    expect(await send('/v1/telemetry/acme', '{"id": 1,')).toEqual({ status: 400, body: { error: 'InvalidBody', message: 'the body must be JSON: a reading {id, device, value} or an array of them' } });
    expect(await send('/v1/telemetry/acme', JSON.stringify([{ id: 1, device: 'd', value: 1 }, { id: -1, device: 'd', value: 1 }]))).toEqual({
      status: 400,
      body: { error: 'InvalidReading', message: "[1].id must be a non-negative integer (the device's id of the reading)" },
    });
    expect(await send('/v1/telemetry/acme', '[]')).toEqual({ status: 400, body: { error: 'InvalidReading', message: 'the body holds no reading' } });
    expect(await send('/v1/telemetry/acme', JSON.stringify({ pad: 'x'.repeat(1024 * 1024) }))).toEqual({ status: 413, body: { error: 'TooLarge', message: 'the body is larger than 1048576 bytes' } });
    expect(await send('/v1/other', '[]')).toEqual({ status: 404, body: { error: 'NotFound', message: 'POST /v1/telemetry/{customer} takes readings' } });
    unknown = true;
    expect(await send('/v1/telemetry/acme', JSON.stringify({ id: 1, device: 'd', value: 1 }))).toEqual({ status: 404, body: { error: 'UnknownCustomer', message: 'customer acme is not placed in any cell' } });
    expect(producers.sent).toEqual([]);
    // The connection that carried the refusals still serves a valid request.
    unknown = false;
    expect((await send('/v1/telemetry/acme', JSON.stringify({ id: 1, device: 'd', value: 1 }))).status).toBe(202);
    expect(producers.sent).toHaveLength(1);
  });

  it('answers 503 KafkaUnavailable when Kafka does not acknowledge in time, and the device may send again', async () => {
    const pending: (() => void)[] = [];
    const slow: Producers = { send: () => new Promise<void>((resolve) => pending.push(resolve)), close: async () => undefined, stats: { sends: 0, messages: 0 } };
    const g = await start(slow, 5_000, 200);
    const started = Date.now();
    const res = await post(g, [1]);
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('1');
    expect(await res.json()).toEqual({ error: 'KafkaUnavailable', message: "cell cell-b's Kafka did not take the readings; send them again" });
    expect(Date.now() - started).toBeGreaterThanOrEqual(190);
    // A late acknowledgement of the timed-out send answers nobody twice.
    for (const p of pending) p();
    expect((await fetch(`${g.url}/healthz`)).status).toBe(200);
  });
});
