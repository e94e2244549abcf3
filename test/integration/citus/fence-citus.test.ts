// The write fence inside a real Citus cell: the tenant tables are distributed, so a writer's
// trigger runs on the worker that holds the customer's shard and takes its per-customer lock there.
// The fence's drain must wait for that worker-side writer, not only for writers on the coordinator,
// or a write in flight on a worker lands after the final sync and is lost.
import pg from 'pg';
import { changeFences, fenceCustomer, installFence, liftFence, markCustomer, ownMove, readFence } from '../../../src/data/cell-fence.js';
import { FENCE_SCHEMA_VERSION, FENCE_SQLSTATE, fenceRefusal, LOST_OWNERSHIP_SQLSTATE, moverSql, ownMoveSql } from '../../../src/data/cell-fence-sql.js';
import { classifyDatabaseError } from '../../../src/store/database-errors.js';
import { startCitus, type CitusCluster } from '../../support/citus.js';
import { quietPool, TELEMETRY_SCHEMA } from '../data/cells-fixture.js';

const TIMEOUT = 300_000;
const TABLES = [
  { schema: 'public', table: 'readings' },
  { schema: 'public', table: 'events' },
  { schema: 'public', table: 'devices' },
];

let cluster: CitusCluster;
let pool: pg.Pool;

beforeAll(async () => {
  cluster = await startCitus({ workers: 2 });
  const url = await cluster.createDatabase('cell');
  await cluster.registerWorkers(url);
  pool = quietPool(url, 10);
  await pool.query(TELEMETRY_SCHEMA);
  for (const t of TABLES) await pool.query(`SELECT create_distributed_table($1, 'customer_id', shard_count => 4)`, [t.table]);
  await installFence(pool, 'customer_id', TABLES);
}, TIMEOUT);

afterAll(async () => {
  await pool?.end();
  await cluster?.stop();
}, TIMEOUT);

async function error(p: Promise<unknown>): Promise<{ code?: string; message: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected the statement to fail');
}

/** The port of the worker that holds the customer's shard of `readings` (never the coordinator here). */
async function workerOf(customer: string): Promise<number> {
  const { rows } = await pool.query<{ port: number }>(
    `SELECT n.nodeport AS port FROM pg_dist_placement p JOIN pg_dist_node n ON n.groupid = p.groupid
      WHERE p.shardid = get_shard_id_for_distribution_column('readings', $1::text)`,
    [customer],
  );
  return rows[0]!.port;
}

describe('the write fence on Citus', () => {
  it('refuses a fenced customer on the worker that holds its shard', async () => {
    expect(await workerOf('acme')).not.toBe(cluster.coordinator.port);
    await markCustomer(pool, 'acme', 'm-1', 'Fenced');
    try {
      expect((await error(pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 1, 'd', 1)`))).code).toBe(FENCE_SQLSTATE);
    } finally {
      await liftFence(pool, 'acme', 'm-1');
    }
    await pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 1, 'd', 1)`);
  });

  it("waits for the customer's open transaction on its worker and fails after the bound, leaving no fence behind", async () => {
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 30, 'd', 1)`);
      const started = Date.now();
      const failed = await error(fenceCustomer(pool, 'acme', 'm-2', 'Fenced', 500));
      expect(failed.code).toBe('55P03');
      expect(Date.now() - started).toBeGreaterThanOrEqual(400);
      expect(await readFence(pool, 'acme')).toBeUndefined();
      await writer.query('COMMIT'); // never refused: the customer was not fenced
    } finally {
      writer.release();
    }
  });

  it("waits for the customer's open transaction on its worker and includes its rows when it commits within the bound", async () => {
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 40, 'd', 1)`);
      const fencing = fenceCustomer(pool, 'acme', 'm-3', 'Fenced', 10_000);
      let done = false;
      void fencing.then(() => (done = true), () => (done = true));
      await new Promise((r) => setTimeout(r, 500));
      expect(done).toBe(false); // still draining: the writer on the worker holds the customer
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 41, 'd', 1)`);
      await writer.query('COMMIT');
      await fencing;
      const { rows } = await pool.query(`SELECT id FROM readings WHERE customer_id = 'acme' AND id IN (40, 41) ORDER BY id`);
      expect(rows).toEqual([{ id: '40' }, { id: '41' }]);
      expect(await readFence(pool, 'acme')).toMatchObject({ migration: 'm-3', role: 'Fenced' });
      expect((await error(pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 42, 'd', 1)`))).code).toBe(FENCE_SQLSTATE);
    } finally {
      writer.release();
      await liftFence(pool, 'acme', 'm-3');
    }
  });

  it('holds a customer that passed in a batch on its worker: a MovingIn mark waits for it, then refuses the next batch', async () => {
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      // Many rows of one customer: the trigger function runs for the first, the WHEN skips the rest.
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) SELECT 'acme', 1000 + g, 'd', g FROM generate_series(0, 99) g`);
      const marking = markCustomer(pool, 'acme', 'm-in', 'MovingIn', 10_000);
      let done = false;
      void marking.then(() => (done = true), () => (done = true));
      await new Promise((r) => setTimeout(r, 500));
      expect(done).toBe(false);
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) SELECT 'acme', 1100 + g, 'd', g FROM generate_series(0, 99) g`);
      await writer.query('COMMIT');
      await marking;
      const values = await error(pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 1200, 'd', 1), ('acme', 1201, 'd', 1)`));
      expect(values.code).toBe(FENCE_SQLSTATE);
      // INSERT … SELECT goes through Citus's COPY to the shards, which reports the worker's error as
      // XX000 (multi_copy.c ReportCopyError) but keeps its message and DETAIL.
      const selected = await error(pool.query(`INSERT INTO readings (customer_id, id, device, value) SELECT 'acme', 1300 + g, 'd', g FROM generate_series(0, 99) g`));
      expect(selected).toMatchObject({ detail: 'customer=acme migration=m-in fence=MovingIn' });
      // …and the operator's readers of a refusal know it for one: a writer asks the router again.
      expect(fenceRefusal(selected)).toEqual({ customer: 'acme', migration: 'm-in', role: 'MovingIn' });
      expect(classifyDatabaseError(selected).reason).toBe('CustomerFenced');
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM readings WHERE customer_id = 'acme' AND id >= 1000`);
      expect(rows).toEqual([{ n: 200 }]);
    } finally {
      writer.release();
      await liftFence(pool, 'acme', 'm-in');
    }
  });

  it("checks a batch of many customers on every worker: one fenced customer refuses all of it, and the batch goes through once lifted", async () => {
    // 40 customers over 4 shards: every shard's statement carries several customers.
    const batch = (from: number) =>
      `INSERT INTO readings (customer_id, id, device, value) SELECT 'batch-' || (g % 40), ${from} + g, 'd', g FROM generate_series(0, 199) g`;
    expect(await workerOf('batch-17')).not.toBe(cluster.coordinator.port);
    await markCustomer(pool, 'batch-17', 'm-batch', 'Fenced');
    try {
      expect(fenceRefusal(await error(pool.query(batch(3000))))).toEqual({ customer: 'batch-17', migration: 'm-batch', role: 'Fenced' });
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM readings WHERE id BETWEEN 3000 AND 3199`);
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await liftFence(pool, 'batch-17', 'm-batch');
    }
    await pool.query(batch(3000));
    const { rows } = await pool.query(`SELECT count(DISTINCT customer_id)::int AS customers, count(*)::int AS n FROM readings WHERE id BETWEEN 3000 AND 3199`);
    expect(rows).toEqual([{ customers: 40, n: 200 }]);
  });

  describe("a batch's fence change (many customers in one distributed write)", () => {
    /** Customers whose shards lie on different workers (never the coordinator), then any. */
    async function onTwoWorkers(prefix: string, n: number): Promise<string[]> {
      const byWorker = new Map<number, string>();
      for (let i = 0; byWorker.size < 2 && i < 100; i++) {
        const port = await workerOf(`${prefix}-${i}`);
        if (!byWorker.has(port)) byWorker.set(port, `${prefix}-${i}`);
      }
      expect(byWorker.size).toBe(2);
      expect([...byWorker.keys()]).not.toContain(cluster.coordinator.port);
      const chosen = [...byWorker.values()];
      for (let i = 100; chosen.length < n; i++) chosen.push(`${prefix}-${i}`);
      return chosen;
    }

    /** Two customers whose shards lie on the same worker: their drains run there one after the other. */
    async function onOneWorker(prefix: string): Promise<string[]> {
      const first = `${prefix}-0`;
      const port = await workerOf(first);
      expect(port).not.toBe(cluster.coordinator.port);
      for (let i = 1; i < 100; i++) if ((await workerOf(`${prefix}-${i}`)) === port) return [first, `${prefix}-${i}`];
      throw new Error('no second customer on the same worker');
    }
    const owners = (migration: string, customers: readonly string[]) => customers.map((customer) => ({ migration, customer, epoch: '3' }));

    /** Open writes of each customer on its worker, committed `endsMs[i]` ms from now (`Infinity`: at the end of the test). */
    async function openWriters(customers: readonly string[], firstId: number, endsMs: readonly number[]) {
      const clients: pg.PoolClient[] = [];
      const commits: Promise<unknown>[] = [];
      for (const [i, c] of customers.entries()) {
        const w = await pool.connect();
        clients.push(w);
        await w.query('BEGIN');
        await w.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, $2, 'd', 1)`, [c, firstId + i]);
        if (Number.isFinite(endsMs[i])) commits.push(new Promise((r) => setTimeout(r, endsMs[i])).then(() => w.query('COMMIT')));
      }
      return {
        commits,
        async end() {
          for (const w of clients) {
            await w.query('COMMIT').catch(() => undefined);
            w.release();
          }
        },
      };
    }

    it("fences every customer in one change, waiting for each one's writer on its worker, then refuses them all; the lift lets them all write again", async () => {
      const customers = await onTwoWorkers('batch-fence', 3);
      const writers = await openWriters(customers, 5000, [200, 700, 1_200]);
      try {
        const started = Date.now();
        await changeFences(pool, { owners: owners('m-bf', customers), drainMs: 10_000, set: { customers, migration: 'm-bf', role: 'Fenced' } });
        expect(Date.now() - started).toBeGreaterThanOrEqual(1_100); // the last writer was waited for
        await Promise.all(writers.commits); // every writer committed: none was refused
        const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM readings WHERE id BETWEEN 5000 AND 5002`);
        expect(rows).toEqual([{ n: 3 }]);
        for (const c of customers) {
          expect(await readFence(pool, c)).toMatchObject({ migration: 'm-bf', role: 'Fenced' });
          expect(fenceRefusal(await error(pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, 5100, 'd', 1)`, [c])))).toEqual({ customer: c, migration: 'm-bf', role: 'Fenced' });
        }
        await changeFences(pool, { owners: owners('m-bf', customers), lift: { customers, migration: 'm-bf' } });
        for (const c of customers) expect(await readFence(pool, c)).toBeUndefined();
        await pool.query(`INSERT INTO readings (customer_id, id, device, value) SELECT c, 5200 + i, 'd', 1 FROM unnest($1::text[]) WITH ORDINALITY u(c, i)`, [customers]);
      } finally {
        await writers.end();
      }
    });

    // Against 1.5 s each time, nothing is fenced past the bound, and no writer was refused.
    // On one worker: the first writer (0.5 s) is waited for, the second never ends; waited for one
    // after the other under 1.5 s each, the change would fail at 2 s. On two workers: a writer ending
    // at 1 s on one, one that never ends on the other; one worker after the other, it would fail at 2.5 s.
    it.each([
      ['on one worker, one customer after the other', 'batch-bound', 6000, 500, 1_950],
      ['on both workers at once', 'batch-nodes', 7000, 1_000, 2_200],
    ] as const)('ends within its bound in all, not the bound for each customer nor each worker: %s', async (_, prefix, firstId, firstEndsMs, atMostMs) => {
      const customers = prefix === 'batch-bound' ? await onOneWorker(prefix) : await onTwoWorkers(prefix, 2);
      const writers = await openWriters(customers, firstId, [firstEndsMs, Infinity]);
      try {
        const started = Date.now();
        const failed = await error(changeFences(pool, { owners: owners(prefix, customers), drainMs: 1_500, set: { customers, migration: prefix, role: 'Fenced' } }));
        const took = Date.now() - started;
        expect(failed.code).toBe('55P03');
        expect(took).toBeGreaterThanOrEqual(1_400);
        expect(took).toBeLessThan(atMostMs);
        for (const c of customers) expect(await readFence(pool, c)).toBeUndefined();
        await Promise.all(writers.commits);
      } finally {
        await writers.end();
      }
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM readings WHERE id BETWEEN $1 AND $1 + 1`, [firstId]);
      expect(rows).toEqual([{ n: 2 }]);
    });
  });

  it('is not held up by an open transaction of another customer', async () => {
    const other = await pool.connect();
    try {
      await other.query('BEGIN');
      await other.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('other', 50, 'd', 1)`);
      const started = Date.now();
      await fenceCustomer(pool, 'acme', 'm-4', 'Fenced', 3_000);
      expect(Date.now() - started).toBeLessThan(2_000);
      await other.query('COMMIT');
    } finally {
      other.release();
      await liftFence(pool, 'acme', 'm-4');
    }
  });

  it('tells a REPEATABLE READ writer whose snapshot predates a fence to retry, instead of writing past it', async () => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await c.query(`SELECT count(*) FROM readings WHERE customer_id = 'acme'`); // the snapshot, before the fence
      await markCustomer(pool, 'acme', 'm-rr', 'Fenced');
      expect((await error(c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 60, 'd', 1)`))).code).toBe('40001');
      await c.query('ROLLBACK');
    } finally {
      c.release();
      await liftFence(pool, 'acme', 'm-rr');
    }
  });

  it("refuses a move's transaction from an owner older than the one the cell knows, checked on the coordinator, and lets the newest one write into the shards", async () => {
    const newest = { migration: 'm-own', customer: 'acme', epoch: '20' };
    await ownMove(pool, newest);
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      const stale = await error(c.query(ownMoveSql({ ...newest, epoch: '10' })));
      expect(stale).toMatchObject({ code: LOST_OWNERSHIP_SQLSTATE, message: expect.stringContaining('owned by another operator now (owner epoch 20, this one 10)') });
      await c.query('ROLLBACK');
      // As the move's transactions do (range-copy.ts): the check, then the mover's settings, each a query.
      await c.query('BEGIN');
      await c.query(ownMoveSql(newest));
      await c.query(moverSql(newest));
      await c.query(`INSERT INTO readings (customer_id, id, device, value) SELECT 'acme', 2000 + g, 'd', g FROM generate_series(0, 9) g`);
      await c.query('COMMIT');
    } finally {
      c.release();
    }
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM readings WHERE customer_id = 'acme' AND id >= 2000`);
    expect(rows).toEqual([{ n: 10 }]);
  });

  it('upgrades a version-6 cell in place with a customer fenced across the upgrade: the fence still refuses on the worker, REPEATABLE READ writers are told to retry after the next change, and the lift numbers every node', async () => {
    const url = await cluster.createDatabase('cell_v6');
    await cluster.registerWorkers(url);
    const db = quietPool(url, 5);
    const nodeUrls = [cluster.coordinator, ...cluster.workers].map((n) => n.url.replace(/\/[^/]*$/, '/cell_v6'));
    try {
      await db.query(TELEMETRY_SCHEMA);
      await db.query(`SELECT create_distributed_table('readings', 'customer_id', shard_count => 4)`);
      await installFence(db, 'customer_id', [{ schema: 'public', table: 'readings' }]);
      // Version 6 as it was: without step 7's trigger and functions (the workers kept their sequences).
      const c = await db.connect();
      try {
        await c.query('BEGIN');
        await c.query('SET LOCAL citus.enable_unsafe_triggers = on');
        await c.query('DROP TRIGGER cell_operator_generation ON cell_operator.fence_state');
        await c.query('DROP FUNCTION cell_operator.raise_fence_generation(), cell_operator.number_fence_change()');
        await c.query('DELETE FROM cell_operator.schema_version WHERE version > 6');
        await c.query('COMMIT');
        // A fence as version 6 set it: the row, then the number written as a constant and raised on the workers.
        await c.query('BEGIN');
        await c.query(`INSERT INTO cell_operator.fenced_customers (customer_id, migration, role) VALUES ('globex', 'm-up', 'Fenced')`);
        await c.query('UPDATE cell_operator.fence_state SET generation = generation');
        const { rows } = await c.query<{ g: string }>(`SELECT (GREATEST((SELECT generation FROM cell_operator.fence_state), (SELECT last_value FROM cell_operator.fence_generation)) + 1)::text AS g`);
        const g = rows[0]!.g;
        await c.query('UPDATE cell_operator.fence_state SET generation = $1::bigint', [g]);
        await c.query(`SELECT setval('cell_operator.fence_generation', $1::bigint)`, [g]);
        await c.query(`SELECT run_command_on_workers($1)`, [`SELECT setval('cell_operator.fence_generation', ${g})`]);
        await c.query('COMMIT');
      } finally {
        c.release();
      }
      const write = (p: pg.Pool | pg.PoolClient, id: number) => p.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('globex', ${id}, 'd', 1)`);
      expect((await error(write(db, 1))).code).toBe(FENCE_SQLSTATE);

      await ownMove(db, { migration: 'm-up', customer: 'globex', epoch: '5' }); // a move's first step upgrades the cell
      const versions = await db.query<{ version: number }>('SELECT version FROM cell_operator.schema_version ORDER BY version');
      expect(versions.rows.map((r) => r.version)).toEqual(Array.from({ length: FENCE_SCHEMA_VERSION }, (_, i) => i + 1));
      expect(await readFence(db, 'globex')).toMatchObject({ migration: 'm-up', role: 'Fenced' });
      expect((await error(write(db, 2))).code).toBe(FENCE_SQLSTATE);

      // A REPEATABLE READ writer of another customer whose snapshot predates the next change retries.
      const rr = await db.connect();
      try {
        await rr.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
        await rr.query(`SELECT count(*) FROM readings WHERE customer_id = 'initech'`);
        await markCustomer(db, 'globex', 'm-up', 'MovedOut', 1_000, { migration: 'm-up', customer: 'globex', epoch: '5' });
        expect((await error(rr.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('initech', 1, 'd', 1)`))).code).toBe('40001');
        await rr.query('ROLLBACK');
      } finally {
        rr.release();
      }
      expect((await error(write(db, 3))).code).toBe(FENCE_SQLSTATE);

      await liftFence(db, 'globex', 'm-up', { migration: 'm-up', customer: 'globex', epoch: '5' });
      await write(db, 4);
      // Every node's sequence at the committed number, raised by the change itself.
      const generations: string[] = [];
      for (const nodeUrl of nodeUrls) {
        const node = new pg.Client({ connectionString: nodeUrl });
        await node.connect();
        try {
          const { rows } = await node.query<{ g: string; s: string }>('SELECT (SELECT generation FROM cell_operator.fence_state)::text AS g, (SELECT last_value FROM cell_operator.fence_generation)::text AS s');
          generations.push(`${rows[0]!.g}/${rows[0]!.s}`);
        } finally {
          await node.end();
        }
      }
      const [first] = generations;
      expect(first).toMatch(/^(\d+)\/\1$/);
      expect(generations).toEqual(generations.map(() => first));
    } finally {
      await db.end();
    }
  });
});
