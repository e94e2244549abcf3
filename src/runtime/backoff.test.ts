import { backoffDelay, retryWithBackoff } from './backoff.js';

const policy = { baseMs: 100, maxMs: 1000 };
const transient = Object.assign(new Error('try again'), { transient: true });
const fatal = new Error('give up');
const retryable = (err: unknown): boolean => (err as { transient?: boolean }).transient === true;

describe('backoffDelay', () => {
  test('doubles from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 6].map((a) => backoffDelay(a, policy))).toEqual([100, 200, 400, 800, 1000, 1000]);
  });

  test('with jitter the delay lies between half and all of the exact one', () => {
    expect(backoffDelay(3, policy, () => 0)).toBe(200);
    expect(backoffDelay(3, policy, () => 0.999)).toBe(400);
  });
});

describe('retryWithBackoff', () => {
  test('retries a retryable error with the backoff delays until the call succeeds', async () => {
    const waits: number[] = [];
    let calls = 0;
    const result = await retryWithBackoff(
      async () => {
        calls++;
        if (calls < 4) throw transient;
        return 'ok';
      },
      { policy, retryable, wait: async (ms) => void waits.push(ms) },
    );
    expect(result).toBe('ok');
    expect(waits).toEqual([100, 200, 400]);
  });

  test('throws a permanent error at once, without waiting', async () => {
    const waits: number[] = [];
    await expect(retryWithBackoff(async () => Promise.reject(fatal), { policy, retryable, wait: async (ms) => void waits.push(ms) })).rejects.toBe(fatal);
    expect(waits).toEqual([]);
  });

  test('gives up after the given number of attempts with the last error', async () => {
    const seen: number[] = [];
    await expect(
      retryWithBackoff(async (attempt) => Promise.reject(Object.assign(transient, { attempt })), {
        policy,
        retryable,
        attempts: 3,
        onRetry: (_err, attempt) => seen.push(attempt),
        wait: async () => undefined,
      }),
    ).rejects.toBe(transient);
    expect(seen).toEqual([1, 2]);
  });

  test('does not start a wait that would end past the deadline', async () => {
    let clock = 0;
    const waits: number[] = [];
    await expect(
      retryWithBackoff(async () => Promise.reject(transient), {
        policy,
        retryable,
        deadline: 500,
        clock: { now: () => clock },
        wait: async (ms) => {
          waits.push(ms);
          clock += ms;
        },
      }),
    ).rejects.toBe(transient);
    expect(waits).toEqual([100, 200]); // 300 ms spent; the next 400 ms would end at 700 > 500
  });
});
