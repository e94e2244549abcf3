import { silentLogger } from '../log.js';
import { retryUntilAvailable } from './start-retry.js';

describe('waiting for a dependency at start', () => {
  it('retries until the dependency answers, logging a waiting line at most once a minute', async () => {
    let clock = 0;
    let calls = 0;
    const warnings: string[] = [];
    const log = { ...silentLogger(), warn: (_o: unknown, msg: string) => warnings.push(msg), info: () => undefined } as unknown as ReturnType<typeof silentLogger>;
    const value = await retryUntilAvailable(
      async () => {
        calls++;
        if (calls < 10) throw new Error('connect ECONNREFUSED');
        return 'up';
      },
      { what: 'the control-plane database', log, sleep: async (ms) => void (clock += ms), clock: { now: () => clock }, policy: { baseMs: 10_000, maxMs: 15_000 } },
    );
    expect(value).toBe('up');
    expect(calls).toBe(10);
    // Nine failures over ~2 minutes of (fake) time: one line at the first, then one a minute.
    expect(warnings.length).toBeGreaterThanOrEqual(2);
    expect(warnings.length).toBeLessThanOrEqual(3);
    expect(warnings[0]).toBe('waiting for the control-plane database');
  });

  it('gives up on an error that waiting cannot fix', async () => {
    await expect(
      retryUntilAvailable(async () => Promise.reject(new Error('password authentication failed')), {
        what: 'the control-plane database',
        log: silentLogger(),
        retryable: () => false,
      }),
    ).rejects.toThrow('password authentication failed');
  });
});
