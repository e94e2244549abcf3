// The one way to borrow a pooled PostgreSQL client (withClient) and to run a transaction on it
// (withTransaction, inTransaction): a client whose connection failed, or that may hold session
// state nobody can undo, is destroyed instead of going back to the pool. Used for the control-plane
// database and the cells' databases alike.
import type { Pool, PoolClient } from 'pg';
import { isTransientDatabaseError } from './database-errors.js';

/** Something that runs a query: a pool, or a client (inside a transaction). */
export type Queryable = Pool | PoolClient;

export interface WithClientOptions {
  /**
   * Which errors of `fn` destroy the client. 'transient' (default): only a failed connection;
   * 'any': every error, for clients that hold session state (an advisory lock, an open COPY).
   */
  discardOn?: 'transient' | 'any';
}

/**
 * Runs `fn` on a client of `pool` and releases it. `lost()` tells whether the connection failed
 * meanwhile (an idle checked-out client has no other 'error' listener: without ours a dropped
 * connection would crash the process instead of failing the pending query).
 */
export async function withClient<T>(pool: Pool, fn: (client: PoolClient, lost: () => boolean) => Promise<T>, options: WithClientOptions = {}): Promise<T> {
  const client = await pool.connect();
  let broken: Error | undefined;
  const onError = (err: Error): void => {
    broken = err;
  };
  client.on('error', onError);
  try {
    return await fn(client, () => broken !== undefined);
  } catch (err) {
    if (options.discardOn === 'any' || isTransientDatabaseError(err)) broken ??= err instanceof Error ? err : new Error(String(err));
    throw err;
  } finally {
    client.off('error', onError);
    if (discarded.has(client)) broken ??= new Error('client discarded');
    client.release(broken);
  }
}

// Clients whose session is in an unknown state (a failed ROLLBACK or unlock): withClient destroys them.
const discarded = new WeakSet<PoolClient>();

/** Marks a client borrowed through withClient to be destroyed instead of returned to the pool. */
export function discardClient(client: PoolClient): void {
  discarded.add(client);
}

/**
 * BEGIN … COMMIT on a client the caller holds; ROLLBACK (and rethrow) when `fn` fails. `begin`:
 * the query that opens the transaction, BEGIN and the first statements of it in one round trip.
 */
export async function inTransaction<T>(client: PoolClient, fn: () => Promise<T>, begin = 'BEGIN'): Promise<T> {
  try {
    await client.query(begin);
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    // The error that matters is fn's; a failed ROLLBACK only marks the client for destruction.
    await client.query('ROLLBACK').catch(() => discardClient(client));
    throw err;
  }
}

/** Runs `fn` in a transaction on its own client; a client whose connection failed is discarded. */
export async function withTransaction<T>(pool: Pool, fn: (client: PoolClient) => Promise<T>): Promise<T> {
  return withClient(pool, async (client) => inTransaction(client, () => fn(client)));
}

/**
 * Runs `fn` with the promise queries on `client` sent one after another, each when the one before
 * it has answered: pg 8 queues a query sent while another runs but warns that pg 9 will refuse it,
 * and a client with a timer of its own beside its owner's queries (the move lock's heartbeat) sends
 * them so. Queries with a callback and submittables (COPY streams) go through as before.
 */
export async function oneQueryAtATime<T>(client: PoolClient, fn: () => Promise<T>): Promise<T> {
  const query = client.query;
  let tail: Promise<unknown> = Promise.resolve();
  const serial = (...args: unknown[]): unknown => {
    const first = args[0] as { submit?: unknown } | undefined;
    if (typeof args[args.length - 1] === 'function' || typeof first?.submit === 'function') return (query as (...a: unknown[]) => unknown).apply(client, args);
    const run = (): unknown => (query as (...a: unknown[]) => unknown).apply(client, args);
    const answer = tail.then(run, run);
    tail = answer.catch(() => undefined);
    return answer;
  };
  Object.defineProperty(client, 'query', { value: serial, configurable: true, writable: true });
  try {
    return await fn();
  } finally {
    delete (client as { query?: unknown }).query; // the prototype's again
  }
}
