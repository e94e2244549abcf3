// Keeps a RouteIndex equal to the placements table: LISTEN first, then catch up by version, then
// catch up again on every notification and on a timer. After any lost connection it reconnects
// and catches up from the index's version, so no change is ever missed; meanwhile the index keeps
// serving what it has, and `status()` says since when it may be stale.
import type pg from 'pg';
import type { Logger } from '../log.js';
import { backoffDelay } from '../runtime/backoff.js';
import { listCells } from '../store/cells.js';
import { createClient, type DatabaseSettings } from '../store/connection.js';
import { routeChangesSince } from '../store/placements.js';
import { CELLS_CHANNEL, ROUTES_CHANNEL } from '../store/schema.js';
import type { RouteIndex } from './route-index.js';

export interface IndexSyncOptions {
  database: DatabaseSettings;
  pool: pg.Pool;
  index: RouteIndex;
  log: Logger;
  /** Catch-up on a timer too (a safety net, and the database health check). Default 10 s. */
  pollIntervalMs?: number;
  /** Rows per catch-up query. Default 20,000. */
  pageSize?: number;
  /** Pause between a notification and the catch-up it causes. Default 20 ms. */
  notifyDelayMs?: number;
  /** Reconnect backoff bounds. Default 100 ms … 5 s. */
  minBackoffMs?: number;
  maxBackoffMs?: number;
}

export interface SyncStatus {
  loaded: boolean;
  /** The listener is connected and the last catch-up succeeded. */
  connected: boolean;
  /** When the database was first found unreachable since the last success, or null. */
  staleSince: Date | null;
  lastError: string | null;
  lastCatchUpAt: Date | null;
  version: number;
}

export class IndexSync {
  private listener: pg.Client | undefined;
  private listening = false;
  private stopped = false;
  private catchingUp: Promise<void> | undefined;
  private again = false;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  /** Reconnects failed in a row: the backoff's attempt. */
  private reconnects = 0;
  private readonly waiters: { version: number; resolve: () => void }[] = [];
  private staleSince: Date | null = new Date();
  private lastError: string | null = null;
  private lastCatchUpAt: Date | null = null;
  private readonly onLoaded: (() => void)[] = [];

  constructor(private readonly options: IndexSyncOptions) {}

  /** Connects and loads in the background; `loaded()` resolves after the initial load. */
  start(): void {
    this.stopped = false;
    void this.connect();
    const every = this.options.pollIntervalMs ?? 10_000;
    this.pollTimer = setInterval(() => void this.catchUp().catch(() => undefined), every);
    this.pollTimer.unref();
  }

  loaded(): Promise<void> {
    if (this.options.index.loaded) return Promise.resolve();
    return new Promise((resolve) => this.onLoaded.push(resolve));
  }

  status(): SyncStatus {
    return {
      loaded: this.options.index.loaded,
      connected: this.listening && this.staleSince === null,
      staleSince: this.staleSince,
      lastError: this.lastError,
      lastCatchUpAt: this.lastCatchUpAt,
      version: this.options.index.version,
    };
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    const client = this.listener;
    this.listener = undefined;
    this.listening = false;
    await client?.end().catch(() => undefined);
    await this.catchingUp?.catch(() => undefined);
    for (const w of this.waiters.splice(0)) w.resolve();
  }

  /** Resolves when the index has applied `version` (or after `timeoutMs`): read-your-writes. */
  waitFor(version: number, timeoutMs: number): Promise<boolean> {
    if (this.options.index.version >= version) return Promise.resolve(true);
    void this.catchUp().catch(() => undefined);
    return new Promise((resolve) => {
      const waiter = { version, resolve: () => resolve(this.options.index.version >= version) };
      this.waiters.push(waiter);
      setTimeout(() => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        resolve(this.options.index.version >= version);
      }, timeoutMs).unref();
    });
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const { log } = this.options;
    const client = createClient({ ...this.options.database, applicationName: this.options.database.applicationName ?? 'cell-router' });
    this.listener = client;
    let failed = false;
    const lost = (err?: Error): void => {
      if (failed || this.listener !== client) return;
      failed = true;
      this.listening = false;
      this.markStale(err?.message ?? 'listener connection ended');
      log.warn({ err: err?.message }, 'lost the database listener; serving from memory and reconnecting');
      client.end().catch(() => undefined);
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', () => lost());
    client.on('notification', (n) => {
      if (n.channel === ROUTES_CHANNEL) {
        const version = n.payload === undefined ? Infinity : Number(n.payload);
        if (version <= this.options.index.version) return;
        // A short pause first: when this replica wrote the change itself, it has usually applied
        // it by then (applyIfNext) and need not read it back.
        setTimeout(() => {
          if (version > this.options.index.version) void this.catchUp().catch(() => undefined);
        }, this.options.notifyDelayMs ?? 20).unref();
      } else if (n.channel === CELLS_CHANNEL) {
        void this.reloadCells().catch(() => undefined);
      }
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${ROUTES_CHANNEL}`);
      await client.query(`LISTEN ${CELLS_CHANNEL}`);
      if (failed) return;
      // Only now, with notifications flowing, is a catch-up guaranteed to leave no gap.
      this.listening = true;
      await this.reloadCells();
      await this.catchUp();
      this.reconnects = 0;
      log.info({ version: this.options.index.version, customers: this.options.index.size }, 'routing index in sync with the database');
    } catch (err) {
      lost(err as Error);
    }
  }

  private scheduleReconnect(): void {
    if (this.stopped || this.reconnectTimer) return;
    this.reconnects += 1;
    const delay = backoffDelay(this.reconnects, { baseMs: this.options.minBackoffMs ?? 100, maxMs: this.options.maxBackoffMs ?? 5000 });
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      void this.connect();
    }, delay);
    this.reconnectTimer.unref();
  }

  private markStale(message: string): void {
    this.lastError = message;
    this.staleSince ??= new Date();
  }

  private async reloadCells(): Promise<void> {
    const cells = await listCells(this.options.pool);
    this.options.index.setCells(cells.map((c) => ({ name: c.name, region: c.region, state: c.state, ready: c.ready, endpoints: c.endpoints })));
  }

  /** Applies every change after the index's version; single-flight, re-run if asked meanwhile. */
  catchUp(): Promise<void> {
    if (this.stopped) return Promise.resolve();
    if (this.catchingUp) {
      this.again = true;
      return this.catchingUp;
    }
    const run = async (): Promise<void> => {
      try {
        do {
          this.again = false;
          await this.catchUpOnce();
        } while (this.again && !this.stopped);
      } finally {
        this.catchingUp = undefined;
      }
    };
    this.catchingUp = run();
    return this.catchingUp;
  }

  private async catchUpOnce(): Promise<void> {
    const { index, pool } = this.options;
    const pageSize = this.options.pageSize ?? 20_000;
    try {
      for (;;) {
        const changes = await routeChangesSince(pool, index.version, pageSize);
        if (!index.loaded && changes.length === pageSize) index.reserve(index.size + pageSize * 2);
        index.applyAll(changes);
        this.release();
        if (changes.length < pageSize) break;
      }
    } catch (err) {
      this.markStale((err as Error).message);
      if (this.listening) {
        // The pool failed while the listener looked fine (e.g. a half-open socket): reconnect it.
        this.listener?.emit('error', err as Error);
      }
      throw err;
    }
    this.lastCatchUpAt = new Date();
    if (this.listening) {
      this.staleSince = null;
      this.lastError = null;
    }
    if (!index.loaded) {
      index.loaded = true;
      for (const resolve of this.onLoaded.splice(0)) resolve();
    }
  }

  private release(): void {
    const v = this.options.index.version;
    for (let i = this.waiters.length - 1; i >= 0; i--) {
      const w = this.waiters[i]!;
      if (w.version <= v) {
        this.waiters.splice(i, 1);
        w.resolve();
      }
    }
  }
}
