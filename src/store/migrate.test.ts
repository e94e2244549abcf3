import pg from 'pg';
import { usePostgres } from '../../test/support/postgres.js';
import { migrate, SchemaDriftError } from './migrate.js';
import { SCHEMA_MIGRATIONS } from './schema.js';

const postgres = usePostgres();

async function tables(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ tablename: string }>("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1");
  return rows.map((r) => r.tablename);
}

describe('schema migrations', () => {
  it('creates every table once and does nothing the second time', async () => {
    const pool = new pg.Pool({ connectionString: await postgres().createDatabase() });
    try {
      const first = await migrate(pool);
      expect(first.applied).toEqual(SCHEMA_MIGRATIONS.map((m) => m.version));
      const second = await migrate(pool);
      expect(second).toEqual({ applied: [], current: first.current });
      // Later migrations add tables of their own; these are the routing table's and the journal's.
      expect(await tables(pool)).toEqual(
        expect.arrayContaining([
          'cells',
          'migration_failures',
          'migration_journal',
          'migration_table_progress',
          'placement_tombstones',
          'placements',
          'schema_migrations',
        ]),
      );
    } finally {
      await pool.end();
    }
  });

  it('applies each migration exactly once when many replicas start at the same time', async () => {
    const url = await postgres().createDatabase();
    const pools = Array.from({ length: 8 }, () => new pg.Pool({ connectionString: url, max: 1 }));
    try {
      const reports = await Promise.all(pools.map((p) => migrate(p)));
      const applied = reports.flatMap((r) => r.applied).sort();
      expect(applied).toEqual(SCHEMA_MIGRATIONS.map((m) => m.version).sort());
      const { rows } = await pools[0]!.query('SELECT version FROM schema_migrations ORDER BY version');
      expect(rows.map((r: { version: number }) => r.version)).toEqual(SCHEMA_MIGRATIONS.map((m) => m.version));
    } finally {
      await Promise.all(pools.map((p) => p.end()));
    }
  });

  it('refuses to start when an applied migration was edited', async () => {
    const pool = new pg.Pool({ connectionString: await postgres().createDatabase() });
    try {
      await migrate(pool);
      const edited = SCHEMA_MIGRATIONS.map((m) => (m.version === 1 ? { ...m, sql: `${m.sql}\n-- edited` } : m));
      await expect(migrate(pool, undefined, edited)).rejects.toBeInstanceOf(SchemaDriftError);
      // The lock was released: a correct build still starts.
      await expect(migrate(pool)).resolves.toMatchObject({ applied: [] });
    } finally {
      await pool.end();
    }
  });

  it('marks the selections of existing Migrations frozen on upgrade (version 11), the empty one of a Migration that ended too', async () => {
    const pool = new pg.Pool({ connectionString: await postgres().createDatabase() });
    try {
      await migrate(pool, undefined, SCHEMA_MIGRATIONS.filter((m) => m.version < 11));
      await pool.query(`INSERT INTO migration_customers (migration, customer_id, ordinal) VALUES ('running', 'c1', 1)`);
      for (const [migration, phase] of [['ended-empty', 'Succeeded'], ['refused-split', 'Pending'], ['running', 'Progressing']]) {
        await pool.query(`INSERT INTO migration_steps (migration, current_step, step_started_at, phase) VALUES ($1, 0, now(), $2)`, [migration, phase]);
      }
      expect((await migrate(pool)).applied).toEqual(SCHEMA_MIGRATIONS.filter((m) => m.version >= 11).map((m) => m.version));
      const { rows } = await pool.query<{ migration: string }>('SELECT migration FROM migration_selections ORDER BY 1');
      // A split refused before its selection (a closed target) is still to be made.
      expect(rows.map((r) => r.migration)).toEqual(['ended-empty', 'running']);
    } finally {
      await pool.end();
    }
  });

  it('rolls back a migration that fails, leaving no trace of it', async () => {
    const pool = new pg.Pool({ connectionString: await postgres().createDatabase() });
    try {
      const broken = [...SCHEMA_MIGRATIONS, { version: 99, name: 'broken', sql: 'CREATE TABLE half_done (id int); SELECT 1/0;' }];
      await expect(migrate(pool, undefined, broken)).rejects.toThrow(/division by zero/);
      expect(await tables(pool)).not.toContain('half_done');
      const { rows } = await pool.query('SELECT max(version) AS v FROM schema_migrations');
      expect(rows[0].v).toBe(SCHEMA_MIGRATIONS.at(-1)!.version);
    } finally {
      await pool.end();
    }
  });
});
