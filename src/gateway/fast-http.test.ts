// The gateway's HTTP fast path: what it takes by hand, and that everything else on a connection,
// from the first request it does not take, is served by node:http, in order.
import { createServer, type Server } from 'node:http';
import net, { type AddressInfo } from 'node:net';
import { installFastPath, parseFastRequest } from './fast-http.js';

const PREFIX = '/v1/telemetry/';
/** An answer of 64 kB: a few hundred fill the sockets' buffers (Linux lets a receive buffer grow to 32 MB). */
const BIG = JSON.stringify({ pad: 'x'.repeat(64 * 1024) });
const request = (head: string[], body = '') => Buffer.from(`${head.join('\r\n')}\r\n\r\n${body}`);
const simple = (customer: string, body: string, extra: string[] = []) =>
  request([`POST ${PREFIX}${customer} HTTP/1.1`, 'Host: gw', 'Content-Type: application/json', `Content-Length: ${Buffer.byteLength(body)}`, ...extra], body);

describe('parseFastRequest', () => {
  it('takes a whole POST of the telemetry path with one Host and a Content-Length, and says where it ends', () => {
    const buf = Buffer.concat([simple('acme', '[1]'), Buffer.from('POST')]);
    const parsed = parseFastRequest(buf, PREFIX, 100);
    expect(parsed && { segment: parsed.segment, body: parsed.body.toString(), rest: buf.subarray(parsed.end).toString() }).toEqual({ segment: 'acme', body: '[1]', rest: 'POST' });
    expect(parseFastRequest(simple('acme', '{}', ['connection: Keep-Alive', 'X-Any: a\tb  ']), PREFIX, 100)?.segment).toBe('acme');
  });

  it('takes what fetch (undici) sends', async () => {
    const raw = await new Promise<Buffer>((resolve) => {
      const capture = net.createServer((socket) => {
        socket.once('data', (chunk: Buffer) => {
          resolve(chunk);
          socket.destroy();
          capture.close();
        });
      });
      capture.listen(0, '127.0.0.1', () => {
        fetch(`http://127.0.0.1:${(capture.address() as AddressInfo).port}${PREFIX}acme`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '[1]' }).catch(() => undefined);
      });
    });
    expect(parseFastRequest(raw, PREFIX, 100)?.body.toString()).toBe('[1]');
  });

  it.each([
    ['a body not whole yet', simple('acme', '[1]').subarray(0, -1)],
    ['headers not whole yet', simple('acme', '[1]').subarray(0, 20)],
    ['another method', request([`PUT ${PREFIX}acme HTTP/1.1`, 'Host: gw', 'Content-Length: 0'])],
    ['another path', request(['POST /v1/other/acme HTTP/1.1', 'Host: gw', 'Content-Length: 0'])],
    ['a deeper path', request([`POST ${PREFIX}acme/x HTTP/1.1`, 'Host: gw', 'Content-Length: 0'])],
    ['a query', request([`POST ${PREFIX}acme?x=1 HTTP/1.1`, 'Host: gw', 'Content-Length: 0'])],
    ['HTTP/1.0', request([`POST ${PREFIX}acme HTTP/1.0`, 'Host: gw', 'Content-Length: 0'])],
    ['a chunked body', request([`POST ${PREFIX}acme HTTP/1.1`, 'Host: gw', 'Transfer-Encoding: chunked'], '3\r\n[1]\r\n0\r\n\r\n')],
    ['Content-Length and Transfer-Encoding', simple('acme', '[1]', ['Transfer-Encoding: chunked'])],
    ['two Content-Lengths', simple('acme', '[1]', ['Content-Length: 3'])],
    ['a Content-Length that is not a number', request([`POST ${PREFIX}acme HTTP/1.1`, 'Host: gw', 'Content-Length: +3'], '[1]')],
    ['a Content-Length followed by a tab (llhttp refuses it)', request([`POST ${PREFIX}acme HTTP/1.1`, 'Host: gw', 'Content-Length: 3\t'], '[1]')],
    ['Proxy-Connection (llhttp reads it as Connection)', simple('acme', '[1]', ['Proxy-Connection: close'])],
    ['no Content-Length', request([`POST ${PREFIX}acme HTTP/1.1`, 'Host: gw'])],
    ['a body over the limit', simple('acme', 'x'.repeat(101))],
    ['no Host', request([`POST ${PREFIX}acme HTTP/1.1`, 'Content-Length: 0'])],
    ['two Hosts', simple('acme', '', ['Host: other'])],
    ['Expect: 100-continue', simple('acme', '[1]', ['Expect: 100-continue'])],
    ['Connection: close', simple('acme', '[1]', ['Connection: close'])],
    ['Upgrade', simple('acme', '[1]', ['Upgrade: websocket'])],
    ['a folded header', simple('acme', '[1]', ['X-A: b', ' c'])],
    ['a space before the colon', simple('acme', '[1]', ['X-A : b'])],
    ['a control character in a value', simple('acme', '[1]', ['X-A: b\u0001'])],
  ])('leaves %s to node:http', (_, buf) => {
    expect(parseFastRequest(buf, PREFIX, 100)).toBeUndefined();
  });
});

describe('installFastPath', () => {
  let server: Server;
  let port: number;
  /** Which side answered each request, in order. */
  let seen: string[];

  beforeEach(async () => {
    seen = [];
    server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        seen.push(`node ${req.method} ${req.url} ${body}`);
        const text = JSON.stringify({ by: 'node', body });
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(text)) });
        res.end(text);
      });
    });
    server.keepAliveTimeout = 5_000;
    installFastPath(server, {
      prefix: PREFIX,
      maxBody: 1000,
      serve(segment, body, respond) {
        seen.push(`fast ${segment} ${body.toString()}`);
        if (segment === 'big') return respond(202, BIG);
        // Answered on a later turn, as Kafka's acknowledgement is.
        setTimeout(() => respond(segment === 'slow' ? 503 : 202, JSON.stringify({ by: 'fast', body: body.toString() }), segment === 'slow' ? '1' : undefined), 5);
      },
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  /** Writes `parts` (waiting `gapMs` between them) on one connection and reads until `answers` responses came back. */
  async function exchange(parts: Buffer[], answers: number, gapMs = 0, halfClose = false): Promise<{ text: string; closed: boolean }> {
    const socket = net.connect(port, '127.0.0.1');
    let text = '';
    let closed = false;
    socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
    socket.on('close', () => (closed = true));
    await new Promise((r) => socket.once('connect', r));
    for (const part of parts) {
      socket.write(part);
      if (gapMs) await new Promise((r) => setTimeout(r, gapMs));
    }
    if (halfClose) socket.end();
    const until = Date.now() + 3_000;
    while ((text.match(/HTTP\/1\.1 /g) ?? []).length < answers || (halfClose && !closed)) {
      if (Date.now() > until) throw new Error(`no ${answers} answers in ${JSON.stringify(text)}`);
      await new Promise((r) => setTimeout(r, 5));
    }
    socket.destroy();
    return { text, closed };
  }

  it('answers simple requests itself, one after the other on a kept-alive connection, with what node:http would send', async () => {
    const { text } = await exchange([simple('acme', '[1]'), simple('slow', '[2]')], 2, 30);
    expect(seen).toEqual(['fast acme [1]', 'fast slow [2]']);
    const [first, second] = text.split(/(?=HTTP\/1\.1 )/);
    expect(first).toMatch(/^HTTP\/1\.1 202 Accepted\r\ncontent-type: application\/json\r\ncontent-length: 26\r\nDate: .+ GMT\r\nConnection: keep-alive\r\nKeep-Alive: timeout=5\r\n\r\n\{"by":"fast","body":"\[1\]"\}$/);
    expect(second).toMatch(/^HTTP\/1\.1 503 Service Unavailable\r\ncontent-type: application\/json\r\ncontent-length: 26\r\nretry-after: 1\r\nDate: /);
  });

  it('serves pipelined requests in order, handing the connection to node:http at the first it does not take', async () => {
    const chunked = request([`POST ${PREFIX}acme HTTP/1.1`, 'Host: gw', 'Transfer-Encoding: chunked'], '3\r\n[2]\r\n0\r\n\r\n');
    const { text } = await exchange([Buffer.concat([simple('acme', '[1]'), chunked, simple('acme', '[3]')])], 3);
    expect(seen).toEqual(['fast acme [1]', 'node POST /v1/telemetry/acme [2]', 'node POST /v1/telemetry/acme [3]']);
    expect(text.match(/"body":"[^"]*"/g)).toEqual(['"body":"[1]"', '"body":"[2]"', '"body":"[3]"']);
  });

  it('gives node:http a request whose body arrives later, with the bytes already read', async () => {
    const whole = simple('acme', '[1,2,3]');
    await exchange([whole.subarray(0, whole.length - 4), whole.subarray(whole.length - 4), simple('acme', '[4]')], 2, 30);
    expect(seen).toEqual(['node POST /v1/telemetry/acme [1,2,3]', 'node POST /v1/telemetry/acme [4]']);
  });

  it('leaves other requests to node:http', async () => {
    await exchange([request(['GET /metrics HTTP/1.1', 'Host: gw'])], 1);
    expect(seen).toEqual(['node GET /metrics ']);
  });

  it('answers a client that half-closed after its request, then closes', async () => {
    const { text, closed } = await exchange([simple('acme', '[1]')], 1, 0, true);
    expect(text).toMatch(/^HTTP\/1\.1 202 /);
    expect(closed).toBe(true);
  });

  it('reads no further requests while its answers wait for a client that does not read them', async () => {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise((r) => socket.once('connect', r));
    socket.pause();
    const n = 1_500;
    socket.write(Buffer.concat(Array.from({ length: n }, () => simple('big', '[1]'))));
    await new Promise((r) => setTimeout(r, 800));
    // The sockets' buffers took ~60 answers of 64 kB here (a reader that does not wait: ~700 by then).
    expect(seen.length).toBeLessThan(n / 5);
    let received = 0;
    socket.on('data', (c: Buffer) => (received += c.length));
    socket.resume();
    const until = Date.now() + 20_000;
    while (seen.length < n && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    expect(seen.length).toBe(n);
    socket.destroy();
  });
});
