// A client with a timer of its own beside its owner's queries (the move lock's heartbeat) must not
// send a query while another runs: pg 8 queues it but warns that pg 9 will refuse it. The pools the
// operator makes run their connect-time setting before a client is handed out, for the same reason.
import pg from 'pg';
import { createPool } from '../../../src/store/connection.js';
import { oneQueryAtATime, withClient } from '../../../src/store/transactions.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';

const CONCURRENT = /already executing a query/;
let server: PostgresServer;
const warnings: string[] = [];
const onWarning = (w: Error): void => void warnings.push(w.message);

beforeAll(async () => {
  server = await startPostgres();
  process.on('warning', onWarning);
}, 60_000);

afterAll(async () => {
  process.off('warning', onWarning);
  await server?.stop();
});

/** pg's own view of the client: whether a query is on the wire now (its private field, read-only here). */
const busy = (c: pg.PoolClient): boolean => (c as unknown as { _activeQuery: unknown })._activeQuery != null;

describe('one query at a time on a client', () => {
  it('sends queries made at once one after another, in order, each with its own answer and error', async () => {
    const pool = new pg.Pool({ connectionString: server.url, max: 1 });
    try {
      await withClient(pool, (c) =>
        oneQueryAtATime(c, async () => {
          const overlapped: boolean[] = [];
          const query = c.query.bind(c) as (sql: string) => Promise<pg.QueryResult>;
          // Eleven at once, the way a timer's query lands beside the owner's: the fifth fails.
          const answers = await Promise.allSettled(
            Array.from({ length: 11 }, (_, i) => {
              overlapped.push(busy(c));
              return query(i === 4 ? 'SELECT 1/0' : `SELECT ${i} AS i, pg_sleep(0.01)`);
            }),
          );
          expect(answers.map((a) => (a.status === 'fulfilled' ? a.value.rows[0].i : 'failed'))).toEqual([0, 1, 2, 3, 'failed', 5, 6, 7, 8, 9, 10]);
          expect(overlapped.every((b) => !b)).toBe(true); // nothing on the wire yet when each was made
          expect(String((answers[4] as PromiseRejectedResult).reason)).toMatch(/division by zero/);
        }),
      );
      // Outside, the client is pg's own again.
      await withClient(pool, async (c) => expect(Object.prototype.hasOwnProperty.call(c, 'query')).toBe(false));
    } finally {
      await pool.end();
    }
    await new Promise((r) => setImmediate(r));
    expect(warnings.filter((w) => CONCURRENT.test(w))).toEqual([]);
  });

  it("hands out a pool's new client only after its connect-time setting ran: the first query does not overlap it", async () => {
    const pool = createPool({ url: server.url });
    try {
      const client = await pool.connect();
      try {
        expect(busy(client)).toBe(false); // nothing of the pool's still on the wire
        const { rows } = await client.query<{ idle: string }>("SELECT current_setting('tcp_keepalives_idle') AS idle");
        expect(rows[0]!.idle).toBe('10'); // the keepalive setting was there before the first query
      } finally {
        client.release();
      }
    } finally {
      await pool.end();
    }
  });
});
