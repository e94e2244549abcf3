// The controller runtime on a real API server, through the Cell controller: watch and reconcile,
// status through the status subresource, server-side apply with owner references, garbage
// collection, the finalizer, leader election between two processes, and a kube-apiserver restart.
import { randomBytes } from 'node:crypto';
import { stringify } from 'yaml';
import { desiredChildren } from '../../src/controllers/cell/cell-children.js';
import type { Cell } from '../../src/crds/cell.js';
import { restartApiServer } from './cluster/local-cluster.js';
import { DEFAULT_LEASE_NAME } from '../../src/rbac/rules.js';
import { PLAIN } from '../../src/rbac/render.js';
import {
  auditEventsSince,
  auditMark,
  CELL_FINALIZER,
  condition,
  deleteCells,
  describeAudit,
  FIELD_MANAGER,
  getCell,
  getObject,
  isReady,
  LABEL_CELL,
  LABEL_MANAGED_BY,
  listObjects,
  metricSum,
  observedCurrent,
  waitForCell,
  waitForCellGone,
  WRITE_VERBS,
  type AuditEvent,
  type LiveCell,
} from './support/cells.js';
import { e2eEnv, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { startOperator, stopAllOperators, type OperatorProcess } from './support/operator.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';

const TIMEOUT_MS = 120_000;
const id = randomBytes(3).toString('hex');
const local = process.env.E2E_CLUSTER === 'local';
/** The Lease that config/rbac's leader-election Role grants (the operator runs as its ServiceAccount). */
const LEASE_NAMESPACE = PLAIN.namespace;
const LEASE_NAME = DEFAULT_LEASE_NAME;
const SHARED_IDENTITY = `runtime-${id}`;
/** The shared operator's requests: its ServiceAccount, and its identity in the User-Agent. */
const fromSharedOperator = (e: AuditEvent) => e.user.username === e2eEnv().operatorUser && (e.userAgent ?? '').includes(`(${SHARED_IDENTITY})`);
const NAMESPACED_KINDS = ['networkpolicies', 'secrets', 'configmaps', 'kafkanodepools', 'kafkas', 'kafkatopics', 'kafkausers', 'services', 'deployments', 'podmonitors'];

const DATABASE_SECRET = `e2e-runtime-database-${id}`;

const created = new Set<string>();
let postgres: PostgresServer;

/** A small Cell: one Kafka node per pool, one workload, a throw-away PostgreSQL: it turns Ready, and then rests. */
function cellManifest(name: string, options: { deletionPolicy?: 'Retain' | 'Delete'; weight?: number } = {}) {
  created.add(name);
  return {
    apiVersion: 'cells.platform.io/v1alpha1',
    kind: 'Cell',
    metadata: { name, labels: { 'e2e.cells.platform.io/test': `runtime-${id}` } },
    spec: {
      region: 'eu-west-1',
      capacity: { maxCustomers: 1000 },
      weight: options.weight ?? 100,
      kafka: {
        controllers: { replicas: 1, storage: { size: '1Gi' } },
        brokers: { replicas: 1, storage: { size: '1Gi' } },
        topics: [{ name: 'telemetry', partitions: 3, replicas: 1 }],
      },
      database: {
        external: { host: postgres.host, port: postgres.port, database: 'postgres', sslMode: 'disable', secretRef: { name: DATABASE_SECRET, namespace: 'default' } },
      },
      workloads: [{ name: 'api', image: 'registry.example.com/api:1.0.0', replicas: 1, port: 8080, kafka: { read: ['telemetry'] } }],
      deletionPolicy: options.deletionPolicy ?? 'Retain',
    },
  };
}

/** `kubectl apply` (client-side, as a person types it). */
async function kubectlApply(manifest: object): Promise<void> {
  await kubectl(['apply', '-f', '-'], { input: stringify(manifest) });
}

const reconciled = (cell: LiveCell) => observedCurrent(cell) && condition(cell, 'Ready') !== undefined;

async function waitReconciled(name: string, timeoutMs = 60_000): Promise<LiveCell> {
  return waitForCell(name, reconciled, 'to be reconciled (status.observedGeneration = metadata.generation)', timeoutMs);
}

let operator: OperatorProcess;

async function startShared(): Promise<OperatorProcess> {
  const op = await startOperator({ name: SHARED_IDENTITY, leaderElect: false });
  await op.waitReady(60_000);
  return op;
}

describe('the operator runtime on a real API server', () => {
  beforeAll(async () => {
    postgres = await startPostgres(); // trust authentication: any password is right
    await kubectl(['create', 'secret', 'generic', DATABASE_SECRET, '-n', 'default', `--from-literal=username=${postgres.user}`, '--from-literal=password=unused']);
    operator = await startShared();
  }, TIMEOUT_MS);

  afterAll(async () => {
    // An operator must run to release the finalizers; the leader-election test leaves its survivor.
    const survivor = operator?.isRunning() ? undefined : await startShared().catch(() => undefined);
    await deleteCells([...created]);
    await survivor?.stop();
    await stopAllOperators();
    await kubectl(['delete', 'lease', LEASE_NAME, '-n', LEASE_NAMESPACE, '--ignore-not-found'], { allowFailure: true });
    await kubectl(['delete', 'secret', DATABASE_SECRET, '-n', 'default', '--ignore-not-found'], { allowFailure: true });
    await postgres?.stop();
  }, TIMEOUT_MS);

  it('reconciles a Cell created with kubectl apply and writes its status through the status subresource', async () => {
    const name = `rt-${id}-status`;
    const mark = auditMark();
    await kubectlApply(cellManifest(name));
    const cell = await waitReconciled(name);
    expect(cell.metadata.finalizers).toContain(CELL_FINALIZER);
    expect(cell.status?.conditions?.map((c) => c.type)).toEqual(expect.arrayContaining(['Ready', 'KafkaReady', 'DatabaseReady', 'WorkloadsReady']));
    expect(condition(cell, 'DatabaseReady')).toMatchObject({ status: 'True', reason: 'ConnectedWithoutCitus' });

    // A change of the spec is seen and the status follows the new generation.
    await kubectl(['patch', 'cell', name, '--type=merge', '-p', '{"spec":{"weight":50}}']);
    const changed = await waitReconciled(name);
    expect(changed.metadata.generation).toBe(cell.metadata.generation + 1);

    if (mark) {
      const statusWrites = auditEventsSince(mark).filter(
        (e) => fromSharedOperator(e) && WRITE_VERBS.has(e.verb) && e.objectRef?.resource === 'cells' && e.objectRef.name === name,
      );
      expect(statusWrites.filter((e) => e.objectRef?.subresource === 'status').length).toBeGreaterThanOrEqual(2);
      // The main resource is written only to add the finalizer, never with a status.
      expect(statusWrites.filter((e) => e.objectRef?.subresource !== 'status').map(describeAudit)).toEqual([`patch cells ${name} -> 200`]);
    }
  }, TIMEOUT_MS);

  it('applies every child with server-side apply as field manager cell-operator, owned by its Cell', async () => {
    const name = `rt-${id}-owned`;
    await kubectlApply(cellManifest(name));
    const cell = await waitReconciled(name);
    const namespace = `cell-${name}`;
    // The credentials shape only the data of the database Secret, not which objects there are.
    const databaseCredentials = { username: 'any', password: 'any' };
    // operatorNamespace: the shared operator's --lease-namespace, left at its default.
    const desired = desiredChildren(cell as unknown as Cell, { operatorNamespace: 'default', kafkaBootstrap: undefined, databaseCredentials, podMonitors: true });
    const live = [...(await listObjects(namespace, NAMESPACED_KINDS, `${LABEL_CELL}=${name}`)), (await getObject('namespace', namespace))!];
    const key = (o: { kind?: string; metadata?: { name?: string } }) => `${o.kind}/${o.metadata?.name}`;
    expect(live.map(key).sort()).toEqual(desired.map(key).sort());
    for (const obj of live) {
      const what = key(obj);
      expect({ what, labels: obj.metadata.labels }).toMatchObject({ what, labels: { [LABEL_MANAGED_BY]: 'cell-operator', [LABEL_CELL]: name } });
      expect({ what, managers: obj.metadata.managedFields?.filter((f) => f.manager === FIELD_MANAGER).map((f) => f.operation) }).toEqual({ what, managers: ['Apply'] });
      // The namespace is owned only with deletionPolicy Delete: deleting it deletes the data volumes.
      const owners = obj.kind === 'Namespace' ? [] : [{ apiVersion: 'cells.platform.io/v1alpha1', kind: 'Cell', name, uid: cell.metadata.uid, controller: true, blockOwnerDeletion: true }];
      expect({ what, owners: obj.metadata.ownerReferences ?? [] }).toEqual({ what, owners });
    }
  }, TIMEOUT_MS);

  it('deletes the children the spec no longer asks for: a topic, a workload, the in-cluster database', async () => {
    const name = `rt-${id}-prune`;
    const external = cellManifest(name);
    const wide = {
      ...external,
      spec: {
        ...external.spec,
        kafka: { ...external.spec.kafka, topics: [...external.spec.kafka.topics, { name: 'audit', partitions: 1, replicas: 1 }] },
        database: { workers: 1, storage: { size: '1Gi' } },
        workloads: [...external.spec.workloads, { name: 'ingest', image: 'registry.example.com/ingest:1.0.0', replicas: 1, port: 9090, kafka: { write: ['telemetry'] } }],
      },
    };
    const namespace = `cell-${name}`;
    const ALL_KINDS = [...NAMESPACED_KINDS, 'statefulsets', 'poddisruptionbudgets'];
    // Credentials shape only the data, not which objects; an in-cluster database always has its TLS material.
    const credentials = (cell: Cell) => ({
      username: 'any',
      password: 'any',
      ...(cell.spec.database.external ? {} : { ca: 'any', serverTls: { ca: 'any', caKey: 'any', cert: 'any', key: 'any' } }),
    });
    const liveKeys = async () =>
      (await listObjects(namespace, ALL_KINDS, `${LABEL_CELL}=${name}`)).filter((o) => !o.metadata.deletionTimestamp).map((o) => `${o.kind}/${o.metadata.name}`).sort();
    const desiredKeys = (cell: object) =>
      desiredChildren(cell as unknown as Cell, { operatorNamespace: 'default', kafkaBootstrap: undefined, databaseCredentials: credentials(cell as unknown as Cell), podMonitors: true })
        .filter((o) => o.kind !== 'Namespace')
        .map((o) => `${o.kind}/${o.metadata?.name}`)
        .sort();
    // Secrets are never pruned (the TLS Secret of the in-cluster database stays too): compared apart.
    const notSecret = (keys: string[]) => keys.filter((k) => !k.startsWith('Secret/'));

    await kubectlApply(wide);
    const wideCell = await waitReconciled(name);
    const before = await waitFor(async () => {
      const keys = await liveKeys();
      return JSON.stringify(keys) === JSON.stringify(desiredKeys(wideCell)) ? keys : undefined;
    }, { timeoutMs: 60_000, description: 'every child of the wide spec' });
    expect(before.filter((k) => /^(StatefulSet|PodDisruptionBudget)\//.test(k)).length).toBeGreaterThanOrEqual(2);

    await kubectlApply(external);
    const narrowCell = await waitFor(async () => {
      const cell = await waitReconciled(name);
      return (cell.spec as { database?: { external?: unknown } }).database?.external ? cell : undefined;
    }, { timeoutMs: 60_000, description: 'the narrower spec to be reconciled' });
    const after = await waitFor(async () => {
      const keys = await liveKeys();
      return JSON.stringify(notSecret(keys)) === JSON.stringify(notSecret(desiredKeys(narrowCell))) ? keys : undefined;
    }, { timeoutMs: 60_000, description: 'the children the narrower spec no longer asks for to be deleted' });
    const gone = before.filter((k) => !after.includes(k));
    // Every pruned kind lost an object; the database Secrets (credentials, TLS) stayed.
    expect(new Set(gone.map((k) => k.split('/')[0]))).toEqual(new Set(['KafkaTopic', 'KafkaUser', 'Deployment', 'Service', 'StatefulSet', 'PodDisruptionBudget', 'NetworkPolicy', 'PodMonitor']));
    expect(after.filter((k) => k.startsWith('Secret/'))).toEqual(before.filter((k) => k.startsWith('Secret/')));
  }, TIMEOUT_MS);

  it('lets the garbage collector delete the children of a deleted Cell, and its namespace only with deletionPolicy Delete', async () => {
    const retained = `rt-${id}-owned`; // from the test above
    const deleted = `rt-${id}-gc`;
    await kubectlApply(cellManifest(deleted, { deletionPolicy: 'Delete' }));
    await waitReconciled(deleted);
    expect((await getObject('namespace', `cell-${deleted}`))?.metadata.ownerReferences?.map((r) => r.name)).toEqual([deleted]);
    expect(await getCell(retained)).toBeDefined();

    await kubectl(['delete', 'cell', retained, deleted, '--wait=false']);
    await waitForCellGone(retained);
    await waitForCellGone(deleted);
    await waitFor(async () => (await listObjects(`cell-${retained}`, NAMESPACED_KINDS, `${LABEL_CELL}=${retained}`)).length === 0, {
      timeoutMs: 60_000,
      description: `the garbage collector to delete the children of Cell ${retained}`,
    });
    expect((await getObject('namespace', `cell-${retained}`))?.metadata.name).toBe(`cell-${retained}`);
    await waitFor(async () => (await getObject('namespace', `cell-${deleted}`)) === undefined, {
      timeoutMs: 90_000,
      description: `namespace cell-${deleted} to be deleted with its Cell`,
    });
  }, TIMEOUT_MS + 60_000);

  it('keeps a deleted Cell behind its finalizer until the operator is back to release it', async () => {
    const name = `rt-${id}-final`;
    await kubectlApply(cellManifest(name));
    await waitReconciled(name);
    await operator.stop('SIGTERM');

    await kubectl(['delete', 'cell', name, '--wait=false']);
    await new Promise((r) => setTimeout(r, 3000));
    const held = await getCell(name);
    expect(held?.metadata.deletionTimestamp).toBeDefined();
    expect(held?.metadata.finalizers).toEqual([CELL_FINALIZER]);
    // Its children stay too: the garbage collector waits for the owner.
    expect(await getObject('deployment', 'api', `cell-${name}`)).toBeDefined();

    operator = await startShared();
    await waitForCellGone(name, 30_000);
  }, TIMEOUT_MS);

  (local ? it : it.skip)(
    'keeps running through kube-apiserver restarts and reconciles what changed while its watches were down, deletions included',
    async () => {
      const kept = `rt-${id}-kept`;
      const quiet = `rt-${id}-quiet`;
      const doomed = `rt-${id}-doomed`;
      const late = `rt-${id}-late`;
      for (const name of [kept, quiet, doomed]) await kubectlApply(cellManifest(name));
      for (const name of [kept, quiet, doomed]) await waitReconciled(name);
      // Cell `quiet` must be at rest (Ready: no requeue) before the restarts: the topic deleted in
      // step 2 is then the only news about it, which only the re-list (a deletion found by
      // comparing the cache with the new list) can bring.
      await waitForCell(quiet, isReady, 'to be Ready', 60_000);
      const restartsBefore = await metricSum(operator, 'cell_operator_watch_restarts_total');

      // 1. The API server crashes under a running operator; a child deleted right after it is back is put back.
      await restartApiServer({ signal: 'SIGKILL', downtimeMs: 2000 });
      expect(operator.isRunning()).toBe(true);
      const deployment = (await getObject('deployment', 'api', `cell-${kept}`))!;
      await kubectl(['delete', 'deployment', 'api', '-n', `cell-${kept}`, '--wait=false']);
      await waitFor(async () => {
        const again = await getObject('deployment', 'api', `cell-${kept}`);
        return again !== undefined && again.metadata.uid !== deployment.metadata.uid;
      }, { timeoutMs: 60_000, description: `Deployment api of Cell ${kept} to be created again after the restart` });

      // 2. The operator is frozen (a partition, a long GC pause) while the API server restarts and
      //    things change: its watches are dead when it wakes (410 Gone: it re-lists), and it must catch up.
      const topic = (await getObject('kafkatopic', 'telemetry', `cell-${quiet}`))!;
      process.kill(operator.pid, 'SIGSTOP');
      try {
        await restartApiServer({ signal: 'SIGTERM' });
        await kubectl(['delete', 'kafkatopic', 'telemetry', '-n', `cell-${quiet}`]);
        await kubectl(['delete', 'cell', doomed, '--wait=false']);
        await kubectlApply(cellManifest(late));
      } finally {
        process.kill(operator.pid, 'SIGCONT');
      }
      await waitFor(async () => {
        const again = await getObject('kafkatopic', 'telemetry', `cell-${quiet}`);
        return again !== undefined && again.metadata.uid !== topic.metadata.uid;
      }, { timeoutMs: 60_000, description: `KafkaTopic telemetry of Cell ${quiet} to be created again` });
      await waitForCellGone(doomed);
      await waitReconciled(late);
      expect(operator.isRunning()).toBe(true);
      expect(await metricSum(operator, 'cell_operator_watch_restarts_total')).toBeGreaterThan(restartsBefore);
    },
    TIMEOUT_MS + 60_000,
  );

  it('lets only the Lease holder reconcile, and another replica takes over within the lease duration after a SIGKILL', async () => {
    const leaseDurationSeconds = 6;
    const leaseName = LEASE_NAME;
    await operator.stop('SIGTERM'); // the shared operator runs without leader election
    // A Lease left by an earlier, killed run would delay the first election by its duration.
    await kubectl(['delete', 'lease', leaseName, '-n', LEASE_NAMESPACE, '--ignore-not-found']);
    const options = { leaderElect: true, leaseName, leaseNamespace: LEASE_NAMESPACE, leaseDurationSeconds };
    const holder = () =>
      kubectlJson<{ spec?: { holderIdentity?: string } }>(['get', 'lease', leaseName, '-n', LEASE_NAMESPACE]).then((l) => l.spec?.holderIdentity);
    const first = await startOperator({ ...options, name: `leader-a-${id}` });
    await waitFor(async () => (await holder()) === first.name, { timeoutMs: 60_000, description: `${first.name} to hold the Lease` });
    const second = await startOperator({ ...options, name: `leader-b-${id}` });
    await first.waitReady(60_000);
    await second.waitReady(60_000);

    const name = `rt-${id}-leader`;
    await kubectlApply(cellManifest(name));
    await waitReconciled(name);
    const reconciles = (op: OperatorProcess) => metricSum(op, 'cell_operator_reconcile_total', { controller: 'cell' });
    expect(await reconciles(first)).toBeGreaterThan(0);
    expect(await reconciles(second)).toBe(0);
    expect(await metricSum(second, 'cell_operator_leader')).toBe(0);
    expect(second.output()).not.toMatch(/"cell":"rt-/);

    await first.stop('SIGKILL');
    const killedAt = Date.now();
    await waitFor(async () => (await holder()) === second.name, {
      timeoutMs: 30_000,
      intervalMs: 100,
      description: `${second.name} to take the Lease over`,
    });
    const takeoverMs = Date.now() - killedAt;
    // The lease runs out 6 s after the last renewal the standby saw; it notices within one retry
    // period (0.8 s + 20% jitter). The rest is slack for polling and a loaded machine (a cold CI run
    // beside four other builds took 8.8 s): the point is a takeover after one lease, not after many.
    expect(takeoverMs).toBeLessThanOrEqual(leaseDurationSeconds * 1000 + 4000);

    await kubectl(['patch', 'cell', name, '--type=merge', '-p', '{"spec":{"weight":10}}']);
    await waitReconciled(name);
    expect(await reconciles(second)).toBeGreaterThan(0);
    operator = second; // the survivor releases the finalizers in afterAll
    process.stderr.write(`[runtime e2e] the standby took the Lease over ${takeoverMs} ms after the leader's SIGKILL\n`);
  }, TIMEOUT_MS);
});
