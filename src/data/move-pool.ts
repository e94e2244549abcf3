// Runs many customer moves with at most `concurrency` in flight (a Migration's maxConcurrent):
// the drain of a cell, or a benchmark. Each move still runs under its own lock and journal. With
// the engine's batchSize above 1, the keys are cut into batches (move-batch.ts), each run by one
// executor: `concurrency` executors at once, each a batch of small moves or a move alone.
import type { MoveEngine, RunOptions, RunResult } from './move-engine.js';
import type { MoveKey } from './move-state.js';

export async function runMoves(
  engine: MoveEngine,
  keys: readonly MoveKey[],
  options: RunOptions & {
    concurrency: number;
    /**
     * Keys that go on alone, not in a batch: moves already under way (a batch runs only fresh
     * ones and would hand them back), so that the fresh ones around them still fill whole batches.
     */
    alone?: (key: MoveKey) => boolean;
  },
): Promise<RunResult[]> {
  const results: RunResult[] = new Array<RunResult>(keys.length);
  const workers = Math.max(1, Math.min(options.concurrency, keys.length));
  const single = keys.map((_, i) => i).filter((i) => options.alone?.(keys[i] as MoveKey) === true);
  const grouped = keys.map((_, i) => i).filter((i) => options.alone?.(keys[i] as MoveKey) !== true);
  // Batches of one migration each, no larger than needed to give every executor work.
  const size = Math.max(1, Math.min(engine.settings.batchSize, Math.ceil(grouped.length / workers)));
  // The moves under way first, one executor each: one may hold a fence (maxFence bounds it).
  const batches: number[][] = single.map((i) => [i]);
  for (let j = 0; j < grouped.length; ) {
    const batch = [grouped[j++] as number];
    while (batch.length < size && j < grouped.length && keys[grouped[j] as number]?.migration === keys[batch[0] as number]?.migration) batch.push(grouped[j++] as number);
    batches.push(batch);
  }
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < batches.length && !options.signal?.aborted) {
      const batch = batches[next++] as number[];
      if (batch.length === 1) {
        results[batch[0] as number] = await engine.run(keys[batch[0] as number] as MoveKey, options);
        continue;
      }
      const done = await engine.runBatch(batch.map((i) => keys[i] as MoveKey), options);
      done.forEach((r, j) => (results[batch[j] as number] = r));
    }
  };
  await Promise.all(Array.from({ length: workers }, worker));
  return results;
}
