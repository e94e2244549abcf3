// Degrade, don't die: an operator started while the control-plane database is down runs the Cell
// controller at once and reports the placement and migration controllers as waiting (a gauge and a
// log line) until the database answers; one started while the API server is unreachable keeps
// retrying and becomes ready when it is reachable.
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createServer, connect, type Server } from 'node:net';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { freePort } from './cluster/processes.js';
import { deleteCells, getObject, metricSum } from './support/cells.js';
import { apply, e2eEnv, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { startOperator, stopAllOperators } from './support/operator.js';

const id = randomBytes(3).toString('hex');
const CELL = `degraded-${id}`;
const CUSTOMER = `degraded-customer-${id}`;

let postgres: PostgresServer | undefined;
let proxy: Server | undefined;

afterAll(async () => {
  await stopAllOperators();
  proxy?.close();
  const cleaner = await startOperator({ name: `degraded-cleanup-${id}`, leaderElect: false });
  // Left behind, it would be placed by the next test's operator into any Ready cell of its region.
  await kubectl(['delete', 'customerplacement', CUSTOMER, '--ignore-not-found', '--wait=true'], { allowFailure: true });
  await deleteCells([CELL], { namespaces: true });
  await cleaner.stop();
  await postgres?.stop();
}, 180_000);

describe('an operator started with a dependency down', () => {
  it('runs the Cell controller without the database, says placement and migration wait, and places once it comes', async () => {
    postgres = await startPostgres();
    await postgres.halt('fast');
    const operator = await startOperator({ name: `degraded-db-${id}`, leaderElect: false, databaseUrl: postgres.url });
    await operator.waitReady();
    await operator.waitForOutput(/waiting for the control-plane database/);
    expect(await metricSum(operator, 'cell_operator_controller_waiting', { controller: 'migration' })).toBe(1);
    expect(await metricSum(operator, 'cell_operator_controller_waiting', { controller: 'customerplacement' })).toBe(1);

    await apply({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'Cell',
      metadata: { name: CELL },
      spec: {
        region: 'eu-west-1',
        capacity: { maxCustomers: 10 },
        kafka: { controllers: { replicas: 1, storage: { size: '1Gi' } }, brokers: { replicas: 1, storage: { size: '1Gi' } }, topics: [{ name: 'telemetry', partitions: 1, replicas: 1 }] },
      },
    });
    // The Cell controller works meanwhile: the cell's namespace and Kafka appear.
    await waitFor(async () => (await getObject('namespace', `cell-${CELL}`)) !== undefined, { timeoutMs: 60_000, description: `namespace cell-${CELL}` });
    await apply({ apiVersion: 'cells.platform.io/v1alpha1', kind: 'CustomerPlacement', metadata: { name: CUSTOMER }, spec: { region: 'eu-west-1' } });
    await new Promise((r) => setTimeout(r, 3000));
    const waiting = await kubectlJson<{ status?: { state?: string } }>(['get', 'customerplacement', CUSTOMER, '-o', 'json']);
    // Not judged without the database: no Unschedulable, no made-up state.
    expect(waiting.status?.state).toBeUndefined();
    expect(operator.isRunning()).toBe(true);

    await postgres.resume();
    await waitFor(async () => (await metricSum(operator, 'cell_operator_controller_waiting', { controller: 'migration' })) === 0, {
      timeoutMs: 60_000,
      description: 'the controllers to stop waiting',
    });
    await operator.waitForOutput(/control-plane database .* is available now|control-plane database ready/);
    // The placement controller works now; the cell is not Ready on kwok (no Strimzi status), so the
    // customer is judged (Unschedulable or placed) rather than left waiting.
    await waitFor(async () => (await kubectlJson<{ status?: { state?: string } }>(['get', 'customerplacement', CUSTOMER, '-o', 'json'])).status?.state, {
      timeoutMs: 60_000,
      description: `CustomerPlacement ${CUSTOMER} to be judged`,
    });
    await operator.stop();
  }, 240_000);

  it('keeps retrying while the API server is unreachable, and becomes ready when it is reachable', async () => {
    const env = e2eEnv();
    // The operator's kubeconfig, pointed at a port where nothing listens yet.
    const port = await freePort();
    const kubeconfig = parse(readFileSync(env.operatorKubeconfig, 'utf8')) as { clusters: { cluster: { server: string } }[] };
    const real = new URL(kubeconfig.clusters[0]!.cluster.server);
    kubeconfig.clusters[0]!.cluster.server = `https://127.0.0.1:${port}`;
    const file = path.join(env.artifactsDir, `degraded-${id}.kubeconfig`);
    writeFileSync(file, stringify(kubeconfig), { mode: 0o600 });

    const operator = await startOperator({ name: `degraded-api-${id}`, leaderElect: false, kubeconfig: file });
    await operator.waitForOutput(/waiting for the Kubernetes API server/, 60_000);
    await new Promise((r) => setTimeout(r, 3000));
    expect(operator.isRunning()).toBe(true);

    // The API server "comes back": a TCP relay to the real one opens on that port (TLS passes through).
    proxy = createServer((client) => {
      const upstream = connect(Number(real.port), real.hostname);
      client.pipe(upstream).pipe(client);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => proxy!.listen(port, '127.0.0.1', () => resolve()));
    await operator.waitForOutput(/the Kubernetes API server is available now/, 90_000);
    await operator.waitReady(90_000);
    await operator.stop();
  }, 240_000);
});
