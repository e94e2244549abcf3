// Zero loss under live writes with the operator killed (SIGKILL) again and again mid-migration:
// gateway-like writers ask the router for every write (waiting out its 503s) and insert readings
// and create and rename devices of the moving customers. Each kill waits until the journal shows a
// move in a state not yet hit, and the journal as the dead operator left it proves where it
// landed: over the run, kills land in Copying, Fenced and FinalSync. Every cut-over is checked
// before cleanup, the sweep moves nothing, and the target's keys are exactly the seeded rows and
// the acknowledged writes.
import { apply } from './support/kube.js';
import {
  expectEveryWriteOnceAfterCrashes,
  gatewayPools,
  type GatewayPools,
  GatewayWriter,
  killAtJournalStates,
  migrationManifest,
  type MigrationWorld,
  startMigrationWorld,
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

    await expectEveryWriteOnceAfterCrashes(world, MIGRATION, writers, watch);
  }, 600_000);
});
