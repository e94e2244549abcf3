// Mixed operator versions: an operator that finds a cell's fence schema newer than the one it knows
// (a newer operator installed it) neither downgrades it nor half-uses it. It refuses to touch that
// cell's fence, and the moves into or out of it wait (not failed, not rolled back: both would touch
// the fence) with reason FenceSchemaNewer and a message that names the fix: upgrade the operator.
import { FenceSchemaNewer, installFence, ownMove, readFence } from '../../../src/data/cell-fence.js';
import { FENCE_SCHEMA, FENCE_SCHEMA_VERSION } from '../../../src/data/cell-fence-sql.js';
import { MoveEngine } from '../../../src/data/move-engine.js';
import { placeCustomers, seedCustomer, useCells } from './cells-fixture.js';

const TIMEOUT = 120_000;
const SETTINGS = { pageRows: 100, settleLagMs: 0, drainWaitMs: 0, retentionMs: 0, convergeRows: 0 };
const TABLES = [{ schema: 'public', table: 'readings' }];

const cells = useCells({ timeoutMs: TIMEOUT });

/** What a newer operator leaves behind: one more schema step. */
async function newerSchema(cell: string): Promise<void> {
  await installFence(cells().pools[cell]!, 'customer_id', TABLES);
  await cells().pools[cell]!.query(`INSERT INTO ${FENCE_SCHEMA}.schema_version (version, name) VALUES ($1, 'from a newer operator')`, [FENCE_SCHEMA_VERSION + 1]);
}

async function schemaVersions(cell: string): Promise<number[]> {
  const { rows } = await cells().pools[cell]!.query<{ version: number }>(`SELECT version FROM ${FENCE_SCHEMA}.schema_version ORDER BY version`);
  return rows.map((r) => r.version);
}

describe('a cell whose fence schema is newer than this operator', () => {
  afterEach(async () => {
    for (const cell of ['cell-a', 'cell-b']) {
      await cells().pools[cell]!.query(`DELETE FROM ${FENCE_SCHEMA}.schema_version WHERE version > $1`, [FENCE_SCHEMA_VERSION]).catch(() => undefined);
    }
  });

  it('is neither downgraded nor used: installing and owning a move there are refused, naming the fix', async () => {
    await newerSchema('cell-b');
    const before = await schemaVersions('cell-b');
    const install = await installFence(cells().pools['cell-b']!, 'customer_id', [...TABLES, { schema: 'public', table: 'events' }]).catch((e: unknown) => e);
    expect(install).toBeInstanceOf(FenceSchemaNewer);
    expect((install as Error).message).toMatch(new RegExp(`at version ${FENCE_SCHEMA_VERSION + 1}, newer than version ${FENCE_SCHEMA_VERSION} that this operator knows.*Upgrade this operator`));
    const own = await ownMove(cells().pools['cell-b']!, { migration: 'm', customer: 'c', epoch: '1' }).catch((e: unknown) => e);
    expect(own).toBeInstanceOf(FenceSchemaNewer);
    expect(await schemaVersions('cell-b')).toEqual(before);
    const { rows } = await cells().pools['cell-b']!.query(`SELECT count(*)::int AS n FROM ${FENCE_SCHEMA}.move_owners`);
    expect(rows).toEqual([{ n: 0 }]);
  }, TIMEOUT);

  it('holds a move into it at Pending with reason FenceSchemaNewer, without failing it, and lets it go on once the operator knows the schema', async () => {
    await newerSchema('cell-b');
    const c = 'mixed-versions';
    await placeCustomers(cells().cp, [c], 'cell-a');
    await seedCustomer(cells().pools['cell-a']!, c, { readings: 50, events: 5, devices: 2 });
    const engine = new MoveEngine({ controlPlane: cells().cp, cells: cells().cells, settings: SETTINGS });
    const key = { migration: 'mixed', customerId: c };
    await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const held = await engine.run(key, { maxRetries: 1 });
    expect(held.outcome).toBe('GaveUp');
    expect(held.move).toMatchObject({ state: 'Pending', failureReason: null, lastError: expect.stringMatching(/^FenceSchemaNewer: .*Upgrade this operator/) });
    expect(await readFence(cells().pools['cell-b']!, c)).toBeUndefined(); // the target's fence untouched
    const { rows } = await cells().cp.query('SELECT cell, state FROM placements WHERE customer_id = $1', [c]);
    expect(rows).toEqual([{ cell: 'cell-a', state: 'Active' }]);
    // What the Migration's status.retryingMoves shows a person.
    const retrying = (await engine.summarize('mixed')).retrying;
    expect(retrying.total).toBe(1);
    expect(retrying.moves).toEqual([{ customerId: c, state: 'Pending', attempts: expect.any(Number), error: expect.stringMatching(/^FenceSchemaNewer: /), at: expect.any(Date) }]);

    // The operator is upgraded (here: the newer step is gone again): the same move goes through.
    await cells().pools['cell-b']!.query(`DELETE FROM ${FENCE_SCHEMA}.schema_version WHERE version > $1`, [FENCE_SCHEMA_VERSION]);
    expect((await engine.run(key)).move).toMatchObject({ state: 'Done' });
    expect((await engine.summarize('mixed')).retrying).toEqual({ total: 0, moves: [] }); // a finished move retries nothing
  }, TIMEOUT);

  it('holds a move under way that finds it there, without rolling it back or lifting its fences', async () => {
    const c = 'upgraded-midway';
    await placeCustomers(cells().cp, [c], 'cell-a');
    await seedCustomer(cells().pools['cell-a']!, c, { readings: 300, events: 5, devices: 2 });
    const key = { migration: 'midway', customerId: c };
    const first = new MoveEngine({ controlPlane: cells().cp, cells: cells().cells, settings: SETTINGS });
    await first.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    expect((await first.step(key)).kind).toBe('Acted'); // Prepare: the target refuses the customer (MovingIn)
    await newerSchema('cell-a'); // a newer operator replica upgraded the source meanwhile
    const second = new MoveEngine({ controlPlane: cells().cp, cells: cells().cells, settings: SETTINGS });
    const held = await second.run(key, { maxRetries: 1 });
    expect(held.move).toMatchObject({ state: 'Copying', failureReason: null, lastError: expect.stringMatching(/^FenceSchemaNewer: /) });
    expect(await readFence(cells().pools['cell-b']!, c)).toMatchObject({ migration: 'midway', role: 'MovingIn' });
  }, TIMEOUT);
});
