// Hostile and careless clients against the real gateway (router on PostgreSQL, a real Kafka broker),
// once with the HTTP fast path (fast-http.ts) and once with node:http alone: every input, odd or
// malformed, gets the same bytes back on both (the Date aside), the same connection handling and the
// same readings produced.
import net from 'node:net';
import { silentLogger } from '../log.js';
import { placeCustomers } from '../../test/integration/data/cells-fixture.js';
import { startDataPathWorld, TOPIC, type DataPathWorld } from '../../test/support/data-path.js';
import { setPlacementState } from '../store/placements.js';
import { startGateway, type Gateway, type GatewayOptions } from './gateway.js';

const TIMEOUT = 180_000;
const PREFIX = '/v1/telemetry/';
const READING = JSON.stringify([{ id: 1, device: 'd', value: 1 }]);
const N = READING.length;

let world: DataPathWorld;
let fast: Gateway;
let node: Gateway;
const extra: Gateway[] = [];

async function gateway(fastPath: boolean, options: Partial<GatewayOptions> = {}): Promise<Gateway> {
  return startGateway({ routerUrl: world.router.url, kafka: { brokers: [], clientId: 'attack', ssl: false }, topic: TOPIC, host: '127.0.0.1', port: 0, holdMs: 3_000, log: silentLogger(), fastPath, ...options });
}

beforeAll(async () => {
  world = await startDataPathWorld({ names: ['cell-a'], partitions: 3, ingest: false, gateway: false });
  await placeCustomers(world.cells.cp, ['acme', 'beta', 'held'], 'cell-a');
  [fast, node] = await Promise.all([gateway(true), gateway(false)]);
  // The first produce of each gateway fetches the broker's metadata: not part of any case.
  for (const g of [fast, node]) await talk(g, [request()], 1);
}, TIMEOUT);

afterAll(async () => {
  for (const g of [fast, node, ...extra]) await g?.close();
  await world?.stop();
}, TIMEOUT);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A request of raw header lines (joined with CRLF) and a body. */
const raw = (lines: string[], body = READING) => Buffer.from(`${lines.join('\r\n')}\r\n\r\n${body}`, 'latin1');
/** POST /v1/telemetry/{customer} with a Host, the right Content-Length and `extra` header lines. */
const request = (customer = 'acme', extra: string[] = [], body = READING) =>
  raw([`POST ${PREFIX}${customer} HTTP/1.1`, 'Host: gw', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body, 'latin1')}`, ...extra], body);
/** The same POST with its header lines as given (no Content-Length added). */
const post = (headers: string[], body = READING) => raw([`POST ${PREFIX}acme HTTP/1.1`, 'Host: gw', ...headers], body);
const chunked = (customer = 'acme') => raw([`POST ${PREFIX}${customer} HTTP/1.1`, 'Host: gw', 'Transfer-Encoding: chunked'], `${N.toString(16)}\r\n${READING}\r\n0\r\n\r\n`);
const healthz = Buffer.from('GET /healthz HTTP/1.1\r\nHost: gw\r\n\r\n');

type Step = Buffer | { wait: number } | 'half-close';
interface Transcript {
  /** Everything the gateway sent, its Date headers blanked. */
  text: string;
  /** How the gateway left the connection: open, ended (FIN) or reset. */
  closed: 'open' | 'ended' | 'reset';
  /** Readings the gateway produced to Kafka meanwhile. */
  produced: number;
}

/** Plays `steps` on a new connection, then waits for `answers` responses (or the end of the connection) and a little more. */
async function talk(g: Gateway, steps: Step[], answers: number, settleMs = 150): Promise<Transcript> {
  const before = g.produced().messages;
  const socket = net.connect(g.port, '127.0.0.1');
  socket.setNoDelay(true);
  let text = '';
  let closed: Transcript['closed'] = 'open';
  socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
  socket.on('end', () => (closed = 'ended'));
  socket.on('error', () => (closed = 'reset'));
  await new Promise((r) => socket.once('connect', r));
  for (const step of steps) {
    if (step === 'half-close') socket.end();
    else if (Buffer.isBuffer(step)) socket.write(step);
    else await sleep(step.wait);
  }
  const until = Date.now() + 10_000;
  while (closed === 'open' && (text.match(/HTTP\/1\.1 \d{3} /g) ?? []).length < answers && Date.now() < until) await sleep(5);
  await sleep(settleMs);
  socket.destroy();
  return { text: text.replace(/\r\nDate: [^\r]*/g, '\r\nDate: -'), closed, produced: g.produced().messages - before };
}

/** The statuses of a transcript, in order. */
const statuses = (t: Transcript) => (t.text.match(/HTTP\/1\.1 \d{3}/g) ?? []).map((s) => Number(s.slice(9)));

describe('the gateway with the HTTP fast path, against node:http alone', () => {
  // [what, the bytes, how many answers node:http gives]
  it.each<[string, Buffer, number]>([
    ['a plain request', request(), 1],
    ['an invalid customer id', request('Not_An_Id'), 1],
    ['an unknown customer', request('nobody'), 1],
    ['a body that is not JSON', request('acme', [], '{"id":'), 1],
    ['Content-Length and Transfer-Encoding', post([`Content-Length: ${N}`, 'Transfer-Encoding: chunked'], `${N.toString(16)}\r\n${READING}\r\n0\r\n\r\n`), 1],
    ['Transfer-Encoding and Content-Length', post(['Transfer-Encoding: chunked', `Content-Length: ${N}`], `${N.toString(16)}\r\n${READING}\r\n0\r\n\r\n`), 1],
    ['two equal Content-Lengths', post([`Content-Length: ${N}`, `Content-Length: ${N}`]), 1],
    ['two different Content-Lengths', post([`Content-Length: ${N}`, 'Content-Length: 2']), 1],
    ['a Content-Length list', post([`Content-Length: ${N}, ${N}`]), 1],
    ['a Content-Length with a sign', post([`Content-Length: +${N}`]), 1],
    ['a negative Content-Length', post([`Content-Length: -${N}`]), 1],
    ['a Content-Length with leading zeros', post([`Content-Length: 0000000000${N}`]), 1],
    ['a Content-Length in hex', post([`Content-Length: 0x${N.toString(16)}`]), 1],
    ['a Content-Length of 20 digits', post(['Content-Length: 99999999999999999999']), 1],
    ['a Content-Length of 2^64 + n', post(['Content-Length: 18446744073709551659']), 1],
    ['a Content-Length with a space inside', post([`Content-Length: ${String(N)[0]} ${String(N).slice(1)}`]), 1],
    ['a Content-Length between tabs', post([`Content-Length:\t${N}`]), 1],
    ['a Content-Length followed by spaces', post([`Content-Length: ${N}   `]), 1],
    ['a Content-Length followed by a tab', post([`Content-Length: ${N}\t`]), 1],
    ['a Content-Length followed by a space and a tab', post([`Content-Length: ${N} \t`]), 1],
    ['an empty Content-Length', post(['Content-Length:']), 1],
    ['a Content-Length past the body limit', post([`Content-Length: ${1024 * 1024 + 1}`], 'x'.repeat(1024 * 1024 + 1)), 1],
    ['a folded header', request('acme', ['X-A: b', ' c']), 1],
    ['a folded Content-Length', post(['Content-Length:', ` ${N}`]), 1],
    ['bare LF line ends', Buffer.from(`POST ${PREFIX}acme HTTP/1.1\nHost: gw\nContent-Length: ${N}\n\n${READING}`), 1],
    ['a bare LF in one header line', Buffer.from(`POST ${PREFIX}acme HTTP/1.1\r\nHost: gw\nX: y\r\nContent-Length: ${N}\r\n\r\n${READING}`), 1],
    ['a bare CR in a header line', Buffer.from(`POST ${PREFIX}acme HTTP/1.1\r\nHost: gw\rX: y\r\nContent-Length: ${N}\r\n\r\n${READING}`), 1],
    ['a NUL in a header value', request('acme', ['X-A: b\0c']), 1],
    ['a NUL in a header name', request('acme', ['X-\0A: b']), 1],
    ['a DEL in a header value', request('acme', ['X-A: b\x7fc']), 1],
    ['a control character in a header value', request('acme', ['X-A: b\x01c']), 1],
    ['obs-text in a header value', request('acme', ['X-A: b\xffc']), 1],
    ['a space before the colon', post([`Content-Length : ${N}`]), 1],
    ['a header line without a colon', request('acme', ['X-A b']), 1],
    ['an empty header name', request('acme', [': x']), 1],
    ['Proxy-Connection: close', request('acme', ['Proxy-Connection: close']), 1],
    ['Connection: close', request('acme', ['Connection: close']), 1],
    ['Connection: keep-alive between tabs', request('acme', ['Connection:\tkeep-alive\t']), 1],
    ['Connection: keep-alive, close', request('acme', ['Connection: keep-alive, close']), 1],
    ['Expect: 100-continue', request('acme', ['Expect: 100-continue']), 2],
    ['an Upgrade', request('acme', ['Connection: upgrade', 'Upgrade: websocket']), 1],
    ['no Host', raw([`POST ${PREFIX}acme HTTP/1.1`, `Content-Length: ${N}`]), 1],
    ['an empty Host', raw([`POST ${PREFIX}acme HTTP/1.1`, 'Host:', `Content-Length: ${N}`]), 1],
    ['two Hosts', raw([`POST ${PREFIX}acme HTTP/1.1`, 'Host: a', 'Host: b', `Content-Length: ${N}`]), 1],
    ['two spaces in the request line', raw([`POST  ${PREFIX}acme HTTP/1.1`, 'Host: gw', `Content-Length: ${N}`]), 1],
    ['a space at the end of the request line', raw([`POST ${PREFIX}acme HTTP/1.1 `, 'Host: gw', `Content-Length: ${N}`]), 1],
    ['an absolute URI', raw([`POST http://gw${PREFIX}acme HTTP/1.1`, 'Host: gw', `Content-Length: ${N}`]), 1],
    ['a lowercase method', raw([`post ${PREFIX}acme HTTP/1.1`, 'Host: gw', `Content-Length: ${N}`]), 1],
    ['HTTP/1.0', raw([`POST ${PREFIX}acme HTTP/1.0`, 'Host: gw', `Content-Length: ${N}`]), 1],
    ['HTTP/1.2', raw([`POST ${PREFIX}acme HTTP/1.2`, 'Host: gw', `Content-Length: ${N}`]), 1],
    ['a path with ..', request('..'), 1],
    ['a path with ../metrics', request('../metrics'), 1],
    ['an escaped slash in the path', request('acme%2Fx'), 1],
    ['a percent-encoded customer id', request('%61cme'), 1],
    ['a malformed escape', request('ac%zzme'), 1],
    ['an escape that is not UTF-8', request('%C3%28'), 1],
    ['a query', request('acme?x=1'), 1],
    ['a fragment', request('acme#f'), 1],
    ['an empty customer id', request(''), 1],
    ['a customer id of 64 characters', request('a'.repeat(64)), 1],
    ['a customer id of 20,000 characters', request('a'.repeat(20_000)), 1],
    ['a header block of 17 kB', request('acme', [`X-Pad: ${'p'.repeat(17_000)}`]), 1],
    ['80 headers', request('acme', Array.from({ length: 80 }, (_, i) => `X-${i}: v`)), 1],
    ['three requests in one packet', Buffer.concat([request(), request('beta'), request()]), 3],
    ['a chunked request between two simple ones', Buffer.concat([request(), chunked(), request('beta')]), 3],
    ['GET /healthz, then a simple request', Buffer.concat([healthz, request()]), 2],
    ['a simple request, then GET /healthz', Buffer.concat([request(), healthz]), 2],
    ['a refused request between two simple ones', Buffer.concat([request(), request('X'), request()]), 3],
    ['Expect: 100-continue, then a simple request', Buffer.concat([request('acme', ['Expect: 100-continue']), request()]), 3],
    ['a request whose body has not arrived', post(['Content-Length: 1000']), 0],
    ['a TLS ClientHello', Buffer.from('16030100a5010000a10303', 'hex'), 1],
  ])('answers %s as node:http does', async (_, bytes, answers) => {
    const [viaFast, viaNode] = await Promise.all([talk(fast, [bytes], answers), talk(node, [bytes], answers)]);
    expect(viaFast).toEqual(viaNode);
    expect(statuses(viaNode)).toHaveLength(answers);
  });

  it('answers the same whatever the packets a pipelined sequence arrives in', async () => {
    const sequence = Buffer.concat([request(), chunked('beta'), request('beta')]);
    const reference = await talk(node, [sequence], 3);
    expect(statuses(reference)).toEqual([202, 202, 202]);
    // Every split point (two writes 10 ms apart), then one byte at a time.
    for (let at = 1; at < sequence.length; at++) {
      expect({ at, ...(await talk(fast, [sequence.subarray(0, at), { wait: 10 }, sequence.subarray(at)], 3, 20)) }).toEqual({ at, ...reference });
    }
    const bytes = Array.from(sequence, (b) => [Buffer.from([b]), { wait: 1 }]).flat() as Step[];
    expect(await talk(fast, bytes, 3, 20)).toEqual(reference);
  }, TIMEOUT);

  it('parses header lines in time linear in their length', async () => {
    // A value of 16,000 spaces: a backtracking pattern took ~0.2-0.35 s of the event loop for each.
    const padded = request('acme', [`X-Pad: a${' '.repeat(16_000)}b`]);
    const refused = request('acme', [`X-Pad: a${' '.repeat(16_000)}\x01`]);
    const started = Date.now();
    const answers = await Promise.all(Array.from({ length: 8 }, (_, i) => talk(fast, [i % 2 ? padded : refused], 1, 0)));
    expect(answers.map(statuses)).toEqual(Array.from({ length: 8 }, (_, i) => [i % 2 ? 202 : 400]));
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it('answers, in order, what a client pipelined before it half-closed, including a request it hands to node:http', async () => {
    // node:http alone ends such a connection at once (its answers still in flight are lost); the
    // fast path answers them all, then ends it.
    const answered = await talk(fast, [Buffer.concat([request(), healthz]), 'half-close'], 2);
    expect({ statuses: statuses(answered), closed: answered.closed, produced: answered.produced }).toEqual({ statuses: [202, 200], closed: 'ended', produced: 1 });
    const refused = await talk(fast, [Buffer.concat([request(), request().subarray(0, 30)]), 'half-close'], 2);
    expect({ statuses: statuses(refused), closed: refused.closed, produced: refused.produced }).toEqual({ statuses: [202, 400], closed: 'ended', produced: 1 });
  });
});

describe('the gateway\'s connections over time, with and without the fast path', () => {
  let quick: Gateway[];
  beforeAll(async () => {
    // Shorter timeouts than in production (30 s keep-alive, 60 s for headers), the same logic.
    const options = { keepAliveTimeoutMs: 1_000, headersTimeoutMs: 1_500, connectionsCheckingIntervalMs: 100 };
    quick = await Promise.all([gateway(true, options), gateway(false, options)]);
    extra.push(...quick);
  }, TIMEOUT);

  it('keeps an idle connection for a second past the keep-alive timeout it announced, then closes it', async () => {
    const [viaFast, viaNode] = await Promise.all([talk(quick[0]!, [request()], 1, 1_600), talk(quick[1]!, [request()], 1, 1_600)]);
    expect(viaFast.text).toContain('Keep-Alive: timeout=1\r\n');
    // Still open 1.6 s after the answer: a client may send until the timeout it was told, and a bit after.
    expect(viaFast).toEqual(viaNode);
    expect(viaNode.closed).toBe('open');
    const closed = await Promise.all(quick.map((g) => talk(g, [request()], 1, 3_000)));
    expect(closed.map((t) => t.closed)).toEqual(['ended', 'ended']);
  });

  it('answers 408 to a connection that sent nothing within the headers timeout, then closes it', async () => {
    const [viaFast, viaNode] = await Promise.all([talk(quick[0]!, [], 1, 100), talk(quick[1]!, [], 1, 100)]);
    expect(viaFast).toEqual(viaNode);
    expect(viaNode).toEqual({ text: 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n', closed: 'ended', produced: 0 });
  });
});

describe('the gateway shutting down, with and without the fast path', () => {
  it.each([
    ['taking simple requests off the socket', true],
    ['with node:http alone', false],
  ])('%s: answers the requests in flight with Connection: close and ends their connections, without waiting for the keep-alive timeout', async (_, fastPath) => {
    const g = await gateway(fastPath, { holdMs: 5_000 });
    await setPlacementState(world.cells.cp, 'held', 'Fenced');
    try {
      await sleep(500);
      // One request held while its customer is fenced, one pipelined behind it.
      const inFlight = talk(g, [Buffer.concat([request('held'), request('beta')])], 1, 300);
      await sleep(300);
      const started = Date.now();
      const closing = g.close().then(() => Date.now() - started);
      await sleep(200);
      await setPlacementState(world.cells.cp, 'held', 'Active');
      const answered = await inFlight;
      expect(answered.text).toMatch(/^HTTP\/1\.1 202 Accepted\r\ncontent-type: application\/json\r\ncontent-length: \d+\r\nDate: -\r\nConnection: close\r\n\r\n\{"accepted":1,[^}]*\}$/);
      expect(answered.closed).toBe('ended');
      expect(await closing).toBeLessThan(10_000);
    } finally {
      await setPlacementState(world.cells.cp, 'held', 'Active');
    }
  });
});
