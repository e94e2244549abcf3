// How runMoves cuts keys into batches and single moves (the engine itself is tested against real
// databases in test/integration/data): a stand-in engine records what each executor was given.
import type { MoveEngine, RunResult } from './move-engine.js';
import { runMoves } from './move-pool.js';
import type { MoveKey } from './move-state.js';

function recordingEngine(batchSize: number) {
  const calls: string[][] = [];
  const result = (k: MoveKey): RunResult => ({ move: undefined, outcome: 'NotFound', customer: k.customerId }) as unknown as RunResult;
  const engine = {
    settings: { batchSize },
    run: async (k: MoveKey) => (calls.push([k.customerId]), result(k)),
    runBatch: async (ks: readonly MoveKey[]) => (calls.push(ks.map((k) => k.customerId)), ks.map(result)),
  } as unknown as MoveEngine;
  return { engine, calls };
}

const keys = (ids: string[]): MoveKey[] => ids.map((customerId) => ({ migration: 'm', customerId }));

describe('runMoves', () => {
  it('runs moves under way alone, first, and cuts the fresh ones around them into whole batches', async () => {
    const { engine, calls } = recordingEngine(3);
    // Fresh moves f1..f6 with two under way (u1, u2) among them, as the journal lists them.
    const ks = keys(['f1', 'u1', 'f2', 'f3', 'u2', 'f4', 'f5', 'f6']);
    const results = await runMoves(engine, ks, { concurrency: 1, alone: (k) => k.customerId.startsWith('u') });
    expect(calls).toEqual([['u1'], ['u2'], ['f1', 'f2', 'f3'], ['f4', 'f5', 'f6']]);
    // Each key's result in the keys' order.
    expect(results.map((r) => (r as unknown as { customer: string }).customer)).toEqual(ks.map((k) => k.customerId));
  });

  it('without moves under way, batches are no larger than what gives every executor work', async () => {
    const { engine, calls } = recordingEngine(20);
    await runMoves(engine, keys(['a', 'b', 'c', 'd', 'e', 'f']), { concurrency: 2 });
    expect(calls.map((c) => c.length).sort()).toEqual([3, 3]);
  });
});
