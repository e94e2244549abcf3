// A TCP proxy on 127.0.0.1 that a test can cut: every open connection is reset and new ones are
// refused until it is restored. Put it between a process and its database to take the database
// away from that process alone (the router's LISTEN connection during a fence, say).
import { connect, createServer, type Server, type Socket } from 'node:net';

export interface TcpProxy {
  /** The port the proxy listens on (127.0.0.1). */
  port: number;
  /** Rewrites `postgres://user@host:port/db` to go through the proxy. */
  via(url: string): string;
  /** Resets every open connection; new ones are refused until restore(). */
  cut(): void;
  restore(): void;
  readonly isCut: boolean;
  /** Connections reset by cut() so far. */
  readonly resets: number;
  close(): Promise<void>;
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const open = new Set<Socket>();
  const clients = new Set<Socket>();
  let isCut = false;
  let resets = 0;
  const server: Server = createServer((client) => {
    if (isCut) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(target.port, target.host);
    open.add(client);
    open.add(upstream);
    clients.add(client);
    const drop = () => {
      clients.delete(client);
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop);
    upstream.on('error', drop);
    client.on('close', drop);
    upstream.on('close', drop);
    client.pipe(upstream);
    upstream.pipe(client);
  });
  const port = await listenLocally(server);
  return {
    port,
    via: (url) => viaPort(url, port),
    cut() {
      isCut = true;
      resets += clients.size;
      for (const s of open) s.resetAndDestroy();
      open.clear();
      clients.clear();
    },
    restore() {
      isCut = false;
    },
    get isCut() {
      return isCut;
    },
    get resets() {
      return resets;
    },
    async close() {
      for (const s of open) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Listens on a free port of 127.0.0.1; returns the port. */
export async function listenLocally(server: Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  return (server.address() as { port: number }).port;
}

/** `postgres://user@host:port/db` rewritten to go through a proxy on 127.0.0.1:`port`. */
export function viaPort(url: string, port: number): string {
  const u = new URL(url);
  u.hostname = '127.0.0.1';
  u.port = String(port);
  return u.toString();
}
