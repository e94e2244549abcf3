import { ClusterRegistry, parseKubeconfig, type RemoteInformerSpec } from './cluster-registry.js';
import { Informer, type ListWatchSource } from './informer.js';
import { KubeApiError, type KubeClient, type KubeRequest } from './kube-client.js';
import type { KubeObject } from './resource.js';

const kubeconfig = (server: string, user = 'operator') => `apiVersion: v1
kind: Config
clusters: [{ name: b, cluster: { server: '${server}' } }]
users: [{ name: ${user}, user: { token: token-of-${user} } }]
contexts: [{ name: b, context: { cluster: b, user: ${user} } }]
current-context: b
`;
const b64 = (text: string) => Buffer.from(text).toString('base64');
const REF = { namespace: 'ops', name: 'cells-b-kubeconfig', key: 'value' };
const DEPLOYMENTS: RemoteInformerSpec = { key: 'Deployment', resource: { group: 'apps', version: 'v1', plural: 'deployments', kind: 'Deployment', namespaced: true } };

/** A source that lists nothing and whose watch ends when aborted. */
function emptySource(): ListWatchSource<KubeObject> {
  return {
    list: () => Promise.resolve({ items: [], resourceVersion: '1' }),
    watch: (_rv, _onEvent, onDone) => Promise.resolve({ abort: () => onDone(null) }),
  };
}

function world() {
  const secrets = new Map<string, Record<string, string>>();
  const management: KubeClient = {
    request<T>(req: KubeRequest): Promise<T> {
      const data = secrets.get(req.path.split('/').at(-1)!);
      if (!data) return Promise.reject(new KubeApiError(404, 'NotFound', 'not found'));
      return Promise.resolve({ data } as T);
    },
  };
  const up = new Set<string>();
  const seen: Array<{ server: string; token: string }> = [];
  const informers: Informer[] = [];
  const registry = new ClusterRegistry({
    client: management,
    informers: [DEPLOYMENTS],
    createClient: (kc) => ({
      request<T>(): Promise<T> {
        const server = kc.getCurrentCluster()!.server;
        seen.push({ server, token: (kc.getCurrentUser()?.token as string | undefined) ?? '' });
        return up.has(server) ? Promise.resolve({ gitVersion: 'v1.34.1' } as T) : Promise.reject(new Error('connect ECONNREFUSED'));
      },
    }),
    createInformer: (_kc, _client, spec) => {
      const informer = new Informer({ resource: spec.resource, source: emptySource(), resyncMs: 0 });
      informers.push(informer);
      return informer;
    },
  });
  return { registry, secrets, up, seen, informers };
}

describe('ClusterRegistry', () => {
  it("connects to a cluster from its kubeconfig Secret and reports the API server's version", async () => {
    const w = world();
    w.secrets.set('cells-b-kubeconfig', { value: b64(kubeconfig('https://b:6443')) });
    w.up.add('https://b:6443');
    const connection = await w.registry.connect('cell-1', 'cells-b', REF);
    expect(connection).toMatchObject({ ok: true, version: 'v1.34.1', cluster: { name: 'cells-b', server: 'https://b:6443' } });
    await w.registry.stop();
  });

  it('starts the informers with the first Cell of a cluster and stops them with the last', async () => {
    const w = world();
    w.secrets.set('cells-b-kubeconfig', { value: b64(kubeconfig('https://b:6443')) });
    await w.registry.connect('cell-1', 'cells-b', REF);
    await w.registry.connect('cell-2', 'cells-b', REF);
    expect(w.informers).toHaveLength(1);
    await w.informers[0]!.waitForSync();
    expect(w.registry.clusters()).toEqual([{ name: 'cells-b', users: ['cell-1', 'cell-2'], informers: 1 }]);
    await w.registry.release('cell-1');
    expect(w.registry.get('cells-b')).toBeDefined();
    await w.registry.release('cell-2');
    expect(w.registry.get('cells-b')).toBeUndefined();
    expect(w.informers[0]!.hasSynced()).toBe(true); // stopped, not restarted: a new Cell gets new informers
    await w.registry.connect('cell-3', 'cells-b', REF);
    expect(w.informers).toHaveLength(2);
    await w.registry.stop();
  });

  it('says why when the Secret, its key or the kubeconfig in it is missing, and when the API server does not answer', async () => {
    const w = world();
    expect(await w.registry.connect('c', 'cells-b', REF)).toMatchObject({ ok: false, reason: 'KubeconfigSecretMissing', message: expect.stringContaining('Secret ops/cells-b-kubeconfig does not exist') });
    w.secrets.set('cells-b-kubeconfig', { other: b64('x') });
    expect(await w.registry.connect('c', 'cells-b', REF)).toMatchObject({ ok: false, reason: 'KubeconfigInvalid', message: expect.stringContaining('has no key value') });
    w.secrets.set('cells-b-kubeconfig', { value: b64('clusters: [') });
    expect(await w.registry.connect('c', 'cells-b', REF)).toMatchObject({ ok: false, reason: 'KubeconfigInvalid' });
    w.secrets.set('cells-b-kubeconfig', { value: b64(kubeconfig('https://b:6443')) });
    expect(await w.registry.connect('c', 'cells-b', REF)).toMatchObject({ ok: false, reason: 'ClusterUnreachable', message: expect.stringContaining('ECONNREFUSED') });
    await w.registry.stop();
  });

  it('picks up rotated credentials on the next connect, in the client it already handed out', async () => {
    const w = world();
    w.up.add('https://b:6443');
    w.secrets.set('cells-b-kubeconfig', { value: b64(kubeconfig('https://b:6443', 'old')) });
    const first = await w.registry.connect('c', 'cells-b', REF);
    w.secrets.set('cells-b-kubeconfig', { value: b64(kubeconfig('https://b:6443', 'new')) });
    const second = await w.registry.connect('c', 'cells-b', REF);
    expect(second.ok && first.ok && second.cluster === first.cluster).toBe(true);
    expect(w.seen.map((s) => s.token)).toEqual(['token-of-old', 'token-of-new']);
    expect(w.informers).toHaveLength(1);
    await w.registry.stop();
  });

  it('parses a kubeconfig only with a current context that names a server', () => {
    expect(parseKubeconfig(kubeconfig('https://b:6443'), 'here')).toMatchObject({ ok: true, server: 'https://b:6443' });
    expect(parseKubeconfig('apiVersion: v1\nkind: Config\n', 'Secret ops/x')).toMatchObject({ ok: false, message: expect.stringContaining('Secret ops/x') });
  });
});
