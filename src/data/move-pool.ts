// Runs many customer moves with at most `concurrency` in flight (a Migration's maxConcurrent):
// the drain of a cell, or a benchmark. Each move still runs under its own lock and journal. With
// the engine's batchSize above 1, the keys are cut into batches (move-batch.ts), each run by one
// executor: `concurrency` executors at once, each a batch of small moves or a move alone.
import type { MoveEngine, RunOptions, RunResult } from './move-engine.js';
import type { MoveKey } from './move-state.js';

/**
 * The keys' batches, as indexes into `keys`, in their order: consecutive keys of one migration, at
 * most `size` each; a key `alone` says runs as a batch of its own (a move under way, which a batch
 * would hand back at once: cut into a batch, it would only make the fresh ones' group smaller).
 */
export function cutBatches(keys: readonly MoveKey[], size: number, alone: (key: MoveKey) => boolean = () => false): number[][] {
  const batches: number[][] = [];
  let open: number[] | undefined;
  keys.forEach((key, i) => {
    if (alone(key)) {
      batches.push([i]);
      return;
    }
    if (!open || open.length >= size || keys[open[0]!]!.migration !== key.migration) batches.push((open = []));
    open.push(i);
  });
  return batches;
}

export async function runMoves(
  engine: MoveEngine,
  keys: readonly MoveKey[],
  options: RunOptions & { concurrency: number; alone?: (key: MoveKey) => boolean },
): Promise<RunResult[]> {
  const results: RunResult[] = new Array<RunResult>(keys.length);
  const workers = Math.max(1, Math.min(options.concurrency, keys.length));
  // Batches of one migration each, no larger than needed to give every executor work.
  const size = Math.max(1, Math.min(engine.settings.batchSize, Math.ceil(keys.length / workers)));
  const batches = cutBatches(keys, size, options.alone);
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
