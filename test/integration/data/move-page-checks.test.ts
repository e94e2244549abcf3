// A large customer's copy checks its pages as it goes: each page counts and checksums, on both
// sides, the rows earlier pages synced (CopyPage.verify), and the check before the fence is left
// with the last page's rows. Proven here: a crash after a checking page committed and before it
// was recorded resumes with every row exactly once and a checked prefix that is the source's;
// a row changed on the target behind an earlier page is caught by the next page's check.
import { MoveEngine } from '../../../src/data/move-engine.js';
import { InjectedCrash } from '../../../src/data/move-errors.js';
import type { MoveHooks } from '../../../src/data/move-executor.js';
import { placeCustomers, rowsOf, seedCustomer, useCells } from './cells-fixture.js';

const TIMEOUT = 180_000;
// Pages of 100 readings and 30 events; nothing left for catch-up rounds; every row settled (an hour old).
const SETTINGS = { pageRows: 100, settleLagMs: 50, drainWaitMs: 0, retentionMs: 0, convergeRows: 40, deleteBatchRows: 500 };

const cells = useCells({ timeoutMs: TIMEOUT });

/** Every CopyPage and PreVerify the engine ran, with whether the page checked earlier rows. */
function recorder(): { hooks: MoveHooks; pages: { table: string; verify: boolean }[]; preVerified: string[] } {
  const pages: { table: string; verify: boolean }[] = [];
  const preVerified: string[] = [];
  return {
    pages,
    preVerified,
    hooks: {
      point(p, info) {
        if (p !== 'after-action') return;
        if (info.action.kind === 'CopyPage') pages.push({ table: info.action.table, verify: info.action.verify === true });
        if (info.action.kind === 'PreVerify') preVerified.push(info.action.table);
      },
    },
  };
}

/** The checked prefix the journal holds for readings, and the source's own count up to its key. */
async function checkedPrefix(migration: string, customer: string): Promise<{ recorded: number; source: number }> {
  const { rows } = await cells().cp.query<{ verified_key: string[]; verified_rows: string }>(
    `SELECT verified_key, verified_rows FROM migration_table_progress WHERE migration = $1 AND customer_id = $2 AND table_name = 'public.readings'`,
    [migration, customer],
  );
  const [at, id] = rows[0]?.verified_key ?? [];
  const source = await cells().pools['cell-a']!.query<{ n: number }>(
    'SELECT count(*)::int AS n FROM readings WHERE customer_id = $1 AND (received_at, id) <= ($2::timestamptz, $3::bigint)',
    [customer, at, id],
  );
  return { recorded: Number(rows[0]?.verified_rows), source: source.rows[0]?.n ?? -1 };
}

describe('a large copy that checks its pages as it goes', () => {
  it('resumes after a crash between a checking page and its record with every row once, and the checked prefix the source holds', async () => {
    const customer = 'page-checks-crash';
    await placeCustomers(cells().cp, [customer], 'cell-a');
    const seeded = await seedCustomer(cells().pools['cell-a']!, customer, { readings: 1_050, events: 95, devices: 4 });
    const key = { migration: 'page-checks', customerId: customer };
    let checkingPages = 0;
    const crashing = new MoveEngine({
      controlPlane: cells().cp,
      cells: cells().cells,
      settings: SETTINGS,
      hooks: {
        point(p, info) {
          // The fourth page that checks, once its rows are committed on the target but not recorded.
          if (p === 'after-target-commit' && info.action.kind === 'CopyPage' && info.action.verify && ++checkingPages === 4) {
            throw new InjectedCrash('crash after a checking page committed');
          }
        },
      },
    });
    expect((await crashing.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' })).ok).toBe(true);
    await expect(crashing.run(key)).rejects.toThrow(InjectedCrash);

    const resumed = recorder();
    const fresh = new MoveEngine({ controlPlane: cells().cp, cells: cells().cells, settings: SETTINGS, hooks: resumed.hooks });
    let result = await fresh.run(key);
    for (let i = 0; i < 100 && result.outcome === 'Busy'; i++) {
      await new Promise((r) => setTimeout(r, 20));
      result = await fresh.run(key);
    }
    expect([result.outcome, result.move?.state]).toEqual(['Finished', 'Done']);

    // Every row exactly once (the keys are primary keys: a duplicate could not exist, a loss shows).
    const moved = await rowsOf(cells().pools['cell-b']!, customer);
    expect([moved.readings.size, moved.events.size, moved.devices.size]).toEqual([1_050, 95, 4]);
    expect([...moved.readings].every((id) => seeded.readings.has(id))).toBe(true);
    expect((await rowsOf(cells().pools['cell-a']!, customer)).total).toBe(0);
    // The resumed run redid the crashed page with its check, and the pages checked all but the last rows.
    const readingPages = resumed.pages.filter((p) => p.table === 'public.readings');
    expect(readingPages[0]).toEqual({ table: 'public.readings', verify: true });
    expect(readingPages.filter((p) => p.verify).length).toBe(readingPages.length);
    expect(resumed.preVerified).toContain('public.readings');
  }, TIMEOUT);

  it('records a checked prefix that is the source rows up to its key, checked by the pages before the fence', async () => {
    const customer = 'page-checks-prefix';
    await placeCustomers(cells().cp, [customer], 'cell-a');
    await seedCustomer(cells().pools['cell-a']!, customer, { readings: 730, events: 10, devices: 2 });
    const key = { migration: 'page-checks-prefix', customerId: customer };
    const seen = recorder();
    // Stop at the fence, the checks done: the journal then holds what the pages and PreVerify checked.
    const stopped = new AbortController();
    const engine = new MoveEngine({
      controlPlane: cells().cp,
      cells: cells().cells,
      settings: SETTINGS,
      hooks: {
        point(p, info) {
          seen.hooks.point?.(p, info);
          if (p === 'before-action' && info.action.kind === 'Fence') stopped.abort();
        },
      },
    });
    expect((await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' })).ok).toBe(true);
    await engine.run(key, { signal: stopped.signal });
    const pages = seen.pages.filter((p) => p.table === 'public.readings');
    // 8 pages (the last one short); the first has nothing synced to check, each later one checks.
    expect(pages.map((p) => p.verify)).toEqual([false, true, true, true, true, true, true, true]);
    const prefix = await checkedPrefix(key.migration, customer);
    expect(prefix).toEqual({ recorded: 730, source: 730 });
    await engine.abortMove(key);
    expect((await engine.run(key)).move?.state).toBe('RolledBack');
  }, TIMEOUT);

  it('fails back when a row changed on the target behind the last page (the next page checks it)', async () => {
    const customer = 'page-checks-tampered';
    await placeCustomers(cells().cp, [customer], 'cell-a');
    await seedCustomer(cells().pools['cell-a']!, customer, { readings: 600, events: 10, devices: 2 });
    const key = { migration: 'page-checks-tampered', customerId: customer };
    let pages = 0;
    const engine = new MoveEngine({
      controlPlane: cells().cp,
      cells: cells().cells,
      settings: SETTINGS,
      hooks: {
        async point(p, info) {
          if (p === 'after-action' && info.action.kind === 'CopyPage' && info.action.table === 'public.readings' && ++pages === 2) {
            // Past the target's fence (a superuser with triggers off): a row of the second page, not checked yet.
            await cells().pools['cell-b']!.query(
              `BEGIN; SET LOCAL session_replication_role = replica;
               UPDATE readings SET value = value + 1 WHERE customer_id = '${customer}' AND id = (SELECT max(id) FROM readings WHERE customer_id = '${customer}');
               COMMIT`,
            );
          }
        },
      },
    });
    expect((await engine.startMove({ ...key, sourceCell: 'cell-a', targetCell: 'cell-b' })).ok).toBe(true);
    const result = await engine.run(key);
    expect(result.move).toMatchObject({ state: 'Failed', failureReason: 'ChecksumMismatch' });
    const failures = await cells().cp.query<{ state: string; message: string }>('SELECT state, message FROM migration_failures WHERE migration = $1', [key.migration]);
    // Caught while copying, by the third page, not first before the fence.
    expect(failures.rows).toEqual([{ state: 'Copying', message: expect.stringMatching(/table public\.readings: .* differ between the cells: source 100 rows .* target 100 rows/) }]);
    expect((await rowsOf(cells().pools['cell-b']!, customer)).total).toBe(0);
  }, TIMEOUT);
});
