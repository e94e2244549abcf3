// Zero loss under live writes with the operator killed (SIGKILL) again and again mid-migration:
// gateway-like writers ask the router for every write (waiting out its 503s) and insert readings
// and create and rename devices of the moving customers. Each kill waits until the journal shows a
// move in a state not yet hit, and the journal as the dead operator left it proves where it
// landed: over the run, kills land in Copying, Fenced and FinalSync. Every cut-over is checked
// before cleanup, the sweep moves nothing, and the target's keys are exactly the seeded rows and
// the acknowledged writes.
import { apply, waitFor } from './support/kube.js';
import {
  gatewayPools,
  type GatewayPools,
  GatewayWriter,
  keySetProblems,
  killAtJournalStates,
  untilEveryWriterWroteTo,
  migrationManifest,
  type MigrationWorld,
  sql,
  startMigrationWorld,
  sweptRows,
  watchCutOvers,
} from './support/migration-world.js';

const MIGRATION = 'crash-e2e';
const WANTED = ['Copying', 'Fenced', 'FinalSync'];

describe('a migration under live writes while the operator is killed', () => {
  let world: MigrationWorld;
  let pools: GatewayPools;

  beforeAll(async () => {
    // Big enough that a move spends a while in each state: readings to copy, and devices (Mutable)
    // that the final sync copies again in full under the fence.
    world = await startMigrationWorld({ prefix: 'crash', region: 'eu-central-8', customers: 8, readingsPerCustomer: 20_000, devicesPerCustomer: 20_000 });
    pools = gatewayPools(world);
  }, 240_000);

  afterAll(async () => {
    await pools?.end();
    await world?.cleanup([MIGRATION]);
  }, 120_000);

  it('keeps every acknowledged write exactly once through SIGKILLs that land in Copying, Fenced and FinalSync', async () => {
    const writers = world.customers.map((c) => new GatewayWriter(pools, c));
    const watch = watchCutOvers(world, MIGRATION, writers);
    await apply(
      migrationManifest(world, MIGRATION, {
        customers: { all: true },
        steps: [{ move: '100%' }],
        maxConcurrent: 3,
        retention: '3s', // the default drainWait
      }),
    );

    const { killedIn, atDeath } = await killAtJournalStates(world, MIGRATION, WANTED);
    expect({ killedIn, atDeath }).toEqual({ killedIn: [...WANTED].sort(), atDeath });

    await waitFor(async () => ((await world.migration(MIGRATION)).status?.phase === 'Succeeded' ? true : undefined), {
      timeoutMs: 240_000,
      intervalMs: 500,
      description: 'the migration to succeed after the crashes',
    });
    // Writers go on a little in the target cell, then stop; cleanup after the retention empties the source.
    await untilEveryWriterWroteTo(writers, world.targetCell); // writes go on in the target
    await Promise.all(writers.map((w) => w.stop()));
    await waitFor(async () => Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings'))[0]?.n) === 0, {
      timeoutMs: 90_000,
      description: 'the source to be cleaned up',
    });
    const cutOvers = await watch.stop();

    // At every cut-over, before cleanup, the target alone held every acknowledged write...
    expect(cutOvers.missed).toEqual([]);
    expect([...cutOvers.checked.values()].flat()).toEqual([]);
    expect(cutOvers.checked.size).toBe(world.customers.length);
    // ...so cleanup had nothing late to move.
    expect(await sweptRows(world, MIGRATION)).toBe(0);
    for (const w of writers) {
      expect({ customer: w.customer, errors: w.errors, anomalies: w.anomalies, routeFailures: w.routeFailures }).toEqual({ customer: w.customer, errors: [], anomalies: [], routeFailures: 0 });
      // Acknowledged by the source before the move and by the target after it.
      expect([w.acknowledgedIn.has(world.sourceCell), w.acknowledgedIn.has(world.targetCell)]).toEqual([true, true]);
      expect({ customer: w.customer, problems: await keySetProblems(world.target, world, w) }).toEqual({ customer: w.customer, problems: [] });
    }
  }, 600_000);
});
