// Applies the schema migrations of schema.ts at start, under a session advisory lock so that any
// number of operator and router replicas starting at once apply each migration exactly once.
import { createHash } from 'node:crypto';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from '../log.js';
import { ADVISORY_LOCK_CLASS, SCHEMA_LOCK_ID, SCHEMA_MIGRATIONS, type SchemaMigration } from './schema.js';
import { discardClient, inTransaction, withClient } from './transactions.js';

export interface MigrationReport {
  /** Versions applied by this call, in order. */
  applied: number[];
  /** The schema version of the database afterwards. */
  current: number;
}

/** An applied migration whose SQL no longer matches this build: someone edited history. */
export class SchemaDriftError extends Error {
  constructor(readonly version: number) {
    super(`schema migration ${version} was changed after it was applied; add a new migration instead`);
  }
}

export function migrationChecksum(migration: SchemaMigration): string {
  return createHash('sha256').update(migration.sql).digest('hex');
}

export async function migrate(
  pool: Pool,
  log?: Logger,
  migrations: readonly SchemaMigration[] = SCHEMA_MIGRATIONS,
): Promise<MigrationReport> {
  // Any error destroys the client: the schema lock is held by its session.
  return withClient(
    pool,
    async (client) => {
      await client.query('SELECT pg_advisory_lock($1, $2)', [ADVISORY_LOCK_CLASS, SCHEMA_LOCK_ID]);
      try {
        return await applyMigrations(client, migrations, log);
      } finally {
        // A failed unlock means the session is gone (and its lock with it): do not return it to the pool.
        await client.query('SELECT pg_advisory_unlock($1, $2)', [ADVISORY_LOCK_CLASS, SCHEMA_LOCK_ID]).catch(() => discardClient(client));
      }
    },
    { discardOn: 'any' },
  );
}

async function applyMigrations(client: PoolClient, migrations: readonly SchemaMigration[], log?: Logger): Promise<MigrationReport> {
  await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
  )`);
  const { rows } = await client.query<{ version: number; checksum: string }>('SELECT version, checksum FROM schema_migrations ORDER BY version');
  const done = new Map(rows.map((r) => [r.version, r.checksum]));
  const known = new Set(migrations.map((m) => m.version));
  const newer = rows.filter((r) => !known.has(r.version)).map((r) => r.version);
  if (newer.length) {
    log?.warn({ versions: newer }, 'the database has schema migrations this build does not know (a newer build applied them)');
  }
  const applied: number[] = [];
  for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
    const checksum = migrationChecksum(m);
    const existing = done.get(m.version);
    if (existing !== undefined) {
      if (existing !== checksum) throw new SchemaDriftError(m.version);
      continue;
    }
    await inTransaction(client, async () => {
      await client.query(m.sql);
      await client.query('INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)', [m.version, m.name, checksum]);
    });
    applied.push(m.version);
    log?.info({ version: m.version, name: m.name }, 'applied schema migration');
  }
  const current = Math.max(0, ...rows.map((r) => r.version), ...applied);
  return { applied, current };
}
