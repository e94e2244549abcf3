// Deletes under a move: router-driven writers also delete devices (a Mutable table), before and
// after the cut-over. A device whose deletion the target acknowledged must stay deleted: cleanup,
// which once copied what the target lacked from the source, must not bring it back.
import { keySetProblems, rowsOf, useCells } from './cells-fixture.js';
import { runLiveMoves } from './live-moves.js';

const TIMEOUT = 180_000;
const cells = useCells({ timeoutMs: TIMEOUT });

describe('deleting rows while customers move', () => {
  it('keeps a device deleted in the target after the cut-over deleted, with nothing to sweep', async () => {
    const moving = ['deletes-1', 'deletes-2'];
    const report = await runLiveMoves(cells(), {
      migration: 'deletes',
      moving,
      staying: ['deletes-stays'],
      // The default drainWait; 3 s of retention, in which the writers delete devices in the target.
      settings: { pageRows: 400, retentionMs: 3_000, convergeRows: 50 },
      deletes: true,
    });
    const { writers, seeded } = report;
    expect(report.results.map((r) => r.move?.state)).toEqual(['Done', 'Done']);
    expect({ errors: writers.errors, anomalies: writers.anomalies }).toEqual({ errors: 0, anomalies: [] });
    expect(Object.fromEntries(report.atCutOver)).toEqual(Object.fromEntries(moving.map((c) => [c, []])));
    for (const c of moving) {
      const deletedInTarget = [...(writers.ledgers.get(c)?.deleted ?? [])].filter(([, cell]) => cell === 'cell-b');
      expect(deletedInTarget.length).toBeGreaterThan(0);
      expect(keySetProblems(await rowsOf(cells().pools['cell-b']!, c), seeded.get(c)!, writers.ledgers.get(c))).toEqual([]);
    }
    expect(report.swept).toBe(0);
  }, TIMEOUT);
});
