// The canary migration end to end: two Cells on real PostgreSQL servers, 20 customers placed with
// CustomerPlacements, a Migration [move 1, pause 5s, move 50%, pause {}, move 100%] run by the
// operator against the local control plane; every row arrives in the target exactly once.
import { metricSum } from './support/cells.js';
import { apply, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { migrationManifest, type MigrationObject, type MigrationWorld, rowsPerCustomer, sql, startMigrationWorld } from './support/migration-world.js';

const MIGRATION = 'canary-e2e';

describe('a canary migration', () => {
  let world: MigrationWorld;
  const seen: string[] = [];
  const record = (m: MigrationObject) => {
    const entry = `${m.status?.currentStep}:${m.status?.phase}`;
    if (seen[seen.length - 1] !== entry) seen.push(entry);
    return m;
  };

  beforeAll(async () => {
    world = await startMigrationWorld({ prefix: 'canary', region: 'eu-central-9', customers: 20, readingsPerCustomer: 40 });
  }, 240_000);

  afterAll(async () => {
    await world?.cleanup([MIGRATION]);
  }, 120_000);

  it('moves one canary, pauses 5 s, moves half and waits for a person at pause: {}', async () => {
    await apply(
      migrationManifest(world, MIGRATION, {
        customers: { all: true },
        order: 'SmallestFirst',
        steps: [{ move: 1 }, { pause: { duration: '5s' } }, { move: '50%' }, { pause: {} }, { move: '100%' }],
        maxConcurrent: 4,
        batchSize: 5, // the small customers of a step move in groups (src/data/move-batch.ts)
        retention: '3s', // the default drainWait
      }),
    );
    const atPause = await waitFor(
      async () => {
        const m = record(await world.migration(MIGRATION));
        return m.status?.currentStep === 3 && m.status.phase === 'Paused' ? m : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 250, description: 'the migration to wait at step 3 (pause: {})' },
    );
    expect(atPause.status?.progress).toBe('10/20');
    expect(atPause.status?.message).toContain('promotedStep');
    // The timed pause after the canary was visible on the way, before the pause for a person.
    expect(seen).toContain('1:Paused');
    expect(seen.indexOf('1:Paused')).toBeLessThan(seen.indexOf('3:Paused'));
    // Each step is announced with an Event on the Migration.
    const events = await kubectlJson<{ items: { reason?: string; regarding?: { name?: string } }[] }>(['get', 'events.events.k8s.io', '-A', '-o', 'json']);
    expect(events.items.filter((e) => e.regarding?.name === MIGRATION).map((e) => e.reason)).toContain('StepStarted');
    // It really waits: a few seconds later it is still at the pause with 10 moved.
    await new Promise((r) => setTimeout(r, 3000));
    expect((await world.migration(MIGRATION)).status).toMatchObject({ currentStep: 3, phase: 'Paused', progress: '10/20' });
  }, 200_000);

  it('moved the smallest customers first, each with every row exactly once', async () => {
    const placed = await sql<{ customer_id: string; cell: string }>(world.controlPlane, 'SELECT customer_id, cell FROM placements WHERE customer_id = ANY($1::text[])', [world.customers]);
    const moved = placed.filter((p) => p.cell === world.targetCell).map((p) => p.customer_id).sort();
    // SmallestFirst by expectedDevices: the first ten customers.
    expect(moved).toEqual(world.customers.slice(0, 10));
    const readings = await rowsPerCustomer(world.target, 'readings');
    const devices = await rowsPerCustomer(world.target, 'devices');
    for (const id of moved) {
      expect(readings.get(id)).toBe(40);
      expect(devices.get(id)).toBe(3);
    }
    for (const id of world.customers.slice(10)) expect(readings.get(id)).toBeUndefined();
  });

  it('goes on when promoted and succeeds; the source is cleaned up after the retention', async () => {
    await kubectl(['patch', 'migration', MIGRATION, '--type', 'merge', '-p', '{"spec":{"promotedStep":3}}']);
    const done = await waitFor(
      async () => {
        const m = record(await world.migration(MIGRATION));
        return m.status?.phase === 'Succeeded' ? m : undefined;
      },
      { timeoutMs: 180_000, intervalMs: 500, description: 'the migration to succeed' },
    );
    expect(done.status).toMatchObject({ progress: '20/20', customers: { moved: 20, total: 20 } });
    const readings = await rowsPerCustomer(world.target, 'readings');
    for (const id of world.customers) expect(readings.get(id)).toBe(40);
    // Cleanup after the 3 s retention: nothing of the moved customers is left in the source.
    await waitFor(async () => Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings'))[0]?.n) === 0, {
      timeoutMs: 60_000,
      description: 'the source rows to be cleaned up',
    });
    expect(Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM devices'))[0]?.n)).toBe(0);
    // The routing table agrees: every customer in the target, its epoch bumped.
    const placed = await sql<{ cell: string; epoch: string }>(world.controlPlane, 'SELECT cell, epoch FROM placements WHERE customer_id = ANY($1::text[])', [world.customers]);
    expect(placed.every((p) => p.cell === world.targetCell && Number(p.epoch) >= 2)).toBe(true);
    // The operator's /metrics tells the same story: the rows copied, each customer's fence.
    expect(await metricSum(world.operator, 'cell_operator_move_rows_copied_total')).toBeGreaterThanOrEqual(20 * 40);
    expect(await metricSum(world.operator, 'cell_operator_move_fence_seconds_count')).toBe(20);
    // Moved in groups, not one by one: the operator's batched actions covered several customers at once.
    const batched = [...world.operator.output().matchAll(/"members":(\d+),[^\n]*"msg":"batched action"|"msg":"batched action"[^\n]*"members":(\d+)/g)].map((m) => Number(m[1] ?? m[2]));
    expect(Math.max(0, ...batched)).toBeGreaterThan(1);
  }, 240_000);
});
