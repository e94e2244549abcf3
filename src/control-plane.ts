// The operator's control-plane database, opened in the background: with the database down at
// start the operator still runs the Cell controller, while the controllers that need the database
// (placement, migration) report that they wait for it (a gauge, a log line every minute) and start
// working once it answers. A database URL that is wrong in a way waiting cannot fix still fails.
import type { Pool } from 'pg';
import { Gauge, type Registry } from 'prom-client';
import type { Logger } from './log.js';
import { retryUntilAvailable } from './runtime/start-retry.js';
import { isTransientDatabaseError } from './store/database-errors.js';
import { openStore, type Store } from './store/store.js';
import type { ReconcileResult } from './runtime/work-queue.js';

/** How often a controller waiting for the database looks again at a key. */
export const WAITING_REQUEUE_MS = 15_000;

export class ControlPlane {
  private store?: Store;
  private failed?: Error;
  private readonly abort = new AbortController();
  private readonly waiting: Gauge<'controller'>;
  readonly opened: Promise<void>;

  constructor(
    private readonly url: string | undefined,
    private readonly log: Logger,
    registry: Registry,
    /** The controllers that cannot work without the database, for the gauge. */
    private readonly dependents: readonly string[],
  ) {
    this.waiting = new Gauge({
      name: 'cell_operator_controller_waiting',
      help: 'Controllers waiting for the control-plane database (1: waiting; it was unreachable when the operator started)',
      labelNames: ['controller'],
      registers: [registry],
    });
    if (!url) {
      log.warn('no control-plane database (--database-url / CONTROL_PLANE_DATABASE_URL): customer counts stay 0 and CustomerPlacements are not placed');
      this.opened = Promise.resolve();
      return;
    }
    for (const name of dependents) this.waiting.labels(name).set(1);
    this.opened = this.open();
  }

  private async open(): Promise<void> {
    try {
      const store = await retryUntilAvailable(() => openStore({ url: this.url, applicationName: 'cell-operator' }, { log: this.log }), {
        what: `the control-plane database (the ${this.dependents.join(' and ')} controllers wait for it)`,
        log: this.log,
        retryable: isTransientDatabaseError,
        signal: this.abort.signal,
      });
      if (!store) return;
      this.store = store;
      for (const name of this.dependents) this.waiting.labels(name).set(0);
    } catch (err) {
      // Not worth waiting for (a wrong password, a bad URL): said once, loudly; controllers keep waiting.
      this.failed = err as Error;
      this.log.error({ err: (err as Error).message }, 'cannot open the control-plane database: fix --database-url; the placement and migration controllers stay idle');
    }
  }

  /** The pool once the database has answered. */
  get pool(): Pool | undefined {
    return this.store?.pool;
  }

  get configured(): boolean {
    return this.url !== undefined;
  }

  get problem(): Error | undefined {
    return this.failed;
  }

  async close(): Promise<void> {
    this.abort.abort();
    await this.store?.close();
  }
}

/**
 * A reconcile that needs the control-plane database: while it is configured but has not answered
 * yet (down at start), the key waits (ControlPlane reports it) instead of being judged without it.
 */
export function whenDatabase(controlPlane: ControlPlane, reconcile: (key: string) => Promise<ReconcileResult | void>): (key: string) => Promise<ReconcileResult | void> {
  return async (key) => (controlPlane.configured && !controlPlane.pool ? { requeueAfter: WAITING_REQUEUE_MS } : reconcile(key));
}
