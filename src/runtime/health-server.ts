// The HTTP endpoints for the kubelet and Prometheus: /healthz (the process serves), /readyz (every
// readiness check passes; the failing ones are listed) and /metrics.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Registry } from 'prom-client';

/** Returns the problems that keep the process from being ready; empty when ready. */
export type ReadinessCheck = () => string[];

export interface HealthServerOptions {
  port: number;
  host?: string;
  registry?: Registry;
  ready: ReadinessCheck;
}

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export async function startHealthServer(options: HealthServerOptions): Promise<HealthServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const reply = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      res.writeHead(code, { 'Content-Type': type });
      res.end(body);
    };
    if (path === '/healthz' || path === '/livez') return reply(200, 'ok\n');
    if (path === '/readyz') {
      const problems = options.ready();
      return problems.length === 0 ? reply(200, 'ok\n') : reply(503, `not ready:\n${problems.map((p) => `- ${p}`).join('\n')}\n`);
    }
    if (path === '/metrics' && options.registry) {
      const registry = options.registry;
      registry.metrics().then(
        (text) => reply(200, text, registry.contentType),
        (err: unknown) => reply(500, `cannot collect metrics: ${String(err)}\n`),
      );
      return;
    }
    reply(404, 'not found\n');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '0.0.0.0', () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
