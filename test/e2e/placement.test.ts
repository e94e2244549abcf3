// Customers placed by manifest: CustomerPlacements applied with kubectl are placed by the operator
// in the control-plane database, their status shows the cell, and the router answers the same
// cell; a customer bound to a region never lands outside it, and a full cell is skipped.
import { startRouter, type RouterHandle } from '../../src/router/router.js';
import { startPostgres, type PostgresServer } from '../support/postgres.js';
import { apply, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { cellManifest, credentialSecrets, waitForReadyCells } from './support/migration-world.js';
import { startOperator, type OperatorProcess } from './support/operator.js';

const SECRETS = 'placement-e2e-secrets';
const EU = 'eu-west-9';
const US = 'us-east-9';
const CELLS = { euA: 'place-eu-a', euFull: 'place-eu-full', us: 'place-us-a' };
const BOUND = Array.from({ length: 8 }, (_, i) => `place-eu-${i}`);
const FILLER = 'place-filler';
const OVERFLOW = 'place-overflow';
const NOWHERE = 'place-nowhere';
const ALL = [...BOUND, FILLER, OVERFLOW, NOWHERE];

interface Placement {
  metadata: { name: string };
  status?: { cell?: string; state?: string; epoch?: number; message?: string; conditions?: { type: string; status: string; reason: string }[] };
}

const customerPlacement = (name: string, spec: object) => ({ apiVersion: 'cells.platform.io/v1alpha1', kind: 'CustomerPlacement', metadata: { name }, spec });
const get = (name: string) => kubectlJson<Placement>(['get', 'customerplacement', name, '-o', 'json']);

describe('customers placed by manifest', () => {
  let db: PostgresServer;
  let controlPlane: PostgresServer;
  let operator: OperatorProcess;
  let router: RouterHandle;

  beforeAll(async () => {
    [db, controlPlane] = await Promise.all([startPostgres(), startPostgres()]);
    const databases = await Promise.all(Object.values(CELLS).map(async (name) => new URL(await db.createDatabase(name.replace(/-/g, '_'))).pathname.slice(1)));
    operator = await startOperator({ name: 'placement', leaderElect: false, databaseUrl: controlPlane.url });
    await operator.waitReady();
    await apply(credentialSecrets(SECRETS, Object.values(CELLS)));
    await apply([
      cellManifest(CELLS.euA, EU, { host: db.host, port: db.port, database: databases[0] as string }, SECRETS, 100),
      cellManifest(CELLS.euFull, EU, { host: db.host, port: db.port, database: databases[1] as string }, SECRETS, 1),
      cellManifest(CELLS.us, US, { host: db.host, port: db.port, database: databases[2] as string }, SECRETS, 100),
    ]);
    await waitForReadyCells(Object.values(CELLS));
    router = await startRouter({ database: { url: controlPlane.url }, host: '127.0.0.1', port: 0, token: 'e2e-placement-token-0123456789' });
  }, 240_000);

  afterAll(async () => {
    await kubectl(['delete', 'customerplacements', ...ALL, '--ignore-not-found', '--wait=false']);
    await router?.close();
    await operator?.stop();
    for (const name of Object.values(CELLS)) {
      await kubectl(['patch', 'cell', name, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']).catch(() => undefined);
      await kubectl(['delete', 'cell', name, '--ignore-not-found', '--wait=false']);
    }
    await kubectl(['delete', 'namespace', SECRETS, '--ignore-not-found', '--wait=false']);
    await Promise.all([db?.stop(), controlPlane?.stop()]);
  }, 120_000);

  it('places a pinned customer in its cell and mirrors the routing table into status', async () => {
    await apply(customerPlacement(FILLER, { cell: CELLS.euFull, region: EU, expectedDevices: 5 }));
    const placed = await waitFor(async () => {
      const cp = await get(FILLER);
      return cp.status?.state === 'Active' ? cp : undefined;
    }, { timeoutMs: 60_000, description: 'the pinned customer to be placed' });
    expect(placed.status).toMatchObject({ cell: CELLS.euFull, epoch: 1 });
    expect(placed.status?.conditions?.find((c) => c.type === 'Placed')).toMatchObject({ status: 'True' });
  });

  it('keeps customers bound to a region in that region, skipping the full cell, and the router agrees', async () => {
    await apply(BOUND.map((name, i) => customerPlacement(name, { region: EU, expectedDevices: i })));
    const placements = await waitFor(async () => {
      const all = await Promise.all(BOUND.map(get));
      return all.every((cp) => cp.status?.state === 'Active') ? all : undefined;
    }, { timeoutMs: 60_000, description: 'the region-bound customers to be placed' });
    for (const cp of placements) {
      // eu-full holds one customer already (its capacity); the US cell is in another region.
      expect(cp.status?.cell).toBe(CELLS.euA);
      const route = await fetch(`${router.url}/v1/routes/${cp.metadata.name}`);
      expect(route.status).toBe(200);
      expect(await route.json()).toMatchObject({ customer: cp.metadata.name, cell: CELLS.euA, region: EU, state: 'Active' });
    }
  });

  it('says Unschedulable, naming why each cell was excluded, for a pin to a full cell', async () => {
    await apply(customerPlacement(OVERFLOW, { cell: CELLS.euFull }));
    const cp = await waitFor(async () => {
      const o = await get(OVERFLOW);
      return o.status?.state === 'Unschedulable' ? o : undefined;
    }, { timeoutMs: 60_000, description: 'the overflowing pin to be refused' });
    expect(cp.status?.message).toContain(CELLS.euFull);
    expect(cp.status?.message).toMatch(/full/i);
    expect((await fetch(`${router.url}/v1/routes/${OVERFLOW}`)).status).toBe(404);
  });

  it('says Unschedulable for a region without cells', async () => {
    await apply(customerPlacement(NOWHERE, { region: 'ap-south-9' }));
    const cp = await waitFor(async () => {
      const o = await get(NOWHERE);
      return o.status?.state === 'Unschedulable' ? o : undefined;
    }, { timeoutMs: 60_000, description: 'the customer of an empty region to be refused' });
    expect(cp.status?.conditions?.find((c) => c.type === 'Placed')).toMatchObject({ status: 'False', reason: 'Unschedulable' });
  });

  it('shows the customers in the Cell status', async () => {
    await waitFor(async () => (await kubectl(['get', 'cell', CELLS.euA, '-o', 'jsonpath={.status.customers}'])).stdout === String(BOUND.length), {
      timeoutMs: 90_000,
      description: `cell ${CELLS.euA} to count ${BOUND.length} customers`,
    });
  }, 120_000);
});
