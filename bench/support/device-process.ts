// The devices of bench/gateway-throughput.ts in a process of their own (forked, run with tsx),
// so that the gateway's process does only the gateway's work. On a message
// {port, clients, batch, seconds, customers, firstId}: `clients` devices, each one keep-alive
// connection sending one batch at a time (customers in turn) for `seconds`; answers
// {sent, failed, ms, nextId}.
import { httpDevice } from './http-devices.js';

interface Run {
  port: number;
  clients: number;
  batch: number;
  seconds: number;
  customers: string[];
  firstId: number;
}

const connections: ReturnType<typeof httpDevice>[] = [];

process.on('message', (run: Run | 'exit') => {
  if (run === 'exit') {
    for (const c of connections) c.close();
    process.exit(0);
  }
  void (async () => {
    while (connections.length < run.clients) connections.push(httpDevice('127.0.0.1', run.port));
    let nextId = run.firstId;
    let sent = 0;
    let failed = 0;
    const until = Date.now() + run.seconds * 1000;
    const t0 = performance.now();
    await Promise.all(
      connections.slice(0, run.clients).map(async (conn, c) => {
        let i = c;
        while (Date.now() < until) {
          const customer = run.customers[i++ % run.customers.length] as string;
          const readings = Array.from({ length: run.batch }, () => ({ id: nextId++, device: 'dev-1', value: 20.5 }));
          if ((await conn.post(`/v1/telemetry/${customer}`, JSON.stringify(readings))) === 202) sent += readings.length;
          else failed++;
        }
      }),
    );
    process.send?.({ sent, failed, ms: performance.now() - t0, nextId });
  })();
});
