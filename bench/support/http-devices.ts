// Devices for the gateway benchmarks: each one a keep-alive HTTP/1.1 connection that sends one
// request at a time and waits for its answer, written by hand on a socket. Devices are other
// machines in production; here they share the process (and the two cores) with what is measured,
// so their side must cost as little as possible: no agent, no ClientRequest, no header objects —
// a request is one string write, an answer is its status line and its Content-Length body.
import net from 'node:net';

export interface HttpDevice {
  /** POSTs `body` (JSON) to `path`; resolves with the status (0: the connection failed). */
  post(path: string, body: string): Promise<number>;
  close(): void;
}

const HEADER_END = Buffer.from('\r\n\r\n');

export function httpDevice(host: string, port: number): HttpDevice {
  let socket: net.Socket | undefined;
  let buffered: Buffer = Buffer.alloc(0);
  let waiting: ((status: number) => void) | undefined;

  const fail = () => {
    socket = undefined;
    buffered = Buffer.alloc(0);
    const w = waiting;
    waiting = undefined;
    w?.(0);
  };
  const onData = (chunk: Buffer) => {
    buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
    const end = buffered.indexOf(HEADER_END);
    if (end < 0) return;
    const head = buffered.toString('latin1', 0, end);
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    // The gateway always sends a length; an answer without one cannot be framed: drop the connection.
    if (!length) return socket?.destroy();
    const total = end + 4 + Number(length[1]);
    if (buffered.length < total) return;
    buffered = buffered.subarray(total);
    const status = Number(head.slice(9, 12));
    const w = waiting;
    waiting = undefined;
    w?.(status);
  };
  const connect = () => {
    const s = net.connect({ host, port, noDelay: true });
    s.on('data', onData);
    s.on('error', () => undefined);
    s.on('close', () => {
      if (socket === s) fail();
    });
    socket = s;
    return s;
  };

  return {
    post(path, body) {
      const s = socket ?? connect();
      return new Promise((resolve) => {
        waiting = resolve;
        s.write(`POST ${path} HTTP/1.1\r\nhost: ${host}:${port}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
      });
    },
    close() {
      socket?.destroy();
      socket = undefined;
    },
  };
}
