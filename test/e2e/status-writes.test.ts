// Status writes on a real API server: a status decided on an object that has changed since it was
// read is not written (the patch carries the resourceVersion read, a precondition the API server
// enforces), so two replicas, or a reconcile racing a watch event, never overwrite a newer status.
// A Service of type LoadBalancer: its status has no other writer here (no cloud controller).
import { randomBytes } from 'node:crypto';
import { KubeConfig } from '@kubernetes/client-node';
import { createKubeClient } from '../../src/runtime/kube-client.js';
import { builtin } from '../../src/runtime/resource.js';
import { writeStatus } from '../../src/runtime/status.js';
import { e2eEnv, kubectl, kubectlJson } from './support/kube.js';

const TIMEOUT_MS = 60_000;
const namespace = `e2e-status-${randomBytes(3).toString('hex')}`;

interface Service {
  metadata: { name: string; namespace: string; resourceVersion: string };
  status?: { loadBalancer?: { ingress?: { ip: string }[] } };
}

const lb = (ip: string) => ({ loadBalancer: { ingress: [{ ip }] } });
/** The addresses of the status (the API server defaults ipMode in). */
const ips = (s: Service) => (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip);

describe('a status write', () => {
  beforeAll(async () => {
    await kubectl(['create', 'namespace', namespace]);
    await kubectl(['create', 'service', 'loadbalancer', 'front', '-n', namespace, '--tcp=80:8080']);
  }, TIMEOUT_MS);

  afterAll(async () => {
    await kubectl(['delete', 'namespace', namespace, '--wait=false'], { allowFailure: true });
  }, TIMEOUT_MS);

  it('lands over the object it was decided on, and is refused over one that changed since, leaving the newer status', async () => {
    const kc = new KubeConfig();
    kc.loadFromFile(e2eEnv().kubeconfig);
    const client = createKubeClient(kc);
    const read = await kubectlJson<Service>(['get', 'service', 'front', '-n', namespace]);

    expect(await writeStatus(client, builtin.service, read, lb('10.0.0.1'))).toBe('written');
    // A second decision made on the same, now stale, read: refused, nothing written.
    expect(await writeStatus(client, builtin.service, read, lb('10.0.0.2'))).toBe('conflict');
    const now = await kubectlJson<Service>(['get', 'service', 'front', '-n', namespace]);
    expect(ips(now)).toEqual(['10.0.0.1']);
    // Decided again on the fresh object: written.
    expect(await writeStatus(client, builtin.service, now, lb('10.0.0.2'))).toBe('written');
    expect(ips(await kubectlJson<Service>(['get', 'service', 'front', '-n', namespace]))).toEqual(['10.0.0.2']);
  }, TIMEOUT_MS);
});
