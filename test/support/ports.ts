// Ports for the servers the tests start (kube-apiserver, etcd, PostgreSQL, Kafka, the operator).
//
// Never from the kernel's ephemeral range (`listen(0)` hands out exactly those): a server that is
// restarted on its port (kube-apiserver, a Kafka broker, PostgreSQL in the chaos tests) would find
// it taken by some client's outgoing connection, whose local port the kernel picked from that
// range the moment the server let go. A CI run lost 32 tests to that once: kube-apiserver, killed
// and started again, exited with "address already in use" and never came back.
import { readFileSync } from 'node:fs';
import net from 'node:net';

const LOWEST = 15_000;

/** The first port the kernel may give an outgoing connection (`ip_local_port_range`), 32768 if unknown. */
export function ephemeralLow(): number {
  try {
    const [low] = readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/);
    const n = Number(low);
    return Number.isInteger(n) && n > LOWEST + 1000 ? n : 32_768;
  } catch {
    return 32_768;
  }
}

/** Ports this process handed out: not bound yet perhaps, but promised. */
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.unref();
    server.once('error', () => resolve(false));
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/**
 * A port on 127.0.0.1 that was free a moment ago, below the ephemeral range, not handed out
 * before by this process. Other processes pick at random from the same range, so a clash between
 * two test workers is as unlikely as the servers' own retries (PostgreSQL, Kafka) make it harmless.
 */
export async function freePort(): Promise<number> {
  const high = ephemeralLow() - 1;
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = LOWEST + Math.floor(Math.random() * (high - LOWEST + 1));
    if (handedOut.has(port)) continue;
    if (await canListen(port)) {
      handedOut.add(port);
      return port;
    }
  }
  throw new Error(`no free port on 127.0.0.1 between ${LOWEST} and ${high} after 200 tries`);
}

/** `count` distinct free ports. */
export async function freePorts(count: number): Promise<number[]> {
  const ports: number[] = [];
  while (ports.length < count) ports.push(await freePort());
  return ports;
}
