// What a careless operator does to a running Migration: deletes it while a customer is fenced and,
// tired of waiting, removes its finalizer by hand; then applies a new Migration of the same name
// for other customers. No customer may stay fenced (the router answering 503 for good), and the new
// Migration must move its own customers, not inherit the old one's selection and journal. And a
// Migration into a cell that Git cordoned (spec.state) waits, saying why, until it is Active again.
// A retry whose failedBefore is a year ahead (a typo in Git) is refused, not run over and over. A
// CustomerPlacement relabelled for a Migration's selector says that the routing table kept its labels.
// Two Migrations that select the same customer: the second says it waits for the first; a shorter
// retention on the first brings its waiting cleanup forward, and the second then finds the customer
// gone from its source and holds for a person.
// Last, the longest list of names the schema takes, as kubectl apply sends it.
import { apply, kubectl, kubectlJson, waitFor } from './support/kube.js';
import { migrationManifest, sql, startMigrationWorld, type MigrationWorld } from './support/migration-world.js';

const MIGRATION = 'careless-e2e';
const INTO_CORDONED = 'careless-into-cordoned';
const RETRIED = 'careless-retried';
const SNATCHER = 'careless-snatcher';
const FIRST = 'careless-first';
const SECOND = 'careless-second';
const REGION = 'eu-central-5';

describe('a Migration whose finalizer a person removes by hand', () => {
  let world: MigrationWorld;

  const placement = async (customer: string) =>
    (await sql<{ cell: string; state: string }>(world.controlPlane, 'SELECT cell, state FROM placements WHERE customer_id = $1', [customer]))[0];

  beforeAll(async () => {
    world = await startMigrationWorld({ prefix: 'careless', region: REGION, customers: 6, readingsPerCustomer: 20 });
  }, 240_000);

  afterAll(async () => {
    await world?.cleanup([MIGRATION, INTO_CORDONED, RETRIED, SNATCHER, FIRST, SECOND]);
  }, 120_000);

  it('rolls a fenced customer back at once when its Migration is deleted mid-move', async () => {
    const [first] = world.customers as [string];
    // A long drain wait keeps the customer fenced for a while: the moment a person deletes.
    await apply(migrationManifest(world, MIGRATION, { customers: { names: [first] }, steps: [{ move: 1 }], drainWait: '20s', maxFence: '45s', retention: '1s' }));
    await waitFor(async () => (await placement(first))?.state === 'Fenced', { timeoutMs: 90_000, intervalMs: 200, description: `${first} fenced by the move` });
    await kubectl(['delete', 'migration', MIGRATION, '--wait=true', '--timeout=30s']);
    expect(await placement(first)).toEqual({ cell: world.sourceCell, state: 'Active' });
  }, 150_000);

  it('moves its own customers when a Migration of the same name is applied after the finalizer of the first was removed by hand', async () => {
    const [, second, third] = world.customers as [string, string, string];
    // Moved, then kept in the source for the retention: deletion waits for that cleanup.
    await apply(migrationManifest(world, MIGRATION, { customers: { names: [second] }, steps: [{ move: 1 }], retention: '40s' }));
    await waitFor(async () => ((await world.migration(MIGRATION)).status?.phase === 'Succeeded' ? true : undefined), { timeoutMs: 90_000, intervalMs: 250, description: 'the first Migration to succeed' });
    await kubectl(['delete', 'migration', MIGRATION, '--wait=false']);
    const waiting = await waitFor(
      async () => {
        const m = await world.migration(MIGRATION);
        return m.status?.message?.startsWith('Deletion waits') ? m : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: 'the deletion to wait for the cleanup' },
    );
    expect(waiting.status?.message).toContain('until');
    // Tired of waiting, a person removes the finalizer; then applies the manifest again for another customer.
    await kubectl(['patch', 'migration', MIGRATION, '--type', 'merge', '-p', '{"metadata":{"finalizers":null}}']);
    await waitFor(async () => (await kubectl(['get', 'migration', MIGRATION, '--ignore-not-found', '-o', 'name'])).stdout.trim() === '', { timeoutMs: 30_000, description: 'the Migration gone' });
    await apply(migrationManifest(world, MIGRATION, { customers: { names: [third] }, steps: [{ move: 1 }], retention: '1s' }));
    // While the first one's cleanup is open, the new one says it waits for it, and why.
    const gated = await waitFor(
      async () => {
        const m = await world.migration(MIGRATION);
        return m.status?.message?.includes('deleted before') ? m : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, description: 'the new Migration to say it waits for the moves the first one left' },
    );
    expect(gated.status?.phase).toBe('Pending');
    expect(gated.status?.message).toContain('give it another name');

    const done = await waitFor(
      async () => {
        const m = await world.migration(MIGRATION);
        return m.status?.phase === 'Succeeded' || m.status?.phase === 'Failed' ? m : undefined;
      },
      { timeoutMs: 120_000, intervalMs: 250, description: 'the new Migration to finish' },
    );
    expect(done.status).toMatchObject({ phase: 'Succeeded', progress: '1/1', customers: { total: 1, moved: 1, failed: 0 } });
    expect(await placement(third)).toEqual({ cell: world.targetCell, state: 'Active' });
    expect((await placement(second))?.cell).toBe(world.targetCell);
    // The first Migration's cleanup still ran: its customer's rows left the source.
    await waitFor(async () => Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings WHERE customer_id = $1', [second]))[0]?.n) === 0, {
      timeoutMs: 90_000,
      description: `the source cleaned of ${second}`,
    });
  }, 300_000);

  it('moves nobody into a cell whose spec.state is Cordoned, says so, and goes on once it is Active', async () => {
    const fourth = world.customers[3] as string;
    const setState = (state: string) => kubectl(['patch', 'cell', world.targetCell, '--type', 'merge', '-p', JSON.stringify({ spec: { state } })]);
    const stateInTable = async () => (await sql<{ state: string }>(world.controlPlane, 'SELECT state FROM cells WHERE name = $1', [world.targetCell]))[0]?.state;
    await setState('Cordoned');
    try {
      await waitFor(async () => (await stateInTable()) === 'Cordoned', { timeoutMs: 30_000, description: 'the target cordoned in the control-plane database' });
      await apply(migrationManifest(world, INTO_CORDONED, { customers: { names: [fourth] }, steps: [{ move: 1 }], retention: '1s' }));
      const held = await waitFor(
        async () => {
          const m = (await world.migration(INTO_CORDONED)) as { status?: { phase?: string; conditions?: { type: string; status: string; reason: string; message: string }[] } };
          const valid = m.status?.conditions?.find((c) => c.type === 'Valid');
          return valid?.status === 'False' ? { phase: m.status?.phase, valid } : undefined;
        },
        { timeoutMs: 30_000, intervalMs: 250, description: 'the Migration into the cordoned cell to say it cannot go on' },
      );
      expect(held.valid).toMatchObject({ reason: 'TargetNotActive' });
      expect(held.valid.message).toContain(`cell ${world.targetCell} is Cordoned (its spec.state)`);
      expect(held.phase).toBe('Pending');
      await new Promise((r) => setTimeout(r, 3_000));
      expect(await placement(fourth)).toEqual({ cell: world.sourceCell, state: 'Active' });
    } finally {
      await setState('Active');
    }
    await waitFor(async () => ((await world.migration(INTO_CORDONED)).status?.phase === 'Succeeded' ? true : undefined), {
      timeoutMs: 90_000,
      intervalMs: 250,
      description: 'the Migration to go on once the target is Active',
    });
    expect(await placement(fourth)).toEqual({ cell: world.targetCell, state: 'Active' });
  }, 200_000);

  it('refuses a spec.retry.failedBefore a year ahead instead of retrying a failing move over and over', async () => {
    const fifth = world.customers[4] as string;
    type WithConditions = { status?: { customers?: { failed?: number }; conditions?: { type: string; status: string; reason: string; message: string }[] } };
    const failures = async () => Number((await sql<{ n: string }>(world.controlPlane, 'SELECT count(*) AS n FROM migration_failures WHERE migration = $1 AND customer_id = $2', [RETRIED, fifth]))[0]?.n);
    // The selection is frozen while RETRIED waits at its first step; then another Migration moves the customer away,
    // so that RETRIED's move of it fails (NotInSourceCell) every time it runs.
    await apply(migrationManifest(world, RETRIED, { customers: { names: [fifth] }, steps: [{ pause: {} }, { move: 1 }], retention: '1s' }));
    await waitFor(async () => ((await world.migration(RETRIED)).status?.phase === 'Paused' ? true : undefined), { timeoutMs: 30_000, description: `${RETRIED} waiting at its pause` });
    await apply(migrationManifest(world, SNATCHER, { customers: { names: [fifth] }, steps: [{ move: 1 }], retention: '1s' }));
    await waitFor(async () => ((await world.migration(SNATCHER)).status?.phase === 'Succeeded' ? true : undefined), { timeoutMs: 90_000, description: `${SNATCHER} to move ${fifth}` });
    await kubectl(['patch', 'migration', RETRIED, '--type', 'merge', '-p', '{"spec":{"promotedStep":0}}']);
    await waitFor(async () => ((await world.migration(RETRIED)).status?.customers?.failed === 1 ? true : undefined), { timeoutMs: 60_000, description: `the move of ${fifth} to fail` });
    expect(await failures()).toBe(1);

    const nextYear = new Date(Date.now() + 365 * 86_400_000).toISOString().replace(/\.\d+Z$/, 'Z');
    await kubectl(['patch', 'migration', RETRIED, '--type', 'merge', '-p', JSON.stringify({ spec: { retry: { failedBefore: nextYear } } })]);
    // Nothing is retried: still the one failure 10 s later.
    await new Promise((r) => setTimeout(r, 10_000));
    expect(await failures()).toBe(1);
    const refused = await waitFor(
      async () => {
        const m = (await world.migration(RETRIED)) as WithConditions;
        return m.status?.conditions?.find((c) => c.type === 'Valid' && c.status === 'False');
      },
      { timeoutMs: 30_000, intervalMs: 250, description: 'the retry in the future to be refused' },
    );
    expect(refused).toMatchObject({ reason: 'RetryInTheFuture' });
    expect(refused.message).toContain(`spec.retry.failedBefore is ${nextYear}, in the future`);
  }, 240_000);

  it('says Drifted when a placed customer is relabelled, since Migration selectors read the labels of its first placement', async () => {
    const sixth = world.customers[5] as string;
    await kubectl(['label', 'customerplacement', sixth, 'tier=premium', '--overwrite']);
    const drifted = await waitFor(
      async () => {
        const p = await kubectlJson<{ status?: { message?: string; conditions?: { type: string; status: string; reason: string }[] } }>(['get', 'customerplacement', sixth, '-o', 'json']);
        return p.status?.conditions?.some((c) => c.type === 'Drifted' && c.status === 'True') ? p : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: `${sixth} to say its labels differ from the routing table's` },
    );
    expect(drifted.status?.message).toContain('metadata.labels are {"tier":"premium"} but the routing table, which Migration selectors read, keeps the labels of the first placement: {"tier":"standard"}');
    // What the status says is what the routing table holds (store/placements.ts does not update the labels of a placed customer).
    const labels = await sql<{ labels: Record<string, string> }>(world.controlPlane, 'SELECT labels FROM placements WHERE customer_id = $1', [sixth]);
    expect(labels[0]?.labels).toEqual({ tier: 'standard' });
  }, 60_000);

  it('says, when two Migrations select the same customer, that the second waits for the first, and counts nobody in flight', async () => {
    const [first] = world.customers as [string]; // back in the source since the first test
    type Gated = { status?: { phase?: string; message?: string; customers?: { inFlight?: number }; conditions?: { type: string; status: string; reason: string }[] } };
    await apply(migrationManifest(world, SECOND, { customers: { names: [first] }, steps: [{ pause: {} }, { move: 1 }], retention: '1s' }));
    await waitFor(async () => ((await world.migration(SECOND)).status?.phase === 'Paused' ? true : undefined), { timeoutMs: 30_000, description: `${SECOND} frozen with ${first}, waiting at its pause` });
    // The first moves the customer and keeps its move open for its cleanup (five minutes).
    await apply(migrationManifest(world, FIRST, { customers: { names: [first] }, steps: [{ move: 1 }], retention: '300s' }));
    await waitFor(async () => ((await world.migration(FIRST)).status?.phase === 'Succeeded' ? true : undefined), { timeoutMs: 90_000, description: `${FIRST} to move ${first}` });
    await kubectl(['patch', 'migration', SECOND, '--type', 'merge', '-p', '{"spec":{"promotedStep":0}}']);
    const held = await waitFor(
      async () => {
        const m = (await world.migration(SECOND)) as Gated;
        return m.status?.conditions?.some((c) => c.type === 'Gated' && c.status === 'True' && c.reason === 'CustomersInAnotherMigration') ? m : undefined;
      },
      { timeoutMs: 30_000, intervalMs: 250, description: `${SECOND} to say it waits for ${FIRST}` },
    );
    expect(held.status?.message).toContain(`(${first} by ${FIRST})`);
    expect(held.status?.customers?.inFlight).toBe(0);

    // Tired of waiting, the person shortens the first's retention: the waiting cleanup comes forward
    // (counted from the cut-over, so at once), the source is cleaned up well within the five minutes,
    // the first says so in an event, and the second then tries the customer.
    await kubectl(['patch', 'migration', FIRST, '--type', 'merge', '-p', '{"spec":{"retention":"2s"}}']);
    await waitFor(async () => Number((await sql<{ n: string }>(world.source, 'SELECT count(*) AS n FROM readings WHERE customer_id = $1', [first]))[0]?.n) === 0, {
      timeoutMs: 60_000,
      description: `${FIRST}'s cleanup of ${first} in ${world.sourceCell}, brought forward`,
    });
    const events = await kubectlJson<{ items: { reason: string; message: string }[] }>([
      'get', 'events', '-n', 'default', '--field-selector', `involvedObject.kind=Migration,involvedObject.name=${FIRST}`,
    ]);
    expect(events.items.find((e) => e.reason === 'RetentionShortened')?.message).toContain(`1 moved customer(s) waiting for their cleanup (${first})`);
    // The second's move of the customer starts once the first's has ended, finds it gone from its
    // source and fails; the second holds for a person (Gated, CustomersFailed) and says why.
    const second = await waitFor(
      async () => {
        const m = (await world.migration(SECOND)) as Gated;
        return m.status?.conditions?.some((c) => c.type === 'Gated' && c.status === 'True' && c.reason === 'CustomersFailed') ? m : undefined;
      },
      { timeoutMs: 90_000, intervalMs: 500, description: `${SECOND} to try ${first} once ${FIRST}'s move has ended` },
    );
    expect(JSON.stringify(second.status)).toContain('NotInSourceCell');
  }, 300_000);
});

describe('a Migration listing 10000 customers by name, the most spec.customers.names takes', () => {
  const NAME = 'careless-long-list';
  // Ids of the longest form (63 characters): the list alone is about 670 kB.
  const names = Array.from({ length: 10_000 }, (_, i) => `c${String(i).padStart(5, '0')}-${'x'.repeat(56)}`);
  const manifest = (list: string[]) =>
    JSON.stringify({ apiVersion: 'cells.platform.io/v1alpha1', kind: 'Migration', metadata: { name: NAME }, spec: { from: 'careless-nowhere-a', to: 'careless-nowhere-b', customers: { names: list }, steps: [{ move: 1 }], paused: true } });

  afterAll(async () => {
    await kubectl(['delete', 'migration', NAME, '--ignore-not-found', '--wait=false']);
  }, 60_000);

  it('is refused by a client-side kubectl apply for its annotation copy, as the field says, and taken with --server-side', async () => {
    const clientSide = await kubectl(['apply', '-f', '-'], { input: manifest(names), allowFailure: true });
    expect(clientSide.code).not.toBe(0);
    expect(clientSide.stderr).toContain('metadata.annotations: Too long');
    await kubectl(['apply', '--server-side', '-f', '-'], { input: manifest(names) });
    const stored = await kubectl(['get', 'migration', NAME, '-o', 'jsonpath={.spec.customers.names[9999]}']);
    expect(stored.stdout).toBe(names[9999]);
    // One more is refused by the schema, naming the field.
    const tooMany = await kubectl(['apply', '--server-side', '-f', '-'], { input: manifest([...names, 'c10000']), allowFailure: true });
    expect(tooMany.stderr).toContain('spec.customers.names: Too many: 10001');
  }, 120_000);
});
