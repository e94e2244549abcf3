// The Cell controller as a platform team uses it: `kubectl apply -f examples/cells/` (two regions,
// three cells) on the local control plane, with real PostgreSQL behind the external databases and
// the control-plane database, kwok playing the nodes and Strimzi.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { stringify } from 'yaml';
import { desiredChildren } from '../../src/controllers/cell/cell-children.js';
import type { Cell } from '../../src/crds/cell.js';
import { placeCustomer } from '../../src/store/placements.js';
import {
  auditEventsSince,
  auditMark,
  condition,
  deleteCells,
  describeAudit,
  getCell,
  getObject,
  isReady,
  LABEL_CELL,
  LABEL_MANAGED_BY,
  listObjects,
  metricSum,
  waitForCell,
  waitForCellGone,
  waitNamespacesSettled,
  WRITE_VERBS,
} from './support/cells.js';
import { startCellDatabases, type CellDatabases } from './support/cell-databases.js';
import { exampleCellManifests, exampleManifests, type CellManifest, type Manifest } from './support/examples.js';
import { apply, e2eEnv, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { startOperator, stopAllOperators, type OperatorProcess } from './support/operator.js';

const TIMEOUT_MS = 120_000;
const id = randomBytes(3).toString('hex');
const local = process.env.E2E_CLUSTER === 'local';
const OPERATOR_NAMESPACE = 'default';
const OPERATOR_IDENTITY = `cells-${id}`;
/** Every Ready cell is reconciled this often, so that a quiet window sees steady-state reconciles. */
const RESYNC_SECONDS = 10;
const NAMESPACED_KINDS = ['networkpolicies', 'secrets', 'configmaps', 'kafkanodepools', 'kafkas', 'kafkatopics', 'kafkausers', 'services', 'statefulsets', 'poddisruptionbudgets', 'deployments', 'podmonitors'];

const EXTERNAL = ['eu-west-1a', 'us-east-1a'];
const IN_CLUSTER = 'eu-west-1b';
const WRONG_PASSWORD = `e2e-wrong-password-${id}`;

let databases: CellDatabases;
let controlPlane: pg.Pool;
let operator: OperatorProcess;
let manifests: Manifest[];
const cellNames = exampleCellManifests().map((m) => m.metadata.name);

const ready = (name: string, timeoutMs = 90_000) => waitForCell(name, isReady, 'to be Ready', timeoutMs);

describe('the Cell controller, from examples/cells/', () => {
  beforeAll(async () => {
    databases = await startCellDatabases(exampleManifests());
    await databases.query('CREATE DATABASE control_plane');
    const databaseUrl = `postgres://${databases.server.user}@${databases.host}:${databases.port}/control_plane`;
    controlPlane = new pg.Pool({ connectionString: databaseUrl, max: 2 });
    operator = await startOperator({
      name: OPERATOR_IDENTITY,
      databaseUrl,
      leaderElect: false,
      leaseNamespace: OPERATOR_NAMESPACE,
      args: [`--resync=${RESYNC_SECONDS}`],
    });
    await operator.waitReady(60_000);
    manifests = exampleManifests({ database: { host: databases.host, port: databases.port } });
    await waitNamespacesSettled(['cell-databases', ...cellNames.map((n) => `cell-${n}`)]);
    // Forced: someone may have applied the same examples by hand (or `npm run demo`) before.
    await kubectl(['apply', '--server-side', '--force-conflicts', '--field-manager=e2e-test', '-f', '-'], { input: manifests.map((m) => stringify(m)).join('---\n') });
  }, TIMEOUT_MS);

  afterAll(async () => {
    await controlPlane?.query('DELETE FROM placements').catch(() => undefined);
    await deleteCells([...cellNames, WRONG_PASSWORD]);
    await kubectl(['delete', 'namespace', 'cell-databases', '--wait=false', '--ignore-not-found'], { allowFailure: true });
    await stopAllOperators();
    await controlPlane?.end();
    await databases?.stop();
  }, TIMEOUT_MS);

  it('creates every child of the three cells, owned by their Cell and labelled with it', async () => {
    for (const name of cellNames) {
      const cell = await waitForCell(name, (c) => c.status?.observedGeneration === c.metadata.generation, 'to be reconciled');
      const namespace = `cell-${name}`;
      // What the builders ask for (the credentials only shape the Secrets' data, not their names; an
      // in-cluster database always has its TLS material, so its TLS Secret too).
      const inCluster = (cell as unknown as Cell).spec.database.external === undefined;
      const anyTls = { ca: 'any', caKey: 'any', cert: 'any', key: 'any' };
      const desired = desiredChildren(cell as unknown as Cell, {
        operatorNamespace: OPERATOR_NAMESPACE,
        kafkaBootstrap: undefined,
        databaseCredentials: { username: 'any', password: 'any', ...(inCluster ? { ca: 'any', serverTls: anyTls } : {}) },
        podMonitors: true,
      });
      const key = (o: { kind?: string; metadata?: { name?: string } }) => `${o.kind}/${o.metadata?.name}`;
      const live = await waitFor(
        async () => {
          const found = [...(await listObjects(namespace, NAMESPACED_KINDS, `${LABEL_CELL}=${name}`)), (await getObject('namespace', namespace))!];
          const missing = desired.map(key).filter((k) => !found.some((o) => key(o) === k));
          if (missing.length > 0) throw new Error(`missing ${missing.join(', ')}`);
          return found;
        },
        { timeoutMs: 60_000, description: `every child of Cell ${name}` },
      );
      expect(live.map(key).sort()).toEqual(desired.map(key).sort());
      for (const obj of live) {
        const what = key(obj);
        expect({ what, labels: obj.metadata.labels }).toMatchObject({ what, labels: { [LABEL_MANAGED_BY]: 'cell-operator', [LABEL_CELL]: name } });
        // deletionPolicy Retain: the namespace (and the volumes in it) outlives the Cell.
        const owners = obj.kind === 'Namespace' ? [] : [`Cell/${name}/${cell.metadata.uid}`];
        expect({ what, owners: (obj.metadata.ownerReferences ?? []).filter((r) => r.controller).map((r) => `${r.kind}/${r.name}/${r.uid}`) }).toEqual({ what, owners });
      }
    }
  }, TIMEOUT_MS);

  it('turns the cells on an external PostgreSQL Ready once kwok reports Kafka and the pods ready', async () => {
    for (const name of EXTERNAL) {
      const cell = await ready(name);
      expect(cell.status?.phase).toBe('Ready');
      expect(condition(cell, 'KafkaReady')).toMatchObject({ status: 'True', reason: 'KafkaReady' });
      expect(condition(cell, 'DatabaseReady')).toMatchObject({ status: 'True', reason: 'ConnectedWithoutCitus' });
      expect(condition(cell, 'WorkloadsReady')).toMatchObject({ status: 'True', reason: 'WorkloadsAvailable' });
      expect(condition(cell, 'Stalled')).toBeUndefined();
      const kafka = await kubectlJson<{ status: { listeners: { name: string; bootstrapServers: string }[] } }>(['get', 'kafka', name, '-n', `cell-${name}`]);
      expect(cell.status?.endpoints?.kafkaBootstrap).toBe(kafka.status.listeners.find((l) => l.name === 'plain')?.bootstrapServers);
      expect(cell.status?.endpoints?.database).toBe(`${databases.host}:${databases.port}`);
    }
    // Placement reads readiness from the control-plane database.
    await waitFor(
      async () => {
        // (Only ours: the operator mirrors every Cell of the cluster, whoever made it.)
        const { rows } = await controlPlane.query<{ name: string; region: string; ready: boolean }>(
          'SELECT name, region, ready FROM cells WHERE name = ANY($1) ORDER BY name',
          [cellNames],
        );
        return JSON.stringify(rows) === JSON.stringify([
          { name: 'eu-west-1a', region: 'eu-west-1', ready: true },
          { name: 'eu-west-1b', region: 'eu-west-1', ready: false },
          { name: 'us-east-1a', region: 'us-east-1', ready: true },
        ]) ? rows : undefined;
      },
      { timeoutMs: 30_000, description: 'the cells in the control-plane database' },
    );
  }, TIMEOUT_MS);

  it('says that the operator cannot reach the in-cluster database of eu-west-1b, and keeps trying', async () => {
    const cell = await waitForCell(
      IN_CLUSTER,
      (c) => condition(c, 'DatabaseReady')?.reason === 'Unreachable' && condition(c, 'WorkloadsReady')?.status === 'True' && condition(c, 'KafkaReady')?.status === 'True',
      'to report its database Unreachable, with Kafka and the workloads ready',
      90_000,
    );
    expect(condition(cell, 'DatabaseReady')).toMatchObject({ status: 'False', message: expect.stringContaining(`${IN_CLUSTER}-db.cell-${IN_CLUSTER}.svc:5432`) });
    expect(condition(cell, 'Ready')).toMatchObject({ status: 'False', reason: 'Unreachable' });
    // Waiting may help (the database may still be starting): Reconciling, not Stalled.
    expect(condition(cell, 'Reconciling')?.status).toBe('True');
    expect(condition(cell, 'Stalled')).toBeUndefined();
    expect(cell.status?.phase).toBe('Provisioning');
  }, TIMEOUT_MS);

  it('puts back a deleted Deployment and a deleted KafkaTopic', async () => {
    const name = 'eu-west-1a';
    const namespace = `cell-${name}`;
    await ready(name);
    const deployment = (await getObject('deployment', 'ingest', namespace))!;
    const topic = (await getObject('kafkatopic', 'commands', namespace))!;
    await kubectl(['delete', 'deployment', 'ingest', '-n', namespace, '--wait=false']);
    await kubectl(['delete', 'kafkatopic', 'commands', '-n', namespace, '--wait=false']);
    const back = await waitFor(
      async () => {
        const d = await getObject('deployment', 'ingest', namespace);
        const t = await getObject('kafkatopic', 'commands', namespace);
        return d && t && d.metadata.uid !== deployment.metadata.uid && t.metadata.uid !== topic.metadata.uid ? { d, t } : undefined;
      },
      { timeoutMs: 30_000, description: 'Deployment ingest and KafkaTopic commands to be created again' },
    );
    expect(back.t.spec).toEqual(topic.spec);
    await ready(name);
  }, TIMEOUT_MS);

  it('scales the broker KafkaNodePool with spec.kafka.brokers.replicas, and the cell is Ready again', async () => {
    const name = 'us-east-1a';
    await ready(name);
    const pool = () => kubectlJson<{ spec: { replicas: number }; status?: { replicas?: number } }>(['get', 'kafkanodepool', 'brokers', '-n', `cell-${name}`]);
    expect((await pool()).spec.replicas).toBe(3);
    await kubectl(['patch', 'cell', name, '--type=merge', '-p', '{"spec":{"kafka":{"brokers":{"replicas":4}}}}']);
    await waitFor(async () => (await pool()).spec.replicas === 4, { timeoutMs: 30_000, description: 'KafkaNodePool brokers to ask for 4 replicas' });
    const cell = await ready(name);
    expect(cell.metadata.generation).toBe(2);
    expect((await pool()).status?.replicas).toBe(4);
    const controllers = await kubectlJson<{ spec: { replicas: number } }>(['get', 'kafkanodepool', 'controllers', '-n', `cell-${name}`]);
    expect(controllers.spec.replicas).toBe(3);
  }, TIMEOUT_MS);

  it('refuses to move a cell to another region', async () => {
    const result = await kubectl(['patch', 'cell', 'eu-west-1a', '--type=merge', '-p', '{"spec":{"region":"us-east-1"}}'], { allowFailure: true });
    expect(result.code).not.toBe(0);
    expect(result.stderr).toMatch(/spec\.region: Invalid value: "us-east-1": spec\.region is immutable/);
    expect((await getCell('eu-west-1a'))?.spec.region).toBe('eu-west-1');
  });

  it('reports a wrong database password as AuthenticationFailed and Stalled, without disturbing the other cells', async () => {
    const password = `not-the-password-${id}`;
    const source = manifests.find((m): m is CellManifest => m.kind === 'Cell' && m.metadata.name === 'eu-west-1a')!;
    const secretRef = { name: WRONG_PASSWORD, namespace: 'cell-databases' };
    await apply([
      { apiVersion: 'v1', kind: 'Secret', metadata: { ...secretRef }, stringData: { username: 'cell_app', password } },
      {
        ...source,
        metadata: { name: WRONG_PASSWORD },
        spec: { ...source.spec, database: { ...source.spec.database, external: { ...source.spec.database.external!, secretRef } } },
      },
    ]);
    const cell = await waitForCell(WRONG_PASSWORD, (c) => condition(c, 'DatabaseReady')?.reason === 'AuthenticationFailed', 'to report AuthenticationFailed');
    expect(condition(cell, 'DatabaseReady')).toMatchObject({ status: 'False', message: expect.stringMatching(/authentication failed.*check the credentials in the Secret/) });
    expect(condition(cell, 'Stalled')).toMatchObject({ status: 'True', reason: 'AuthenticationFailed' });
    expect(condition(cell, 'Ready')?.status).toBe('False');
    // Nothing crashed, nothing leaked, the other cells are untouched.
    expect(operator.isRunning()).toBe(true);
    expect(JSON.stringify(cell.status)).not.toContain(password);
    expect(operator.output()).not.toContain(password);
    for (const name of EXTERNAL) expect(isReady(await getCell(name))).toBe(true);

    // Fixed in the Secret: the next reconcile (a resync at the latest) connects.
    const right = (manifests.find((m) => m.kind === 'Secret' && m.metadata.name === 'eu-west-1a-database') as Manifest & { stringData: Record<string, string> }).stringData;
    await apply({ apiVersion: 'v1', kind: 'Secret', metadata: { ...secretRef }, stringData: right });
    await waitForCell(WRONG_PASSWORD, (c) => condition(c, 'DatabaseReady')?.status === 'True', 'to connect once the password is right', 45_000);
  }, TIMEOUT_MS);

  (local ? it : it.skip)('writes nothing to the API server in a steady-state reconcile', async () => {
    await deleteCells([WRONG_PASSWORD], { namespaces: true });
    for (const name of EXTERNAL) await ready(name);
    // Let the last changes settle (status of the deleted cell, events), then watch a quiet window.
    await new Promise((r) => setTimeout(r, 3000));
    const reconcilesBefore = await metricSum(operator, 'cell_operator_reconcile_total', { controller: 'cell' });
    const mark = auditMark()!;
    await new Promise((r) => setTimeout(r, (RESYNC_SECONDS + 3) * 1000));
    const reconciles = (await metricSum(operator, 'cell_operator_reconcile_total', { controller: 'cell' })) - reconcilesBefore;
    // The operator's ServiceAccount (this file's operator is the only one running).
    const writes = auditEventsSince(mark).filter((e) => e.user.username === e2eEnv().operatorUser && WRITE_VERBS.has(e.verb));
    expect(reconciles).toBeGreaterThanOrEqual(cellNames.length);
    expect(writes.map(describeAudit)).toEqual([]);
  }, TIMEOUT_MS);

  it('keeps a Cell that still holds customers, and says how many and what to do', async () => {
    const name = 'eu-west-1a';
    await ready(name);
    const placed = await placeCustomer(controlPlane, { customerId: `acme-${id}`, region: 'eu-west-1', cell: name, expectedDevices: 1200 });
    expect(placed.status).toBe('Created');
    await waitForCell(name, (c) => c.status?.customers === 1, 'to count its customer', 45_000);

    await kubectl(['delete', 'cell', name, '--wait=false']);
    const blocked = await waitForCell(name, (c) => condition(c, 'Ready')?.reason === 'DeletionBlocked', 'to say that its deletion is blocked');
    expect(blocked.metadata.deletionTimestamp).toBeDefined();
    expect(blocked.status?.phase).toBe('Deleting');
    expect(condition(blocked, 'Ready')?.message).toMatch(/1 customer\(s\) are still placed in this cell\. Move them out with a Migration/);
    expect(condition(blocked, 'Stalled')).toMatchObject({ status: 'True', reason: 'DeletionBlocked' });
    // Everything still runs, and the status does not pretend otherwise.
    expect(condition(blocked, 'KafkaReady')).toMatchObject({ status: 'True' });
    expect(condition(blocked, 'DatabaseReady')).toMatchObject({ status: 'True' });
    expect(condition(blocked, 'WorkloadsReady')).toMatchObject({ status: 'True' });
    const events = await kubectlJson<{ items: { reason: string; type: string }[] }>([
      'get', 'events', '-n', 'default', '--field-selector', `involvedObject.kind=Cell,involvedObject.name=${name}`,
    ]);
    expect(events.items).toContainEqual(expect.objectContaining({ reason: 'DeletionBlocked', type: 'Warning' }));
    await new Promise((r) => setTimeout(r, 3000));
    expect((await getCell(name))?.metadata.deletionTimestamp).toBeDefined();
    expect(await getObject('kafka', name, `cell-${name}`)).toBeDefined();

    // Once the customer has moved out (here: removed from the table), the deletion completes.
    await controlPlane.query('DELETE FROM placements WHERE customer_id = $1', [`acme-${id}`]);
    // The blocked deletion is looked at again every 30 s; a change of the Cell is seen at once.
    await kubectl(['annotate', 'cell', name, `e2e.cells.platform.io/nudge=${Date.now()}`, '--overwrite']);
    await waitForCellGone(name, 45_000);
  }, TIMEOUT_MS);
});
