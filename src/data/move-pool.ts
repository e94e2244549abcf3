// Runs many customer moves with at most `concurrency` in flight (a Migration's maxConcurrent):
// the drain of a cell, or a benchmark. Each move still runs under its own lock and journal.
import type { MoveEngine, RunOptions, RunResult } from './move-engine.js';
import type { MoveKey } from './move-state.js';

export async function runMoves(
  engine: MoveEngine,
  keys: readonly MoveKey[],
  options: RunOptions & { concurrency: number },
): Promise<RunResult[]> {
  const results: RunResult[] = new Array<RunResult>(keys.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < keys.length && !options.signal?.aborted) {
      const i = next++;
      results[i] = await engine.run(keys[i] as MoveKey, options);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(options.concurrency, keys.length)) }, worker));
  return results;
}
