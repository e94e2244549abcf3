import { TokenBucket, UNLIMITED, waitForTokens, type BucketClock } from './token-bucket.js';

function fakeClock(): BucketClock & { t: number; slept: number[] } {
  const clock = {
    t: 0,
    slept: [] as number[],
    now: () => clock.t,
    sleep: async (ms: number) => {
      clock.slept.push(ms);
      clock.t += ms;
    },
  };
  return clock;
}

describe('TokenBucket', () => {
  it('computes the wait for a number of rows', () => {
    expect(waitForTokens(100, 50, 1000)).toBe(0);
    expect(waitForTokens(0, 500, 1000)).toBe(500);
  });

  it('holds copying to the configured rows per second', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(1000, 1000, clock);
    for (let i = 0; i < 5; i++) await bucket.take(1000);
    // One second of burst, then one second per thousand rows.
    expect(clock.t).toBeGreaterThanOrEqual(4000);
    expect(clock.t).toBeLessThan(4100);
  });

  it('caps a page at the burst and gives back what a short page did not use', async () => {
    const clock = fakeClock();
    const bucket = new TokenBucket(100, 100, clock);
    expect(bucket.maxTake).toBe(100);
    await bucket.take(100);
    bucket.refund(60);
    await bucket.take(60);
    expect(clock.t).toBe(0);
  });

  it('is unlimited when no rate is set', async () => {
    await UNLIMITED.take(1e9);
    expect(UNLIMITED.maxTake).toBe(Number.POSITIVE_INFINITY);
  });
});
