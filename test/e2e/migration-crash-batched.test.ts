// Group moves (src/data/move-batch.ts) through the operator process, SIGKILLed while a batch is
// catching up, under its fence and in its final sync: a drain of 100 small customers, one executor
// (maxConcurrent 1) moving up to 20 of them at once (spec.batchSize 20, what kubectl cells drain
// asks for), gateway-like writers on every tenth customer asking the router for every
// write (waiting out its 503s) and inserting readings and creating and renaming devices. A kill
// counts only when several moves entered the aimed state at one instant: a batch, not a move alone.
// After each kill the batch's members go on alone (they are no longer Pending) and the next
// customers move in a new batch. Every cut-over is checked before cleanup, the sweep moves nothing,
// and each customer's rows in the target are exactly the seeded rows and the acknowledged writes.
import { DRAIN_MOVE_BATCH } from '../../src/crds/migration.js';
import { apply } from './support/kube.js';
import {
  expectEveryWriteOnceAfterCrashes,
  gatewayPools,
  type GatewayPools,
  GatewayWriter,
  keySetProblems,
  killAtJournalStates,
  migrationManifest,
  type MigrationWorld,
  sql,
  startMigrationWorld,
  watchCutOvers,
} from './support/migration-world.js';

const MIGRATION = 'crash-batched-e2e';
const WANTED = ['CatchingUp', 'Fenced', 'FinalSync'];

describe('a drain of small customers in batches while the operator is killed', () => {
  let world: MigrationWorld;
  let pools: GatewayPools;

  beforeAll(async () => {
    // Small customers (200 readings, 10 devices: within the 10,000 rows a batch takes), five batches'
    // worth: a kill sends a batch's members on alone, so each kill needs a batch of its own.
    world = await startMigrationWorld({ prefix: 'crashb', region: 'eu-batch-1', customers: 5 * DRAIN_MOVE_BATCH, readingsPerCustomer: 200, devicesPerCustomer: 10 });
    pools = gatewayPools(world);
  }, 240_000);

  afterAll(async () => {
    await pools?.end();
    await world?.cleanup([MIGRATION]);
  }, 120_000);

  it('keeps every acknowledged write exactly once through SIGKILLs that land in a batch catching up, fenced and in its final sync', async () => {
    const writers = world.customers.filter((_, i) => i % 10 === 0).map((c) => new GatewayWriter(pools, c));
    const watch = watchCutOvers(world, MIGRATION, writers);
    await apply(
      migrationManifest(world, MIGRATION, {
        customers: { all: true },
        steps: [{ move: '100%' }],
        maxConcurrent: 1, // one executor: the customers move DRAIN_MOVE_BATCH at a time
        batchSize: DRAIN_MOVE_BATCH,
        drainWait: '1s', // the members a kill sends on alone each wait it, one after another
        retention: '3s',
      }),
    );

    const { killedIn, atDeath } = await killAtJournalStates(world, MIGRATION, WANTED, { batched: true });
    process.stdout.write(`[migration-crash-batched] the journal's states at each kill: ${JSON.stringify(atDeath)}\n`);
    expect({ killedIn, atDeath }).toEqual({ killedIn: [...WANTED].sort(), atDeath });

    await expectEveryWriteOnceAfterCrashes(world, MIGRATION, writers, watch, 300_000);
    // The customers nobody wrote to: the target holds exactly their seeded rows.
    const written = new Set(writers.map((w) => w.customer));
    const unwritten = (customer: string) => ({ customer, acknowledged: [], devices: new Map(), deleted: new Set() }) as unknown as GatewayWriter;
    for (const c of world.customers.filter((x) => !written.has(x))) {
      expect({ customer: c, problems: await keySetProblems(world.target, world, unwritten(c)) }).toEqual({ customer: c, problems: [] });
    }
    // Batches also ran to their end between the kills: moves fenced together at one instant, all Done.
    const together = await sql<{ n: number }>(
      world.controlPlane,
      `SELECT coalesce(max(n), 0)::int AS n FROM (SELECT count(*) AS n FROM migration_journal WHERE migration = $1 AND state = 'Done' GROUP BY fenced_at) g`,
      [MIGRATION],
    );
    expect(together[0]?.n).toBeGreaterThan(1);
  }, 600_000);
});
