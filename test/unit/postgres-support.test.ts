import { existsSync } from 'node:fs';
import pg from 'pg';
import { startPostgres } from '../support/postgres.js';

describe('startPostgres (throw-away test server)', () => {
  it('starts a logical-decoding server that survives a crash and leaves nothing behind', async () => {
    const server = await startPostgres({ logical: true });
    try {
      const client = new pg.Client({ connectionString: server.url });
      await client.connect();
      const { rows } = await client.query<{ wal_level: string }>('SHOW wal_level');
      expect(rows[0]?.wal_level).toBe('logical');
      await client.query('CREATE TABLE t (id int PRIMARY KEY)');
      await client.query('INSERT INTO t VALUES (1)');
      await client.end();

      await server.restart('immediate');

      const again = new pg.Client({ connectionString: server.url });
      await again.connect();
      const count = await again.query<{ n: string }>('SELECT count(*) AS n FROM t');
      expect(count.rows[0]?.n).toBe('1');
      await again.end();
    } finally {
      await server.stop();
    }
    expect(existsSync(server.dataDir)).toBe(false);
  }, 60_000);
});
