// A fast path for the gateway's one hot request: `POST /v1/telemetry/{customer}` with a
// Content-Length body, read by hand off the socket and answered with one write. node:http costs
// ~9 µs more per request on this path (an IncomingMessage and a ServerResponse stream each, their
// events), a quarter of what the HTTP hop costs the gateway. Only a strict subset is taken here;
// anything else (another method or path, a query, chunked bodies, Expect, Upgrade, HTTP/1.0,
// `Connection: close`, a header it does not parse, a request not whole in what has arrived) hands
// the connection, from that request on, to the node:http server, which serves it as before, with
// its own limits and timeouts. Requests on a connection are answered in order, one at a time.
// What a client sees must not depend on which path answered (fast-http-attack.test.ts; docs/kafka.md).
import { STATUS_CODES, type Server } from 'node:http';
import type { Socket } from 'node:net';

/** Answers a request: the status, the JSON text and, when the device should send again, Retry-After in seconds. */
export type RawRespond = (status: number, text: string, retryAfter?: string) => void;

export interface FastPathOptions {
  /** The path prefix taken here (`/v1/telemetry/`); the rest of the target is the segment. */
  prefix: string;
  /** Bodies larger than this go to node:http (whose handler refuses them with 413). */
  maxBody: number;
  /** The request's target segment and body; `respond` is called once. */
  serve(segment: string, body: Buffer, respond: RawRespond): void;
}

const HEADER_END = Buffer.from('\r\n\r\n');
/** node:http's default limit (--max-http-header-size): beyond it, node answers 431. */
const MAX_HEADER_BYTES = 16 * 1024;
const MAX_HEADERS = 64;
/** node:http keeps an idle connection this much longer than the Keep-Alive timeout it announces (a client sending just in time is not cut off). */
const KEEP_ALIVE_GRACE_MS = 1000;
/** node:http's answer to a connection that sent no request within its headers timeout. */
const REQUEST_TIMEOUT = `HTTP/1.1 408 ${STATUS_CODES[408]}\r\nConnection: close\r\n\r\n`;
/** The request line taken here: POST, a target of unreserved characters and escapes, HTTP/1.1. */
const REQUEST_LINE = /^POST (\/[A-Za-z0-9._~%/-]*) HTTP\/1\.1$/;
/**
 * A header field: a token name and a value of visible characters, spaces and tabs (RFC 9110), the
 * value's surrounding whitespace kept. No two parts of a pattern here can match the same character
 * (a lazy value before optional whitespace took time quadratic in a line of spaces: 0.2 s for 16 kB).
 */
const HEADER_LINE = /^([!#$%&'*+.^_`|~0-9A-Za-z-]+):([\t\x20-\x7e\x80-\xff]*)$/;
/** A Content-Length as node:http (llhttp) takes it: whitespace, digits, then spaces only (a tab after the digits is its 400). */
const CONTENT_LENGTH = /^[ \t]*([0-9]{1,10}) *$/;
const KEEP_ALIVE = /^[ \t]*keep-alive[ \t]*$/i;

/** The Date header, computed once a second (as node:http does). */
let dateSecond = 0;
let dateValue = '';
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateValue = new Date(now).toUTCString();
  }
  return dateValue;
}

/** Where one whole request taken here ends and what it is, or undefined: node:http serves it (and the connection from then on). */
export function parseFastRequest(buf: Buffer, prefix: string, maxBody: number): { segment: string; body: Buffer; end: number } | undefined {
  const headEnd = buf.indexOf(HEADER_END);
  if (headEnd < 0 || headEnd > MAX_HEADER_BYTES) return undefined;
  const lines = buf.toString('latin1', 0, headEnd).split('\r\n');
  const request = REQUEST_LINE.exec(lines[0] as string);
  if (!request) return undefined;
  const target = request[1] as string;
  if (!target.startsWith(prefix) || target.indexOf('/', prefix.length) >= 0) return undefined;
  if (lines.length - 1 > MAX_HEADERS) return undefined;
  let length: number | undefined;
  let hosts = 0;
  for (let i = 1; i < lines.length; i++) {
    const header = HEADER_LINE.exec(lines[i] as string);
    if (!header) return undefined;
    const name = (header[1] as string).toLowerCase();
    if (name === 'content-length') {
      const digits = length === undefined ? CONTENT_LENGTH.exec(header[2] as string) : null;
      if (!digits) return undefined;
      length = Number(digits[1]);
    } else if (name === 'host') hosts++;
    else if (name === 'connection') {
      if (!KEEP_ALIVE.test(header[2] as string)) return undefined;
      // llhttp reads Proxy-Connection as a Connection (close, upgrade): left to it.
    } else if (name === 'transfer-encoding' || name === 'expect' || name === 'upgrade' || name === 'proxy-connection') return undefined;
  }
  // HTTP/1.1 requires exactly one Host; node:http refuses the others with 400.
  if (hosts !== 1 || length === undefined || length > maxBody) return undefined;
  const end = headEnd + 4 + length;
  if (buf.length < end) return undefined;
  return { segment: target.slice(prefix.length), body: buf.subarray(headEnd + 4, end), end };
}

/**
 * Puts the fast path in front of `server`'s own connection handling: each new connection is read
 * here until a request is not one of ours, then given to node:http with the bytes not yet served.
 * Returns `closeIdle`, for the server's close: it ends the fast path's idle connections (node:http
 * ends its own), and the busy ones after their answer, which then says `Connection: close`.
 */
export function installFastPath(server: Server, options: FastPathOptions): { closeIdle(): void } {
  const nodeListeners = server.listeners('connection') as ((socket: Socket) => void)[];
  server.removeAllListeners('connection');
  const idle = new Set<Socket>();
  let closing = false;

  server.on('connection', (socket: Socket) => {
    /** Bytes read and not served yet: only while they are parsed. Pipelined bytes wait in the socket (holdBack). */
    let buffered: Buffer | undefined;
    let busy = false;
    let ended = false;
    /** Whether a request was answered here: until then the connection has the headers timeout, then the keep-alive one. */
    let served = false;
    const keepAliveHeader = `\r\nConnection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(server.keepAliveTimeout / 1000)}\r\n\r\n`;

    /** The connection is node:http's, or ended here: nothing more is read or answered here. */
    let handedOver = false;
    let looping = false;
    /** Answers wait in the socket's buffer (a client that does not read): no more requests are read until they drain, as node:http does. */
    let draining = false;
    const onDrain = () => {
      draining = false;
      next();
    };

    /**
     * Puts the bytes not served yet back into the socket and reads no more until the request being
     * answered is. The stream's end is then not read either (it comes after them): a request not
     * taken here can still be given to node:http whole, after a client half-closed.
     */
    const holdBack = () => {
      socket.pause();
      if (buffered) socket.unshift(buffered);
      buffered = undefined;
    };

    const handOver = () => {
      handedOver = true;
      idle.delete(socket);
      socket.removeListener('data', onData);
      socket.removeListener('end', onEnd);
      socket.removeListener('timeout', onTimeout);
      socket.removeListener('error', onError);
      socket.removeListener('close', onClose);
      socket.removeListener('drain', onDrain);
      socket.setTimeout(0);
      // Not reached (bytes not served are held back ahead of the end); the stream could not take them back.
      if (ended) return void socket.end();
      holdBack();
      for (const l of nodeListeners) l.call(server, socket);
      // The bytes put back are read (by node:http now) before anything that arrives later.
      socket.resume();
    };

    const respond = (status: number, text: string, retryAfter?: string) => {
      const retry = retryAfter === undefined ? '' : `\r\nretry-after: ${retryAfter}`;
      const connection = closing ? '\r\nConnection: close\r\n\r\n' : keepAliveHeader;
      const flushed = socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ''}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(text)}${retry}\r\nDate: ${httpDate()}${connection}${text}`);
      if (closing) {
        // The server is shutting down and the client was told: what it sent after this request is not served.
        handedOver = true;
        buffered = undefined;
        idle.delete(socket);
        socket.end();
        if (socket.writableFinished) socket.destroy();
        else socket.once('finish', () => socket.destroy());
        return;
      }
      if (!served) {
        served = true;
        socket.setTimeout(server.keepAliveTimeout + KEEP_ALIVE_GRACE_MS);
      }
      if (!flushed) {
        draining = true;
        socket.once('drain', onDrain);
      }
    };

    /** Serves the whole requests buffered, one at a time; hands the connection over at the first that is not taken here. */
    const next = () => {
      if (looping || handedOver) return;
      looping = true;
      while (!busy && !draining && buffered) {
        const request = parseFastRequest(buffered, options.prefix, options.maxBody);
        if (!request) {
          looping = false;
          return handOver();
        }
        buffered = request.end < buffered.length ? buffered.subarray(request.end) : undefined;
        busy = true;
        idle.delete(socket);
        let answered = false;
        options.serve(request.segment, request.body, (status, text, retryAfter) => {
          if (answered) return;
          answered = true;
          busy = false;
          if (socket.destroyed) return;
          respond(status, text, retryAfter);
          next();
        });
      }
      looping = false;
      if (handedOver || socket.destroyed) return;
      if (busy || draining) {
        // The rest waits in the socket for this answer, or for the client to read its answers.
        if (buffered || draining) holdBack();
        return;
      }
      if (socket.isPaused()) socket.resume();
      if (ended || closing) socket.end();
      else idle.add(socket);
    };

    function onData(chunk: Buffer): void {
      buffered = buffered ? Buffer.concat([buffered, chunk]) : chunk;
      // Pipelined requests are served in order, one at a time: what comes while one is answered waits in the socket.
      if (busy || draining) return holdBack();
      next();
    }
    function onEnd(): void {
      ended = true;
      if (!busy) socket.end();
    }
    function onTimeout(): void {
      if (busy) return;
      // A connection that never sent a byte: node:http's answer at its headers timeout.
      if (!served) socket.write(REQUEST_TIMEOUT);
      socket.destroy();
    }
    function onError(): void {
      socket.destroy();
    }
    function onClose(): void {
      idle.delete(socket);
    }

    if (closing) return void socket.destroy();
    socket.setNoDelay(true);
    socket.setTimeout(server.headersTimeout);
    socket.on('data', onData);
    socket.on('end', onEnd);
    socket.on('timeout', onTimeout);
    socket.on('error', onError);
    socket.on('close', onClose);
    idle.add(socket);
  });

  return {
    closeIdle() {
      closing = true;
      // As node:http's closeIdleConnections: destroyed, so that a request racing the close is not served unanswered.
      for (const socket of idle) socket.destroy();
      idle.clear();
    },
  };
}
