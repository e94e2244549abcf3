// Customers moved while the router loses its control-plane database right after each fence: its
// index keeps serving the source cell, so gateways go on writing there through the fence. The
// promise still holds (the fence lives in the cell databases): every acknowledged write is in
// the target at the cut-over, the sweep moves nothing, the final keys are exact.
import { keySetProblems, rowsOf, useCells } from './cells-fixture.js';
import { runLiveMoves } from './live-moves.js';

const TIMEOUT = 180_000;
const cells = useCells({ timeoutMs: TIMEOUT });

describe('moving customers while the router cannot reach its database', () => {
  it('loses no acknowledged write when the router serves a stale route through the fence', async () => {
    const moving = ['stale-1', 'stale-2'];
    const report = await runLiveMoves(cells(), {
      migration: 'stale-router',
      moving,
      staying: ['stale-stays'],
      settings: { pageRows: 400, retentionMs: 0, convergeRows: 50 }, // the default drainWait
      cutRouterAfterFenceMs: 4_000,
      deletes: false,
    });
    const { writers, seeded } = report;
    expect(report.results.map((r) => r.move?.state)).toEqual(['Done', 'Done']);
    expect(cells().routerLink.resets).toBeGreaterThan(0); // the router's connections were cut
    expect({ errors: writers.errors, anomalies: writers.anomalies }).toEqual({ errors: 0, anomalies: [] });
    expect(Object.fromEntries(report.atCutOver)).toEqual(Object.fromEntries(moving.map((c) => [c, []])));
    expect(report.swept).toBe(0);
    for (const c of moving) {
      expect(keySetProblems(await rowsOf(cells().pools['cell-b']!, c), seeded.get(c)!, writers.ledgers.get(c))).toEqual([]);
      expect((await rowsOf(cells().pools['cell-a']!, c)).total).toBe(0);
    }
  }, TIMEOUT);
});
