// A TCP proxy on 127.0.0.1 that a test can turn into a black hole: it stops forwarding in both
// directions but keeps every socket open, as a partitioned network behind a middlebox (a NAT, a
// load balancer, a sidecar) does. Neither end sees a reset or a FIN, and TCP keepalive probes are
// answered by the proxy's own sockets: only timeouts above TCP can tell.
import { connect, createServer, type Server, type Socket } from 'node:net';
import { listenLocally, viaPort } from '../../support/tcp-proxy.js';

export interface BlackHoleProxy {
  port: number;
  /** Rewrites `postgres://user@host:port/db` to go through the proxy. */
  via(url: string): string;
  /** Stops forwarding; sockets stay open, bytes are swallowed, new connections hang. */
  blackHole(): void;
  readonly isBlackHoled: boolean;
  /** Destroys every socket and stops listening. */
  close(): Promise<void>;
}

export async function startBlackHoleProxy(target: { host: string; port: number }): Promise<BlackHoleProxy> {
  const open = new Set<Socket>();
  let holed = false;
  const server: Server = createServer((client) => {
    open.add(client);
    client.on('error', () => undefined);
    client.on('close', () => open.delete(client));
    if (holed) {
      client.on('data', () => undefined); // swallowed
      return;
    }
    const upstream = connect(target.port, target.host);
    open.add(upstream);
    upstream.on('error', () => undefined);
    // While forwarding, a close on one side closes the other; once black-holed, nothing passes,
    // not even a close: the server ending its session is not seen by the client.
    upstream.on('close', () => {
      open.delete(upstream);
      if (!holed) client.destroy();
    });
    client.on('close', () => {
      if (!holed) upstream.destroy();
    });
    client.on('data', (chunk: Buffer) => {
      if (!holed) upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (!holed) client.write(chunk);
    });
  });
  const port = await listenLocally(server);
  return {
    port,
    via: (url) => viaPort(url, port),
    blackHole() {
      holed = true;
    },
    get isBlackHoled() {
      return holed;
    },
    async close() {
      for (const s of open) s.destroy();
      open.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
