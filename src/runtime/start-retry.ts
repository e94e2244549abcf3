// Degrade, don't die, at start: a dependency that is not there yet (the API server, the
// control-plane database) is retried with backoff instead of ending the process, with a log line
// at most every `reportEveryMs` saying what is waited for and why.
import type { Logger } from '../log.js';
import { backoffDelay, type BackoffPolicy } from './backoff.js';
import { systemClock, type NowClock } from './clock.js';

export interface RetryOptions {
  what: string;
  log: Logger;
  policy?: BackoffPolicy;
  /** A waiting line at most this often. Default one minute (the first failure is logged at once). */
  reportEveryMs?: number;
  /** Whether this error is worth waiting out; others are thrown. Default: all. */
  retryable?: (err: unknown) => boolean;
  signal?: AbortSignal;
  sleep?: (ms: number) => Promise<void>;
  clock?: NowClock;
}

const DEFAULT_POLICY: BackoffPolicy = { baseMs: 500, maxMs: 15_000 };

/** Runs `attempt` until it resolves; resolves undefined only when `signal` aborts first. */
export async function retryUntilAvailable<T>(attempt: () => Promise<T>, options: RetryOptions): Promise<T | undefined> {
  // Not unref()ed: at start this wait may be all that keeps the process alive.
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((r) => setTimeout(r, ms)));
  const now = () => (options.clock ?? systemClock).now();
  const every = options.reportEveryMs ?? 60_000;
  let lastReport = -Infinity;
  for (let n = 1; ; n++) {
    if (options.signal?.aborted) return undefined;
    try {
      const value = await attempt();
      if (n > 1) options.log.info({ attempts: n }, `${options.what} is available now`);
      return value;
    } catch (err) {
      if (options.retryable && !options.retryable(err)) throw err;
      if (now() - lastReport >= every) {
        lastReport = now();
        options.log.warn({ err: (err as Error).message, attempts: n }, `waiting for ${options.what}`);
      }
      await sleep(backoffDelay(n, options.policy ?? DEFAULT_POLICY, Math.random));
    }
  }
}
