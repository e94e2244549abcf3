// A drain (customers: {all: true}) end to end: the operator cordons the source cell in the
// control-plane database before it selects anyone, so customers placed during the drain (by
// CustomerPlacement or straight through the store) land in the other cell and a pin to the source
// is refused; the Cell shows the cordon; a second drain of the same cell is refused; aborting lifts
// the cordon at once; a drain that succeeds keeps it until its Migration is deleted.
import type pg from 'pg';
import { createPool } from '../../src/store/connection.js';
import { placeCustomers } from '../../src/store/placements.js';
import { apply, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { sql, startMigrationWorld, type MigrationObject, type MigrationWorld } from './support/migration-world.js';

const ABORTED = 'drain-e2e-aborted';
const DRAIN = 'drain-e2e';
const TWIN = 'drain-e2e-twin';
const REGION = 'eu-central-7';

interface CellObject {
  status?: { phase?: string; conditions?: { type: string; status: string; reason: string; message: string }[] };
}
interface PlacementObject {
  status?: { cell?: string; state?: string; message?: string };
}
interface MigrationWithConditions extends MigrationObject {
  status?: MigrationObject['status'] & { conditions?: { type: string; status: string; reason: string; message: string }[] };
}

const drain = (name: string, from: string, to: string, steps: object[], retention = '1s') => ({
  apiVersion: 'cells.platform.io/v1alpha1',
  kind: 'Migration',
  metadata: { name },
  spec: { from, to, customers: { all: true }, order: 'SmallestFirst', steps, maxConcurrent: 4, retention } // the default drainWait,
});
const customerPlacement = (name: string, spec: object) => ({ apiVersion: 'cells.platform.io/v1alpha1', kind: 'CustomerPlacement', metadata: { name }, spec });

describe('a drain cordons its source cell', () => {
  let world: MigrationWorld;
  let pool: pg.Pool;
  const created: string[] = [];

  const cell = (name: string) => kubectlJson<CellObject>(['get', 'cell', name, '-o', 'json']);
  const cordonedBy = async (name: string) => (await sql<{ cordoned_by: string | null }>(world.controlPlane, 'SELECT cordoned_by FROM cells WHERE name = $1', [name]))[0]?.cordoned_by ?? null;
  const cellOf = async (customers: string[]) =>
    new Map((await sql<{ customer_id: string; cell: string }>(world.controlPlane, 'SELECT customer_id, cell FROM placements WHERE customer_id = ANY($1::text[])', [customers])).map((r) => [r.customer_id, r.cell]));
  const migrationAt = (name: string, test: (m: MigrationWithConditions) => boolean, description: string) =>
    waitFor(
      async () => {
        const m = (await world.migration(name)) as MigrationWithConditions;
        return test(m) ? m : undefined;
      },
      { timeoutMs: 60_000, intervalMs: 250, description },
    );
  const cellShows = (name: string, phase: string, cordoned: string) =>
    waitFor(
      async () => {
        const c = await cell(name);
        const condition = c.status?.conditions?.find((x) => x.type === 'Cordoned');
        return c.status?.phase === phase && condition?.status === cordoned ? c : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: `cell ${name} in phase ${phase} with Cordoned=${cordoned}` },
    );

  /** Waits until every move of the Migration has ended (cleanup included), so that deleting it is quick. */
  const settled = (name: string) =>
    waitFor(
      async () => Number((await sql<{ n: string }>(world.controlPlane, "SELECT count(*) AS n FROM migration_journal WHERE migration = $1 AND state NOT IN ('Done', 'Failed', 'RolledBack')", [name]))[0]?.n) === 0,
      { timeoutMs: 30_000, intervalMs: 250, description: `the moves of ${name} to end` },
    );

  /** Places `n` new customers with CustomerPlacements and through the store; returns their cells. */
  async function placeNewCustomers(tag: string, n: number): Promise<string[]> {
    const byManifest = Array.from({ length: n }, (_, i) => `drain-new-${tag}-cp-${i}`);
    const byStore = Array.from({ length: n }, (_, i) => `drain-new-${tag}-db-${i}`);
    created.push(...byManifest);
    await apply(byManifest.map((id) => customerPlacement(id, { region: REGION })));
    const results = await placeCustomers(pool, byStore.map((customerId) => ({ customerId, region: REGION })));
    expect(results.map((r) => (r.status === 'Created' ? r.status : JSON.stringify(r)))).toEqual(Array(n).fill('Created'));
    await waitFor(async () => (await cellOf(byManifest)).size === n, { timeoutMs: 30_000, description: `${n} CustomerPlacements placed` });
    const cells = await cellOf([...byManifest, ...byStore]);
    expect(cells.size).toBe(2 * n);
    return [...cells.values()];
  }

  beforeAll(async () => {
    world = await startMigrationWorld({ prefix: 'drain', region: REGION, customers: 6, readingsPerCustomer: 20 });
    pool = createPool({ url: world.controlPlane.url, poolMax: 2 });
  }, 240_000);

  afterAll(async () => {
    await pool?.end();
    await kubectl(['delete', 'customerplacements', ...created, '--ignore-not-found', '--wait=false']);
    await world?.cleanup([ABORTED, DRAIN, TWIN]);
  }, 120_000);

  it('cordons the source while the drain runs, and lifts the cordon when the drain is aborted', async () => {
    // A retention long enough that the canary can still be moved back when the abort comes.
    await apply(drain(ABORTED, world.sourceCell, world.targetCell, [{ move: 1 }, { pause: {} }], '5m'));
    await migrationAt(ABORTED, (m) => m.status?.currentStep === 1 && m.status.phase === 'Paused', 'the drain to wait after its canary');
    expect(await cordonedBy(world.sourceCell)).toBe(ABORTED);
    const c = await cellShows(world.sourceCell, 'Draining', 'True');
    expect(c.status?.conditions?.find((x) => x.type === 'Cordoned')).toMatchObject({ reason: 'DrainingByMigration' });
    expect(c.status?.conditions?.find((x) => x.type === 'Cordoned')?.message).toContain(`cordoned by Migration ${ABORTED} (drain)`);

    // Nobody new lands in the source, by manifest or through the store.
    expect(new Set(await placeNewCustomers('a', 4))).toEqual(new Set([world.targetCell]));

    await kubectl(['patch', 'migration', ABORTED, '--type', 'merge', '-p', '{"spec":{"abort":true}}']);
    await waitFor(async () => (await cordonedBy(world.sourceCell)) === null, { timeoutMs: 30_000, description: 'the cordon to be lifted' });
    await cellShows(world.sourceCell, 'Ready', 'False');
    await migrationAt(ABORTED, (m) => m.status?.phase === 'Aborted', 'the drain to be aborted');
    // The canary went back: every original customer is in the source again.
    expect(new Set((await cellOf(world.customers)).values())).toEqual(new Set([world.sourceCell]));
    await settled(ABORTED);
    await kubectl(['delete', 'migration', ABORTED, '--wait=true', '--timeout=60s']);
  }, 120_000);

  it('refuses a pin to the cordoned source and a second drain of it, then moves every customer', async () => {
    await apply(drain(DRAIN, world.sourceCell, world.targetCell, [{ move: 1 }, { pause: {} }, { move: '100%' }]));
    await migrationAt(DRAIN, (m) => m.status?.currentStep === 1 && m.status.phase === 'Paused', 'the drain to wait after its canary');
    await cellShows(world.sourceCell, 'Draining', 'True');

    const pinned = 'drain-new-pinned';
    created.push(pinned);
    await apply(customerPlacement(pinned, { region: REGION, cell: world.sourceCell }));
    const refused = await waitFor(
      async () => {
        const p = await kubectlJson<PlacementObject>(['get', 'customerplacement', pinned, '-o', 'json']);
        return p.status?.state === 'Unschedulable' ? p : undefined;
      },
      { timeoutMs: 30_000, description: 'the pin to the cordoned cell to be refused' },
    );
    expect(refused.status?.message).toContain(`pinned cell ${world.sourceCell} is cordoned by Migration ${DRAIN} (drain)`);

    await apply(drain(TWIN, world.sourceCell, world.targetCell, [{ move: '100%' }]));
    const twin = await migrationAt(TWIN, (m) => m.status?.conditions?.some((x) => x.type === 'Valid' && x.status === 'False') ?? false, 'the second drain to be refused');
    expect(twin.status?.conditions?.find((x) => x.type === 'Valid')).toMatchObject({ reason: 'SourceAlreadyDraining' });
    expect(twin.status?.customers?.total ?? 0).toBe(0);
    // Deleting the refused twin leaves the first drain's cordon alone.
    await kubectl(['delete', 'migration', TWIN, '--wait=true', '--timeout=60s']);
    expect(await cordonedBy(world.sourceCell)).toBe(DRAIN);

    expect(new Set(await placeNewCustomers('b', 4))).toEqual(new Set([world.targetCell]));

    await kubectl(['patch', 'migration', DRAIN, '--type', 'merge', '-p', '{"spec":{"promotedStep":1}}']);
    const done = await migrationAt(DRAIN, (m) => m.status?.phase === 'Succeeded', 'the drain to succeed');
    // Exactly the customers that were there: nobody arrived during the drain.
    expect(done.status).toMatchObject({ progress: '6/6', customers: { total: 6, moved: 6, failed: 0 } });
    expect(Number((await sql<{ n: string }>(world.controlPlane, 'SELECT count(*) AS n FROM placements WHERE cell = $1', [world.sourceCell]))[0]?.n)).toBe(0);
    // Succeeded: the emptied cell stays cordoned while the Migration exists.
    expect(await cordonedBy(world.sourceCell)).toBe(DRAIN);
    await cellShows(world.sourceCell, 'Draining', 'True');
  }, 180_000);

  it('lifts the cordon when the Migration is deleted, and the refused pin is placed', async () => {
    await settled(DRAIN);
    await kubectl(['delete', 'migration', DRAIN, '--wait=true', '--timeout=60s']);
    expect(await cordonedBy(world.sourceCell)).toBeNull();
    await cellShows(world.sourceCell, 'Ready', 'False');
    const placed = await waitFor(
      async () => {
        const p = await kubectlJson<PlacementObject>(['get', 'customerplacement', 'drain-new-pinned', '-o', 'json']);
        return p.status?.state === 'Active' ? p : undefined;
      },
      { timeoutMs: 40_000, description: 'the pinned customer to be placed once the cordon is lifted' },
    );
    expect(placed.status?.cell).toBe(world.sourceCell);
  }, 120_000);
});
