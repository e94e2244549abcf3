// A token bucket in rows per second, shared by every customer move of a Migration, so that a move
// cannot starve the cells: each page takes its rows from the bucket before it is copied.
import type { NowClock } from '../runtime/clock.js';

export interface RateLimiter {
  /** Waits until `rows` may be copied; resolves at once when unlimited. */
  take(rows: number, signal?: AbortSignal): Promise<void>;
  /** Gives back rows taken for a page that turned out shorter. */
  refund(rows: number): void;
  /** The largest page worth taking at once (about one second of rows); Infinity when unlimited. */
  readonly maxTake: number;
}

export const UNLIMITED: RateLimiter = {
  take: () => Promise.resolve(),
  refund: () => undefined,
  maxTake: Number.POSITIVE_INFINITY,
};

/** The one clock (runtime/clock.ts), with a sleep that an abort ends. */
export interface BucketClock extends NowClock {
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason ?? new Error('aborted'));
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason ?? new Error('aborted'));
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

const realClock: BucketClock = { now: () => performance.now(), sleep };

/**
 * How long to wait before `rows` can be taken from a bucket holding `tokens` that refills at
 * `rate` per second. Pure.
 */
export function waitForTokens(tokens: number, rows: number, rate: number): number {
  return tokens >= rows ? 0 : ((rows - tokens) / rate) * 1000;
}

export class TokenBucket implements RateLimiter {
  readonly maxTake: number;
  private tokens: number;
  private last: number;
  // Waiters are served in order so a big page cannot be overtaken forever by small ones.
  private queue: Promise<void> = Promise.resolve();

  constructor(
    readonly rowsPerSecond: number,
    readonly burst: number = rowsPerSecond,
    private readonly clock: BucketClock = realClock,
  ) {
    if (!(rowsPerSecond > 0)) throw new Error(`rowsPerSecond must be positive, got ${rowsPerSecond}`);
    this.maxTake = Math.max(1, Math.floor(burst));
    this.tokens = this.maxTake;
    this.last = clock.now();
  }

  private refill(): void {
    const now = this.clock.now();
    this.tokens = Math.min(this.maxTake, this.tokens + ((now - this.last) / 1000) * this.rowsPerSecond);
    this.last = now;
  }

  take(rows: number, signal?: AbortSignal): Promise<void> {
    const want = Math.min(rows, this.maxTake);
    const turn = this.queue.then(async () => {
      for (;;) {
        this.refill();
        const wait = waitForTokens(this.tokens, want, this.rowsPerSecond);
        if (wait === 0) {
          this.tokens -= want;
          return;
        }
        await this.clock.sleep(Math.max(1, Math.ceil(wait)), signal);
      }
    });
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  refund(rows: number): void {
    this.refill();
    this.tokens = Math.min(this.maxTake, this.tokens + Math.max(0, rows));
  }
}

/** An unlimited limiter for undefined, else a bucket of that many rows per second. */
export function rateLimiter(rowsPerSecond?: number): RateLimiter {
  return rowsPerSecond === undefined ? UNLIMITED : new TokenBucket(rowsPerSecond);
}
