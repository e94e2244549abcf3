// The router under hostile clients, against a real PostgreSQL: a thousand change streams that sit
// idle cost bounded memory and one more is refused with a reason; a client that stops reading is
// disconnected, told why, and frees what it held.
import { connect, type Socket } from 'node:net';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { startPostgres, type PostgresServer } from '../../test/support/postgres.js';
import { silentLogger } from '../log.js';
import { syncCell } from '../store/cells.js';
import { createPool } from '../store/connection.js';
import { migrate } from '../store/migrate.js';
import { placeCustomers } from '../store/placements.js';
import { startRouter, type RouterHandle } from './router.js';

const IDLE_CLIENTS = 1000;
// About 7.5 MB of events: more than a loopback socket absorbs for a client that never reads (~4 MB).
const BACKLOG_CUSTOMERS = 60_000;

let server: PostgresServer;
let router: RouterHandle;
let databaseUrl: string;
const sockets: Socket[] = [];

beforeAll(async () => {
  server = await startPostgres();
  const url = await server.createDatabase();
  databaseUrl = url;
  const pool = createPool({ url, poolMax: 4 });
  await migrate(pool);
  await syncCell(pool, { name: 'eu-a', region: 'eu-west-1', state: 'Active', ready: true, weight: 100, maxCustomers: 1_000_000, endpoints: {} });
  for (let i = 0; i < BACKLOG_CUSTOMERS; i += 5000) {
    await placeCustomers(pool, Array.from({ length: 5000 }, (_, k) => ({ customerId: `backlog-customer-${String(i + k).padStart(6, '0')}` })));
  }
  await pool.end();
  router = await startRouter({
    database: { url },
    host: '127.0.0.1',
    port: 0,
    log: silentLogger(),
    defaultMetrics: false,
    waitForIndex: true,
    closeGraceMs: 100,
    streamLimits: { maxClients: IDLE_CLIENTS + 1, drainTimeoutMs: 1000 },
  });
}, 120_000);

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await router?.close();
  await server?.stop();
});

/** Opens a change stream on a raw socket; resolves once the response head arrived. */
function openStream(path: string, read: boolean): Promise<{ socket: Socket; head: string; closed: Promise<void> }> {
  return new Promise((resolve, reject) => {
    const socket = connect(router.port, '127.0.0.1');
    sockets.push(socket);
    let head = '';
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.once('error', reject);
    socket.on('data', function onData(chunk: Buffer) {
      head += chunk.toString('latin1');
      if (head.includes('\r\n\r\n')) {
        if (!read) {
          socket.off('data', onData);
          socket.pause(); // never reads again: the kernel buffers fill, then the router's
        } else if (head.length > 4096) head = head.slice(0, 4096);
        resolve({ socket, head, closed });
      }
    });
    socket.write(`GET ${path} HTTP/1.1\r\nHost: router\r\n\r\n`);
  });
}

async function metric(name: string): Promise<string> {
  const text = await (await fetch(`${router.url}/metrics`)).text();
  return text.split('\n').filter((l) => l.startsWith(name)).join('\n');
}

describe('the router under hostile change-stream clients', () => {
  it('holds a thousand idle change streams in bounded memory and refuses one more with a reason', async () => {
    collectGarbage();
    const before = process.memoryUsage().heapUsed;
    // Idle clients that follow only new changes (since = now): no backlog to send them.
    const version = router.index.version;
    for (let i = 0; i < IDLE_CLIENTS; i += 100) {
      const opened = await Promise.all(Array.from({ length: 100 }, () => openStream(`/v1/routes/changes?since=${version}`, true)));
      for (const o of opened) expect(o.head).toMatch(/^HTTP\/1\.1 200/);
    }
    collectGarbage();
    const perClient = (process.memoryUsage().heapUsed - before) / IDLE_CLIENTS;
    // Both ends of every connection live in this process; a stream must stay well under 64 KiB.
    expect(perClient).toBeLessThan(64 * 1024);
    expect(await metric('cell_router_change_stream_clients')).toContain(`cell_router_change_stream_clients ${IDLE_CLIENTS}`);

    // The cap leaves room for exactly one more; the one after is refused.
    const slow = await openStream('/v1/routes/changes?since=0', false);
    expect(slow.head).toMatch(/^HTTP\/1\.1 200/);
    const refused = await fetch(`${router.url}/v1/routes/changes?since=${version}`);
    expect(refused.status).toBe(503);
    expect(refused.headers.get('retry-after')).toBe('5');
    expect(await refused.json()).toMatchObject({ error: 'TooManyStreams' });

    // The client that never reads its 60,000-customer backlog is dropped within the drain timeout.
    // (Its own socket learns it only when it reads again: the router's side is what is checked.)
    const deadline = Date.now() + 15_000;
    while (!(await metric('cell_router_change_stream_disconnects_total')).includes('{reason="SlowClient"} 1')) {
      if (Date.now() > deadline) throw new Error('the slow client was not dropped');
      await new Promise((r) => setTimeout(r, 200));
    }
    // Its slot is free again; the idle ones are untouched.
    expect(await metric('cell_router_change_stream_clients')).toContain(`cell_router_change_stream_clients ${IDLE_CLIENTS}`);
    // Reading now, it reaches the end of the stream.
    slow.socket.resume();
    await Promise.race([slow.closed, new Promise((_, reject) => setTimeout(() => reject(new Error('the slow client socket stayed open')), 15_000))]);
    const again = await openStream(`/v1/routes/changes?since=${version}`, true);
    expect(again.head).toMatch(/^HTTP\/1\.1 200/);
  }, 120_000);

  it('closes a connection whose request headers never finish (slowloris)', async () => {
    const slowloris = await startRouter({
      database: { url: databaseUrl },
      host: '127.0.0.1',
      port: 0,
      log: silentLogger(),
      defaultMetrics: false,
      closeGraceMs: 100,
      timeouts: { headersTimeoutMs: 500 },
    });
    try {
      const socket = connect(slowloris.port, '127.0.0.1');
      sockets.push(socket);
      let answer = '';
      socket.on('data', (c: Buffer) => (answer += c.toString()));
      const closed = new Promise<void>((r) => socket.once('close', () => r()));
      socket.write('GET /healthz HTTP/1.1\r\nHost: router\r\n');
      const started = Date.now();
      await closed;
      // Node checks the header deadline on a timer (at most every second), then answers 408 and closes.
      expect(Date.now() - started).toBeLessThan(5000);
      expect(answer).toMatch(/^HTTP\/1\.1 408/);
    } finally {
      await slowloris.close();
    }
  }, 30_000);
});

/**
 * A full collection before each heap reading, so that garbage of earlier test files in this worker
 * does not count as the streams' memory (jest starts node without --expose-gc).
 */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}
