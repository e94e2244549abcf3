// Connection pools to the cells' databases for migrations, built from each Cell (its endpoint and
// credentials) and reused while those do not change. The engine asks by cell name.
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { Cell } from '../crds/cell.js';
import { CellUnavailable } from './move-errors.js';
import type { CellDatabase } from './table-plans.js';
import type { Informer } from '../runtime/informer.js';
import type { KubeClient } from '../runtime/kube-client.js';
import type { CellPolicy } from '../policy/cell-policy.js';
import { createPool } from '../store/connection.js';
import { cellDatabaseSettings, readDatabaseCredentials } from './cell-database-credentials.js';

export class CellPools {
  private readonly pools = new Map<string, { fingerprint: string; pool: Pool }>();

  constructor(
    private readonly client: KubeClient,
    private readonly cells: Informer<Cell>,
    private readonly secrets?: Informer,
    /** Which Secrets a cell may name (cell-policy.ts): a refused one is never read. */
    private readonly policy?: CellPolicy,
  ) {}

  /** The database of `name`, for the move engine; throws with a reason when it cannot be reached. */
  async database(name: string): Promise<CellDatabase> {
    const cell = this.cells.get(name);
    if (!cell) throw new CellUnavailable(`there is no Cell ${name} (yet)`);
    const credentials = await readDatabaseCredentials(this.client, cell, { secrets: this.secrets, policy: this.policy });
    if (!credentials.value) throw new CellUnavailable(`cell ${name}: ${credentials.problem.message}`);
    const settings = cellDatabaseSettings(cell, credentials.value);
    const fingerprint = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
    let entry = this.pools.get(name);
    if (entry?.fingerprint !== fingerprint) {
      await entry?.pool.end().catch(() => undefined);
      entry = { fingerprint, pool: createPool({ ...settings, applicationName: 'cell-operator-migration', poolMax: 8 }) };
      this.pools.set(name, entry);
    }
    const { tenantColumn, tables } = cell.spec.database;
    return { pool: entry.pool, tenancy: { tenantColumn, ...(tables ? { tables } : {}) } };
  }

  async close(): Promise<void> {
    await Promise.all([...this.pools.values()].map((e) => e.pool.end().catch(() => undefined)));
    this.pools.clear();
  }
}
