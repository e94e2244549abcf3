// Customer moves between two real PostgreSQL cells, with writers routed by the placements table:
// nothing lost or duplicated under live writes, an abort after the cut-over brings everything
// back, an abort before it leaves no trace.
import { MoveEngine } from '../../../src/data/move-engine.js';
import { keySetProblems, placeCustomers, rowsOf, seedCustomer, startCells, Writers, type Cells } from './cells-fixture.js';
import { runLiveMoves, sweptRows } from './live-moves.js';

const TIMEOUT = 120_000;

let cells: Cells;

beforeAll(async () => {
  cells = await startCells();
}, TIMEOUT);

const running: Writers[] = [];
/** Writers stop when the test ends, pass or fail. */
function stopAfterTest(w: Writers): void {
  running.push(w);
}

afterEach(async () => {
  await Promise.all(running.splice(0).map((w) => w.stop()));
});

afterAll(async () => {
  await cells?.stop();
}, TIMEOUT);

async function placement(customer: string) {
  const { rows } = await cells.cp.query<{ cell: string; state: string; epoch: string }>('SELECT cell, state, epoch FROM placements WHERE customer_id = $1', [
    customer,
  ]);
  return rows[0] ? { cell: rows[0].cell, state: rows[0].state, epoch: Number(rows[0].epoch) } : undefined;
}

async function reserved(cell: string): Promise<number> {
  const { rows } = await cells.cp.query<{ reserved: string }>('SELECT reserved FROM cells WHERE name = $1', [cell]);
  return Number(rows[0]?.reserved);
}

function sleep(ms: number) {
  return new Promise((r) => setTimeout(r, ms));
}

describe('moving customers between cells', () => {
  it('moves customers with the default drainWait while router-driven writers insert and update, every acknowledged write in the target at the cut-over and nothing left to sweep', async () => {
    const moving = ['live-1', 'live-2', 'live-3', 'live-4'];
    const staying = 'live-stays';
    const report = await runLiveMoves(cells, {
      migration: 'live',
      moving,
      staying: [staying],
      settings: { pageRows: 400, retentionMs: 0, convergeRows: 50 }, // drainWait and settleLag: the defaults
      deletes: true, // a device deleted in the target after the cut-over stays deleted (cleanup only deletes)
    });
    const { results, writers, seeded } = report;

    expect(results.map((r) => [r.move?.customerId, r.outcome, r.move?.state])).toEqual(moving.map((c) => [c, 'Finished', 'Done']));
    expect({ errors: writers.errors, routeFailures: writers.routeFailures, anomalies: writers.anomalies, messages: writers.errorMessages }).toEqual({
      errors: 0,
      routeFailures: 0,
      anomalies: [],
      messages: [],
    });
    expect(writers.fenced).toBeGreaterThan(0); // the router's 503s were waited out
    // At each cut-over, before any sweep: the target alone had every acknowledged write...
    expect(Object.fromEntries(report.atCutOver)).toEqual(Object.fromEntries(moving.map((c) => [c, []])));
    // ...so cleanup found nothing late to move.
    expect(report.swept).toBe(0);
    for (const c of moving) {
      const ledger = writers.ledgers.get(c);
      // Acknowledged by the source before the move and by the target after it.
      expect([(ledger?.byCell.get('cell-a') ?? 0) > 0, (ledger?.byCell.get('cell-b') ?? 0) > 0]).toEqual([true, true]);
      expect(await placement(c)).toEqual({ cell: 'cell-b', state: 'Active', epoch: 2 });
      expect(keySetProblems(await rowsOf(cells.pools['cell-b']!, c), seeded.get(c)!, ledger)).toEqual([]);
      expect((await rowsOf(cells.pools['cell-a']!, c)).total).toBe(0);
    }
    expect(keySetProblems(await rowsOf(cells.pools['cell-a']!, staying), seeded.get(staying)!, writers.ledgers.get(staying))).toEqual([]);
    expect(writers.acknowledged(staying)).toBeGreaterThan(0);
    expect(await placement(staying)).toEqual({ cell: 'cell-a', state: 'Active', epoch: 1 });
    expect(await reserved('cell-b')).toBe(0);
    const summary = await report.engine.summarize('live');
    expect(summary.byOutcome.Moved).toBe(4);
    expect(summary.rowsCopied).toBeGreaterThan(4 * 1800);
  }, TIMEOUT);

  it('moves a customer back after the cut-over, with the rows written to the target meanwhile', async () => {
    const c = 'comes-back';
    await placeCustomers(cells.cp, [c], 'cell-a');
    const seeded = await seedCustomer(cells.pools['cell-a']!, c, { readings: 800, events: 100, devices: 6 });
    const writers = new Writers(cells, () => [c], 2, 2, true);
    writers.start();
    stopAfterTest(writers);
    // At each cut-over, before any sweep, the new home alone holds every acknowledged write.
    const atCutOver: string[][] = [];
    const engine = new MoveEngine({
      controlPlane: cells.cp,
      cells: cells.cells,
      settings: { pageRows: 300, retentionMs: 3600_000 }, // drainWait and settleLag: the defaults
      hooks: {
        async point(p, { action }) {
          if (p !== 'after-action' || action.kind !== 'CutOver') return;
          const home = atCutOver.length === 0 ? 'cell-b' : 'cell-a';
          atCutOver.push(await writers.holding(c, async () => keySetProblems(await rowsOf(cells.pools[home]!, c), seeded, writers.ledgers.get(c), { exact: false })));
        },
      },
    });
    expect((await engine.startMove({ migration: 'undo', customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b' })).ok).toBe(true);
    const first = await engine.run({ migration: 'undo', customerId: c });
    expect(first.outcome).toBe('Waiting'); // cut over, keeping the source rows for the retention
    expect(first.move?.state).toBe('Cleanup');
    expect(await placement(c)).toEqual({ cell: 'cell-b', state: 'Active', epoch: 2 });
    const before = writers.writes;
    for (let i = 0; i < 500 && writers.writes < before + 30; i++) await sleep(20); // rows that exist only in the target

    const abort = await engine.abortMove({ migration: 'undo', customerId: c });
    expect(abort.ok).toBe(true);
    const back = await engine.run({ migration: 'undo', customerId: c });
    await sleep(200);
    await writers.stop();

    expect(back.outcome).toBe('Finished');
    expect(back.move).toMatchObject({ state: 'RolledBack', direction: 'Reverse' });
    expect(await placement(c)).toEqual({ cell: 'cell-a', state: 'Active', epoch: 3 });
    const home = await rowsOf(cells.pools['cell-a']!, c);
    expect(atCutOver).toEqual([[], []]); // forward, then back
    expect(keySetProblems(home, seeded, writers.ledgers.get(c))).toEqual([]);
    expect(await sweptRows(cells, 'undo')).toBe(0); // nothing was late: the sweeps moved nothing
    expect(writers.ledgers.get(c)?.byCell.get('cell-b')).toBeGreaterThan(0);
    expect({ errors: writers.errors, anomalies: writers.anomalies }).toEqual({ errors: 0, anomalies: [] });
    expect((await rowsOf(cells.pools['cell-b']!, c)).total).toBe(0);
    expect(await reserved('cell-a')).toBe(0);
    expect(await reserved('cell-b')).toBe(0);
    const again = await engine.abortMove({ migration: 'undo', customerId: c });
    expect(again).toMatchObject({ ok: false, reason: 'AlreadyFinished' });
  }, TIMEOUT);

  it('refuses writes that reach the source after the cut-over, and cleans the source up without bringing back what the target deleted', async () => {
    const c = 'late-rows';
    await placeCustomers(cells.cp, [c], 'cell-a');
    const seeded = await seedCustomer(cells.pools['cell-a']!, c, { readings: 700, events: 40, devices: 4 });
    const settings = { pageRows: 250, settleLagMs: 0, drainWaitMs: 0, retentionMs: 3600_000, deleteBatchRows: 100 };
    const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings });
    const key = { migration: 'late', customerId: c };
    await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    expect((await engine.run(key)).move?.state).toBe('Cleanup');
    // A gateway with a stale route writes to the old cell: refused, every kind of write.
    const source = cells.pools['cell-a']!;
    const refused = async (sql: string) => {
      const err = await source.query(sql, [c]).then(
        () => undefined,
        (e: { code?: string; message: string }) => e,
      );
      return err && { code: err.code, message: err.message };
    };
    const fenceError = { code: 'ZF001', message: `customer ${c} is moved out in this cell by migration late: ask the router again` };
    expect(await refused(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, 1, 'd1', 1)`)).toEqual(fenceError);
    expect(await refused(`UPDATE devices SET firmware = 99 WHERE customer_id = $1`)).toEqual(fenceError);
    expect(await refused(`DELETE FROM events WHERE customer_id = $1`)).toEqual(fenceError);
    // Meanwhile the customer writes to its new cell, and deletes a device and a reading there.
    const target = cells.pools['cell-b']!;
    await target.query(`INSERT INTO readings (customer_id, id, device, value) VALUES ($1, 4, 'd2', 4)`, [c]);
    await target.query(`UPDATE devices SET firmware = 7 WHERE customer_id = $1 AND device_id = 'd1'`, [c]);
    await target.query(`DELETE FROM devices WHERE customer_id = $1 AND device_id = 'd2'`, [c]);
    const gone = [...seeded.readings][0]!;
    await target.query(`DELETE FROM readings WHERE customer_id = $1 AND id = $2`, [c, gone]);

    const later = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings, clock: { now: () => Date.now() + 2 * 3600_000 } });
    const done = await later.run(key);
    expect(done.move).toMatchObject({ state: 'Done' });
    const held = await rowsOf(target, c);
    expect(held.readings.has(4)).toBe(true);
    expect(held.readings.has(gone)).toBe(false); // not resurrected from the source
    expect(held.readings.size).toBe(700);
    expect([...held.devices.entries()].sort()).toEqual([['d0', 0], ['d1', 7], ['d3', 0]]);
    expect((await rowsOf(source, c)).total).toBe(0);
    // The move is over and the old cell still refuses the customer: it lives elsewhere.
    expect(await refused(`INSERT INTO events (customer_id, seq, kind) VALUES ($1, 3, 'after')`)).toEqual(fenceError);
  }, TIMEOUT);

  it('stops cleanup with a reason, keeping the rows, when the source changed past the fence after the cut-over', async () => {
    const c = 'bypassed';
    await placeCustomers(cells.cp, [c], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, c, { readings: 200, events: 10, devices: 2 });
    const settings = { pageRows: 250, settleLagMs: 0, drainWaitMs: 0, retentionMs: 3600_000 };
    const key = { migration: 'bypass', customerId: c };
    const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings });
    await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    expect((await engine.run(key)).move?.state).toBe('Cleanup');
    // A superuser with triggers off writes a row the target never got.
    await cells.pools['cell-a']!.query(
      `BEGIN; SET LOCAL session_replication_role = replica; INSERT INTO events (customer_id, seq, kind) VALUES ('bypassed', 5, 'sneaked'); COMMIT`,
    );
    const later = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings, clock: { now: () => Date.now() + 2 * 3600_000 } });
    const r = await later.run(key, { maxRetries: 2 });
    expect(r.outcome).toBe('GaveUp');
    expect(r.move).toMatchObject({ state: 'Cleanup', lastError: expect.stringMatching(/^SourceChangedAfterCutOver: table public\.events: .*something wrote customer bypassed's rows in cell cell-a past the database fence/) });
    expect((await rowsOf(cells.pools['cell-a']!, c)).total).toBe(213);
  }, TIMEOUT);

  it('copies no faster than the rate limit', async () => {
    const c = 'throttled';
    await placeCustomers(cells.cp, [c], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, c, { readings: 2400, events: 0, devices: 1 });
    const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, rowsPerSecond: 1000, settings: { settleLagMs: 0, drainWaitMs: 0 } });
    const key = { migration: 'throttle', customerId: c };
    await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const t0 = performance.now();
    const result = await engine.run(key);
    const seconds = (performance.now() - t0) / 1000;
    expect(result.move?.state).toBe('Cleanup');
    // 2,400 rows at 1,000 rows/s with one second of burst: at least 1.4 s.
    expect(seconds).toBeGreaterThanOrEqual(1.35);
  }, TIMEOUT);

  it('moves a customer with no more rows than a converged catch-up round straight to the fence, every row copied and verified under it while writers keep writing', async () => {
    const c = 'small';
    await placeCustomers(cells.cp, [c], 'cell-a');
    const seeded = await seedCustomer(cells.pools['cell-a']!, c, { readings: 150, events: 30, devices: 4 });
    const writers = new Writers(cells, () => [c], 2, 2, true);
    writers.start();
    stopAfterTest(writers);
    await sleep(300);
    const actions: string[] = [];
    const engine = new MoveEngine({
      controlPlane: cells.cp,
      cells: cells.cells,
      settings: { retentionMs: 0, drainWaitMs: 300 }, // convergeRows: the default (10,000)
      hooks: { point: (p, info) => void (p === 'before-action' && actions.push(info.action.kind)) },
    });
    const key = { migration: 'small', customerId: c };
    await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const result = await engine.run(key);
    await sleep(300);
    await writers.stop();
    expect(result.move?.state).toBe('Done');
    // Nothing copied or checked before the fence: the final sync copies all, Verify checks all.
    expect(actions.slice(0, 2)).toEqual(['Prepare', 'Fence']);
    expect(actions.filter((a) => ['CopyPage', 'Resync', 'PreVerify'].includes(a))).toEqual([]);
    expect(actions).toContain('FinalSync');
    expect(actions).toContain('Verify');
    expect({ errors: writers.errors, anomalies: writers.anomalies }).toEqual({ errors: 0, anomalies: [] });
    expect(writers.acknowledged(c)).toBeGreaterThan(0);
    expect(keySetProblems(await rowsOf(cells.pools['cell-b']!, c), seeded, writers.ledgers.get(c))).toEqual([]);
    expect((await rowsOf(cells.pools['cell-a']!, c)).total).toBe(0);
    expect(await placement(c)).toEqual({ cell: 'cell-b', state: 'Active', epoch: 2 });
  }, TIMEOUT);

  it('stops a run when asked, in the middle of a throttled copy, and resumes it later', async () => {
    const c = 'stopped';
    await placeCustomers(cells.cp, [c], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, c, { readings: 2000, events: 0, devices: 1 });
    // convergeRows below the customer's rows: it is copied in pages before the fence, not all under it.
    const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, rowsPerSecond: 500, settings: { settleLagMs: 0, drainWaitMs: 0, pageRows: 400, convergeRows: 100 } });
    const key = { migration: 'stop', customerId: c };
    await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const stopped = await engine.run(key, { signal: AbortSignal.timeout(1_500) });
    expect(stopped.outcome).toBe('Stopped');
    expect(stopped.move).toMatchObject({ state: 'Copying', failureReason: null });
    const resumed = await new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { settleLagMs: 0, drainWaitMs: 0 } }).run(key);
    expect(resumed.move?.state).toBe('Cleanup');
    expect((await rowsOf(cells.pools['cell-b']!, c)).total).toBe(2001);
  }, TIMEOUT);

  it('rolls a move back when it is aborted before the cut-over, leaving the target as it was', async () => {
    const c = 'changes-mind';
    await placeCustomers(cells.cp, [c], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, c, { readings: 1200, events: 50, devices: 5 });
    // convergeRows below the customer's rows: it is copied in pages before the fence, not all under it.
    const engine = new MoveEngine({ controlPlane: cells.cp, cells: cells.cells, settings: { pageRows: 200, settleLagMs: 0, drainWaitMs: 0, convergeRows: 100 } });
    await engine.startMove({ migration: 'never-mind', customerId: c, sourceCell: 'cell-a', targetCell: 'cell-b' });
    expect(await reserved('cell-b')).toBe(1);
    const key = { migration: 'never-mind', customerId: c };
    for (let i = 0; i < 4; i++) expect((await engine.step(key)).kind).toBe('Acted'); // Prepare, Observe, two pages
    expect((await rowsOf(cells.pools['cell-b']!, c)).total).toBeGreaterThan(0);

    await engine.abortMove(key);
    const result = await engine.run(key);
    expect(result.move).toMatchObject({ state: 'RolledBack', direction: 'Forward', failureReason: null });
    expect((await rowsOf(cells.pools['cell-b']!, c)).total).toBe(0);
    expect((await rowsOf(cells.pools['cell-a']!, c)).total).toBe(1255);
    expect(await placement(c)).toEqual({ cell: 'cell-a', state: 'Active', epoch: 1 });
    expect(await reserved('cell-b')).toBe(0);
  }, TIMEOUT);

  it('rolls a move back when an abort comes between two of its steps under the fence, although the run decides the next step from what it last wrote instead of reading the journal', async () => {
    const c = 'late-mind';
    await placeCustomers(cells.cp, [c], 'cell-a');
    await seedCustomer(cells.pools['cell-a']!, c, { readings: 120, events: 20, devices: 3 }); // small: straight to the fence, three tables verified
    const key = { migration: 'late-mind', customerId: c };
    const actions: string[] = [];
    let verified = 0;
    const engine = new MoveEngine({
      controlPlane: cells.cp,
      cells: cells.cells,
      settings: { settleLagMs: 0, drainWaitMs: 0 },
      hooks: {
        async point(p, { action }) {
          if (p === 'before-action') actions.push(action.kind);
          // After the second of three verifications: the third is decided from the second's write,
          // which came before the abort; its write into CutOver must refuse, and the abort win.
          if (p === 'after-action' && action.kind === 'Verify' && ++verified === 2) expect((await engine.abortMove(key)).ok).toBe(true);
        },
      },
    });
    await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' });
    const result = await engine.run(key);
    expect(result.move).toMatchObject({ state: 'RolledBack', direction: 'Forward', cutOverAt: null });
    expect(actions).not.toContain('CutOver');
    expect(actions.filter((a) => a === 'Verify')).toHaveLength(3);
    expect(actions).toContain('Abort');
    expect(await placement(c)).toEqual({ cell: 'cell-a', state: 'Active', epoch: 1 });
    expect((await rowsOf(cells.pools['cell-b']!, c)).total).toBe(0);
    expect((await rowsOf(cells.pools['cell-a']!, c)).total).toBe(143);
    expect(await reserved('cell-b')).toBe(0);
  }, TIMEOUT);
});
