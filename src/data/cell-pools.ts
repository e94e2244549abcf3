// Connection pools to the cells' databases for migrations, built from each Cell (its endpoint,
// credentials and CA) and reused while those do not change. The engine asks by cell name, once per
// move action: the Secrets (and CA) behind a cell are read at most once per credentialsTtlMs, so a
// move does not send the API server a GET per step.
import { createHash } from 'node:crypto';
import type { Pool } from 'pg';
import type { Cell } from '../crds/cell.js';
import { CellUnavailable } from './move-errors.js';
import type { CellDatabase } from './table-plans.js';
import { systemClock, type NowClock } from '../runtime/clock.js';
import type { Informer } from '../runtime/informer.js';
import type { KubeClient } from '../runtime/kube-client.js';
import type { CellPolicy } from '../policy/cell-policy.js';
import { createPool } from '../store/connection.js';
import { cellDatabaseSettings, readDatabaseCredentials, type CredentialsResult } from './cell-database-credentials.js';

/** How long a pool replaced by a credentials rotation stays usable for the actions that hold it. */
const RETIRED_POOL_GRACE_MS = 10 * 60_000;
/** How long credentials read from the API server are reused: a rotated password is picked up within this. */
export const CREDENTIALS_TTL_MS = 30_000;

export interface CellPoolsOptions {
  /** Default CREDENTIALS_TTL_MS. */
  credentialsTtlMs?: number;
  clock?: NowClock;
  /** The client of a cell's own cluster (Cell.spec.cluster), where its generated database Secrets are; undefined while not connected. */
  cellClient?: (cell: Cell) => KubeClient | undefined;
}

export class CellPools {
  private readonly pools = new Map<string, { fingerprint: string; pool: Pool }>();
  /** Per cell: the credentials read, for which spec (the references it names), and when. */
  private readonly credentials = new Map<string, { spec: string; atMs: number; result: Promise<CredentialsResult> }>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(
    private readonly client: KubeClient,
    private readonly cells: Informer<Cell>,
    private readonly secrets?: Informer,
    /** Which Secrets a cell may name (cell-policy.ts): a refused one is never read. */
    private readonly policy?: CellPolicy,
    options: CellPoolsOptions = {},
  ) {
    this.ttlMs = options.credentialsTtlMs ?? CREDENTIALS_TTL_MS;
    this.now = () => (options.clock ?? systemClock).now();
    this.cellClient = options.cellClient;
  }

  private readonly cellClient: ((cell: Cell) => KubeClient | undefined) | undefined;

  /** The database of `name`, for the move engine; throws with a reason when it cannot be reached. */
  async database(name: string): Promise<CellDatabase> {
    const cell = this.cells.get(name);
    if (!cell) throw new CellUnavailable(`there is no Cell ${name} (yet)`);
    const remote = cell.spec.cluster ? this.cellClient?.(cell) : undefined;
    if (cell.spec.cluster && !remote && !cell.spec.database.external) throw new CellUnavailable(`cell ${name}: its cluster ${cell.spec.cluster.name} is not connected yet`);
    const credentials = await this.readCredentials(name, cell, remote);
    if (!credentials.value) throw new CellUnavailable(`cell ${name}: ${credentials.problem.message}`);
    const settings = cellDatabaseSettings(cell, credentials.value);
    const fingerprint = createHash('sha256').update(JSON.stringify(settings)).digest('hex');
    let entry = this.pools.get(name);
    if (entry?.fingerprint !== fingerprint) {
      // New credentials or endpoint: new moves' actions use the new pool at once; the old one is
      // ended later, so an action in flight (which may connect again) finishes on it. Its idle
      // connections close by themselves after 30 s meanwhile.
      if (entry) this.retire(entry.pool);
      entry = { fingerprint, pool: createPool({ ...settings, applicationName: 'cell-operator-migration', poolMax: 8 }) };
      this.pools.set(name, entry);
    }
    const { tenantColumn, tables } = cell.spec.database;
    return { pool: entry.pool, tenancy: { tenantColumn, ...(tables ? { tables } : {}) } };
  }

  /**
   * The cell's credentials, read again when the TTL is over or the Cell names other references;
   * concurrent actions share one read, and a failed read is not kept.
   */
  private readCredentials(name: string, cell: Cell, remote: KubeClient | undefined): Promise<CredentialsResult> {
    const db = cell.spec.database;
    const spec = JSON.stringify([cell.metadata.uid, cell.spec.namespace, cell.spec.cluster, db.external?.secretRef, db.external?.caRef]);
    const nowMs = this.now();
    const cached = this.credentials.get(name);
    if (cached && cached.spec === spec && nowMs - cached.atMs < this.ttlMs) return cached.result;
    const result = readDatabaseCredentials(this.client, cell, { secrets: this.secrets, policy: this.policy, ...(remote ? { cellClient: remote } : {}) });
    this.credentials.set(name, { spec, atMs: nowMs, result });
    result.catch(() => {
      if (this.credentials.get(name)?.result === result) this.credentials.delete(name);
    });
    return result;
  }

  private readonly retired = new Set<Pool>();

  private retire(pool: Pool): void {
    this.retired.add(pool);
    setTimeout(() => {
      this.retired.delete(pool);
      void pool.end().catch(() => undefined); // waits for clients still checked out
    }, RETIRED_POOL_GRACE_MS).unref();
  }

  async close(): Promise<void> {
    const all = [...[...this.pools.values()].map((e) => e.pool), ...this.retired];
    await Promise.all(all.map((p) => p.end().catch(() => undefined)));
    this.pools.clear();
    this.retired.clear();
    this.credentials.clear();
  }
}
