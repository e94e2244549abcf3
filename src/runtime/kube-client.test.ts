import https from 'node:https';
import { KeepAliveAgents } from './kube-client.js';

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
