import { useControlPlaneDatabase } from '../../test/support/control-plane.js';
import { archiveMigration, archivedName } from './migration-archive.js';
import { readStepRecord, saveStepRecord } from './migration-steps.js';

const controlPlane = useControlPlaneDatabase();

async function seed(migration: string, moves: { customer: string; state: string }[]): Promise<void> {
  for (const [i, m] of moves.entries()) {
    await controlPlane().query('INSERT INTO migration_customers (migration, customer_id, ordinal) VALUES ($1, $2, $3)', [migration, m.customer, i + 1]);
    await controlPlane().query(`INSERT INTO migration_journal (migration, customer_id, source_cell, target_cell, state) VALUES ($1, $2, 'a', 'b', $3)`, [migration, m.customer, m.state]);
    await controlPlane().query(`INSERT INTO migration_table_progress (migration, customer_id, table_name, phase) VALUES ($1, $2, 'readings', 'Copy')`, [migration, m.customer]);
  }
  await controlPlane().query('INSERT INTO migration_selections (migration) VALUES ($1) ON CONFLICT DO NOTHING', [migration]);
  await controlPlane().query(`INSERT INTO migration_failures (migration, customer_id, state, reason, message) VALUES ($1, $2, 'Copying', 'Boom', 'it broke')`, [migration, moves[0]!.customer]);
  await saveStepRecord(controlPlane(), migration, { step: 4, stepStartedAt: new Date('2026-12-01T10:00:00Z'), phase: 'Succeeded', startedAt: null, completedAt: null });
}

const count = async (table: string, migration: string) =>
  Number((await controlPlane().query<{ n: string }>(`SELECT count(*) AS n FROM ${table} WHERE migration = $1`, [migration])).rows[0]?.n);

describe('archiving a deleted Migration', () => {
  it('keeps its journal and failures under <name>@<uid>, and frees the name', async () => {
    await seed('rebalance', [
      { customer: 'c1', state: 'Done' },
      { customer: 'c2', state: 'RolledBack' },
      { customer: 'c3', state: 'Failed' },
    ]);
    expect(await archiveMigration(controlPlane(), 'rebalance', 'uid-1')).toEqual({ moves: 3 });
    const archived = archivedName('rebalance', 'uid-1');
    expect(archived).toBe('rebalance@uid-1');
    for (const table of ['migration_customers', 'migration_selections', 'migration_journal', 'migration_table_progress', 'migration_failures', 'migration_steps']) {
      expect({ table, left: await count(table, 'rebalance') }).toEqual({ table, left: 0 });
    }
    expect(await count('migration_journal', archived)).toBe(3);
    expect(await count('migration_failures', archived)).toBe(1);
    expect(await readStepRecord(controlPlane(), archived)).toMatchObject({ step: 4, phase: 'Succeeded' });
    expect(await readStepRecord(controlPlane(), 'rebalance')).toBeUndefined();

    // A new Migration of the same name moves the same customers again, from nothing.
    await seed('rebalance', [{ customer: 'c1', state: 'Pending' }]);
    expect(await count('migration_journal', 'rebalance')).toBe(1);
    // Archiving twice (a retried reconcile) is harmless.
    await controlPlane().query(`UPDATE migration_journal SET state = 'Done' WHERE migration = 'rebalance'`);
    expect(await archiveMigration(controlPlane(), 'rebalance', 'uid-2')).toEqual({ moves: 1 });
    expect(await archiveMigration(controlPlane(), 'rebalance', 'uid-2')).toEqual({ moves: 0 });
  });

  it('refuses while a move is still open, and changes nothing', async () => {
    await seed('busy', [
      { customer: 'd1', state: 'Done' },
      { customer: 'd2', state: 'Cleanup' },
    ]);
    await expect(archiveMigration(controlPlane(), 'busy', 'uid-3')).rejects.toThrow('migration busy still has 1 open move(s)');
    expect(await count('migration_journal', 'busy')).toBe(2);
    expect(await count('migration_customers', 'busy')).toBe(2);
  });
});
