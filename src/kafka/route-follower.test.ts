// The change stream's parsing and what a change does to the route cache (no router: route-client's
// `ask` is replaced by a stub; the real router is in src/gateway/gateway-routes.test.ts).
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { RouteClient } from './route-client.js';
import { parseSse } from './route-follower.js';

describe('parseSse', () => {
  it('splits whole events, skips heartbeats, and keeps an unfinished event for the next chunk', () => {
    const { events, rest } = parseSse(': heartbeat\n\nretry: 1000\n\nevent: cells\ndata: {"version":3}\n\nid: 4\nevent: route\ndata: {"customer":"a"}\n\nid: 5\nevent: ro');
    expect(events).toEqual([
      { event: 'cells', data: '{"version":3}' },
      { id: '4', event: 'route', data: '{"customer":"a"}' },
    ]);
    expect(rest).toBe('id: 5\nevent: ro');
    expect(parseSse(`${rest}ute\ndata: {"customer":"b"}\n\n`).events).toEqual([{ id: '5', event: 'route', data: '{"customer":"b"}' }]);
  });
});

describe('a route cache that follows changes', () => {
  let router: Server;
  let cell = 'cell-a';
  let epoch = 1;
  let answerAfter: Promise<void> = Promise.resolve();
  let client: RouteClient;

  beforeEach(async () => {
    cell = 'cell-a';
    epoch = 1;
    answerAfter = Promise.resolve();
    router = createServer((_req, res) => {
      void answerAfter.then(() => {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ cell, epoch, endpoints: { kafkaBootstrap: `kafka.${cell}:9092` } }));
      });
    });
    await new Promise<void>((r) => router.listen(0, '127.0.0.1', () => r()));
    client = new RouteClient({ url: `http://127.0.0.1:${(router.address() as AddressInfo).port}`, ttlMs: 1, followedTtlMs: 60_000 });
    client.setFollowing(true);
  });

  afterEach(async () => {
    client.close();
    await new Promise((r) => router.close(r));
  });

  const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

  it('reuses a followed route, drops it when the customer changes, keeps it for a change it already is', async () => {
    await client.route('acme');
    await sleep(20);
    expect(client.cached('acme')).toMatchObject({ cell: 'cell-a' });
    client.changed({ customer: 'acme', cell: 'cell-a', epoch: 1, state: 'Active', version: 7 });
    expect(client.cached('acme')).toMatchObject({ cell: 'cell-a' });
    client.changed({ customer: 'acme', cell: 'cell-a', epoch: 1, state: 'Fenced', version: 8 });
    expect(client.cached('acme')).toBeUndefined();
    expect(client.dropped).toBe(1);
    // A change of a customer not cached adds nothing.
    client.changed({ customer: 'other', cell: 'cell-b', epoch: 1, state: 'Active', version: 9 });
    expect(client.cached('other')).toBeUndefined();
  });

  it('keeps an answer a change overtook only for the short TTL, and every route for it while the stream is down', async () => {
    let release!: () => void;
    answerAfter = new Promise((r) => (release = r));
    const asked = client.route('acme');
    await sleep(20);
    client.changed({ customer: 'acme', cell: 'cell-b', epoch: 2, state: 'Active', version: 10 });
    release();
    expect(await asked).toMatchObject({ cell: 'cell-a' });
    await sleep(20);
    expect(client.cached('acme')).toBeUndefined();

    answerAfter = Promise.resolve();
    await client.route('globex');
    client.setFollowing(false);
    await sleep(20);
    expect(client.cached('globex')).toBeUndefined();
  });

  it('drops the routes to a cell whose Kafka moved or that is gone', async () => {
    await client.route('acme');
    client.cellsChanged([{ name: 'cell-a', endpoints: { kafkaBootstrap: 'kafka.cell-a:9092' } }]);
    expect(client.cached('acme')).toMatchObject({ cell: 'cell-a' });
    client.cellsChanged([{ name: 'cell-a', endpoints: { kafkaBootstrap: 'kafka-new.cell-a:9092' } }]);
    expect(client.cached('acme')).toBeUndefined();
  });
});
