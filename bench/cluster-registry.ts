// What each cell cluster costs the operator: the memory (heap + ArrayBuffers after GC, and RSS) and
// the watch connections of the cluster registry (src/runtime/cluster-registry.ts) with 1 and with
// 10 clusters, each a fake API server in a child process (list, watch held open, /version) holding
// one cell's children, measured in the same run; ratios against 1 cluster and an estimate for 100.
// `npm run bench:clusters` (node --expose-gc --import tsx bench/cluster-registry.ts).
import { spawn } from 'node:child_process';
import http from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CHILD_KINDS, UNWATCHED_CHILD_KINDS } from '../src/controllers/cell/cell-children.js';
import { childResource } from '../src/controllers/cell/child-resources.js';
import { CHILD_LABEL_SELECTOR } from '../src/controllers/cell/cell-reconciler.js';
import { ClusterRegistry } from '../src/runtime/cluster-registry.js';
import { KubeApiError, type KubeClient } from '../src/runtime/kube-client.js';

const KINDS = CHILD_KINDS.map((k) => k.kind).filter((k) => !UNWATCHED_CHILD_KINDS.has(k));
/** Objects of each kind a fake cluster lists: about one cell's children. */
const OBJECTS_PER_KIND = Number(process.env.BENCH_OBJECTS_PER_KIND ?? 3);

// --- the fake API servers (child process) ----------------------------------------------------------

function serve(count: number): void {
  const servers = Array.from({ length: count }, () => {
    let watches = 0;
    const server = http.createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x');
      if (url.pathname === '/version') return json(res, { gitVersion: 'v1.34.0-fake' });
      if (url.pathname === '/stats') return json(res, { watches });
      if (url.searchParams.get('watch') === 'true') {
        watches++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.flushHeaders();
        req.on('close', () => watches--);
        return undefined;
      }
      const kind = url.pathname.split('/').at(-1) ?? 'things';
      const items = Array.from({ length: OBJECTS_PER_KIND }, (_, i) => ({
        metadata: { name: `${kind}-${i}`, namespace: 'cell-bench', resourceVersion: String(i + 1), uid: `${kind}-${i}`, labels: { 'app.kubernetes.io/managed-by': 'cell-operator', 'cells.platform.io/cell': 'bench' } },
        spec: { padding: 'x'.repeat(2000) },
      }));
      return json(res, { kind: 'List', metadata: { resourceVersion: '100' }, items });
    });
    server.keepAliveTimeout = 0;
    return server;
  });
  Promise.all(servers.map((s) => new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as { port: number }).port))))).then(
    (ports) => console.log(JSON.stringify(ports)),
    (err: unknown) => {
      console.error(err);
      process.exit(1);
    },
  );
}

function json(res: http.ServerResponse, body: unknown): void {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

// --- the measurement (this process) ------------------------------------------------------------------

const gc = (globalThis as { gc?: () => void }).gc;

function used(): { heap: number; rss: number } {
  gc?.();
  gc?.();
  const m = process.memoryUsage();
  return { heap: m.heapUsed + m.arrayBuffers, rss: m.rss };
}

function get<T>(port: number, path: string): Promise<T> {
  return new Promise((resolve, reject) => {
    http.get({ host: '127.0.0.1', port, path, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve(JSON.parse(body) as T));
    }).on('error', reject);
  });
}

const kubeconfig = (port: number) => `apiVersion: v1
kind: Config
clusters: [{ name: c, cluster: { server: 'http://127.0.0.1:${port}', insecure-skip-tls-verify: true } }]
users: [{ name: u, user: { token: t } }]
contexts: [{ name: c, context: { cluster: c, user: u } }]
current-context: c
`;

async function measure(count: number): Promise<{ heap: number; rss: number; watches: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url), 'serve', String(count)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    return await measureWith(await new Promise<number[]>((resolve) => createInterface({ input: child.stdout! }).once('line', (l) => resolve(JSON.parse(l) as number[]))), count);
  } finally {
    child.kill();
  }
}

async function measureWith(ports: number[], count: number): Promise<{ heap: number; rss: number; watches: number }> {
  const secrets = new Map(ports.map((port, i) => [`c${i}-kubeconfig`, Buffer.from(kubeconfig(port)).toString('base64')]));
  const management: KubeClient = {
    request<T>(req: { path: string }): Promise<T> {
      const value = secrets.get(req.path.split('/').at(-1) ?? '');
      return value ? Promise.resolve({ data: { value } } as T) : Promise.reject(new KubeApiError(404, 'NotFound', 'no such Secret'));
    },
  };
  const before = used();
  const registry = new ClusterRegistry({
    client: management,
    informers: KINDS.map((kind) => ({ key: kind, resource: childResource(kind), labelSelector: CHILD_LABEL_SELECTOR })),
    resyncMs: 0,
  });
  for (let i = 0; i < count; i++) {
    const connection = await registry.connect(`cell-${i}`, `c${i}`, { namespace: 'ops', name: `c${i}-kubeconfig`, key: 'value' });
    if (!connection.ok) throw new Error(connection.message);
    await Promise.all([...connection.cluster.informers.values()].map((inf) => inf.waitForSync()));
  }
  // Let every watch be established before counting.
  await new Promise((r) => setTimeout(r, 1000));
  const after = used();
  const watches = (await Promise.all(ports.map((p) => get<{ watches: number }>(p, '/stats')))).reduce((sum, s) => sum + s.watches, 0);
  await registry.stop();
  return { heap: after.heap - before.heap, rss: after.rss - before.rss, watches };
}

async function main(): Promise<void> {
  if (!gc) {
    console.error('run with node --expose-gc --import tsx bench/cluster-registry.ts (npm run bench:clusters)');
    process.exit(2);
  }
  const mb = (b: number) => `${(b / 1024 / 1024).toFixed(2)} MB`;
  console.log(`cluster registry: ${KINDS.length} child kinds watched per cluster, ${OBJECTS_PER_KIND} objects of each`);
  await measure(1); // warm-up: module loading and JIT are not a cluster's cost
  const one = await measure(1);
  const ten = await measure(10);
  const perCluster = { heap: ten.heap / 10, rss: ten.rss / 10, watches: ten.watches / 10 };
  console.log(`  1 cluster:   heap ${mb(one.heap)}, RSS ${mb(one.rss)}, ${one.watches} watch connections`);
  console.log(`  10 clusters: heap ${mb(ten.heap)}, RSS ${mb(ten.rss)}, ${ten.watches} watch connections`);
  console.log(`  ratio 10 clusters / 1 cluster: heap ${(ten.heap / one.heap).toFixed(2)}x, watches ${(ten.watches / one.watches).toFixed(2)}x (linear = 10)`);
  console.log(`  per cluster (from 10): heap ${mb(perCluster.heap)}, RSS ${mb(perCluster.rss)}, ${perCluster.watches} watch connections`);
  console.log(`  estimate for 100 clusters: heap ${mb(perCluster.heap * 100)}, RSS ${mb(perCluster.rss * 100)}, ${perCluster.watches * 100} watch connections`);
}

if (process.argv[2] === 'serve') serve(Number(process.argv[3] ?? 1));
else void main();
