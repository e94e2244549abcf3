// Exponential backoff with a cap, optionally jittered: the delay before retry number `attempt`.
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
