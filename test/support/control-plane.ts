// A throw-away control-plane database for the tests of a file: a server (usePostgres), one
// database with the schema migrated, and a small pool on it, closed after the tests.
import type pg from 'pg';
import { createPool } from '../../src/store/connection.js';
import { migrate } from '../../src/store/migrate.js';
import { usePostgres } from './postgres.js';

/** Call the returned function inside a test or hook for the pool. */
export function useControlPlaneDatabase(poolMax = 2): () => pg.Pool {
  const postgres = usePostgres();
  let pool: pg.Pool | undefined;
  beforeAll(async () => {
    pool = createPool({ url: await postgres().createDatabase(), poolMax });
    await migrate(pool);
  }, 60_000);
  afterAll(async () => {
    await pool?.end();
  });
  return () => {
    if (!pool) throw new Error('the control-plane database is not ready yet: use it inside a test or a hook');
    return pool;
  };
}
