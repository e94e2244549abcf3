import { KubeConfig } from '@kubernetes/client-node';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import { createKubeClient, KeepAliveAgents } from './kube-client.js';
import { LeaderElector } from './leader-election.js';

describe('KeepAliveAgents', () => {
  it('hands every request with the same TLS options one keep-alive agent', () => {
    const agents = new KeepAliveAgents();
    const first = agents.reuse(new https.Agent({ ca: 'ca', cert: 'cert-a', key: 'key-a' }));
    const second = agents.reuse(new https.Agent({ ca: 'ca', cert: 'cert-a', key: 'key-a' }));
    expect(second).toBe(first);
    expect((first as https.Agent & { keepAlive: boolean }).keepAlive).toBe(true);
    expect(first.options).toMatchObject({ ca: 'ca', cert: 'cert-a', key: 'key-a' });
  });

  it('keeps identities apart: other certificates get another agent', () => {
    const agents = new KeepAliveAgents();
    const a = agents.reuse(new https.Agent({ cert: 'cert-a', key: 'key-a' }));
    const b = agents.reuse(new https.Agent({ cert: 'cert-b', key: 'key-b' }));
    expect(b).not.toBe(a);
  });

  it('leaves other agents (a proxy) alone', () => {
    class ProxyAgent extends https.Agent {}
    const proxy = new ProxyAgent();
    expect(new KeepAliveAgents().reuse(proxy)).toBe(proxy);
  });
});

describe('createKubeClient', () => {
  it('lets a 5 s Lease lead: a request deadline with a fraction of a millisecond (1666.5 ms) is not refused', async () => {
    // A tiny API server holding one Lease: GET finds none, POST creates it.
    let lease: object | undefined;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        if (req.method === 'POST') lease = { ...JSON.parse(body), metadata: { name: 'l', namespace: 'ns', resourceVersion: '1' } };
        res.writeHead(lease ? (req.method === 'POST' ? 201 : 200) : 404, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(lease ?? { kind: 'Status', code: 404, reason: 'NotFound' }));
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'c', server: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, skipTLSVerify: true }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    let leading!: () => void;
    const led = new Promise<void>((r) => (leading = r));
    const elector = new LeaderElector({
      client: createKubeClient(kc),
      namespace: 'ns',
      name: 'l',
      identity: 'me',
      leaseDurationMs: 5_000,
      onStartedLeading: () => leading(),
      onStoppedLeading: () => undefined,
    });
    try {
      elector.start();
      await expect(Promise.race([led.then(() => 'leading'), new Promise((r) => setTimeout(() => r('not leading after 3 s'), 3_000))])).resolves.toBe('leading');
    } finally {
      await elector.stop();
      await new Promise((r) => server.close(r));
    }
  });
});
