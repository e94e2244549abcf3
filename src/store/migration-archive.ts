// What a deleted Migration leaves in the control-plane database, in one transaction over the
// journal's and the selection's owners. Its journal and failures are the
// record of who moved where, so they are kept, but under `<name>@<uid>`: a new Migration of the
// same name must start from nothing, not find the old moves and count its customers as moved.
import type { Pool } from 'pg';
import { archiveMoves, countOpenMoves } from './migration-journal.js';
import { dropSelection } from './migration-selection.js';
import { archiveStepRecord } from './migration-steps.js';
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
    const open = await countOpenMoves(client, name);
    if (open > 0) throw new Error(`migration ${name} still has ${open} open move(s): it cannot be archived yet`);
    await dropSelection(client, name);
    await archiveStepRecord(client, name, archived);
    return { moves: await archiveMoves(client, name, archived) };
  });
}
