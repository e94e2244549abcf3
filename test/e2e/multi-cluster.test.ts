// A Cell in a cluster of its own (spec.cluster): a second local control plane started by the
// harness on other ports (.local/cluster-b: etcd, kube-apiserver, controller-manager and the
// Strimzi stand-in, no nodes), the operator's ServiceAccount there with config/remote-cluster/'s
// roles, and its token in a kubeconfig Secret of the operator's namespace, as Cluster API names it.
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { stringify } from 'yaml';
import { installMonitoringCrds } from './cluster/crds.js';
import { runKubectl, type KubectlOptions } from './cluster/kubectl.js';
import { apiServerRestarts, ensureCluster, startApiServer, stopApiServer, stopCluster, type LocalCluster } from './cluster/local-cluster.js';
import { projectRoot } from './cluster/paths.js';
import { compareRbac, type ResourceRequest } from '../../src/rbac/audit-compare.js';
import { PLAIN } from '../../src/rbac/render.js';
import { remoteClusterRules } from '../../src/rbac/remote-rules.js';
import { condition, getCell, isReady, LABEL_CELL, waitForCell, waitForCellGone, type AuditEvent, type LiveCell, type LiveObject } from './support/cells.js';
import { startCellDatabases, type CellDatabases } from './support/cell-databases.js';
import { apply, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { migrationManifest, rowsPerCustomer, sql, startMigrationWorld, type MigrationWorld } from './support/migration-world.js';
import { startOperator, stopAllOperators, type OperatorProcess } from './support/operator.js';

const TIMEOUT_MS = 180_000;
const local = process.env.E2E_CLUSTER === 'local';
const B = 'cluster-b';
/** spec.cluster.name: the kubeconfig is in Secret cells-b-kubeconfig, key value (Cluster API's names). */
const CLUSTER = 'cells-b';
const OPERATOR_NAMESPACE = PLAIN.namespace;
const id = randomBytes(3).toString('hex');
const CELL = `remote-${id}`;
const NAMESPACE = `cell-${CELL}`;
const CREDENTIALS_NAMESPACE = `remote-db-${id}`;
const CHILD_KINDS = ['networkpolicies', 'configmaps', 'kafkanodepools', 'kafkas', 'kafkatopics'];
const ROTATED_ACCOUNT = 'cell-operator-rotated';

let b: LocalCluster;
let databases: CellDatabases;
let operator: OperatorProcess;

const inB = (args: string[], options: KubectlOptions = {}) => runKubectl(b.kubectl, b.kubeconfigPath, args, options);

function cellManifest(database: { host: string; port: number }, name = CELL, cluster = CLUSTER) {
  return {
    apiVersion: 'cells.platform.io/v1alpha1',
    kind: 'Cell',
    metadata: { name },
    spec: {
      region: 'eu-west-1',
      capacity: { maxCustomers: 100 },
      cluster: { name: cluster },
      kafka: {
        version: '4.1.0',
        controllers: { replicas: 1, storage: { size: '1Gi' } },
        brokers: { replicas: 1, storage: { size: '1Gi' } },
        topics: [{ name: 'telemetry', partitions: 3, replicas: 1 }],
        telemetryTopic: 'telemetry',
      },
      database: {
        external: { ...database, database: `cell_${name.replace(/-/g, '_')}`, sslMode: 'disable', secretRef: { name: 'remote-db', namespace: CREDENTIALS_NAMESPACE } },
        tenantColumn: 'customer_id',
      },
      deletionPolicy: 'Retain',
    },
  };
}

const credentialsSecret = {
  apiVersion: 'v1',
  kind: 'Secret',
  metadata: { name: 'remote-db', namespace: CREDENTIALS_NAMESPACE },
  stringData: { username: `remote_${id}`, password: `pw-${id}` },
};

/** The children of `cell` in a local cluster. */
async function childrenIn(run: typeof inB, cell: string): Promise<LiveObject[]> {
  const list = JSON.parse((await run(['get', CHILD_KINDS.join(','), '-n', `cell-${cell}`, '-l', `${LABEL_CELL}=${cell}`, '-o', 'json'])).stdout) as { items: LiveObject[] };
  return list.items;
}

/** A kubeconfig for a local cluster (B by default) holding a token of `account` (a ServiceAccount in the operator's namespace there). */
async function kubeconfigOf(account: string, run = inB, name = CLUSTER): Promise<string> {
  const token = (await run(['create', 'token', account, '-n', OPERATOR_NAMESPACE, '--duration=2h'])).stdout.trim();
  const admin = JSON.parse((await run(['config', 'view', '--raw', '--minify', '--flatten', '-o', 'json'])).stdout) as { clusters: { name: string; cluster: Record<string, unknown> }[] };
  const cluster = admin.clusters[0]!;
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name, cluster: cluster.cluster }],
    users: [{ name: account, user: { token } }],
    contexts: [{ name, context: { cluster: name, user: account } }],
    'current-context': name,
  });
}

async function putKubeconfigSecret(kubeconfig: string, name = CLUSTER): Promise<void> {
  await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { name: `${name}-kubeconfig`, namespace: OPERATOR_NAMESPACE }, stringData: { value: kubeconfig } });
}

const childrenInB = () => childrenIn(inB, CELL);

const uids = (objects: LiveObject[]) => Object.fromEntries(objects.map((o) => [`${o.kind}/${o.metadata.name}`, o.metadata.uid]));
const reachable = (cell: LiveCell) => isReady(cell) && condition(cell, 'ClusterReachable')?.status === 'True';

/** Requests logged by cluster B's API server after byte `offset` of its audit log, by `user`. */
function auditOfB(offset: number, user: string): { verb: string; resource?: string }[] {
  const text = readFileSync(b.auditLogPath).subarray(offset).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as { verb: string; user: { username: string }; objectRef?: { resource?: string } })
    .filter((e) => e.user.username === user)
    .map((e) => ({ verb: e.verb, resource: e.objectRef?.resource }));
}

(local ? describe : describe.skip)('cells in a cluster of their own', () => {
  beforeAll(async () => {
    b = await ensureCluster({ name: B, nodes: 0, log: (m) => process.stderr.write(`[cluster-b] ${m}\n`) });
    // The management cluster serves the Prometheus Operator's API (the e2e setup): the cell cluster too.
    await installMonitoringCrds(inB, projectRoot(), () => undefined);
    await inB(['apply', '--server-side', '--field-manager=e2e-setup', '-f', path.join(projectRoot(), 'config/remote-cluster/rbac.yaml')]);
    await putKubeconfigSecret(await kubeconfigOf(PLAIN.serviceAccount));
  }, TIMEOUT_MS);

  afterAll(async () => {
    // The credentials of the external databases serve every describe below: removed last.
    await kubectl(['delete', 'namespace', CREDENTIALS_NAMESPACE, '--wait=false', '--ignore-not-found'], { allowFailure: true });
    await kubectl(['delete', 'secret', `${CLUSTER}-kubeconfig`, '-n', OPERATOR_NAMESPACE, '--ignore-not-found'], { allowFailure: true });
    // The second cluster is this file's own: nothing of it outlives the test.
    await stopCluster({ name: B, log: () => undefined });
  }, TIMEOUT_MS);

  describe('a Cell in a cluster of its own', () => {
    beforeAll(async () => {
      const manifest = cellManifest({ host: '127.0.0.1', port: 5432 });
      databases = await startCellDatabases([manifest, credentialsSecret]);
      await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: CREDENTIALS_NAMESPACE } });
      await apply(credentialsSecret);
      operator = await startOperator({ leaderElect: false, leaseNamespace: OPERATOR_NAMESPACE, args: ['--resync=10'] });
      await operator.waitReady(60_000);
      await apply(cellManifest({ host: databases.host, port: databases.port }));
    }, TIMEOUT_MS);

    afterAll(async () => {
      await kubectl(['delete', 'cell', CELL, '--wait=false', '--ignore-not-found'], { allowFailure: true });
      if (await getCell(CELL).catch(() => undefined)) {
        await waitForCellGone(CELL, 30_000).catch(() => kubectl(['patch', 'cell', CELL, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true }));
      }
      await stopAllOperators();
      await databases?.stop();
    }, TIMEOUT_MS);

    it('turns Ready with its children in the second cluster and none in the management cluster', async () => {
      const cell = await waitForCell(CELL, reachable, 'to be Ready in cluster cells-b', 120_000);
      expect(condition(cell, 'ClusterReachable')?.message).toMatch(/^The API server of cluster cells-b at https:\/\/127\.0\.0\.1:\d+ answers \(Kubernetes v1\.\d+/);
      expect(condition(cell, 'KafkaReady')).toMatchObject({ status: 'True' });
      expect(condition(cell, 'DatabaseReady')).toMatchObject({ status: 'True' });

      const children = await childrenInB();
      expect(children.map((o) => `${o.kind}/${o.metadata.name}`).sort()).toEqual(
        expect.arrayContaining([`Kafka/${CELL}`, `KafkaNodePool/brokers`, `KafkaNodePool/controllers`, `KafkaTopic/telemetry`]),
      );
      // No owner reference crosses clusters: the Cell's uid means nothing in cluster B.
      expect(children.filter((o) => (o.metadata.ownerReferences ?? []).length > 0)).toEqual([]);
      expect((await inB(['get', 'secret', `${CELL}-db-credentials`, '-n', NAMESPACE, '-o', 'name'])).stdout.trim()).toBe(`secret/${CELL}-db-credentials`);

      expect((await kubectl(['get', 'namespace', NAMESPACE, '--ignore-not-found', '-o', 'name'])).stdout.trim()).toBe('');
      const inManagement = await kubectlJson<{ items: LiveObject[] }>(['get', CHILD_KINDS.join(','), '-A', '-l', `${LABEL_CELL}=${CELL}`]);
      expect(inManagement.items).toEqual([]);

      // spec.cluster is immutable: the API server refuses a change and a removal, naming the field.
      for (const patch of ['{"spec":{"cluster":{"name":"elsewhere"}}}', '{"spec":{"cluster":null}}']) {
        const refused = await kubectl(['patch', 'cell', CELL, '--type=merge', '-p', patch], { allowFailure: true });
        expect({ patch, code: refused.code, stderr: refused.stderr }).toMatchObject({ patch, code: 1, stderr: expect.stringContaining('spec.cluster is immutable') });
      }
    }, TIMEOUT_MS);

    it("turns Unknown while the second cluster's API server is down, deletes nothing, and is Ready again when it is back", async () => {
      const before = uids(await childrenInB());
      await stopApiServer({ name: B });
      try {
        const down = await waitForCell(CELL, (c) => condition(c, 'Ready')?.status === 'Unknown', 'to turn Unknown', 60_000);
        expect(condition(down, 'Ready')).toMatchObject({ status: 'Unknown', reason: 'ClusterUnreachable' });
        expect(condition(down, 'ClusterReachable')).toMatchObject({ status: 'False', reason: 'ClusterUnreachable' });
        // What was known stays: the phase and the endpoints.
        expect(down.status?.phase).toBe('Ready');
        expect(down.status?.endpoints?.database).toBe(`${databases.host}:${databases.port}`);
        // The moment the cluster was lost is told by a Warning Event on the Cell.
        const events = await kubectlJson<{ items: { type?: string; reason?: string; regarding?: { name?: string } }[] }>(['get', 'events.events.k8s.io', '-A']);
        expect(events.items.filter((e) => e.regarding?.name === CELL && e.reason === 'ClusterUnreachable').map((e) => e.type)).toContain('Warning');
      } finally {
        await startApiServer({ name: B });
      }
      await waitForCell(CELL, reachable, 'to be Ready again', 90_000);
      // Not one child was deleted or recreated: the same objects, the same uids.
      expect(uids(await childrenInB())).toEqual(before);
    }, TIMEOUT_MS);

    it('picks up a rotated kubeconfig Secret without a restart', async () => {
      await inB(['create', 'serviceaccount', ROTATED_ACCOUNT, '-n', OPERATOR_NAMESPACE]);
      await inB(['create', 'clusterrolebinding', ROTATED_ACCOUNT, '--clusterrole=cell-operator-remote', `--serviceaccount=${OPERATOR_NAMESPACE}:${ROTATED_ACCOUNT}`]);
      const mark = statSync(b.auditLogPath).size;
      await putKubeconfigSecret(await kubeconfigOf(ROTATED_ACCOUNT));
      const rotatedUser = `system:serviceaccount:${OPERATOR_NAMESPACE}:${ROTATED_ACCOUNT}`;
      // The watches restart with the new token: cluster B sees them from the new account.
      const requests = await waitFor(
        () => {
          const seen = auditOfB(mark, rotatedUser);
          return seen.some((r) => r.verb === 'watch') ? seen : undefined;
        },
        { timeoutMs: 60_000, description: 'cluster B to see requests with the rotated credentials' },
      );
      expect(requests.length).toBeGreaterThan(0);
      expect(operator.isRunning()).toBe(true);
      const cell = await waitForCell(CELL, reachable, 'to stay Ready', 30_000);
      expect(condition(cell, 'ClusterReachable')).toMatchObject({ status: 'True' });
    }, TIMEOUT_MS);

    it("deletes its children in the second cluster when the Cell goes, keeping what Retain keeps", async () => {
      await kubectl(['delete', 'cell', CELL, '--wait=false']);
      await waitForCellGone(CELL, 60_000);
      await waitFor(async () => ((await childrenInB()).length === 0 ? true : undefined), { timeoutMs: 60_000, description: `the children of ${CELL} to be gone from cluster B` });
      expect((await inB(['get', 'secret', `${CELL}-db-credentials`, '-n', NAMESPACE, '--ignore-not-found', '-o', 'name'])).stdout.trim()).toBe('');
      // deletionPolicy Retain: the namespace, and the volumes in it, outlive the Cell, as in the local cluster.
      expect((await inB(['get', 'namespace', NAMESPACE, '-o', 'name'])).stdout.trim()).toBe(`namespace/${NAMESPACE}`);
      // Its cluster has no Cell left: its watches stop.
      await operator.waitForOutput(/cluster has no Cell any more/, 30_000);
    }, TIMEOUT_MS);

    it("made only requests that the cell cluster's ClusterRole (config/remote-cluster/rbac.yaml) allows", () => {
      const users = new Set([PLAIN.serviceAccount, ROTATED_ACCOUNT].map((a) => `system:serviceaccount:${OPERATOR_NAMESPACE}:${a}`));
      const restarts = apiServerRestarts({ name: B });
      const requests: ResourceRequest[] = [];
      for (const line of readFileSync(b.auditLogPath, 'utf8').split('\n')) {
        if (!line.trim()) continue;
        const e = JSON.parse(line) as AuditEvent;
        if (!users.has(e.user.username) || !e.objectRef?.resource) continue;
        const at = Date.parse(e.requestReceivedTimestamp);
        // A kube-apiserver just started again answers 403 until its RBAC caches fill: not a missing grant.
        if (e.responseStatus?.code === 403 && restarts.some((r) => at >= Date.parse(r.from) && at <= Date.parse(r.ready) + 2000)) continue;
        const o = e.objectRef;
        requests.push({ verb: e.verb, apiGroup: o.apiGroup ?? '', resource: o.resource!, subresource: o.subresource, namespace: o.namespace, name: o.name, code: e.responseStatus?.code });
      }
      const result = compareRbac([{ role: 'ClusterRole/cell-operator-remote', rules: remoteClusterRules() }], requests);
      expect(result.requests).toBeGreaterThan(20);
      expect({ notAllowed: result.notAllowed, forbidden: result.forbidden }).toEqual({ notAllowed: [], forbidden: [] });
      // Secrets are read by name only there too: never listed nor watched.
      expect(requests.filter((r) => r.resource === 'secrets' && (r.verb === 'list' || r.verb === 'watch'))).toEqual([]);
    });
  });

  describe('a canary migration from a local cell to a cell in the second cluster', () => {
    const MIGRATION = `to-remote-${id}`;
    let world: MigrationWorld;

    beforeAll(async () => {
      world = await startMigrationWorld({
        prefix: `mc${id}`,
        region: 'eu-central-8',
        customers: 10,
        readingsPerCustomer: 30,
        targetCluster: CLUSTER,
        operator: { leaseNamespace: OPERATOR_NAMESPACE },
      });
    }, 240_000);

    afterAll(async () => {
      await world?.cleanup([MIGRATION]);
    }, 120_000);

    it('moves every customer with every row exactly once, the target cell living in cluster B', async () => {
      const target = await getCell(world.targetCell);
      expect(condition(target, 'ClusterReachable')).toMatchObject({ status: 'True' });
      expect((await inB(['get', 'kafka', world.targetCell, '-n', `cell-${world.targetCell}`, '-o', 'name'])).stdout.trim()).toBe(`kafka.kafka.strimzi.io/${world.targetCell}`);
      await apply(migrationManifest(world, MIGRATION, { customers: { all: true }, steps: [{ move: 1 }, { move: '100%' }], maxConcurrent: 4, retention: '3s' }));
      const done = await waitFor(
        async () => {
          const m = await world.migration(MIGRATION);
          return m.status?.phase === 'Succeeded' ? m : undefined;
        },
        { timeoutMs: 180_000, intervalMs: 500, description: 'the migration to the remote cell to succeed' },
      );
      expect(done.status).toMatchObject({ progress: '10/10', customers: { moved: 10, total: 10 } });
      const readings = await rowsPerCustomer(world.target, 'readings');
      const devices = await rowsPerCustomer(world.target, 'devices');
      for (const customer of world.customers) {
        expect({ customer, readings: readings.get(customer), devices: devices.get(customer) }).toEqual({ customer, readings: 30, devices: 3 });
      }
      await waitFor(async () => Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings'))[0]?.n) === 0, {
        timeoutMs: 60_000,
        description: 'the source rows to be cleaned up',
      });
      const placed = await sql<{ cell: string }>(world.controlPlane, 'SELECT cell FROM placements WHERE customer_id = ANY($1::text[])', [world.customers]);
      expect(placed.map((p) => p.cell)).toEqual(world.customers.map(() => world.targetCell));
    }, 240_000);
  });

  describe('two cells in two clusters of their own (B and C)', () => {
    const C = 'cluster-c';
    const CLUSTER_C = 'cells-c';
    const IN_B = `in-b-${id}`;
    const IN_C = `in-c-${id}`;
    let c: LocalCluster;
    let twoDatabases: CellDatabases;
    const inC = (args: string[], options: KubectlOptions = {}) => runKubectl(c.kubectl, c.kubeconfigPath, args, options);

    beforeAll(async () => {
      c = await ensureCluster({ name: C, nodes: 0, log: (m) => process.stderr.write(`[cluster-c] ${m}\n`) });
      await installMonitoringCrds(inC, projectRoot(), () => undefined);
      await inC(['apply', '--server-side', '--field-manager=e2e-setup', '-f', path.join(projectRoot(), 'config/remote-cluster/rbac.yaml')]);
      await putKubeconfigSecret(await kubeconfigOf(PLAIN.serviceAccount, inC, CLUSTER_C), CLUSTER_C);
      const placeholder = { host: '127.0.0.1', port: 5432 };
      twoDatabases = await startCellDatabases([cellManifest(placeholder, IN_B, CLUSTER), cellManifest(placeholder, IN_C, CLUSTER_C), credentialsSecret]);
      await apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: CREDENTIALS_NAMESPACE } });
      await apply(credentialsSecret);
      operator = await startOperator({ leaderElect: false, leaseNamespace: OPERATOR_NAMESPACE, args: ['--resync=10'] });
      await operator.waitReady(60_000);
      const database = { host: twoDatabases.host, port: twoDatabases.port };
      await apply([cellManifest(database, IN_B, CLUSTER), cellManifest(database, IN_C, CLUSTER_C)]);
    }, TIMEOUT_MS);

    afterAll(async () => {
      await kubectl(['delete', 'cell', IN_B, IN_C, '--wait=false', '--ignore-not-found'], { allowFailure: true });
      for (const name of [IN_B, IN_C]) {
        await waitForCellGone(name, 30_000).catch(() => kubectl(['patch', 'cell', name, '--type=merge', '-p', '{"metadata":{"finalizers":null}}'], { allowFailure: true }));
      }
      await stopAllOperators();
      await kubectl(['delete', 'secret', `${CLUSTER_C}-kubeconfig`, '-n', OPERATOR_NAMESPACE, '--ignore-not-found'], { allowFailure: true });
      await twoDatabases?.stop();
      await stopCluster({ name: C, log: () => undefined });
    }, TIMEOUT_MS);

    it('keeps each cell in its own cluster, and an outage of one cluster leaves the other cell Ready', async () => {
      await waitForCell(IN_B, reachable, 'to be Ready in cluster cells-b', 120_000);
      await waitForCell(IN_C, reachable, 'to be Ready in cluster cells-c', 120_000);
      expect((await childrenIn(inB, IN_B)).length).toBeGreaterThan(0);
      expect((await childrenIn(inC, IN_C)).length).toBeGreaterThan(0);
      expect(await childrenIn(inB, IN_C).catch(() => [])).toEqual([]);
      expect(await childrenIn(inC, IN_B).catch(() => [])).toEqual([]);
      // One set of watches per cluster.
      const watching = operator.output().split('\n').filter((l) => l.includes('"msg":"watching cluster"')).map((l) => (JSON.parse(l) as { cluster: string }).cluster);
      expect([...new Set(watching)].sort()).toEqual([CLUSTER, CLUSTER_C]);

      await stopApiServer({ name: B });
      try {
        await waitForCell(IN_B, (cell) => condition(cell, 'Ready')?.status === 'Unknown', 'to turn Unknown', 60_000);
        // The blast radius of cluster B's outage is the cell in it: the cell in C stays Ready throughout.
        for (let i = 0; i < 6; i++) {
          expect(reachable((await getCell(IN_C))!)).toBe(true);
          await new Promise((r) => setTimeout(r, 2000));
        }
      } finally {
        await startApiServer({ name: B });
      }
      await waitForCell(IN_B, reachable, 'to be Ready again', 90_000);
    }, TIMEOUT_MS);
  });
});
