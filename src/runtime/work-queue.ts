// A keyed work queue: a key waits at most once, never runs twice at the same time (added while it
// runs, it runs again afterwards), at most `concurrency` keys run at once, a failing key backs off
// exponentially (reset by a success), and a worker may ask to run again after a delay.
import type { Logger } from '../log.js';
import { silentLogger } from '../log.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { systemClock, type Clock, type TimerHandle } from './clock.js';

export interface ReconcileResult {
  /** Run this key again after so many milliseconds, even if nothing changes. */
  requeueAfter?: number;
}

export type Worker = (key: string) => Promise<ReconcileResult | void>;

export interface WorkQueueObserver {
  /** Keys waiting to run, after every change. */
  depth?(waiting: number): void;
  /** How long a key waited between being added and starting to run. */
  waited?(ms: number): void;
}

export interface WorkQueueOptions {
  concurrency?: number;
  backoff?: BackoffPolicy;
  clock?: Clock;
  observer?: WorkQueueObserver;
  logger?: Logger;
}

export const defaultQueueBackoff: BackoffPolicy = { baseMs: 500, maxMs: 5 * 60_000 };

/**
 * The longest delay a timer holds (2^31-1 ms, 24.8 days): Node runs a longer one, or a NaN, after
 * 1 ms. A longer requeueAfter (a pause of weeks) waits this long and is decided again.
 */
export const MAX_DELAY_MS = 2 ** 31 - 1;

export class WorkQueue {
  private readonly waiting = new Map<string, number>(); // key -> when it was added; insertion order is FIFO
  private readonly running = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly delayed = new Map<string, { at: number; timer: TimerHandle }>();
  private readonly failures = new Map<string, number>();
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  private readonly concurrency: number;
  private readonly clock: Clock;
  private readonly log: Logger;

  constructor(
    private readonly worker: Worker,
    private readonly options: WorkQueueOptions = {},
  ) {
    this.concurrency = Math.max(1, options.concurrency ?? 1);
    this.clock = options.clock ?? systemClock;
    this.log = options.logger ?? silentLogger();
  }

  /** Run `key` as soon as a slot is free; a pending delayed run of it is folded into this one. */
  add(key: string): void {
    if (this.closed) return;
    this.cancelDelayed(key);
    if (this.running.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (!this.waiting.has(key)) {
      this.waiting.set(key, this.clock.now());
      this.reportDepth();
    }
    this.pump();
  }

  /** Run `key` after `ms`, unless it is due to run sooner anyway. */
  addAfter(key: string, requested: number): void {
    if (this.closed) return;
    const ms = Number.isNaN(requested) ? MAX_DELAY_MS : Math.min(requested, MAX_DELAY_MS);
    if (ms <= 0) return this.add(key);
    if (this.waiting.has(key) || this.dirty.has(key)) return;
    const at = this.clock.now() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.at <= at) return;
    if (pending) this.clock.clearTimeout(pending.timer);
    const timer = this.clock.setTimeout(() => {
      this.delayed.delete(key);
      this.add(key);
    }, ms);
    this.delayed.set(key, { at, timer });
  }

  get depth(): number {
    return this.waiting.size;
  }

  /** Consecutive failures of `key` (0 after a success). */
  failuresOf(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  /** Stops taking work (waiting and delayed keys are dropped); resolves once running work is done. */
  shutdown(): Promise<void> {
    this.closed = true;
    for (const { timer } of this.delayed.values()) this.clock.clearTimeout(timer);
    this.delayed.clear();
    this.waiting.clear();
    this.dirty.clear();
    this.reportDepth();
    if (this.running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.concurrency) {
      const next = this.waiting.entries().next();
      if (next.done) return;
      const [key, addedAt] = next.value;
      this.waiting.delete(key);
      this.running.add(key);
      this.options.observer?.waited?.(this.clock.now() - addedAt);
      this.reportDepth();
      void this.run(key);
    }
  }

  private async run(key: string): Promise<void> {
    let result: ReconcileResult | void = undefined;
    let failed = false;
    try {
      result = await this.worker(key);
    } catch (err) {
      failed = true;
      const attempt = this.failuresOf(key) + 1;
      this.failures.set(key, attempt);
      this.log.debug({ key, attempt, err }, 'work failed');
    }
    this.running.delete(key);
    if (!failed) this.failures.delete(key);
    if (!this.closed) {
      if (this.dirty.delete(key)) this.add(key);
      else if (failed) this.addAfter(key, backoffDelay(this.failuresOf(key), this.options.backoff ?? defaultQueueBackoff));
      else if (result?.requeueAfter) this.addAfter(key, result.requeueAfter);
    }
    if (this.running.size === 0) for (const resolve of this.idleWaiters.splice(0)) resolve();
    this.pump();
  }

  private cancelDelayed(key: string): void {
    const pending = this.delayed.get(key);
    if (!pending) return;
    this.clock.clearTimeout(pending.timer);
    this.delayed.delete(key);
  }

  private reportDepth(): void {
    this.options.observer?.depth?.(this.waiting.size);
  }
}
