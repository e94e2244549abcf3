// Abort after the cut-over, through the Migration resource: two customers are moved and then
// written to in the target cell while the migration waits at a pause; `spec.abort: true` (what
// `kubectl cells migration abort` patches) brings them back to the source with every row, those
// written to the target in between included, while gateway-like writers (asking the router for
// every write) go on inserting readings and creating and renaming devices. The forward cut-overs
// are checked before cleanup, the sweeps move nothing, and the source's keys end up exactly the
// seeded rows and the acknowledged writes.
import { apply, kubectl, kubectlJson, waitFor } from './support/kube.js';
import {
  endMigrationTest,
  gatewayPools,
  type GatewayPools,
  GatewayWriter,
  keySetProblems,
  migrationManifest,
  type MigrationWorld,
  sql,
  startMigrationWorld,
  sweptRows,
  watchCutOvers,
} from './support/migration-world.js';

const MIGRATION = 'abort-e2e';
const BASE_ROWS = 200;

describe('aborting a migration after the cut-over', () => {
  let world: MigrationWorld;
  let pools: GatewayPools;
  let writers: GatewayWriter[] = [];
  let selected: string[];
  let watch: ReturnType<typeof watchCutOvers> | undefined;

  beforeAll(async () => {
    world = await startMigrationWorld({ prefix: 'abort', region: 'eu-central-7', customers: 6, readingsPerCustomer: BASE_ROWS });
    pools = gatewayPools(world);
    selected = world.customers.slice(0, 4);
  }, 240_000);

  afterAll(() => endMigrationTest({ stopWriters: () => Promise.all(writers.map((w) => w.stop())), watch, pools, world }, [MIGRATION]), 120_000);

  it('moves two customers, which then take writes in the target cell', async () => {
    writers = selected.map((c) => new GatewayWriter(pools, c));
    watch = watchCutOvers(world, MIGRATION, writers);
    await apply(
      migrationManifest(world, MIGRATION, {
        customers: { names: selected },
        order: 'Listed',
        steps: [{ move: 2 }, { pause: {} }, { move: '100%' }],
        maxConcurrent: 2,
        retention: '1h', // the default drainWait
      }),
    );
    const paused = await waitFor(
      async () => {
        const m = await world.migration(MIGRATION);
        return m.status?.phase === 'Paused' && m.status.currentStep === 1 ? m : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, description: 'the migration to wait at step 1 (pause: {})' },
    );
    expect(paused.status?.progress).toBe('2/4');
    const routes = await sql<{ customer_id: string; cell: string }>(world.controlPlane, 'SELECT customer_id, cell FROM placements WHERE customer_id = ANY($1::text[]) ORDER BY customer_id', [selected]);
    expect(routes.map((r) => r.cell)).toEqual([world.targetCell, world.targetCell, world.sourceCell, world.sourceCell]);
    // Rows that exist only in the target: written after the cut-over, within the retention.
    await waitFor(() => writers.slice(0, 2).every((w) => (w.acknowledgedIn.get(world.targetCell)?.length ?? 0) >= 10), {
      timeoutMs: 30_000,
      description: 'the moved customers to take writes in the target cell',
    });
  }, 200_000);

  it('moves them back on spec.abort: true, with every row, and ends Aborted', async () => {
    await kubectl(['patch', 'migration', MIGRATION, '--type', 'merge', '-p', '{"spec":{"abort":true}}']);
    const aborted = await waitFor(
      async () => {
        const m = await world.migration(MIGRATION);
        return m.status?.phase === 'Aborted' ? m : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, description: 'the migration to be Aborted' },
    );
    expect(aborted.status?.customers).toMatchObject({ total: 4, movedBack: 2 });
    expect(aborted.status?.message).toMatch(/^Aborted: 2 customer\(s\) moved back/);
    // The writers go on a little in the source, then stop.
    await new Promise((r) => setTimeout(r, 1000));
    await Promise.all(writers.map((w) => w.stop()));

    // The routing table: the moved two came back (epoch 1 -> 2 -> 3), the others never left.
    const routes = await sql<{ customer_id: string; cell: string; state: string; epoch: string }>(
      world.controlPlane,
      'SELECT customer_id, cell, state, epoch FROM placements WHERE customer_id = ANY($1::text[]) ORDER BY customer_id',
      [selected],
    );
    expect(routes.map((r) => [r.cell, r.state, Number(r.epoch)])).toEqual([
      [world.sourceCell, 'Active', 3],
      [world.sourceCell, 'Active', 3],
      [world.sourceCell, 'Active', 1],
      [world.sourceCell, 'Active', 1],
    ]);
    for (const w of writers) {
      const live = await sql<{ id: string }>(world.source, 'SELECT id FROM readings WHERE customer_id = $1 AND id >= 1000000 ORDER BY id', [w.customer]);
      // Every acknowledged write exactly once in the source, those that went to the target included.
      expect({ customer: w.customer, ids: live.map((r) => Number(r.id)) }).toEqual({ customer: w.customer, ids: [...w.acknowledged].sort((a, b) => a - b) });
      const base = await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings WHERE customer_id = $1 AND id < 1000000', [w.customer]);
      expect(Number(base[0]?.n)).toBe(BASE_ROWS);
    }
    // Nothing of theirs is left in the target.
    const left = await sql<{ n: string }>(world.target, 'SELECT count(*) AS n FROM readings WHERE customer_id = ANY($1::text[])', [selected]);
    expect(Number(left[0]?.n)).toBe(0);
    expect(writers.slice(0, 2).every((w) => (w.acknowledgedIn.get(world.targetCell)?.length ?? 0) >= 10)).toBe(true);
    // At the forward cut-overs, before cleanup, the target alone held every acknowledged write.
    const cutOvers = await watch!.stop();
    const forward = [...cutOvers.checked].filter(([id]) => selected.slice(0, 2).some((c) => id.startsWith(`${c}@`)));
    expect(forward.length).toBeGreaterThanOrEqual(2);
    expect(forward.flatMap(([, problems]) => problems)).toEqual([]);
    // Nothing was late: neither the sweep before going back nor the one after moved a row.
    expect(await sweptRows(world, MIGRATION)).toBe(0);
    for (const w of writers) {
      expect({ customer: w.customer, errors: w.errors, anomalies: w.anomalies }).toEqual({ customer: w.customer, errors: [], anomalies: [] });
      expect({ customer: w.customer, problems: await keySetProblems(world.source, world, w) }).toEqual({ customer: w.customer, problems: [] });
    }
  }, 200_000);

  it('tells it with an Event, and refuses to take the abort back', async () => {
    const events = await kubectlJson<{ items: { reason?: string; regarding?: { name?: string; kind?: string } }[] }>(['get', 'events.events.k8s.io', '-A']);
    expect(events.items.filter((e) => e.regarding?.kind === 'Migration' && e.regarding.name === MIGRATION).map((e) => e.reason)).toContain('MigrationAborted');
    const undo = await kubectl(['patch', 'migration', MIGRATION, '--type', 'merge', '-p', '{"spec":{"abort":false}}'], { allowFailure: true });
    expect(undo.code).not.toBe(0);
    expect(undo.stderr).toMatch(/spec\.abort.*cannot be set back to false/);
  });
});
