// Opening the control-plane database: a pool, then the schema migrations under their lock.
import type { Pool } from 'pg';
import type { Logger } from '../log.js';
import { createPool, type DatabaseSettings, describeDatabase, resolveDatabaseSettings } from './connection.js';
import { migrate, type MigrationReport } from './migrate.js';

export interface Store {
  pool: Pool;
  /** user@host:port/db?sslmode=… (no password): for logs and status messages. */
  description: string;
  /** The schema migrations applied at open (empty when `migrate: false`). */
  migrations: MigrationReport;
  close(): Promise<void>;
}

export async function openStore(settings: DatabaseSettings, options: { log?: Logger; migrate?: boolean } = {}): Promise<Store> {
  const description = describeDatabase(resolveDatabaseSettings(settings));
  const pool = createPool(settings, options.log);
  try {
    const migrations = options.migrate === false ? { applied: [], current: 0 } : await migrate(pool, options.log);
    options.log?.info({ database: description, schemaVersion: migrations.current }, 'control-plane database ready');
    return { pool, description, migrations, close: () => pool.end() };
  } catch (err) {
    await pool.end().catch(() => undefined);
    throw err;
  }
}
