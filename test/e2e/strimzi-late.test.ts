// Strimzi installed after the operator: the operator starts without kafka.strimzi.io/v1, Cells say
// StrimziNotInstalled, and once the CRDs are installed the operator exits cleanly (a Deployment
// starts it again) and the next one makes the Cell Ready. Local cluster only:
// it removes Strimzi's CRDs (and so every Kafka object) for a moment.
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { installStrimziCrds, STRIMZI_CRDS_FIXTURE } from './cluster/crds.js';
import { projectRoot } from './cluster/paths.js';
import { deleteCells, isReady, waitForCell } from './support/cells.js';
import { apply, kubectl } from './support/kube.js';
import { startOperator, stopAllOperators } from './support/operator.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';

const local = process.env.E2E_CLUSTER === 'local' && process.env.E2E_STRIMZI === 'kwok';
const id = randomBytes(3).toString('hex');
const CELL = `late-strimzi-${id}`;
const SECRETS = `late-strimzi-${id}`;

(local ? describe : describe.skip)('Strimzi installed after the operator started', () => {
  let postgres: PostgresServer;

  beforeAll(async () => {
    postgres = await startPostgres();
    await apply([
      { apiVersion: 'v1', kind: 'Namespace', metadata: { name: SECRETS } },
      { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'db', namespace: SECRETS }, stringData: { username: postgres.user, password: 'unused-with-trust-auth' } },
    ]);
  }, 60_000);

  afterAll(async () => {
    // Whatever happened, the next test files find Strimzi's CRDs installed.
    await installStrimziCrds((args, options) => kubectl(args, options), projectRoot(), () => undefined, { always: true });
    const survivor = await startOperator({ name: `late-cleanup-${id}`, leaderElect: false });
    await deleteCells([CELL], { namespaces: true });
    await survivor.stop();
    await stopAllOperators();
    await kubectl(['delete', 'namespace', SECRETS, '--ignore-not-found', '--wait=false']);
    await postgres?.stop();
  }, 180_000);

  it('says StrimziNotInstalled, exits once the CRDs are there, and the next operator makes the Cell Ready', async () => {
    await kubectl(['delete', '-f', path.join(projectRoot(), STRIMZI_CRDS_FIXTURE), '--ignore-not-found', '--wait=true'], { timeoutMs: 120_000 });
    const first = await startOperator({ name: `late-a-${id}`, leaderElect: false });
    await first.waitReady();
    await first.waitForOutput(/kafka\.strimzi\.io\/v1 API is not served/);
    await apply({
      apiVersion: 'cells.platform.io/v1alpha1',
      kind: 'Cell',
      metadata: { name: CELL },
      spec: {
        region: 'eu-west-1',
        capacity: { maxCustomers: 10 },
        kafka: {
          controllers: { replicas: 1, storage: { size: '1Gi' } },
          brokers: { replicas: 1, storage: { size: '1Gi' } },
          topics: [{ name: 'telemetry', partitions: 1, replicas: 1 }],
        },
        database: { external: { host: postgres.host, port: postgres.port, database: 'postgres', sslMode: 'disable', secretRef: { name: 'db', namespace: SECRETS } } },
      },
    });
    const stuck = await waitForCell(CELL, (c) => JSON.stringify(c.status?.conditions ?? []).includes('StrimziNotInstalled'), 'to say Strimzi is not installed', 60_000);
    expect(JSON.stringify(stuck.status?.conditions)).toContain('the operator exits, for its Deployment to start it again');

    await installStrimziCrds((args, options) => kubectl(args, options), projectRoot(), () => undefined, { always: true });
    const exit = await Promise.race([first.exited, new Promise((r) => setTimeout(() => r('still running'), 60_000))]);
    expect(exit).toEqual({ code: 0, signal: null });
    expect(first.output()).toMatch(/API is served now: exiting/);

    const second = await startOperator({ name: `late-b-${id}`, leaderElect: false });
    await second.waitReady();
    await waitForCell(CELL, isReady, 'to be Ready once Strimzi is there', 90_000);
  }, 300_000);
});
