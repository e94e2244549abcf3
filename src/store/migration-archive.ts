// What a deleted Migration leaves in the control-plane database. Its journal and failures are the
// record of who moved where, so they are kept, but under `<name>@<uid>`: a new Migration of the
// same name must start from nothing, not find the old moves and count its customers as moved.
import type { Pool } from 'pg';
import { withTransaction } from './transactions.js';

/** The key a deleted Migration's rows are kept under. */
export const archivedName = (name: string, uid: string): string => `${name}@${uid}`;

/**
 * Moves the rows of a Migration whose moves have all ended under `archivedName`, and drops its
 * selection and per-table progress (keyset positions of moves that are over). Re-runnable: a
 * second call finds nothing left under `name`. Refuses while a move is still open.
 */
export async function archiveMigration(pool: Pool, name: string, uid: string): Promise<{ moves: number }> {
  const archived = archivedName(name, uid);
  return withTransaction(pool, async (client) => {
    const open = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM migration_journal WHERE migration = $1 AND state NOT IN ('Done', 'Failed', 'RolledBack')`,
      [name],
    );
    if (Number(open.rows[0]?.n) > 0) throw new Error(`migration ${name} still has ${open.rows[0]?.n} open move(s): it cannot be archived yet`);
    await client.query('DELETE FROM migration_customers WHERE migration = $1', [name]);
    await client.query('DELETE FROM migration_table_progress WHERE migration = $1', [name]);
    const moves = await client.query('UPDATE migration_journal SET migration = $2 WHERE migration = $1', [name, archived]);
    await client.query('UPDATE migration_failures SET migration = $2 WHERE migration = $1', [name, archived]);
    return { moves: moves.rowCount ?? 0 };
  });
}
