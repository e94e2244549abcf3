// The liveness of a move's owner starts with its connections: every pool the operator makes keeps
// TCP alive on both ends, so a vanished operator's session (and its move's advisory lock) ends in
// about 30 s and another replica can take the move over.
import { createPool, poolConfig, resolveDatabaseSettings } from '../../../src/store/connection.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgres();
}, 60_000);

afterAll(async () => {
  await server?.stop();
});

describe('the pools of the operator', () => {
  it('turn TCP keepalive on in the client', () => {
    expect(poolConfig(resolveDatabaseSettings({ url: 'postgres://u@h/d' }, {}))).toMatchObject({ keepAlive: true, keepAliveInitialDelayMillis: 10_000 });
  });

  it('ask the server to probe an idle session after 10 s and give it up after 4 lost probes 5 s apart', async () => {
    const pool = createPool({ url: server.url });
    try {
      // A connection of the pool (the SET runs as it connects; later queries queue behind it).
      const c = await pool.connect();
      try {
        const { rows } = await c.query<{ idle: string; interval: string; count: string }>(
          `SELECT current_setting('tcp_keepalives_idle') AS idle, current_setting('tcp_keepalives_interval') AS interval, current_setting('tcp_keepalives_count') AS count`,
        );
        expect(rows[0]).toEqual({ idle: '10', interval: '5', count: '4' });
      } finally {
        c.release();
      }
    } finally {
      await pool.end();
    }
  });
});
