// Exponential backoff with a cap, optionally jittered: the delay before retry number `attempt`, and
// the one retry loop built on it (the router's start, batch placement, index sync and the move
// engine all back off through here).
import { systemClock, type NowClock } from './clock.js';

export interface BackoffPolicy {
  baseMs: number;
  maxMs: number;
}

/**
 * `attempt` counts from 1. Without `random` the delay is exact (base * 2^(attempt-1), capped);
 * with it, the delay is drawn from [delay/2, delay) so that many clients do not retry in step.
 */
export function backoffDelay(attempt: number, policy: BackoffPolicy, random?: () => number): number {
  const exponent = Math.min(Math.max(attempt, 1) - 1, 40);
  const delay = Math.min(policy.maxMs, policy.baseMs * 2 ** exponent);
  return random ? Math.round(delay / 2 + (random() * delay) / 2) : delay;
}

export interface RetryOptions {
  policy: BackoffPolicy;
  /** Whether an error is worth another attempt (e.g. isTransientDatabaseError). */
  retryable: (err: unknown) => boolean;
  /** Attempts in all, the first included. Default unlimited. */
  attempts?: number;
  /** Epoch ms after which no retry starts (the wait would end past it). */
  deadline?: number;
  /** Stops waiting (and retrying) at once. */
  signal?: AbortSignal;
  /** Called before each wait: for the log line and the retry metric. */
  onRetry?: (err: unknown, attempt: number, delayMs: number) => void;
  clock?: NowClock;
  wait?: (ms: number) => Promise<void>;
}

/** Calls `fn` until it succeeds, throwing the last error once it is not retryable or the attempts, deadline or signal run out. */
export async function retryWithBackoff<T>(fn: (attempt: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const now = () => (options.clock ?? systemClock).now();
  const wait = options.wait ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      const delay = backoffDelay(attempt, options.policy);
      const out = attempt >= (options.attempts ?? Number.POSITIVE_INFINITY) || (options.deadline !== undefined && now() + delay > options.deadline);
      if (out || options.signal?.aborted || !options.retryable(err)) throw err;
      options.onRetry?.(err, attempt, delay);
      await wait(delay);
      if (options.signal?.aborted) throw err;
    }
  }
}
