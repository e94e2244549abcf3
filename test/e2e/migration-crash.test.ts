// Zero loss under live writes with the operator killed (SIGKILL) again and again mid-migration:
// writers insert rows for the moving customers, each routed by the routing table and retried while
// the customer is fenced, as a gateway would on the router's 503; after the migration every
// acknowledged row is in the target exactly once and none is left in the source.
import { apply, waitFor } from './support/kube.js';
import { gatewayPools, type GatewayPools, GatewayWriter, migrationManifest, type MigrationWorld, sql, startMigrationWorld } from './support/migration-world.js';

const MIGRATION = 'crash-e2e';

describe('a migration under live writes while the operator is killed', () => {
  let world: MigrationWorld;
  let pools: GatewayPools;

  beforeAll(async () => {
    world = await startMigrationWorld({ prefix: 'crash', region: 'eu-central-8', customers: 8, readingsPerCustomer: 500 });
    pools = gatewayPools(world);
  }, 240_000);

  afterAll(async () => {
    await pools?.end();
    await world?.cleanup([MIGRATION]);
  }, 120_000);

  it('keeps every acknowledged row exactly once through repeated SIGKILLs of the operator', async () => {
    const writers = world.customers.map((c) => new GatewayWriter(pools, c));
    await apply(
      migrationManifest(world, MIGRATION, {
        customers: { all: true },
        steps: [{ move: '100%' }],
        maxConcurrent: 3,
        drainWait: '300ms',
        retention: '2s',
      }),
    );

    // Kill the operator every couple of seconds while the migration runs, and start a new one.
    let kills = 0;
    for (let i = 0; i < 6; i++) {
      await new Promise((r) => setTimeout(r, 1500 + i * 400));
      if ((await world.migration(MIGRATION)).status?.phase === 'Succeeded') break;
      await world.operator.stop('SIGKILL');
      kills++;
      await world.restartOperator();
    }
    expect(kills).toBeGreaterThanOrEqual(2);

    const done = await waitFor(async () => ((await world.migration(MIGRATION)).status?.phase === 'Succeeded' ? true : undefined), {
      timeoutMs: 240_000,
      intervalMs: 500,
      description: 'the migration to succeed after the crashes',
    });
    expect(done).toBe(true);
    // Writers go on a little in the target cell, then stop.
    await new Promise((r) => setTimeout(r, 1000));
    await Promise.all(writers.map((w) => w.stop()));

    // Cleanup after the retention empties the source, late rows swept to the target first.
    await waitFor(async () => Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings'))[0]?.n) === 0, {
      timeoutMs: 90_000,
      description: 'the source to be cleaned up',
    });
    for (const w of writers) {
      const rows = await sql<{ id: string }>(world.target, 'SELECT id FROM readings WHERE customer_id = $1 AND id >= 1000000', [w.customer]);
      const inTarget = rows.map((r) => Number(r.id)).sort((a, b) => a - b);
      // Exactly the acknowledged live writes (the primary key rules out duplicates)...
      expect(inTarget).toEqual([...w.acknowledged].sort((a, b) => a - b));
      // ...and every row that was there before the migration.
      const base = await sql<{ n: string }>(world.target, 'SELECT count(*) AS n FROM readings WHERE customer_id = $1 AND id < 1000000', [w.customer]);
      expect(Number(base[0]?.n)).toBe(500);
    }
    expect(writers.reduce((n, w) => n + w.acknowledged.length, 0)).toBeGreaterThan(50);
  }, 420_000);
});
