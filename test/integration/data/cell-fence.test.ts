// The write fence inside a real PostgreSQL cell database: installed idempotently, it refuses a
// fenced customer's inserts, updates and deletes with its own SQLSTATE and a message a gateway can
// act on, lets the move's own writes through, and drains only the fenced customer's transactions.
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import pgCopy from 'pg-copy-streams';
import { fenceCustomer, installFence, liftFence, markCustomer, readFence } from '../../../src/data/cell-fence.js';
import {
  CREATE_SCHEMA_SQL,
  FENCE_SCHEMA_STEPS,
  stepStatements,
  FENCE_SQLSTATE,
  fenceFunctionName,
  fenceRefusal,
  moverSql,
} from '../../../src/data/cell-fence-sql.js';
import { startPostgres, type PostgresServer } from '../../support/postgres.js';
import { quietPool, TELEMETRY_SCHEMA } from './cells-fixture.js';

const TABLES = [
  { schema: 'public', table: 'readings' },
  { schema: 'public', table: 'events' },
  { schema: 'public', table: 'devices' },
];

let server: PostgresServer;
let pool: pg.Pool;

beforeAll(async () => {
  server = await startPostgres();
  pool = quietPool(server.url, 10);
  await pool.query(TELEMETRY_SCHEMA);
  await pool.query(`INSERT INTO devices (customer_id, device_id, name) VALUES ('acme', 'd1', 'one'), ('acme', 'd2', 'two'), ('other', 'd1', 'x')`);
}, 60_000);

afterAll(async () => {
  await pool?.end();
  await server?.stop();
});

async function error(p: Promise<unknown>): Promise<{ code?: string; message: string; detail?: string; hint?: string }> {
  try {
    await p;
  } catch (err) {
    return err as { code?: string; message: string };
  }
  throw new Error('expected the statement to fail');
}

describe('the write fence in a cell database', () => {
  it('installs once: a second install adds nothing and a concurrent one waits for the first', async () => {
    const [a, b] = await Promise.all([installFence(pool, 'customer_id', TABLES), installFence(pool, 'customer_id', TABLES)]);
    expect([...a, ...b].map((t) => t.table).sort()).toEqual(['devices', 'events', 'readings']);
    expect(await installFence(pool, 'customer_id', TABLES)).toEqual([]);
    const { rows } = await pool.query<{ version: number }>('SELECT version FROM cell_operator.schema_version');
    expect(rows.map((r) => r.version).sort()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it('puts back a trigger that was disabled or dropped by hand, and only that one', async () => {
    await pool.query('ALTER TABLE events DISABLE TRIGGER cell_operator_fence_insert');
    await pool.query('DROP TRIGGER cell_operator_fence ON devices');
    expect((await installFence(pool, 'customer_id', TABLES)).map((t) => t.table).sort()).toEqual(['devices', 'events']);
    const { rows } = await pool.query<{ table: string; trigger: string; enabled: string }>(
      `SELECT c.relname AS table, t.tgname AS trigger, t.tgenabled AS enabled FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
        WHERE t.tgname LIKE 'cell_operator_fence%' ORDER BY 1, 2`,
    );
    expect(rows).toEqual(
      ['devices', 'events', 'readings'].flatMap((table) => [
        { table, trigger: 'cell_operator_fence', enabled: 'O' },
        { table, trigger: 'cell_operator_fence_insert', enabled: 'O' },
      ]),
    );
    expect(await installFence(pool, 'customer_id', TABLES)).toEqual([]);
  });

  it("refuses every insert, update and delete of a fenced customer, naming the customer, the migration and what to do, and nobody else's", async () => {
    await markCustomer(pool, 'acme', 'm-1', 'Fenced');
    const insert = await error(pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 1, 'd', 1)`));
    expect(insert.code).toBe(FENCE_SQLSTATE);
    expect(insert.message).toBe('customer acme is fenced for a move in this cell by migration m-1: ask the router again');
    expect(insert.hint).toMatch(/ask the router again/);
    expect(fenceRefusal(insert)).toEqual({ customer: 'acme', migration: 'm-1', role: 'Fenced' });
    expect((await error(pool.query(`UPDATE devices SET firmware = 2 WHERE customer_id = 'acme'`))).code).toBe(FENCE_SQLSTATE);
    expect((await error(pool.query(`DELETE FROM devices WHERE customer_id = 'acme'`))).code).toBe(FENCE_SQLSTATE);
    // Moving a row to the fenced customer, or away from it, is a write of that customer too.
    expect((await error(pool.query(`UPDATE devices SET customer_id = 'acme', device_id = 'd9' WHERE customer_id = 'other'`))).code).toBe(FENCE_SQLSTATE);
    await pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('other', 1, 'd', 1)`);
    await pool.query(`UPDATE devices SET firmware = 3 WHERE customer_id = 'other'`);
    const { rows } = await pool.query(`SELECT firmware FROM devices WHERE customer_id = 'acme' ORDER BY device_id`);
    expect(rows).toEqual([{ firmware: 0 }, { firmware: 0 }]);
  });

  it("lets the fencing migration's own writes through, and only them", async () => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(moverSql('m-1'));
      await c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 2, 'd', 2)`);
      await c.query('COMMIT');
      await c.query('BEGIN');
      await c.query(moverSql('m-other'));
      expect((await error(c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 3, 'd', 3)`))).code).toBe(FENCE_SQLSTATE);
      await c.query('ROLLBACK');
    } finally {
      c.release();
    }
  });

  it("refuses a COPY that carries a fenced customer's rows, all of it, and lets the move's own COPY through", async () => {
    const copy = (c: pg.PoolClient, lines: string): Promise<void> =>
      pipeline(Readable.from([Buffer.from(lines)]), c.query(pgCopy.from('COPY readings (customer_id, id, device, value) FROM STDIN')));
    await markCustomer(pool, 'copied', 'm-copy', 'Fenced');
    const c = await pool.connect();
    try {
      const refused = await error(copy(c, 'other\t500\td\t1\ncopied\t501\td\t1\nother\t502\td\t1\n'));
      expect(fenceRefusal(refused)).toEqual({ customer: 'copied', migration: 'm-copy', role: 'Fenced' });
      await c.query('BEGIN');
      await c.query(moverSql('m-copy'));
      await copy(c, 'copied\t503\td\t1\ncopied\t504\td\t1\n');
      await c.query('COMMIT');
      const { rows } = await pool.query(`SELECT customer_id, id::int FROM readings WHERE id BETWEEN 500 AND 504 ORDER BY id`);
      expect(rows).toEqual([
        { customer_id: 'copied', id: 503 },
        { customer_id: 'copied', id: 504 },
      ]);
    } finally {
      c.release();
      await liftFence(pool, 'copied', 'm-copy');
    }
  });

  it('says moved out and being moved in for the other two fences, and accepts writes again once lifted', async () => {
    await markCustomer(pool, 'acme', 'm-1', 'MovedOut');
    expect((await error(pool.query(`DELETE FROM readings WHERE customer_id = 'acme'`))).message).toMatch(/customer acme is moved out .* migration m-1: ask the router again/);
    await markCustomer(pool, 'acme', 'm-1', 'MovingIn');
    expect((await error(pool.query(`DELETE FROM readings WHERE customer_id = 'acme'`))).message).toMatch(/being moved in/);
    await liftFence(pool, 'acme', 'm-other'); // another migration's lift changes nothing
    expect(await readFence(pool, 'acme')).toMatchObject({ migration: 'm-1', role: 'MovingIn' });
    await liftFence(pool, 'acme', 'm-1');
    expect(await readFence(pool, 'acme')).toBeUndefined();
    await pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 4, 'd', 4)`);
  });

  it('tells a REPEATABLE READ writer whose snapshot predates a fence to retry, instead of writing past it', async () => {
    const c = await pool.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await c.query('SELECT count(*) FROM devices'); // the snapshot is taken here, before the fence
      await markCustomer(pool, 'acme', 'm-rr', 'Fenced');
      expect((await error(c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 5, 'd', 5)`))).code).toBe('40001');
      await c.query('ROLLBACK');
    } finally {
      c.release();
      await liftFence(pool, 'acme', 'm-rr');
    }
  });
  it('tells a REPEATABLE READ writer to retry when its snapshot falls between two fence changes that commit out of order', async () => {
    const holder = await pool.connect();
    const rr = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 60, 'd', 1)`);
      const fencing = fenceCustomer(pool, 'acme', 'm-ooo', 'Fenced', 5_000); // started first, waits for the holder
      await new Promise((r) => setTimeout(r, 200));
      await markCustomer(pool, 'bob', 'm-ooo-2', 'MovingIn'); // started second, commits first
      await rr.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await rr.query('SELECT count(*) FROM devices'); // the snapshot: after the second change, before the first
      await holder.query('COMMIT');
      await fencing;
      expect((await error(rr.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 61, 'd', 1)`))).code).toBe('40001');
      await rr.query('ROLLBACK');
    } finally {
      holder.release();
      rr.release();
      await liftFence(pool, 'acme', 'm-ooo');
      await liftFence(pool, 'bob', 'm-ooo-2');
    }
  });
});

describe('the per-customer drain', () => {
  it('is not held up by a long transaction of another customer', async () => {
    const other = await pool.connect();
    try {
      await other.query('BEGIN');
      await other.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('other', 10, 'd', 1)`);
      const started = Date.now();
      await fenceCustomer(pool, 'acme', 'm-2', 'Fenced', 2_000);
      expect(Date.now() - started).toBeLessThan(1_000);
      await other.query('COMMIT');
    } finally {
      other.release();
      await liftFence(pool, 'acme', 'm-2');
    }
  });

  it("waits for the customer's open transaction and includes its rows when it commits within the bound", async () => {
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 20, 'd', 1)`);
      const fencing = fenceCustomer(pool, 'acme', 'm-3', 'Fenced', 5_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(await readFence(pool, 'acme')).toBeUndefined(); // not committed while the writer runs
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 21, 'd', 1)`);
      await writer.query('COMMIT');
      await fencing;
      const { rows } = await pool.query(`SELECT id FROM readings WHERE customer_id = 'acme' AND id IN (20, 21) ORDER BY id`);
      expect(rows).toEqual([{ id: '20' }, { id: '21' }]);
      expect(await readFence(pool, 'acme')).toMatchObject({ migration: 'm-3', role: 'Fenced' });
    } finally {
      writer.release();
      await liftFence(pool, 'acme', 'm-3');
    }
  });

  it("fails after the bound when the customer's transaction stays open, leaving no fence behind", async () => {
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 30, 'd', 1)`);
      const started = Date.now();
      const failed = await error(fenceCustomer(pool, 'acme', 'm-4', 'Fenced', 400));
      expect(failed.code).toBe('55P03');
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(await readFence(pool, 'acme')).toBeUndefined();
      await writer.query('COMMIT'); // the writer was never refused: the customer was not fenced
    } finally {
      writer.release();
    }
  });

  it('leaves no REPEATABLE READ writer refused after a drain that failed', async () => {
    const holder = await pool.connect();
    const rr = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 35, 'd', 1)`);
      expect((await error(fenceCustomer(pool, 'acme', 'm-rr-2', 'Fenced', 300))).code).toBe('55P03');
      await holder.query('COMMIT');
      await rr.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await rr.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 36, 'd', 1)`);
      await rr.query('COMMIT');
    } finally {
      holder.release();
      rr.release();
    }
  });

  it('makes a write that arrives during the drain wait, then refuses it once the fence commits', async () => {
    const holder = await pool.connect();
    try {
      await holder.query('BEGIN');
      await holder.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 40, 'd', 1)`);
      const fencing = fenceCustomer(pool, 'acme', 'm-5', 'Fenced', 5_000);
      await new Promise((r) => setTimeout(r, 200));
      // Queued behind the fence's exclusive request, it reads the fence once it gets its turn.
      const late = error(pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 41, 'd', 1)`));
      await new Promise((r) => setTimeout(r, 200));
      await holder.query('COMMIT');
      await fencing;
      expect((await late).code).toBe(FENCE_SQLSTATE);
    } finally {
      holder.release();
      await liftFence(pool, 'acme', 'm-5');
    }
  });
});

describe('a customer that passed the fence in a transaction', () => {
  it('is remembered for the rest of the transaction: a fence of that customer, whatever its role, waits for the transaction', async () => {
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) SELECT 'acme', 100 + g, 'd', g FROM generate_series(0, 9) g`);
      // MovingIn sets no fence on a source, but it drains like one: the writer holds the customer's lock.
      const marking = markCustomer(pool, 'acme', 'm-in', 'MovingIn', 5_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(await readFence(pool, 'acme')).toBeUndefined();
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 110, 'd', 1)`);
      await writer.query('COMMIT');
      await marking;
      expect((await error(pool.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 111, 'd', 1)`))).code).toBe(FENCE_SQLSTATE);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM readings WHERE customer_id = 'acme' AND id BETWEEN 100 AND 111`);
      expect(rows).toEqual([{ n: 11 }]);
    } finally {
      writer.release();
      await liftFence(pool, 'acme', 'm-in');
    }
  });

  it('lets its later deletes and updates through, a fence of it waiting for the transaction, but never a row moved to a fenced customer', async () => {
    await pool.query(`INSERT INTO readings (customer_id, id, device, value) SELECT 'acme', 200 + g, 'd', g FROM generate_series(0, 9) g`);
    await markCustomer(pool, 'other', 'm-other', 'Fenced');
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      // Ten deletes and two updates of acme: remembered from the second row on.
      expect((await writer.query(`DELETE FROM readings WHERE customer_id = 'acme' AND id BETWEEN 200 AND 209`)).rowCount).toBe(10);
      expect((await writer.query(`UPDATE devices SET firmware = 7 WHERE customer_id = 'acme'`)).rowCount).toBe(2);
      // Moving a row of acme to the fenced customer is a write of that customer: refused all the same.
      const moved = await error(writer.query(`UPDATE devices SET customer_id = 'other', device_id = 'd8' WHERE customer_id = 'acme' AND device_id = 'd2'`));
      expect(fenceRefusal(moved)).toEqual({ customer: 'other', migration: 'm-other', role: 'Fenced' });
      await writer.query('ROLLBACK');

      // So is taking a row from the fenced customer to the one remembered.
      await writer.query('BEGIN');
      await writer.query(`UPDATE devices SET firmware = 7 WHERE customer_id = 'acme'`);
      const taken = await error(writer.query(`UPDATE devices SET customer_id = 'acme', device_id = 'd9' WHERE customer_id = 'other'`));
      expect(fenceRefusal(taken)).toEqual({ customer: 'other', migration: 'm-other', role: 'Fenced' });
      await writer.query('ROLLBACK');

      await writer.query('BEGIN');
      await writer.query(`DELETE FROM readings WHERE customer_id = 'acme' AND id BETWEEN 200 AND 204`);
      expect(fenceRefusal(await error(writer.query(`DELETE FROM devices WHERE customer_id = 'other'`)))).toMatchObject({ customer: 'other' });
      await writer.query('ROLLBACK');

      await writer.query('BEGIN');
      await writer.query(`DELETE FROM readings WHERE customer_id = 'acme' AND id BETWEEN 200 AND 204`);
      const marking = markCustomer(pool, 'acme', 'm-del', 'Fenced', 5_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(await readFence(pool, 'acme')).toBeUndefined(); // waits for the writer's lock
      await writer.query(`DELETE FROM readings WHERE customer_id = 'acme' AND id BETWEEN 205 AND 209`);
      await writer.query('COMMIT');
      await marking;
      expect(await readFence(pool, 'acme')).toMatchObject({ migration: 'm-del', role: 'Fenced' });
      expect((await error(pool.query(`DELETE FROM devices WHERE customer_id = 'acme'`))).code).toBe(FENCE_SQLSTATE);
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM readings WHERE customer_id = 'acme' AND id BETWEEN 200 AND 209`);
      expect(rows).toEqual([{ n: 0 }]);
      expect((await pool.query(`SELECT firmware FROM devices WHERE customer_id = 'acme' ORDER BY device_id`)).rows).toEqual([{ firmware: 0 }, { firmware: 0 }]);
    } finally {
      writer.release();
      await liftFence(pool, 'acme', 'm-del');
      await liftFence(pool, 'other', 'm-other');
    }
  });

  it('is forgotten with a savepoint rolled back, together with its lock', async () => {
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query('SAVEPOINT s');
      // Two rows: the customer is remembered from the second (once the transaction has written).
      await writer.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 120, 'd', 1), ('acme', 122, 'd', 1)`);
      await writer.query('ROLLBACK TO SAVEPOINT s');
      const started = Date.now();
      await markCustomer(pool, 'acme', 'm-sp', 'MovingIn', 2_000); // no lock left to wait for
      expect(Date.now() - started).toBeLessThan(1_000);
      expect((await error(writer.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 121, 'd', 1)`))).code).toBe(FENCE_SQLSTATE);
      await writer.query('ROLLBACK');
    } finally {
      writer.release();
      await liftFence(pool, 'acme', 'm-sp');
    }
  });

  it('checks every customer of a multi-customer insert, and the empty customer id too', async () => {
    await markCustomer(pool, '', 'm-empty', 'Fenced');
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query('SAVEPOINT s');
      await c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('other', 130, 'd', 1), ('other', 132, 'd', 1)`);
      await c.query('ROLLBACK TO SAVEPOINT s'); // the remembered customer now reads ''
      expect((await error(c.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('', 131, 'd', 1)`))).code).toBe(FENCE_SQLSTATE);
      await c.query('ROLLBACK');
      await markCustomer(pool, 'acme', 'm-mix', 'Fenced');
      const mixed = await error(
        pool.query(`INSERT INTO readings (customer_id, id, device, value) SELECT CASE WHEN g < 50 THEN 'other' ELSE 'acme' END, 200 + g, 'd', g FROM generate_series(0, 99) g`),
      );
      expect(fenceRefusal(mixed)).toEqual({ customer: 'acme', migration: 'm-mix', role: 'Fenced' });
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM readings WHERE id BETWEEN 200 AND 299`);
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      c.release();
      await liftFence(pool, '', 'm-empty');
      await liftFence(pool, 'acme', 'm-mix');
    }
  });
});

/** The version-2 trigger function, as that version installed it ($FN: its name). */
const VERSION_2_FUNCTION = `CREATE OR REPLACE FUNCTION $FN() RETURNS trigger LANGUAGE plpgsql AS $fn$
DECLARE
  c text;
  f record;
  pass int := 1;
BEGIN
  LOOP
    IF TG_OP = 'DELETE' OR (TG_OP = 'UPDATE' AND pass = 2) THEN c := OLD.customer_id::text; ELSE c := NEW.customer_id::text; END IF;
    PERFORM pg_advisory_xact_lock_shared(1717923427, hashtext(c));
    SELECT fc.role, fc.migration INTO f FROM cell_operator.fenced_customers fc WHERE fc.customer_id = c;
    IF FOUND THEN
      IF current_setting('cell_operator.move', true) IS DISTINCT FROM f.migration THEN
        RAISE EXCEPTION USING ERRCODE = 'ZF001', MESSAGE = format('customer %s is fenced', c), DETAIL = format('customer=%s migration=%s fence=%s', c, f.migration, f.role);
      END IF;
    END IF;
    EXIT WHEN NOT (TG_OP = 'UPDATE' AND pass = 1 AND OLD.customer_id IS DISTINCT FROM NEW.customer_id);
    pass := 2;
  END LOOP;
  IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
  RETURN NEW;
END
$fn$`;

describe('one statement of many customers (the ingestion worker\'s batch)', () => {
  const batch = (customers: string[], from: number) =>
    `INSERT INTO readings (customer_id, id, device, value) SELECT c, ${from} + o, 'd', o FROM unnest(ARRAY[${customers.map((c) => `'${c}'`).join(', ')}]) WITH ORDINALITY u(c, o)`;

  it("passes the move's own fence for its customer only: another migration's fence in the same statement refuses all of it", async () => {
    await markCustomer(pool, 'acme', 'm-own', 'MovingIn');
    await markCustomer(pool, 'zed', 'm-other', 'Fenced');
    const c = await pool.connect();
    try {
      await c.query('BEGIN');
      await c.query(moverSql('m-own'));
      const refused = await error(c.query(batch(['other', 'acme', 'zed', 'acme'], 400)));
      expect(fenceRefusal(refused)).toEqual({ customer: 'zed', migration: 'm-other', role: 'Fenced' });
      await c.query('ROLLBACK');
      await c.query('BEGIN');
      await c.query(moverSql('m-own'));
      await c.query(batch(['other', 'acme', 'acme'], 410)); // the move's own customer and an unfenced one
      await c.query('COMMIT');
      expect((await error(pool.query(batch(['other', 'acme'], 420)))).code).toBe(FENCE_SQLSTATE); // without the mover's setting
      const { rows } = await pool.query(`SELECT customer_id, id FROM readings WHERE id BETWEEN 400 AND 429 ORDER BY id`);
      expect(rows).toEqual([
        { customer_id: 'other', id: '411' },
        { customer_id: 'acme', id: '412' },
        { customer_id: 'acme', id: '413' },
      ]);
    } finally {
      c.release();
      await liftFence(pool, 'acme', 'm-own');
      await liftFence(pool, 'zed', 'm-other');
      await pool.query('DELETE FROM readings WHERE id BETWEEN 400 AND 429');
    }
  });

  it('holds the lock of every customer in it: a fence of any of them waits for the transaction', async () => {
    const writer = await pool.connect();
    try {
      await writer.query('BEGIN');
      await writer.query(batch(['c1', 'c2', 'c3', 'c2'], 440));
      const fencing = fenceCustomer(pool, 'c3', 'm-wait', 'Fenced', 5_000);
      await new Promise((r) => setTimeout(r, 300));
      expect(await readFence(pool, 'c3')).toBeUndefined(); // waits for the writer of c3
      await writer.query('COMMIT');
      await fencing;
      expect(await readFence(pool, 'c3')).toMatchObject({ migration: 'm-wait', role: 'Fenced' });
      expect((await error(pool.query(batch(['c1', 'c3'], 450)))).code).toBe(FENCE_SQLSTATE);
    } finally {
      writer.release();
      await liftFence(pool, 'c3', 'm-wait');
      await pool.query('DELETE FROM readings WHERE id BETWEEN 440 AND 459');
    }
  });

  it("tells a REPEATABLE READ writer to retry when one of its customers has no fence row and a fence changed after its snapshot, even beside the move's own customer", async () => {
    await markCustomer(pool, 'acme', 'm-rr-own', 'MovingIn');
    const c = await pool.connect();
    try {
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await c.query(moverSql('m-rr-own'));
      await c.query('SELECT count(*) FROM devices'); // the snapshot, before the next fence
      await markCustomer(pool, 'zed', 'm-rr-other', 'Fenced');
      expect((await error(c.query(batch(['acme', 'zed'], 460)))).code).toBe('40001');
      await c.query('ROLLBACK');
      // Only the move's own customer, whose fence row the snapshot holds: nothing to retry.
      await c.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await c.query(moverSql('m-rr-own'));
      await c.query('SELECT count(*) FROM devices');
      await markCustomer(pool, 'zed2', 'm-rr-other', 'Fenced');
      await c.query(batch(['acme', 'acme'], 470));
      await c.query('ROLLBACK');
    } finally {
      c.release();
      await liftFence(pool, 'acme', 'm-rr-own');
      await liftFence(pool, 'zed', 'm-rr-other');
      await liftFence(pool, 'zed2', 'm-rr-other');
    }
  });
});

describe('a partitioned tenant table', () => {
  it("refuses a fenced customer's inserts into the parent and into any partition, one created later too, and installs once", async () => {
    const url = await server.createDatabase('fence_partitioned');
    const db = quietPool(url, 5);
    try {
      await db.query(`CREATE TABLE metrics (customer_id text NOT NULL, id bigint NOT NULL, day date NOT NULL, PRIMARY KEY (customer_id, id, day)) PARTITION BY RANGE (day);
        CREATE TABLE metrics_2026 PARTITION OF metrics FOR VALUES FROM ('2026-01-01') TO ('2027-01-01')`);
      const table = [{ schema: 'public', table: 'metrics' }];
      expect(await installFence(db, 'customer_id', table)).toEqual(table);
      expect(await installFence(db, 'customer_id', table)).toEqual([]);
      await db.query(`CREATE TABLE metrics_2027 PARTITION OF metrics FOR VALUES FROM ('2027-01-01') TO ('2028-01-01')`);
      await markCustomer(db, 'acme', 'm-part', 'Fenced');
      for (const insert of [
        `INSERT INTO metrics VALUES ('acme', 1, '2026-05-01')`,
        `INSERT INTO metrics_2026 VALUES ('acme', 2, '2026-05-01')`, // a writer that knows the partition
        `INSERT INTO metrics_2027 VALUES ('acme', 3, '2027-05-01')`,
      ]) {
        expect({ insert, code: (await error(db.query(insert))).code }).toEqual({ insert, code: FENCE_SQLSTATE });
      }
      await db.query(`INSERT INTO metrics_2026 VALUES ('other', 4, '2026-05-01')`);
      expect((await db.query(`SELECT customer_id FROM metrics`)).rows).toEqual([{ customer_id: 'other' }]);
    } finally {
      await db.end();
    }
  });
});

describe('upgrading the fence schema', () => {
  it('brings a version-2 install to the current version: the new trigger functions, inserts checked once a statement, drains on every fence, and again changes nothing', async () => {
    const url = await server.createDatabase('fence_upgrade');
    const db = quietPool(url, 5);
    try {
      await db.query(TELEMETRY_SCHEMA);
      // Version 2 as it was installed: steps 1 and 2, its trigger function (without the remembered
      // customer), the trigger on every table.
      await db.query(CREATE_SCHEMA_SQL);
      for (const step of FENCE_SCHEMA_STEPS.filter((x) => x.version <= 2)) {
        for (const sql of stepStatements(step)) await db.query(sql);
        await db.query('INSERT INTO cell_operator.schema_version (version, name) VALUES ($1, $2)', [step.version, step.name]);
      }
      const fn = `cell_operator.${fenceFunctionName('customer_id')}`;
      await db.query(VERSION_2_FUNCTION.replace('$FN', fn));
      for (const t of TABLES) await db.query(`CREATE TRIGGER cell_operator_fence BEFORE INSERT OR UPDATE OR DELETE ON ${t.table} FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
      await db.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 1, 'd', 1)`);

      // Every table's row trigger is replaced by the pair: the row trigger on updates and deletes,
      // the statement trigger on inserts.
      expect(await installFence(db, 'customer_id', TABLES)).toEqual(TABLES);
      const versions = await db.query<{ version: number }>('SELECT version FROM cell_operator.schema_version ORDER BY version');
      expect(versions.rows.map((r) => r.version)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      const triggers = await db.query<{ table: string; def: string }>(
        `SELECT c.relname AS table, pg_get_triggerdef(t.oid) AS def FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          WHERE NOT t.tgisinternal AND c.relname = 'readings' ORDER BY t.tgname`,
      );
      expect(triggers.rows.map((r) => r.def.replace(/ EXECUTE FUNCTION .*/, ''))).toEqual([
        'CREATE TRIGGER cell_operator_fence BEFORE DELETE OR UPDATE ON public.readings FOR EACH ROW',
        'CREATE TRIGGER cell_operator_fence_insert AFTER INSERT ON public.readings REFERENCING NEW TABLE AS cell_operator_new_rows FOR EACH STATEMENT',
      ]);
      const source = await db.query<{ src: string }>(`SELECT prosrc AS src FROM pg_proc WHERE oid = $1::regprocedure`, [`${fn}()`]);
      expect(source.rows[0]?.src).toContain('cell_operator.passed');
      const again = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM cell_operator.schema_version');
      expect(await installFence(db, 'customer_id', TABLES)).toEqual([]);
      expect((await db.query<{ n: number }>('SELECT count(*)::int AS n FROM cell_operator.schema_version')).rows).toEqual(again.rows);

      // A MovingIn fence now waits for the customer's open writer (version 2 did not).
      const writer = await db.connect();
      try {
        await writer.query('BEGIN');
        await writer.query(`INSERT INTO readings (customer_id, id, device, value) SELECT 'acme', 10 + g, 'd', g FROM generate_series(0, 9) g`);
        expect((await error(markCustomer(db, 'acme', 'm-up', 'MovingIn', 300))).code).toBe('55P03');
        await writer.query('COMMIT');
      } finally {
        writer.release();
      }
      await markCustomer(db, 'acme', 'm-up', 'MovingIn');
      expect((await error(db.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('acme', 3, 'd', 1)`))).code).toBe(FENCE_SQLSTATE);
      expect((await error(db.query(`UPDATE readings SET value = 2 WHERE customer_id = 'acme'`))).code).toBe(FENCE_SQLSTATE);
      expect((await error(db.query(`DELETE FROM readings WHERE customer_id = 'acme'`))).code).toBe(FENCE_SQLSTATE);
      await db.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ('other', 4, 'd', 1)`);
    } finally {
      await db.end();
    }
  });
});
