import { FakeClock } from '../../test/support/fake-clock.js';
import { WorkQueue, type ReconcileResult } from './work-queue.js';

/** Lets every pending promise continuation run. */
const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

/** A worker whose runs the test finishes by hand, recording what ran when. */
function controllableWorker(clock: FakeClock) {
  const runs: Array<{ key: string; at: number }> = [];
  const pending: Array<{ key: string; finish: (r?: ReconcileResult) => void; fail: (e: Error) => void }> = [];
  let active = 0;
  let maxActive = 0;
  const activeByKey = new Map<string, number>();
  let overlapped = false;
  const worker = (key: string) =>
    new Promise<ReconcileResult | void>((resolve, reject) => {
      runs.push({ key, at: clock.now() });
      active += 1;
      maxActive = Math.max(maxActive, active);
      activeByKey.set(key, (activeByKey.get(key) ?? 0) + 1);
      if ((activeByKey.get(key) ?? 0) > 1) overlapped = true;
      const done = () => {
        active -= 1;
        activeByKey.set(key, (activeByKey.get(key) ?? 1) - 1);
      };
      pending.push({
        key,
        finish: (r) => (done(), resolve(r)),
        fail: (e) => (done(), reject(e)),
      });
    });
  const next = (key?: string) => {
    const i = key === undefined ? 0 : pending.findIndex((p) => p.key === key);
    const [p] = pending.splice(i, 1);
    if (!p) throw new Error(`no pending run${key ? ` of ${key}` : ''}`);
    return p;
  };
  return { worker, runs, next, pendingCount: () => pending.length, maxActive: () => maxActive, overlapped: () => overlapped };
}

describe('WorkQueue', () => {
  it('runs a key added many times while waiting only once', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const q = new WorkQueue(w.worker, { clock, concurrency: 1 });
    q.add('blocker');
    q.add('a');
    q.add('a');
    q.add('a');
    expect(q.depth).toBe(1);
    w.next('blocker').finish();
    await flush();
    w.next('a').finish();
    await flush();
    expect(w.runs.map((r) => r.key)).toEqual(['blocker', 'a']);
  });

  it('never runs one key twice at once, and runs it again after if it was added while running', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const q = new WorkQueue(w.worker, { clock, concurrency: 4 });
    q.add('a');
    await flush();
    q.add('a');
    q.add('a');
    await flush();
    expect(w.pendingCount()).toBe(1);
    w.next('a').finish();
    await flush();
    expect(w.pendingCount()).toBe(1);
    w.next('a').finish();
    await flush();
    expect(w.runs.map((r) => r.key)).toEqual(['a', 'a']);
    expect(w.overlapped()).toBe(false);
  });

  it('runs at most `concurrency` keys at once, in the order they were added', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const q = new WorkQueue(w.worker, { clock, concurrency: 2 });
    for (const key of ['a', 'b', 'c', 'd']) q.add(key);
    await flush();
    expect(w.runs.map((r) => r.key)).toEqual(['a', 'b']);
    expect(q.depth).toBe(2);
    w.next('b').finish();
    await flush();
    expect(w.runs.map((r) => r.key)).toEqual(['a', 'b', 'c']);
    w.next('a').finish();
    w.next('c').finish();
    await flush();
    w.next('d').finish();
    await flush();
    expect(w.maxActive()).toBe(2);
    expect(q.depth).toBe(0);
  });

  it('backs off exponentially on failure, up to the cap, and resets after a success', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const q = new WorkQueue(w.worker, { clock, backoff: { baseMs: 100, maxMs: 500 } });
    q.add('a');
    const delays: number[] = [];
    for (let attempt = 1; attempt <= 5; attempt++) {
      await flush();
      w.next('a').fail(new Error('boom'));
      await flush();
      expect(q.failuresOf('a')).toBe(attempt);
      const [delay] = clock.pendingDelays();
      delays.push(delay ?? -1);
      clock.advance(delay ?? 0);
    }
    expect(delays).toEqual([100, 200, 400, 500, 500]);
    await flush();
    w.next('a').finish();
    await flush();
    expect(q.failuresOf('a')).toBe(0);
    expect(clock.pendingDelays()).toEqual([]);
    q.add('a');
    await flush();
    w.next('a').fail(new Error('again'));
    await flush();
    expect(clock.pendingDelays()).toEqual([100]);
  });

  it('does not run a failed key again before its backoff has passed', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const q = new WorkQueue(w.worker, { clock, backoff: { baseMs: 1000, maxMs: 10_000 } });
    q.add('a');
    await flush();
    w.next('a').fail(new Error('boom'));
    await flush();
    clock.advance(999);
    await flush();
    expect(w.runs).toHaveLength(1);
    clock.advance(1);
    await flush();
    expect(w.runs.map((r) => r.at)).toEqual([0, 1000]);
  });

  it('honours requeueAfter', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const q = new WorkQueue(w.worker, { clock });
    q.add('a');
    await flush();
    w.next('a').finish({ requeueAfter: 30_000 });
    await flush();
    clock.advance(29_999);
    await flush();
    expect(w.runs).toHaveLength(1);
    clock.advance(1);
    await flush();
    expect(w.runs.map((r) => r.at)).toEqual([0, 30_000]);
  });

  it('waits out a requeueAfter longer than a timer can hold (a 30-day pause) instead of running again at once', async () => {
    // Node runs a setTimeout of more than 2^31-1 ms after 1 ms: a Migration paused for 30 days
    // (or a NaN delay) would be reconciled in a hot loop.
    let runs = 0;
    const q = new WorkQueue(async () => {
      runs += 1;
      return { requeueAfter: runs === 1 ? 30 * 24 * 3_600_000 : Number.NaN };
    });
    q.add('paused-a-month');
    await new Promise((r) => setTimeout(r, 100));
    expect(runs).toBe(1);
    q.add('paused-a-month');
    await new Promise((r) => setTimeout(r, 100));
    expect(runs).toBe(2);
    await q.shutdown();
  });

  it('runs a key at once when it is added while a requeueAfter is pending, and forgets the delayed run', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const q = new WorkQueue(w.worker, { clock });
    q.add('a');
    await flush();
    w.next('a').finish({ requeueAfter: 60_000 });
    await flush();
    clock.advance(10_000);
    q.add('a');
    await flush();
    w.next('a').finish();
    await flush();
    clock.advance(60_000);
    await flush();
    expect(w.runs.map((r) => r.at)).toEqual([0, 10_000]);
  });

  it('keeps the earlier of two delayed runs of the same key', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const q = new WorkQueue(w.worker, { clock });
    q.addAfter('a', 5000);
    q.addAfter('a', 9000);
    q.addAfter('a', 2000);
    expect(clock.pendingDelays()).toEqual([2000]);
    clock.advance(2000);
    await flush();
    expect(w.runs.map((r) => r.at)).toEqual([2000]);
  });

  it('reports depth and how long each key waited', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const depths: number[] = [];
    const waits: number[] = [];
    const q = new WorkQueue(w.worker, { clock, observer: { depth: (n) => depths.push(n), waited: (ms) => waits.push(ms) } });
    q.add('a');
    await flush();
    q.add('b');
    clock.advance(250);
    w.next('a').finish();
    await flush();
    expect(waits).toEqual([0, 250]);
    expect(depths).toEqual([1, 0, 1, 0]);
  });

  it('on shutdown stops taking work and resolves only when running work has finished', async () => {
    const clock = new FakeClock();
    const w = controllableWorker(clock);
    const q = new WorkQueue(w.worker, { clock, concurrency: 1 });
    q.add('a');
    q.add('b');
    q.addAfter('c', 1000);
    await flush();
    let done = false;
    const stopped = q.shutdown().then(() => (done = true));
    q.add('d');
    await flush();
    expect(done).toBe(false);
    w.next('a').finish({ requeueAfter: 10 });
    await stopped;
    clock.advance(5000);
    await flush();
    expect(w.runs.map((r) => r.key)).toEqual(['a']);
    expect(clock.pendingDelays()).toEqual([]);
  });

  it('counts a worker that throws synchronously as a failure', async () => {
    const clock = new FakeClock();
    const q = new WorkQueue(
      () => {
        throw new Error('sync');
      },
      { clock, backoff: { baseMs: 100, maxMs: 1000 } },
    );
    q.add('a');
    await flush();
    expect(q.failuresOf('a')).toBe(1);
    expect(clock.pendingDelays()).toEqual([100]);
  });
});
