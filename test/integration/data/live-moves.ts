// One scenario, run by several tests: customers moved from cell-a to cell-b while router-driven
// writers insert, update and delete their rows; the target is checked at each cut-over (before
// any cleanup sweep could fill it in) and the rows swept at cleanup are counted. Optionally the
// router loses its control-plane database for a while right after each fence.
import { MoveEngine, type RunResult as MoveRunResult } from '../../../src/data/move-engine.js';
import type { MoveHooks } from '../../../src/data/move-executor.js';
import { runMoves } from '../../../src/data/move-pool.js';
import type { MoveSettings } from '../../../src/data/move-settings.js';
import { sleep } from '../../support/router-client.js';
import { keySetProblems, placeCustomers, rowsOf, seedCustomer, Writers, type Cells, type Seeded } from './cells-fixture.js';

export interface LiveMoveOptions {
  migration: string;
  moving: string[];
  staying: string[];
  settings: Partial<MoveSettings>;
  /** Moves at a time. Default 2. */
  concurrency?: number;
  /** After each fence, cut the router's database connections for this long. */
  cutRouterAfterFenceMs?: number;
  rows?: { readings: number; events: number; devices: number };
  /** Writers delete devices too. Default true. */
  deletes?: boolean;
}

export interface LiveMoveReport {
  results: MoveRunResult[];
  writers: Writers;
  seeded: Map<string, Seeded>;
  /** Per moving customer: what the target lacked of the acknowledged writes right after its cut-over. */
  atCutOver: Map<string, string[]>;
  /** Rows the cleanup sweep had to copy to the target (late rows), over the migration. */
  swept: number;
  engine: MoveEngine;
}

export async function sweptRows(cells: Cells, migration: string): Promise<number> {
  const { rows } = await cells.cp.query<{ swept: string | null }>('SELECT sum(swept_rows)::text AS swept FROM migration_table_progress WHERE migration = $1', [migration]);
  return Number(rows[0]?.swept ?? 0);
}

export async function runLiveMoves(cells: Cells, options: LiveMoveOptions): Promise<LiveMoveReport> {
  const { migration, moving, staying } = options;
  const everyone = [...moving, ...staying];
  await placeCustomers(cells.cp, everyone, 'cell-a');
  const seeded = new Map<string, Seeded>();
  for (const c of everyone) seeded.set(c, await seedCustomer(cells.pools['cell-a']!, c, options.rows ?? { readings: 1500, events: 300, devices: 12 }));
  await cells.router();

  const writers = new Writers(cells, () => everyone, 3, 2, options.deletes ?? true);
  const atCutOver = new Map<string, string[]>();
  const cuts: Promise<void>[] = [];
  const hooks: MoveHooks = {
    async point(p, { key, action }) {
      if (p !== 'after-action') return;
      if (action.kind === 'Fence' && options.cutRouterAfterFenceMs) {
        cells.routerLink.cut();
        cuts.push(sleep(options.cutRouterAfterFenceMs).then(() => cells.routerLink.restore()));
      }
      if (action.kind === 'CutOver') {
        // Right after the cut-over commits, before cleanup: the target alone must hold every
        // acknowledged write (writes of this customer are held while it is read).
        const problems = await writers.holding(key.customerId, async () =>
          keySetProblems(await rowsOf(cells.pools['cell-b']!, key.customerId), seeded.get(key.customerId)!, writers.ledgers.get(key.customerId), { exact: false }),
        );
        atCutOver.set(key.customerId, problems);
      }
    },
  };
  writers.start();
  try {
    // Every customer gets writes in its source cell before the moves start.
    for (let i = 0; i < 500 && everyone.some((c) => writers.acknowledged(c) === 0); i++) await sleep(20);
    const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: options.settings, hooks });
    for (const c of moving) {
      const started = await engine.startMove({ migration, customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b', step: 0 });
      if (!started.ok) throw new Error(`could not start the move of ${c}: ${JSON.stringify(started)}`);
    }
    const results = await runMoves(
      engine,
      moving.map((customerId) => ({ migration, customerId })),
      { concurrency: options.concurrency ?? 2 },
    );
    await Promise.all(cuts);
    // Writes go on in the target for a while after the last cut-over.
    const after = new Map(moving.map((c) => [c, writers.ledgers.get(c)?.byCell.get('cell-b') ?? 0]));
    for (let i = 0; i < 500 && moving.some((c) => (writers.ledgers.get(c)?.byCell.get('cell-b') ?? 0) <= (after.get(c) as number)); i++) await sleep(20);
    await writers.stop();
    return { results, writers, seeded, atCutOver, swept: await sweptRows(cells, migration), engine };
  } finally {
    cells.routerLink.restore();
    await writers.stop();
  }
}
