import { silentLogger } from '../log.js';
import { HANDED_BACK_AT_ONCE, runMoveBatch, type BatchHost } from './move-batch.js';
import type { RunResult } from './move-engine.js';
import { moveSettings } from './move-settings.js';
import { sleep } from './token-bucket.js';

describe('runMoveBatch: the members that go on alone', () => {
  it(`runs those a lost batch session sends on alone ${HANDED_BACK_AT_ONCE} at a time, every one of them, in the keys' order of results`, async () => {
    let running = 0;
    let most = 0;
    const ran: string[] = [];
    const host = {
      settings: moveSettings({ batchSize: 20 }),
      log: silentLogger(),
      now: () => new Date(),
      // The batch's control-plane session is lost before it acted: every member goes on alone at once.
      withLocks: () => Promise.reject(new Error('Connection terminated unexpectedly')),
      async run(key): Promise<RunResult> {
        running++;
        most = Math.max(most, running);
        await sleep(15);
        running--;
        ran.push(key.customerId);
        return { move: undefined, outcome: 'Finished' };
      },
    } as Partial<BatchHost> as BatchHost;
    const keys = Array.from({ length: 20 }, (_, i) => ({ migration: 'm', customerId: `c${i}` }));
    const results = await runMoveBatch(host, keys);
    expect(results.map((r) => r.outcome)).toEqual(keys.map(() => 'Finished'));
    expect([...ran].sort()).toEqual(keys.map((k) => k.customerId).sort());
    expect(most).toBe(HANDED_BACK_AT_ONCE);
  });
});
